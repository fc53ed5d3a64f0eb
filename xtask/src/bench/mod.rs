//! `cargo xtask bench api`: throughput, p99 latency and peak memory of an
//! authenticated read (`GET /api/v1/me` with an API token), on SQLite and
//! PostgreSQL; `cargo xtask bench vault` and `cargo xtask bench ui`: see
//! `example.rs`; `cargo xtask bench ssh`: see `ssh.rs`; `cargo xtask bench
//! deploy`: see `deploy.rs`.
//!
//! The server inherits xtask's environment, so settings such as the rate
//! limit can be raised for a run by exporting them before `cargo xtask bench api`.

mod curl;
mod deploy;
mod example;
mod server;
mod ssh;
mod wrk;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::pg::TestPostgres;
use crate::{cmd, debian, target_dir};
use curl::Request;
use server::ApiServer;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench-password-123456";

/// Runs the benchmark named by `args`.
pub fn main(args: &[String]) -> Result<()> {
    match args {
        [name] if name == "api" => api(),
        [name] if name == "vault" => example::run("bench_vault"),
        [name] if name == "ui" => example::run("bench_ui"),
        [name] if name == "ssh" => ssh::run(),
        [name] if name == "deploy" => deploy::run(),
        _ => bail!("usage: cargo xtask bench api|vault|ui|ssh|deploy"),
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
    cmd::run(
        cmd::cargo()
            .args(["build", "--release", "-p", "servos-api"])
            .args(cmd::locked_flag()),
    )?;
    let binary = target_dir().join("release").join("servos-api");
    let scratch = ScratchDir::create(target_dir().join("servos-bench"))?;

    let sqlite = measure(&binary, &scratch.path.join("sqlite"), "sqlite", None)?;

    let postgres = TestPostgres::from_env_or_start()?;
    let database = format!("servos_bench_{}", std::process::id());
    let url = postgres.create_database(&database)?;
    let pg = measure(
        &binary,
        &scratch.path.join("postgres"),
        "postgres",
        Some(&url),
    );
    if let Err(err) = postgres.drop_database(&database) {
        eprintln!("xtask: warning: could not drop {database}: {err:#}");
    }
    let rows = [sqlite, pg?];

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
    let mut server = ApiServer::start(binary, scratch, database_url)?;
    server.wait_healthy()?;
    let token =
        api_token(&server, "viewer").with_context(|| format!("setting up {backend} failed"))?;
    let load = wrk::run(&format!("{}/api/v1/me", server.origin()), &token, scratch)?;
    let peak_rss_kib = server.peak_rss_kib()?;
    server.stop()?;
    Ok(Row {
        backend,
        load,
        peak_rss_kib,
    })
}

/// First-run setup, login, then an API token of `role` made with the session.
fn api_token(server: &ApiServer, role: &str) -> Result<String> {
    let origin = server.origin();
    let setup = json!({ "token": server.setup_token()?, "email": EMAIL, "password": PASSWORD });
    Request::post_json(format!("{origin}/api/v1/setup"), &setup)
        .send()?
        .expect(201, "POST /api/v1/setup")?;

    let login = json!({ "email": EMAIL, "password": PASSWORD });
    let answer = Request::post_json(format!("{origin}/api/v1/login"), &login).send()?;
    if !(200..300).contains(&answer.status) {
        bail!(
            "POST /api/v1/login: HTTP {}: {}",
            answer.status,
            answer.body.trim()
        );
    }
    let Some(session) = answer.cookie("servos_session") else {
        bail!("POST /api/v1/login set no servos_session cookie");
    };

    let new_token = json!({ "name": "bench", "role": role });
    Request::post_json(format!("{origin}/api/v1/tokens"), &new_token)
        .header(format!("Cookie: {session}"))
        .header(format!("Origin: {origin}"))
        .send()?
        .expect(201, "POST /api/v1/tokens")?
        .json_string("token")
}

/// A folder for one benchmark run, removed when dropped.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn create(parent: PathBuf) -> Result<Self> {
        let path = parent.join(std::process::id().to_string());
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            eprintln!(
                "xtask: warning: could not remove {}: {err}",
                self.path.display()
            );
        }
    }
}
