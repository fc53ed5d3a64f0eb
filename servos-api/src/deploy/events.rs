//! The step log of a deployment: written line by line by the job (numbered
//! without gaps: one writer per job, lines appended one after another), and
//! read back as server-sent events. Readers poll the database, woken at
//! once by a write in the same process and within a second otherwise, so
//! the stream works whichever API process runs the job.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::deployment_logs::{self, LogRow};
use crate::store::ids::{DeploymentId, ServerId};
use crate::store::{self, deployments};

use super::Signals;

/// How long a reader waits for a wake-up before looking again.
const POLL: Duration = Duration::from_secs(1);
/// Lines read per query.
const BATCH: i64 = 200;
/// Silence after which a comment keeps the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

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

/// One line as an event.
#[derive(Debug, Serialize)]
struct LineEvent<'a> {
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    server_id: Option<&'a str>,
    text: &'a str,
}

/// The end of a deployment as an event.
#[derive(Debug, Serialize)]
struct EndEvent<'a> {
    state: &'a str,
    reason: Option<&'a str>,
}

fn line_event(row: &LogRow) -> Bytes {
    let json = serde_json::to_string(&LineEvent {
        seq: row.seq,
        at: row.at.and_utc(),
        server_id: row.server_id.as_ref().map(ServerId::as_str),
        text: &row.text,
    })
    .unwrap_or_default();
    Bytes::from(format!("id: {}\nevent: log\ndata: {json}\n\n", row.seq))
}

/// Where a reader is.
struct Reader {
    state: AppState,
    id: DeploymentId,
    after: i64,
    updates: tokio::sync::watch::Receiver<u64>,
    done: bool,
}

impl Reader {
    async fn lines(&self) -> Result<Vec<LogRow>, ServiceError> {
        let (id, after) = (self.id.clone(), self.after);
        self.state
            .db(move |conn| Ok(deployment_logs::after(conn, &id, after, BATCH)?))
            .await
    }

    /// The next chunk of the stream: new lines, the end event, or a keep-alive.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ServiceError> {
        if self.done {
            return Ok(None);
        }
        let mut quiet = Duration::ZERO;
        loop {
            let rows = self.lines().await?;
            if let Some(last) = rows.last() {
                self.after = last.seq;
                let chunk: Vec<u8> = rows.iter().flat_map(|r| line_event(r).to_vec()).collect();
                return Ok(Some(Bytes::from(chunk)));
            }
            let id = self.id.clone();
            let job = self
                .state
                .db(move |conn| deployments::find(conn, &id)?.ok_or(ServiceError::NotFound))
                .await?;
            if job.is_finished() {
                // The job writes its last line before it ends: one more read has it.
                if !self.lines().await?.is_empty() {
                    continue;
                }
                self.done = true;
                let json = serde_json::to_string(&EndEvent {
                    state: job.state.as_str(),
                    reason: job.reason.as_deref(),
                })
                .unwrap_or_default();
                return Ok(Some(Bytes::from(format!("event: end\ndata: {json}\n\n"))));
            }
            if quiet >= KEEP_ALIVE {
                return Ok(Some(Bytes::from_static(b": keep-alive\n\n")));
            }
            // A write in this process wakes us at once; other processes' writes
            // are found by the next poll.
            let _ = tokio::time::timeout(POLL, self.updates.changed()).await;
            quiet += POLL;
        }
    }
}

/// The events of deployment `id` after line `after`: each log line as it is
/// written, then the final state, then the end of the stream.
pub async fn stream(
    state: &AppState,
    id: DeploymentId,
    after: i64,
) -> Result<impl Stream<Item = Result<Bytes, ServiceError>>, ServiceError> {
    let lookup = id.clone();
    state
        .db(move |conn| deployments::find(conn, &lookup)?.ok_or(ServiceError::NotFound))
        .await?;
    let reader = Reader {
        updates: state.deploy_signals.log_updates(),
        state: state.clone(),
        id,
        after,
        done: false,
    };
    Ok(futures_util::stream::unfold(
        reader,
        |mut reader| async move {
            match reader.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), reader)),
                Ok(None) => None,
                Err(e) => {
                    reader.done = true;
                    Some((Err(e), reader))
                }
            }
        },
    ))
}
