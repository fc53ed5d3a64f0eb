//! Fetching the configuration: a long poll that applies each new version, and waits well when the API is away.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::agent::{blocking, Agent};
use super::backoff::Backoff;
use crate::api::ApiError;

/// Seconds the API may hold a config request open waiting for a change.
const LONG_POLL_SECS: u32 = 25;
/// How long to wait before asking again an API that speaks another protocol version.
const MISMATCH_RETRY: Duration = Duration::from_secs(60);

/// Fetches and applies configurations until `shutdown` turns true.
pub async fn run(agent: Arc<Agent>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::new();
    loop {
        let since = agent.applied_version();
        let result = tokio::select! {
            result = agent.api.config(since, LONG_POLL_SECS) => result,
            () = agent.fetch_now.notified() => continue,
            _ = shutdown.changed() => return,
        };
        let pause = match result {
            Ok(Some(config)) => {
                agent.record_api(None);
                backoff.reset();
                let version = config.version;
                match blocking(&agent, move |agent| agent.apply(config)).await {
                    Ok(applied) => {
                        tracing::info!(config_version = version, ?applied, "configuration applied");
                        None
                    }
                    Err(err) => {
                        tracing::error!(config_version = version, error = %err, "configuration not applied; the previous one stays in force");
                        Some(backoff.next_delay())
                    }
                }
            }
            Ok(None) => {
                agent.record_api(None);
                backoff.reset();
                None
            }
            Err(ApiError::ProtocolMismatch(message)) => {
                tracing::error!(
                    api_message = %message,
                    "the API speaks another agent protocol version: the mesh stays up on its last configuration; upgrade the agent"
                );
                agent.record_api(Some(format!("protocol mismatch: {message}")));
                Some(MISMATCH_RETRY)
            }
            Err(err) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "configuration fetch failed; running on the last configuration");
                agent.record_api(Some(err.to_string()));
                Some(delay)
            }
        };
        if let Some(delay) = pause {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = agent.fetch_now.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
