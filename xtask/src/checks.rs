//! The checks every test tier runs before its tests: formatting, clippy and
//! the workspace build (whose `servos-api` binary the API schema check starts).

use anyhow::{Context, Result};

use crate::{cmd, fuzz};

/// `cargo fmt --check` over the workspace and the fuzz crates outside it.
pub fn format() -> Result<()> {
    cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))?;
    for (manifest, mut check) in fuzz::fmt_checks() {
        cmd::run(&mut check).with_context(|| {
            format!("outside the workspace: `cargo fmt --manifest-path {manifest}` fixes it")
        })?;
    }
    Ok(())
}

/// clippy over every target of the workspace, warnings denied.
pub fn clippy() -> Result<()> {
    cmd::run(
        cmd::cargo()
            .args(["clippy", "--workspace", "--all-targets"])
            .args(cmd::locked_flag())
            .args(["--", "-D", "warnings"]),
    )
}

/// Builds every target of the workspace (the tests' binaries and `servos-api`).
pub fn build() -> Result<()> {
    cmd::run(
        cmd::cargo()
            .args(["build", "--workspace", "--all-targets"])
            .args(cmd::locked_flag()),
    )
}
