//! `cargo xtask`: the project tasks cargo cannot do alone (test prerequisites and tiers, the API schema check, the dev server, the test lab, benchmarks, fuzzing).

mod api_server;
mod bench;
mod bpf;
mod checks;
mod cmd;
mod curl;
mod debian;
mod dev_server;
mod fuzz;
mod hostile;
mod lab;
mod master_key;
mod net;
mod pg;
mod schemathesis;
mod scratch;
mod test_suite;
#[cfg(test)]
mod tidy;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [ARGS...]   the full tier (root): install the Debian packages the tests need
                   (PostgreSQL, Docker, Chromium, ...), then fmt, clippy, build, the
                   whole test suite against a throwaway PostgreSQL (ARGS go to
                   `cargo test`; the hostile scenarios left to the hostile suite),
                   the schemathesis check, and the hostile suite with each fuzz
                   target for SERVOS_FUZZ_SECONDS (default 30; 0 skips fuzzing)
  test --quick     the quick tier, for the edit-compile-test loop (no root, no
                   PostgreSQL): fmt, clippy, every crate's unit tests and servos-api's
                   in-process tests on SQLite; names what it leaves out, and why
  schemathesis     build, start servos-api on SQLite and check every API operation
                   against the OpenAPI document with schemathesis (pinned, installed
                   from PyPI into target/schemathesis-venv)
  fuzz [SECONDS]   install cargo-fuzz when missing, then run each fuzz target of
                   servos-common and servos-api for SECONDS (default 30) on its
                   working corpus and committed seeds; print a table of the runs
  hostile [SECONDS]
                   the hostile suite (root): every fuzz target for SECONDS, the fault
                   and hostile-client scenarios on both backends and in the lab, and a
                   bounded wrk load on an authenticated read and on login while /healthz
                   is probed; prints a report (the full test tier runs it)
  pg               start the throwaway PostgreSQL, print its SERVOS_TEST_PG_URL and
                   keep it running until Ctrl-C or end of input
  run              run the control plane on its embedded default with a development key
  lab up N [--no-docker]
                   start the test lab: N hosts in network namespaces on 10.231.0.0/16,
                   each with sshd (root, a client key written under target/servos-lab/)
                   and its own dockerd; print how to reach them and leave it running
  lab down [NAME]  tear down lab NAME, or every lab no running process owns
  bench api        requests/s, p99 latency and peak RSS of an authenticated read,
                   on SQLite and on PostgreSQL
  bench vault      envelope throughput for 1 KiB values, and the time to rotate
                   the data key over 100,000 secrets on SQLite and on PostgreSQL
  bench ui         server-side render time of the web UI's main pages with 100 apps,
                   1,000 deployments and 1,000 audit entries, on SQLite and PostgreSQL
  bench ssh        time to run `true` on 1, 10 and 50 lab hosts through ServOS, an
                   OpenSSH loop (without and with ControlMaster) and Ansible
  bench deploy     zero-downtime redeploy of one app to 1, 10 and 30 lab Docker hosts
                   through ServOS, an Ansible playbook and an OpenSSH script
  bench classifier the mesh classifier's time per packet at 10, 1,000 and 10,000 rules,
                   and iperf3 across a veth pair with it, iptables and nftables (root)
  bench mesh [--soak-minutes N]
                   the agent's mesh on lab hosts: iperf3 over it, wireguard-go,
                   boringtun-cli and raw veth; install to working mesh at 1, 10 and
                   50 hosts; a node added reaching every agent at 10 and 50; agent
                   memory after N (default 10) minutes of heartbeats (root)
  bench webhooks   signed webhook deliveries verified and recorded per second by
                   the API pinned to one CPU, and bad signatures turned away
  bench build      push to serving of a small app built from git: first build and a
                   rebuild after one changed file, delivered by save | load and by a
                   registry, to 1 and 5 lab run hosts (root)
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
        "hostile" => hostile::main(rest),
        "schemathesis" => schemathesis::main(rest),
        "lab" => lab::main(rest),
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
