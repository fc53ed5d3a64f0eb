//! `cargo xtask fuzz`: run the cargo-fuzz targets of `servos-common` and `servos-api`, each for a bounded time.
//!
//! cargo-fuzz builds with unstable compiler flags (`-Zsanitizer=address`,
//! sanitizer coverage). The project's machines have only a stable
//! toolchain, so the build runs with `RUSTC_BOOTSTRAP=1`, which makes stable
//! rustc accept them; the AddressSanitizer runtime ships with stable.
//!
//! Each target reads two corpus folders: `<crate>/corpus/<target>/`, where
//! libFuzzer keeps what it finds (not committed), and the committed seeds in
//! `<crate>/seeds/<target>/`. libFuzzer writes only into the first.

mod report;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::{cmd, debian, project_root};
pub use report::{table, FuzzRun};

/// A cargo-fuzz crate: its folder relative to the workspace root (not a
/// workspace member) and every target in its `fuzz_targets/`.
struct FuzzCrate {
    dir: &'static str,
    targets: &'static [&'static str],
}

/// Every fuzz crate of the workspace, run in this order.
const CRATES: [FuzzCrate; 1] = [FuzzCrate {
    dir: "servos-common/fuzz",
    targets: &[
        "envelope_open",
        "env_file_render",
        "token_parse",
        "fingerprint_parse",
        "spki_pin_parse",
        "agent_messages",
        "image_ref",
        "webhook_headers",
    ],
}];
/// cargo-fuzz versions the flags below are written for.
const CARGO_FUZZ_VERSION: &str = "^0.13";
/// Seconds each target runs when none are given.
pub const DEFAULT_SECONDS: u32 = 30;
/// Overrides the seconds per target in `cargo xtask test`; `0` skips fuzzing there.
pub const SECONDS_VAR: &str = "SERVOS_FUZZ_SECONDS";

/// `cargo xtask fuzz [SECONDS]`: installs what fuzzing needs, runs every
/// target, then prints a table of the runs.
pub fn main(args: &[String]) -> Result<()> {
    let seconds = match args {
        [] => DEFAULT_SECONDS,
        [seconds] => parse_seconds(seconds)?,
        _ => bail!("usage: cargo xtask fuzz [SECONDS]"),
    };
    install()?;
    let runs = run_all(seconds)?;
    eprintln!("\n{}", report::table(&runs));
    Ok(())
}

/// Seconds per target for `cargo xtask test`: `SERVOS_FUZZ_SECONDS`, else the default.
pub fn seconds_from_env() -> Result<u32> {
    match std::env::var(SECONDS_VAR) {
        Ok(text) => parse_seconds(&text).with_context(|| format!("in {SECONDS_VAR}")),
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_SECONDS),
        Err(err) => bail!("{SECONDS_VAR}: {err}"),
    }
}

fn parse_seconds(text: &str) -> Result<u32> {
    text.trim()
        .parse()
        .with_context(|| format!("{text:?} is not a whole number of seconds"))
}

/// Installs the C++ compiler libFuzzer is built with, and cargo-fuzz from
/// crates.io when `cargo fuzz` does not run yet.
pub fn install() -> Result<()> {
    debian::ensure(&[debian::CXX])?;
    if cmd::succeeds(cmd::cargo().args(["fuzz", "--version"])) {
        eprintln!("xtask: cargo-fuzz present, nothing to install");
        return Ok(());
    }
    cmd::run(cmd::cargo().args([
        "install",
        "cargo-fuzz",
        "--locked",
        "--version",
        CARGO_FUZZ_VERSION,
    ]))
}

/// Builds and runs every target of every fuzz crate for `seconds` each, and
/// returns what each run did, in order. A crash fails the run and leaves its
/// input under `<crate>/artifacts/<target>/`; what the fuzzer finds worth
/// keeping stays in `<crate>/corpus/<target>/` and seeds the next run on
/// this machine.
pub fn run_all(seconds: u32) -> Result<Vec<FuzzRun>> {
    let mut runs = Vec::new();
    for fuzz_crate in &CRATES {
        for &target in fuzz_crate.targets {
            eprintln!("xtask: fuzzing {}/{target} for {seconds}s", fuzz_crate.dir);
            runs.push(run_one(fuzz_crate.dir, target, seconds)?);
        }
    }
    Ok(runs)
}

/// Runs one target with its working corpus first and its seeds second,
/// showing libFuzzer's output while reading its final statistics from it.
fn run_one(dir: &'static str, target: &'static str, seconds: u32) -> Result<FuzzRun> {
    let root = project_root().join(dir);
    let corpus = root.join("corpus").join(target);
    let seeds = root.join("seeds").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("could not create {}", corpus.display()))?;
    let mut command = cargo_fuzz();
    command
        .args(["run", target, "--fuzz-dir", dir])
        .arg(&corpus);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    command
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // Final statistics and crashes only, not a line per new input.
        .args(["-verbosity=0", "-print_final_stats=1"]);
    let printed = run_echoing_stderr(&mut command)?;
    let stats = report::Stats::parse(&printed)
        .with_context(|| format!("{dir}/{target}: no final statistics from libFuzzer"))?;
    Ok(FuzzRun {
        crate_dir: dir,
        target,
        seconds,
        executions: stats.executions,
        peak_rss_mb: stats.peak_rss_mb,
        seeds: count_files(&seeds)?,
        corpus_after: count_files(&corpus)?,
    })
}

/// Runs `command` with its stderr shown line by line as it comes, and
/// returns the `stat::` lines libFuzzer printed there.
fn run_echoing_stderr(command: &mut Command) -> Result<String> {
    eprintln!("$ {}", cmd::display(command));
    let mut child = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd::display(command)))?;
    let mut seen = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).split(b'\n') {
            let line = line.context("reading the fuzzer's output")?;
            let line = String::from_utf8_lossy(&line);
            eprintln!("{line}");
            if line.starts_with("stat::") {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
    }
    let status = child.wait().context("waiting for the fuzzer")?;
    if !status.success() {
        bail!("`{}` failed ({status})", cmd::display(command));
    }
    Ok(seen)
}

/// Files directly in `dir`; `0` when it does not exist.
fn count_files(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut count = 0;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        if entry.file_type()?.is_file() {
            count += 1;
        }
    }
    Ok(count)
}

/// `cargo fmt --check` for each fuzz crate, which `cargo fmt --all` does not
/// reach because they are outside the workspace, with the crate's manifest path.
pub fn fmt_checks() -> Vec<(String, Command)> {
    CRATES
        .iter()
        .map(|fuzz_crate| {
            let manifest = format!("{}/Cargo.toml", fuzz_crate.dir);
            let mut cmd = cmd::cargo();
            cmd.args(["fmt", "--manifest-path", &manifest, "--", "--check"]);
            (manifest, cmd)
        })
        .collect()
}

/// `cargo fuzz`, with stable rustc allowed its unstable flags. Like every
/// [`cmd::cargo`], it runs without the package variables `cargo run` set for
/// xtask, so a hand-run `cargo fuzz` and `cargo xtask fuzz` share one build.
fn cargo_fuzz() -> Command {
    let mut cmd = cmd::cargo();
    cmd.arg("fuzz").env("RUSTC_BOOTSTRAP", "1");
    cmd
}
