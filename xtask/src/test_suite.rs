//! `cargo xtask test`: install what the tests need, then fmt, clippy, build and the whole test suite.

use anyhow::{Context, Result};

use crate::pg::{TestPostgres, URL_VAR};
use crate::{cmd, debian};

/// Runs every check in order and stops at the first that fails. `cargo_test_args`
/// (a test name filter, `-- --nocapture`, ...) go to `cargo test` as they are.
pub fn main(cargo_test_args: &[String]) -> Result<()> {
    let locked = cmd::locked_flag();

    step("install missing Debian packages", || {
        let mut needed = vec![debian::POSTGRESQL, debian::OPENSSL];
        needed.extend(debian::BUILD);
        debian::ensure(&needed)
    })?;
    step("check formatting (cargo fmt --all fixes it)", || {
        cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("clippy", || {
        cmd::run(
            cmd::cargo()
                .args(["clippy", "--workspace", "--all-targets"])
                .args(locked)
                .args(["--", "-D", "warnings"]),
        )
    })?;
    step("build", || {
        cmd::run(
            cmd::cargo()
                .args(["build", "--workspace", "--all-targets"])
                .args(locked),
        )
    })?;

    let postgres = step(
        "start PostgreSQL for the tests",
        TestPostgres::from_env_or_start,
    )?;
    let tested = step("test", || {
        cmd::run(
            cmd::cargo()
                .args(["test", "--workspace"])
                .args(locked)
                .args(cargo_test_args)
                .env(URL_VAR, postgres.url()),
        )
    });
    drop(postgres);
    tested?;
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// Announces a step, runs it, and names it in the error when it fails.
fn step<T>(name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\nxtask: == {name} ==");
    run().with_context(|| format!("step \"{name}\""))
}
