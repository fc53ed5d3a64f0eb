//! The in-process benchmarks, each a program in `servos-api/examples/`
//! measuring on SQLite and on a throwaway PostgreSQL database:
//! `cargo xtask bench vault` (`bench_vault.rs`: envelope throughput for
//! 1 KiB values, a data key rotation over 100,000 secrets) and `cargo xtask
//! bench ui` (`bench_ui.rs`: server-side render times of the web UI's pages).

use anyhow::Result;

use crate::pg::TestPostgres;
use crate::{cmd, debian};

/// Runs the example program `example` (release build) with a PostgreSQL
/// database of its own in `SERVOS_BENCH_PG_URL`, dropped afterwards.
pub fn run(example: &str) -> Result<()> {
    let mut needed = vec![debian::POSTGRESQL];
    needed.extend(debian::BUILD);
    debian::ensure(&needed)?;
    let postgres = TestPostgres::from_env_or_start()?;
    postgres.with_scratch_database(&format!("servos_{example}"), |url| {
        cmd::run(
            cmd::cargo()
                .args(["run", "--release", "-p", "servos-api", "--example", example])
                .args(cmd::locked_flag())
                .env("SERVOS_BENCH_PG_URL", url),
        )
    })
}
