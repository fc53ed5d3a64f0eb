//! Deployments: jobs stored in the database that run an application's
//! image, with one version of its environment, on each of its servers.
//!
//! - `requests.rs`: what the API asks for (deploy, rollback, cancel, list).
//! - `worker.rs`: the worker pool `serve` starts: claims jobs, holds
//!   leases, takes over jobs whose process stopped, lets its running jobs
//!   end when it stops.
//! - `flags.rs`: a running job's cancel and lease flags.
//! - `plan.rs`: what a job needs, loaded once (its secrets opened in memory).
//! - `run.rs`: one job across its servers, with bounded parallelism.
//! - `server_steps.rs`: the steps on one server, over one SSH session;
//!   `health.rs` checks the new container, `retire.rs` drains and removes
//!   the old one.
//! - `remote.rs`, `docker.rs`: paths on the server and Docker commands.
//! - `ports.rs`: the loopback port each new container is published on.
//! - `mesh_net.rs`: the Docker network of mesh applications, and where
//!   their containers' addresses come from.
//! - `timings.rs`: where a server's share spends its time (Docker, health
//!   check, drain, ServOS's own).
//! - `recovery.rs`: cleaning a server after an interrupted attempt.
//! - `events.rs`: the step log, and its live stream for the UI.
//! - `signals.rs`: wake-ups within one process (a job queued, a line written).
//! - `history.rs`: what pages read besides one job: its whole step log,
//!   an application's current version.

pub mod docker;
pub mod events;
pub mod flags;
pub mod health;
pub mod history;
pub mod mesh_net;
pub mod plan;
pub mod ports;
pub mod recovery;
pub mod remote;
pub mod requests;
pub mod retire;
pub mod run;
pub mod server_steps;
pub mod signals;
pub mod timings;
pub mod worker;

use crate::error::ServiceError;
use crate::proxy::ProxyError;
use crate::ssh::SshError;

pub use signals::Signals;
pub use worker::Engine;

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
    Api(#[from] ServiceError),
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
