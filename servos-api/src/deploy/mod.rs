//! Deployments: jobs stored in the database that run an application's
//! image, with one version of its environment, on each of its servers.
//!
//! - `requests.rs`: what the API asks for (deploy, rollback, cancel, list).
//! - `worker.rs`: the worker pool `serve` starts: claims jobs, holds
//!   leases, takes over jobs whose process stopped, lets its running jobs
//!   end when it stops.
//! - `plan.rs`: what a job needs, loaded once (its secrets opened in memory).
//! - `run.rs`: one job across its servers, with bounded parallelism.
//! - `server_steps.rs`: the steps on one server, over one SSH session;
//!   `health.rs` checks the new container, `retire.rs` drains and removes
//!   the old one.
//! - `remote.rs`, `docker.rs`: paths on the server and Docker commands.
//! - `ports.rs`: the loopback port each new container is published on.
//! - `timings.rs`: where a server's share spends its time (Docker, health
//!   check, drain, ServOS's own).
//! - `recovery.rs`: cleaning a server after an interrupted attempt.
//! - `events.rs`: the step log, and its live stream for the UI.
//! - `history.rs`: what pages read besides one job: its whole step log,
//!   an application's current version.

pub mod docker;
pub mod events;
pub mod health;
pub mod history;
pub mod plan;
pub mod ports;
pub mod recovery;
pub mod remote;
pub mod requests;
pub mod retire;
pub mod run;
pub mod server_steps;
pub mod timings;
pub mod worker;

use std::ops::RangeInclusive;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::http::error::ApiError;
use crate::proxy::{ProxyError, TlsMode};
use crate::ssh::SshError;

pub use worker::Engine;

/// Settings of the deploy engine.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// Jobs one process runs at a time.
    pub workers: usize,
    /// Servers one process works on at a time, over all its jobs.
    pub server_parallelism: usize,
    /// How long a claim lasts unless renewed.
    pub lease: Duration,
    /// How long the old container may take to finish its requests.
    pub drain: Duration,
    /// How long a stopping process lets its running jobs go on.
    pub stop_grace: Duration,
    /// How often idle workers look for jobs queued by other processes.
    pub poll: Duration,
    /// Certificates of application domains.
    pub proxy_tls: TlsMode,
    /// Attempts (first run and take-overs) before a job is failed.
    pub max_attempts: i32,
    /// The loopback ports of a server that containers are published on.
    pub host_ports: RangeInclusive<u16>,
}

impl Default for DeploySettings {
    fn default() -> Self {
        Self {
            workers: 4,
            server_parallelism: 10,
            lease: Duration::from_secs(30),
            drain: Duration::from_secs(30),
            stop_grace: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            proxy_tls: TlsMode::Acme,
            max_attempts: 3,
            host_ports: ports::RANGE,
        }
    }
}

/// Wake-ups within one process: a job was queued, a log line was written.
/// Other processes notice the same through the database, a little later.
#[derive(Debug)]
pub struct Signals {
    jobs: Notify,
    logs: watch::Sender<u64>,
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            jobs: Notify::new(),
            logs: watch::channel(0).0,
        }
    }
}

impl Signals {
    /// Wakes one idle worker.
    pub fn job_queued(&self) {
        self.jobs.notify_one();
    }

    /// Wakes every reader of a deployment's events.
    pub fn log_written(&self) {
        self.logs.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever a line is written.
    pub fn log_updates(&self) -> watch::Receiver<u64> {
        self.logs.subscribe()
    }

    /// Waits until a job is queued (or a peer passes the wake-up on).
    pub async fn next_job(&self) {
        self.jobs.notified().await;
    }
}

/// Why a step of a deployment failed. Messages never hold a secret value.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The SSH session failed.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// The proxy could not be driven.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// Loading or storing failed, or the server cannot be used.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// A step failed for the reason given.
    #[error("{0}")]
    Failed(String),
    /// A cancel was asked for.
    #[error("cancelled")]
    Cancelled,
    /// Another worker took the job over.
    #[error("another worker took this deployment over")]
    LeaseLost,
}

impl StepError {
    /// A failure with `reason`.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed(reason.into())
    }
}
