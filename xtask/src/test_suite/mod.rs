//! `cargo xtask test`: the full tier (install what the tests need, then fmt,
//! clippy, build, the whole test suite but the hostile scenarios, the
//! hostile suite with the fuzzers (`hostile/`), the API schema check) and, with `--quick`, the quick tier (`quick.rs`).

pub mod counts;
mod quick;

use anyhow::{bail, Context, Result};

use crate::pg::{TestPostgres, URL_VAR};
use crate::{bpf, checks, cmd, debian, fuzz, hostile, schemathesis};
use counts::run_counting;

/// `cargo xtask test --quick`, or the full tier with `args` going to `cargo test`.
pub fn main(args: &[String]) -> Result<()> {
    match args.split_first() {
        Some((flag, rest)) if flag == "--quick" => {
            if !rest.is_empty() {
                bail!("`cargo xtask test --quick` takes no more arguments; filter with `cargo test` itself");
            }
            quick::main()
        }
        _ => full(args),
    }
}

/// Runs every check in order and stops at the first that fails. `cargo_test_args`
/// (a test name filter, `-- --nocapture`, ...) go to `cargo test` as they are.
fn full(cargo_test_args: &[String]) -> Result<()> {
    let fuzz_seconds = fuzz::seconds_from_env()?;

    step("install missing Debian packages", || {
        let mut needed = vec![
            debian::POSTGRESQL,
            debian::OPENSSL,
            debian::OPENSSH_CLIENT,
            debian::OPENSSH_SERVER,
        ];
        needed.extend(debian::BUILD);
        // The lab's tests (and the end-to-end tests that use the lab).
        needed.extend(debian::LAB_BASE);
        needed.extend(debian::LAB_DOCKER);
        // The web UI's browser tests (headless Chromium through ChromeDriver).
        needed.extend(debian::BROWSER);
        // The API schema check (schemathesis in a virtualenv, curl for setup).
        needed.extend(schemathesis::REQUIREMENTS);
        // The hostile suite's bounded load.
        needed.push(debian::WRK);
        debian::ensure(&needed)
    })?;
    step(
        "install what building the mesh classifier needs (rust-src, bpf-linker)",
        bpf::ensure_toolchain,
    )?;
    step(
        "check formatting (cargo fmt --all fixes it)",
        checks::format,
    )?;
    step("clippy", checks::clippy)?;
    step("build", checks::build)?;

    let postgres = step(
        "start PostgreSQL for the tests",
        TestPostgres::from_env_or_start,
    )?;
    let mut counts = step("test", || {
        let mut command = cmd::cargo();
        command
            .args(["test", "--workspace"])
            .args(cmd::locked_flag())
            .args(cargo_test_args);
        if cargo_test_args.is_empty() {
            // The hostile suite runs these below.
            command.arg("--");
            for scenario in hostile::SCENARIOS {
                command.args(["--skip", scenario]);
            }
        }
        command.env(URL_VAR, postgres.url());
        let shown = cmd::display(&command);
        run_counting(&mut command, &shown)
    })?;

    if cargo_test_args.is_empty() {
        step("install what fuzzing needs", fuzz::install)?;
        let hostile = step(
            &format!("the hostile suite, fuzzing {fuzz_seconds}s per target"),
            || hostile::run(fuzz_seconds, &postgres),
        )?;
        counts.add(&hostile);
    } else {
        eprintln!("\nxtask: the hostile suite skipped (test arguments were given)");
    }
    drop(postgres);

    step(
        "check the API against its OpenAPI document (schemathesis)",
        schemathesis::check_built,
    )?;

    eprintln!("xtask: all checks passed");
    // The closing line CI reads: the totals over every test binary.
    println!("xtask: {} passed, {} failed", counts.passed, counts.failed);
    Ok(())
}

/// Announces a step, runs it, and names it in the error when it fails.
fn step<T>(name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\nxtask: == {name} ==");
    run().with_context(|| format!("step \"{name}\""))
}
