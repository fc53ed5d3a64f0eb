//! The heartbeat: every few seconds, the interface's peers and the
//! classifier's counters go to `status.json` and to the API.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::agent::{blocking, Agent};

/// Time between heartbeats.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Sends heartbeats until `shutdown` turns true.
pub async fn run(agent: Arc<Agent>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => beat(&agent).await,
            _ = shutdown.changed() => return,
        }
    }
}

async fn beat(agent: &Arc<Agent>) {
    let observed = match blocking(agent, |agent| agent.observe()).await {
        Ok(observed) => observed,
        Err(err) => {
            tracing::error!(error = %err, "cannot read the WireGuard device");
            return;
        }
    };
    let heartbeat = agent.heartbeat(&observed);
    match agent.api.heartbeat(&heartbeat).await {
        Ok(answer) => {
            agent.record_api(None);
            if answer.config_version > heartbeat.config_version {
                agent.fetch_now.notify_one();
            }
        }
        // The config loop reports the API's absence; repeating it every beat would drown the log.
        Err(err) => {
            tracing::debug!(error = %err, "heartbeat not delivered");
            agent.record_api(Some(err.to_string()));
        }
    }
    if let Err(err) = blocking(agent, move |agent| agent.write_status(&observed)).await {
        tracing::warn!(error = %err, "cannot write status.json");
    }
}
