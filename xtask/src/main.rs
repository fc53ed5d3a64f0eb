//! `cargo xtask`: the project tasks cargo cannot do alone (test prerequisites, the dev server, benchmarks, fuzzing).

mod bench;
mod cmd;
mod debian;
mod dev_server;
mod fuzz;
mod master_key;
mod net;
mod pg;
mod test_suite;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [ARGS...]   install what the tests need, then fmt, clippy, build, the whole
                   test suite against a throwaway PostgreSQL (ARGS go to `cargo test`),
                   and each fuzz target for SERVOS_FUZZ_SECONDS (default 30; 0 skips)
  fuzz [SECONDS]   install cargo-fuzz when missing, then run each fuzz target of
                   servos-common for SECONDS (default 30)
  pg               start the throwaway PostgreSQL, print its SERVOS_TEST_PG_URL and
                   keep it running until Ctrl-C or end of input
  run              run the control plane on its embedded default with a development key
  bench api        requests/s, p99 latency and peak RSS of an authenticated read,
                   on SQLite and on PostgreSQL
  bench vault      envelope throughput for 1 KiB values, and the time to rotate
                   the data key over 100,000 secrets on SQLite and on PostgreSQL
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let Some((task, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no task given");
    };
    match task.as_str() {
        "test" => test_suite::main(rest),
        "pg" if rest.is_empty() => pg::serve_until_eof(),
        "run" if rest.is_empty() => dev_server::main(),
        "bench" => bench::main(rest),
        "fuzz" => fuzz::main(rest),
        pg::WATCHDOG_TASK => pg::watchdog_main(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            bail!("unknown task: {}", args.join(" "))
        }
    }
}

/// The workspace root: the folder holding the virtual `Cargo.toml`.
pub fn project_root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}

/// Cargo's target folder for this workspace (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}
