//! `cargo xtask bench api`: throughput, p99 latency and peak memory of an
//! authenticated read (`GET /api/v1/me` with an API token), on SQLite and
//! PostgreSQL; `cargo xtask bench vault` and `cargo xtask bench ui`: see
//! `example.rs`; `cargo xtask bench ssh`: see `ssh.rs`; `cargo xtask bench
//! deploy`: see `deploy.rs`; `cargo xtask bench classifier`: see
//! `classifier.rs`; `cargo xtask bench mesh`: see `mesh/mod.rs`; `cargo xtask
//! bench webhooks`: see `webhooks.rs`; `cargo xtask bench build`: see
//! `build.rs`.
//!
//! The server inherits xtask's environment, so settings such as the rate
//! limit can be raised for a run by exporting them before `cargo xtask bench api`.

mod build;
mod classifier;
mod deploy;
mod example;
mod lab_api;
mod mesh;
mod ssh;
mod webhooks;

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::api_server::ApiServer;
use crate::pg::TestPostgres;
use crate::scratch::ScratchDir;
use crate::{cmd, debian, target_dir, wrk};

/// Runs the benchmark named by `args`.
pub fn main(args: &[String]) -> Result<()> {
    match args {
        [name] if name == "api" => api(),
        [name] if name == "vault" => example::run("bench_vault"),
        [name] if name == "ui" => example::run("bench_ui"),
        [name] if name == "ssh" => ssh::run(),
        [name] if name == "deploy" => deploy::run(),
        [name] if name == "classifier" => classifier::run(),
        [name, rest @ ..] if name == "mesh" => mesh::run(rest),
        [name] if name == "webhooks" => webhooks::run(),
        [name] if name == "build" => build::run(),
        _ => {
            bail!("usage: cargo xtask bench api|vault|ui|ssh|deploy|classifier|mesh|webhooks|build")
        }
    }
}

/// One row of the result table.
struct Row {
    backend: &'static str,
    load: wrk::Measurement,
    peak_rss_kib: u64,
}

fn api() -> Result<()> {
    let mut needed = vec![debian::POSTGRESQL, debian::CURL, debian::WRK];
    needed.extend(debian::BUILD);
    debian::ensure(&needed)?;
    cmd::build_release(&["-p", "servos-api"])?;
    let binary = target_dir().join("release").join("servos-api");
    let scratch = ScratchDir::create(target_dir().join("servos-bench"))?;

    let sqlite = measure(&binary, &scratch.path.join("sqlite"), "sqlite", None)?;

    let postgres = TestPostgres::from_env_or_start()?;
    let pg = postgres.with_scratch_database("servos_bench", |url| {
        measure(
            &binary,
            &scratch.path.join("postgres"),
            "postgres",
            Some(url),
        )
    })?;
    let rows = [sqlite, pg];

    println!("\nGET /api/v1/me with an API token; wrk -t2 -c32 -d10s on loopback\n");
    println!(
        "{:<10} {:>12} {:>12} {:>14} {:>8}",
        "backend", "requests/s", "p99 (ms)", "peak RSS (MiB)", "non-2xx"
    );
    for row in &rows {
        println!(
            "{:<10} {:>12.0} {:>12.2} {:>14.1} {:>8}",
            row.backend,
            row.load.requests_per_sec,
            row.load.p99_ms,
            row.peak_rss_kib as f64 / 1024.0,
            row.load.non_success
        );
    }
    if rows.iter().any(|row| row.load.non_success > 0) {
        eprintln!(
            "\nxtask: warning: some answers were not 2xx (a rate limit, or an expired token); \
             those numbers do not measure the read"
        );
    }
    Ok(())
}

/// Starts a server on `database_url` (SQLite when `None`), signs up, makes
/// an API token and puts the read under load.
fn measure(
    binary: &Path,
    scratch: &Path,
    backend: &'static str,
    database_url: Option<&str>,
) -> Result<Row> {
    eprintln!("\nxtask: == bench api on {backend} ==");
    let mut server = ApiServer::start(binary, scratch, database_url, &[])?;
    server.wait_healthy()?;
    let token = server
        .api_token("viewer")
        .with_context(|| format!("setting up {backend} failed"))?;
    let load = wrk::run(&format!("{}/api/v1/me", server.origin()), &token, scratch)?;
    let peak_rss_kib = server.peak_rss_kib()?;
    server.stop()?;
    Ok(Row {
        backend,
        load,
        peak_rss_kib,
    })
}
