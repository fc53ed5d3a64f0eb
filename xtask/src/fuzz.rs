//! `cargo xtask fuzz`: run the cargo-fuzz targets of `servos-common`, each for a bounded time.
//!
//! cargo-fuzz builds with unstable compiler flags (`-Zsanitizer=address`,
//! sanitizer coverage). The project's machines have only a stable
//! toolchain, so the build runs with `RUSTC_BOOTSTRAP=1`, which makes stable
//! rustc accept them; the AddressSanitizer runtime ships with stable.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cmd, debian};

/// The fuzz crate, relative to the workspace root; not a workspace member.
const FUZZ_DIR: &str = "servos-common/fuzz";
/// Every target in `servos-common/fuzz/fuzz_targets`.
const TARGETS: [&str; 2] = ["envelope_open", "env_file_render"];
/// cargo-fuzz versions the flags below are written for.
const CARGO_FUZZ_VERSION: &str = "^0.13";
/// Seconds each target runs when none are given.
pub const DEFAULT_SECONDS: u32 = 30;
/// Overrides the seconds per target in `cargo xtask test`; `0` skips fuzzing there.
pub const SECONDS_VAR: &str = "SERVOS_FUZZ_SECONDS";

/// `cargo xtask fuzz [SECONDS]`: installs what fuzzing needs, then runs every target.
pub fn main(args: &[String]) -> Result<()> {
    let seconds = match args {
        [] => DEFAULT_SECONDS,
        [seconds] => parse_seconds(seconds)?,
        _ => bail!("usage: cargo xtask fuzz [SECONDS]"),
    };
    install()?;
    run_all(seconds)
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

/// Builds and runs each target for `seconds`; a crash fails the run and
/// leaves its input under `servos-common/fuzz/artifacts/<target>/`. What
/// the fuzzer finds worth keeping stays in `servos-common/fuzz/corpus/`
/// and seeds the next run on this machine.
pub fn run_all(seconds: u32) -> Result<()> {
    for target in TARGETS {
        eprintln!("xtask: fuzzing {target} for {seconds}s");
        cmd::run(
            cargo_fuzz()
                .args(["run", target, "--fuzz-dir", FUZZ_DIR, "--"])
                .arg(format!("-max_total_time={seconds}"))
                // Final statistics and crashes only, not a line per new input.
                .args(["-verbosity=0", "-print_final_stats=1"]),
        )?;
    }
    Ok(())
}

/// `cargo fmt --check` for the fuzz crate, which `cargo fmt --all` does not
/// reach because it is outside the workspace.
pub fn fmt_check() -> Command {
    let mut cmd = cmd::cargo();
    cmd.args(["fmt", "--manifest-path"])
        .arg(format!("{FUZZ_DIR}/Cargo.toml"))
        .args(["--", "--check"]);
    cmd
}

/// `cargo fuzz`, with stable rustc allowed its unstable flags, and without
/// the package variables `cargo run` set for xtask: ring's build script
/// watches some of them, and xtask's values would make every hand-run
/// `cargo fuzz` and every `cargo xtask fuzz` rebuild it for the other.
fn cargo_fuzz() -> Command {
    let mut cmd = cmd::cargo();
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("CARGO_PKG_")
            || text.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&&*text)
        {
            cmd.env_remove(&name);
        }
    }
    cmd.arg("fuzz").env("RUSTC_BOOTSTRAP", "1");
    cmd
}
