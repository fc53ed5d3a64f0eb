//! `cargo xtask bench vault`: envelope throughput for 1 KiB values and the
//! wall time of a data key rotation over 100,000 secrets, on SQLite and on
//! PostgreSQL. The measuring program is `servos-api/examples/bench_vault.rs`.

use anyhow::Result;

use crate::pg::TestPostgres;
use crate::{cmd, debian};

/// Runs the vault benchmark.
pub fn run() -> Result<()> {
    let mut needed = vec![debian::POSTGRESQL];
    needed.extend(debian::BUILD);
    debian::ensure(&needed)?;
    let postgres = TestPostgres::from_env_or_start()?;
    let database = format!("servos_bench_vault_{}", std::process::id());
    let url = postgres.create_database(&database)?;
    let ran = cmd::run(
        cmd::cargo()
            .args([
                "run",
                "--release",
                "-p",
                "servos-api",
                "--example",
                "bench_vault",
            ])
            .args(cmd::locked_flag())
            .env("SERVOS_BENCH_PG_URL", &url),
    );
    if let Err(err) = postgres.drop_database(&database) {
        eprintln!("xtask: warning: could not drop {database}: {err:#}");
    }
    ran
}
