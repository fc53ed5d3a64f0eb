//! PostgreSQL restarted under load (PostgreSQL only, by nature): the real
//! binary on a private cluster that `pg_ctl restart -m fast` ends every
//! session of, while a few clients keep reading. No request may answer 500;
//! while the database is away the API answers 503 `unavailable` with
//! `Retry-After`, and within a bound after the database is back everything
//! answers again, a write included, and the audit chain verifies.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection as _;
use diesel::Connection as _;
use reqwest::Method;
use serde_json::json;
use servos_lab::postgres::Cluster;

use super::api::{admin_token, answer, call, stop_and_verify_audit, Answer};
use super::report::Scenario;
use crate::client::scratch_dir;
use crate::harness::random_master_key;
use crate::process::{client, Env, Server};

/// Clients reading at once.
const CLIENTS: usize = 4;
/// The pause of each client between two requests.
const PAUSE: Duration = Duration::from_millis(10);
/// How long after PostgreSQL accepts connections again the API may still
/// answer errors: the pool's reconnect, generously bounded.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// How long the load must answer without an error before it stops.
const STEADY: Duration = Duration::from_secs(3);
/// The reads of the load, taken in turn.
const READS: [&str; 2] = ["/api/v1/me", "/api/v1/apps"];

/// One request of the load.
#[derive(Debug, Clone)]
struct Sample {
    sent: Instant,
    done: Instant,
    outcome: Result<Answer, String>,
}

impl Sample {
    fn ok(&self) -> bool {
        matches!(&self.outcome, Ok(answer) if answer.status == 200)
    }

    fn status(&self) -> String {
        match &self.outcome {
            Ok(answer) => answer.status.to_string(),
            Err(_) => "no answer".to_owned(),
        }
    }
}

/// The load: `CLIENTS` tasks reading until told to stop.
struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(server: &Arc<Server>, env: &Env, token: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..CLIENTS)
            .map(|index| {
                let (stop, samples) = (Arc::clone(&stop), Arc::clone(&samples));
                let (server, client, token) = (Arc::clone(server), client(env), token.to_owned());
                tokio::spawn(async move {
                    let mut turn = index;
                    while !stop.load(Ordering::Relaxed) {
                        let path = READS[turn % READS.len()];
                        turn += 1;
                        let sent = Instant::now();
                        let outcome =
                            call(&client, &server, (Method::GET, path), &token, None).await;
                        let sample = Sample {
                            sent,
                            done: Instant::now(),
                            outcome,
                        };
                        samples.lock().expect("samples").push(sample);
                        tokio::time::sleep(PAUSE).await;
                    }
                })
            })
            .collect();
        Self {
            stop,
            samples,
            tasks,
        }
    }

    fn snapshot(&self) -> Vec<Sample> {
        self.samples.lock().expect("samples").clone()
    }

    /// Waits (at most `within`) until `condition` holds of the samples so far.
    async fn until(&self, within: Duration, what: &str, condition: impl Fn(&[Sample]) -> bool) {
        let deadline = Instant::now() + within;
        while !condition(&self.snapshot()) {
            assert!(
                Instant::now() < deadline,
                "the load did not reach {what} within {within:?}; statuses: {:?}",
                count_by_status(&self.snapshot())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("a load client");
        }
        let mut samples = self.samples.lock().expect("samples").clone();
        samples.sort_by_key(|sample| sample.done);
        samples
    }
}

fn count_by_status(samples: &[Sample]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for sample in samples {
        *counts.entry(sample.status()).or_default() += 1;
    }
    counts
}

/// The longest stretch of answers without a success, from the first failed
/// answer to the last one before a success, and the longest time between
/// two successes; `samples` in the order they were answered.
fn longest_windows(samples: &[Sample]) -> (Duration, Duration) {
    let (mut errors, mut gap) = (Duration::ZERO, Duration::ZERO);
    let mut run_start: Option<Instant> = None;
    let mut last_ok: Option<Instant> = None;
    for sample in samples {
        if sample.ok() {
            if let Some(previous) = last_ok {
                gap = gap.max(sample.done - previous);
            }
            last_ok = Some(sample.done);
            run_start = None;
        } else {
            let start = *run_start.get_or_insert(sample.done);
            errors = errors.max(sample.done - start);
        }
    }
    (errors, gap)
}

/// A private cluster in `dir` with a database of its own; its URL.
fn cluster_with_database(dir: &std::path::Path, name: &str) -> (Cluster, String) {
    let cluster = Cluster::start(dir).unwrap_or_else(|error| {
        panic!("this test needs a private PostgreSQL cluster (Debian package postgresql): {error}")
    });
    diesel::PgConnection::establish(cluster.url())
        .expect("connect to the private cluster")
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create the test database");
    let url = cluster
        .url()
        .strip_suffix("/postgres")
        .map(|server| format!("{server}/{name}"))
        .expect("the cluster's URL names the postgres database");
    (cluster, url)
}

