//! Wake-ups within one process: a job was queued, a log line was written.
//! Other processes notice the same through the database, a little later.

use tokio::sync::{watch, Notify};

/// The wake-ups of one process.
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
