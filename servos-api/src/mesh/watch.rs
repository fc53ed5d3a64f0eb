//! Wake-ups of agents waiting for a newer configuration: a change in this
//! process wakes them at once; changes of other API processes (replicas on
//! one PostgreSQL) are noticed by a poll of the version every
//! [`POLL_EVERY`], so every agent hears of a change within a second.

use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;
use crate::store::mesh_state;

/// How often the version is read for changes other processes made.
pub const POLL_EVERY: Duration = Duration::from_millis(400);

/// The newest mesh configuration version this process knows.
#[derive(Debug)]
pub struct MeshWatch(watch::Sender<i64>);

impl Default for MeshWatch {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl MeshWatch {
    /// Records that version `version` exists (after its transaction committed).
    pub fn saw(&self, version: i64) {
        self.0.send_if_modified(|known| {
            let newer = version > *known;
            if newer {
                *known = version;
            }
            newer
        });
    }

    /// The newest version known.
    pub fn known(&self) -> i64 {
        *self.0.borrow()
    }

    /// Waits up to `wait` for a version newer than `since`; returns the
    /// newest known then.
    pub async fn newer_than(&self, since: i64, wait: Duration) -> i64 {
        let mut updates = self.0.subscribe();
        let waited = tokio::time::timeout(wait, updates.wait_for(|v| *v > since)).await;
        match waited {
            Ok(Ok(version)) => *version,
            _ => self.known(),
        }
    }
}

/// Reads the version until the process stops, so that changes other
/// processes made wake this process's waiters.
pub async fn poll_versions(state: AppState) {
    loop {
        let read = state.db(|conn| Ok(mesh_state::version(conn)?)).await;
        match read {
            Ok(version) => state.mesh_watch.saw(version),
            Err(e) => tracing::warn!(error = %e, "cannot read the mesh version"),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
