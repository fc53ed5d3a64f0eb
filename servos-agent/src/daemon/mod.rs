//! `run` after the privilege drop: the tokio runtime, the config and heartbeat tasks, and signals.

mod agent;
pub mod backoff;
mod config_loop;
mod heartbeat;

use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::api::ApiClient;
use crate::classifier::MeshClassifier;
use crate::keys::PrivateKey;
use crate::state::{write_private, StateDir};
use crate::wg::WgDevice;
use servos_common::protocol::MeshConfig;

pub use agent::{Agent, AgentError, AppliedConfig, Observed};

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The runtime or a signal handler could not start.
    #[error("cannot start: {0}")]
    Start(#[from] std::io::Error),
    /// The stored configuration could not be applied at start.
    #[error("the stored configuration could not be applied: {0}")]
    FirstApply(#[from] AgentError),
}

/// What the daemon starts from.
pub struct DaemonSetup {
    /// The state directory.
    pub state: StateDir,
    /// The API client.
    pub api: ApiClient,
    /// The interface's name.
    pub interface: String,
    /// The started device.
    pub device: Box<dyn WgDevice>,
    /// The classifier attached as root.
    pub classifier: MeshClassifier,
    /// The node's key.
    pub key: PrivateKey,
    /// The stored configuration.
    pub config: MeshConfig,
}

/// Applies the stored configuration (the mesh is up before the API is
/// asked anything), then runs until SIGTERM or SIGINT. SIGHUP re-reads the
/// key and configuration files (`rotate-key` sends it).
pub fn run(setup: DaemonSetup) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(setup))
}

async fn serve(setup: DaemonSetup) -> Result<(), DaemonError> {
    let DaemonSetup {
        state,
        api,
        interface,
        device,
        classifier,
        key,
        config,
    } = setup;
    let version = config.version;
    let agent = Arc::new(Agent::new(
        state.clone(),
        api,
        interface,
        device,
        classifier,
        key,
        config.clone(),
    ));
    let applied = agent::blocking(&agent, move |agent| agent.apply(config)).await?;
    tracing::info!(
        config_version = version,
        ?applied,
        backend = agent.backend.as_str(),
        "mesh up on the stored configuration"
    );
    if let Err(err) = write_private(
        &state.pid_path(),
        format!("{}\n", std::process::id()).as_bytes(),
    ) {
        tracing::warn!(error = %err, "cannot write the pid file; rotate-key will not reach this agent");
    }

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (stop, shutdown) = watch::channel(false);
    let tasks = [
        tokio::spawn(config_loop::run(Arc::clone(&agent), shutdown.clone())),
        tokio::spawn(heartbeat::run(Arc::clone(&agent), shutdown)),
    ];
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => match agent::blocking(&agent, |agent| agent.reload()).await {
                Ok(applied) => tracing::info!(?applied, "key and configuration re-read"),
                Err(err) => tracing::error!(error = %err, "re-reading the key and configuration failed; the configuration in force stays"),
            },
        }
    }
    tracing::info!("stopping");
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let _ = std::fs::remove_file(state.pid_path());
    Ok(())
}