#[actix_web::test]
async fn postgres_restart_under_load() {
    let mut scenario = Scenario::new(
        "hostile::pg_restart::postgres_restart_under_load",
        "PostgreSQL restarted (`pg_ctl restart -m fast`) under a steady load of authenticated reads",
        "no 500; 503 `unavailable` with Retry-After only from the restart until shortly after \
         PostgreSQL is back; then every read and a write succeed and `audit verify` passes",
    );
    let pg_dir = tempfile::tempdir().expect("a folder for the cluster");
    let (cluster, url) = cluster_with_database(pg_dir.path(), "servos_restart");
    let scratch = scratch_dir();
    let mut env = Env::new(scratch.path().join("data"), Some(random_master_key()))
        .with_var("SERVOS_RATE_LIMIT", "100000/1");
    env.database_url = Some(url);
    let server = Arc::new(Server::start(&env, &scratch.path().join("serve.log")).await);
    let token = admin_token(&server, &env).await;

    let load = Load::start(&server, &env, &token);
    load.until(Duration::from_secs(20), "20 answered reads", |samples| {
        samples.iter().filter(|sample| sample.ok()).count() >= 20
    })
    .await;

    let restart_began = Instant::now();
    let (cluster, restarted) = tokio::task::spawn_blocking(move || {
        let restarted = cluster.restart();
        (cluster, restarted)
    })
    .await
    .expect("the restart's thread");
    let back = Instant::now();
    if let Err(error) = restarted {
        panic!("PostgreSQL did not restart: {error}");
    }
    load.until(
        STEADY + Duration::from_secs(30),
        "a steady state after the restart",
        |samples| {
            let last_error = samples
                .iter()
                .filter(|sample| !sample.ok())
                .map(|sample| sample.done)
                .max();
            let now = Instant::now();
            now >= back + STEADY && last_error.is_none_or(|at| at + STEADY <= now)
        },
    )
    .await;
    let samples = load.finish().await;

    let counts = count_by_status(&samples);
    let (error_window, gap) = longest_windows(&samples);
    let first_success = samples
        .iter()
        .find(|sample| sample.ok() && sample.done >= back)
        .map(|sample| sample.done - back)
        .expect("a success after the restart");
    let restart = back - restart_began;
    scenario.figure("restart duration", format!("{restart:?}"));
    scenario.figure("requests sent", samples.len());
    scenario.figure("answers by status", format!("{counts:?}"));
    scenario.figure("longest error window", format!("{error_window:?}"));
    scenario.figure("longest time between successes", format!("{gap:?}"));
    scenario.figure(
        "first success after PostgreSQL was back",
        format!("{first_success:?}"),
    );
    eprintln!(
        "pg restart: {} requests, {counts:?}; restart {restart:?}, longest error window \
         {error_window:?}, longest time between successes {gap:?}, first success \
         {first_success:?} after PostgreSQL was back",
        samples.len()
    );

    let window_end = back + RECOVERY_BOUND;
    for sample in samples.iter().filter(|sample| !sample.ok()) {
        let inside = sample.sent >= restart_began && sample.done <= window_end;
        match &sample.outcome {
            Ok(answer) if answer.status == 503 && inside => {
                assert_eq!(answer.code.as_deref(), Some("unavailable"), "{answer:?}");
                assert!(answer.retry_after.is_some(), "a 503 without Retry-After");
            }
            other => panic!(
                "an error {} the restart window (restart {restart:?}, bound {RECOVERY_BOUND:?} \
                 after PostgreSQL was back), sent {:?} after the restart began: {other:?}",
                if inside { "inside" } else { "outside" },
                sample.sent.saturating_duration_since(restart_began)
            ),
        }
    }
    assert!(
        first_success <= RECOVERY_BOUND,
        "the first success came {first_success:?} after PostgreSQL was back"
    );

    let body = json!({"name": "after-restart", "vars": {"GREETING": "hello"}});
    let write = answer(
        &server,
        (Method::POST, "/api/v1/env-sets"),
        &token,
        Some(&body),
    )
    .await;
    assert_eq!(write.status, 201, "a write after the restart: {write:?}");
    for path in READS {
        let read = answer(&server, (Method::GET, path), &token, None).await;
        assert_eq!(read.status, 200, "GET {path} after the restart: {read:?}");
    }
    let server = Arc::into_inner(server).expect("the load let go of the server");
    stop_and_verify_audit(
        server,
        &env,
        &scratch.path().join("verify.log"),
        "the restart",
    );
    drop(cluster);
}
