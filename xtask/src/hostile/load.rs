//! The hostile suite's bounded load: on SQLite and on PostgreSQL, the
//! built `servos-api` under `wrk` on an authenticated read (`GET
//! /api/v1/me`, 32 connections) and on login (`POST /api/v1/login`, 8
//! connections, far past its per-address limit), each for
//! [`LOAD_SECONDS`], while a monitor probes `/healthz` as an uptime check
//! would. A load passes when no answer is a 5xx, every probe answers 200,
//! the read is served and the login limit refuses the excess.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::api_server::{admin_login, ApiServer};
use crate::pg::TestPostgres;
use crate::scratch::ScratchDir;
use crate::target_dir;
use crate::wrk::{self, Load, Measurement};

/// How long each load runs.
const LOAD_SECONDS: u32 = 10;
/// How often the monitor probes `/healthz`.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How long one probe may take before it counts as unanswered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One load's figures.
pub struct LoadResult {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// What was loaded (`GET /api/v1/me`, ...).
    pub request: &'static str,
    /// What `wrk` measured.
    pub wrk: Measurement,
    /// The `/healthz` probes meanwhile.
    pub probes: Probes,
    /// Whether the answers were what this load expects.
    pub expected: bool,
}

impl LoadResult {
    /// No 5xx, every probe answered, and the load's own expectation held.
    pub fn passed(&self) -> bool {
        self.server_errors() == 0 && self.probes.failures == 0 && self.expected
    }

    /// 5xx answers (all of them, when the run could not count by class).
    pub fn server_errors(&self) -> u64 {
        self.wrk
            .statuses
            .as_ref()
            .map_or(self.wrk.non_success, |s| s.server_error)
    }
}

/// The `/healthz` probes of one load.
#[derive(Default)]
pub struct Probes {
    /// Latency of each answered probe, connection included, in ms.
    pub latencies_ms: Vec<f64>,
    /// Probes not answered 200 within [`PROBE_TIMEOUT`].
    pub failures: u64,
}

impl Probes {
    /// The slowest answered probe, in ms.
    pub fn max_ms(&self) -> f64 {
        self.latencies_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// Runs every load on SQLite, then on PostgreSQL.
pub fn run_all(postgres: &TestPostgres) -> Result<Vec<LoadResult>> {
    let binary = target_dir().join("debug").join("servos-api");
    let scratch = ScratchDir::create(target_dir().join("servos-hostile-load"))?;
    let mut results = on_backend(&binary, &scratch.path.join("sqlite"), "sqlite", None)?;
    results.extend(postgres.with_scratch_database("servos_hostile", |url| {
        on_backend(
            &binary,
            &scratch.path.join("postgres"),
            "postgres",
            Some(url),
        )
    })?);
    Ok(results)
}

fn on_backend(
    binary: &Path,
    scratch: &Path,
    backend: &'static str,
    database_url: Option<&str>,
) -> Result<Vec<LoadResult>> {
    eprintln!("\nxtask: == hostile load on {backend} ==");
    let mut server = ApiServer::start(binary, scratch, database_url, &[])?;
    server.wait_healthy()?;
    let token = server
        .api_token("viewer")
        .with_context(|| format!("setting up {backend} failed"))?;
    let origin = server.origin();
    let (me, login_url) = (
        format!("{origin}/api/v1/me"),
        format!("{origin}/api/v1/login"),
    );
    let authorization = format!("Bearer {token}");
    let read = Load {
        url: &me,
        method: "GET",
        headers: &[("Authorization", &authorization)],
        body: None,
        connections: 32,
        seconds: LOAD_SECONDS,
        count_statuses: true,
        fresh_header: None,
    };
    let login_body = admin_login().to_string();
    let login = Load {
        url: &login_url,
        method: "POST",
        headers: &[("Content-Type", "application/json")],
        body: Some(&login_body),
        connections: 8,
        seconds: LOAD_SECONDS,
        count_statuses: true,
        fresh_header: None,
    };
    let results = vec![
        under_probes(&server, &read, scratch, backend, "GET /api/v1/me", |s| {
            s.success > 0 && s.limited == 0
        })?,
        under_probes(
            &server,
            &login,
            scratch,
            backend,
            "POST /api/v1/login",
            |s| s.success > 0 && s.limited > 0,
        )?,
    ];
    server.stop()?;
    Ok(results)
}

/// Runs `load` while a monitor probes the server's `/healthz`.
fn under_probes(
    server: &ApiServer,
    load: &Load<'_>,
    scratch: &Path,
    backend: &'static str,
    request: &'static str,
    expect: impl Fn(&wrk::Statuses) -> bool,
) -> Result<LoadResult> {
    let monitor = Monitor::start(server.address());
    let measured = wrk::run_load(load, scratch);
    let probes = monitor.stop();
    let wrk = measured?;
    let expected = wrk.statuses.as_ref().is_some_and(expect);
    Ok(LoadResult {
        backend,
        request,
        wrk,
        probes,
        expected,
    })
}

/// Probes `/healthz` every [`PROBE_EVERY`] on a thread of its own.
struct Monitor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Probes>,
}

impl Monitor {
    fn start(address: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut probes = Probes::default();
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                match probe(address) {
                    Ok(()) => probes
                        .latencies_ms
                        .push(started.elapsed().as_secs_f64() * 1000.0),
                    Err(_) => probes.failures += 1,
                }
                // The probing rhythm of a monitor, not a wait for readiness.
                std::thread::sleep(PROBE_EVERY);
            }
            probes
        });
        Self { stop, thread }
    }

    fn stop(self) -> Probes {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| Probes {
            latencies_ms: Vec::new(),
            failures: 1,
        })
    }
}

/// One `GET /healthz` on a new connection, answered 200 within the timeout.
fn probe(address: SocketAddr) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
    stream.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    if answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other("not 200"))
    }
}
