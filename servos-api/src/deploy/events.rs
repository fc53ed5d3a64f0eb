//! The step log of a deployment: written line by line by the job (numbered
//! without gaps: one writer per job, lines appended one after another), and
//! read back as server-sent events through `joblog`.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::Mutex;

use crate::error::ServiceError;
use crate::joblog::{self, End, JobLog, Line};
use crate::state::AppState;
use crate::store::deployment_logs::{self, LogRow};
use crate::store::ids::{DeploymentId, ServerId};
use crate::store::{self, deployments, DbConn};

use super::Signals;

/// Appends lines to one deployment's log.
#[derive(Debug)]
pub struct LogWriter {
    state: AppState,
    signals: Arc<Signals>,
    deployment_id: DeploymentId,
    next_seq: Mutex<i64>,
}

impl LogWriter {
    /// A writer continuing the deployment's log.
    pub async fn open(
        state: &AppState,
        signals: Arc<Signals>,
        deployment_id: &DeploymentId,
    ) -> Result<Self, ServiceError> {
        let id = deployment_id.clone();
        let last = state
            .db(move |conn| Ok(deployment_logs::last_seq(conn, &id)?))
            .await?;
        Ok(Self {
            state: state.clone(),
            signals,
            deployment_id: deployment_id.clone(),
            next_seq: Mutex::new(last + 1),
        })
    }

    /// Appends `text` (about `server_id`, if given) and wakes readers. A line
    /// that cannot be stored is logged; the job goes on.
    pub async fn line(&self, server_id: Option<&ServerId>, text: impl Into<String>) {
        let text = text.into();
        let server = server_id.map(ServerId::as_str);
        tracing::info!(deployment_id = %self.deployment_id, server_id = server, "{text}");
        let mut next = self.next_seq.lock().await;
        let row = LogRow {
            deployment_id: self.deployment_id.clone(),
            seq: *next,
            server_id: server_id.cloned(),
            at: store::now(),
            text,
        };
        let stored = self
            .state
            .db(move |conn| Ok(deployment_logs::append(conn, &row)?))
            .await;
        match stored {
            Ok(()) => {
                *next += 1;
                self.signals.log_written();
            }
            Err(e) => {
                tracing::warn!(deployment_id = %self.deployment_id, error = %e, "cannot store a deployment log line");
            }
        }
    }
}

/// A deployment's log, as the event stream reads it.
#[derive(Debug, Clone)]
struct DeploymentLog(DeploymentId);

impl JobLog for DeploymentLog {
    fn lines_after(
        &self,
        conn: &mut DbConn,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Line>, ServiceError> {
        Ok(deployment_logs::after(conn, &self.0, after, limit)?
            .into_iter()
            .map(|row: LogRow| Line {
                seq: row.seq,
                at: row.at,
                server_id: row.server_id.map(String::from),
                text: row.text,
            })
            .collect())
    }

    fn end(&self, conn: &mut DbConn) -> Result<Option<End>, ServiceError> {
        let job = deployments::find(conn, &self.0)?.ok_or(ServiceError::NotFound)?;
        Ok(job.is_finished().then(|| End {
            state: job.state.as_str().to_owned(),
            reason: job.reason,
        }))
    }
}

/// The events of deployment `id` after line `after`: each log line as it is
/// written, then the final state, then the end of the stream.
pub async fn stream(
    state: &AppState,
    id: DeploymentId,
    after: i64,
) -> Result<impl Stream<Item = Result<Bytes, ServiceError>>, ServiceError> {
    joblog::stream(state, DeploymentLog(id), after).await
}

/// Cuts `text` to at most `max` bytes (at a character boundary) and marks
/// the cut with `…`; shorter text is left as it is.
pub fn clip(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let cut = (0..=max)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    text.truncate(cut);
    text.push('…');
}
