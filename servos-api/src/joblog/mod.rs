//! The step log of a job (a deployment, an agent install) read back as
//! server-sent events: each line as it is written, then the job's end.
//! Readers poll the database, woken at once by a write in the same process
//! and within a second otherwise, so the stream works whichever API process
//! runs the job. What a log is and how it ends is the job's: [`JobLog`].

use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDateTime;
use futures_util::Stream;
use serde::Serialize;

use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::DbConn;

/// How long a reader waits for a wake-up before looking again.
const POLL: Duration = Duration::from_secs(1);
/// Lines read per query.
pub const BATCH: i64 = 200;
/// Silence after which a comment keeps the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One line of a job's log.
#[derive(Debug, Clone)]
pub struct Line {
    /// Number within the log, from 1.
    pub seq: i64,
    /// When it was written.
    pub at: NaiveDateTime,
    /// The server it is about, if any.
    pub server_id: Option<String>,
    /// The text (never a secret value).
    pub text: String,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct End {
    /// Its final state.
    pub state: String,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
}

/// A job whose log can be streamed.
pub trait JobLog: Send + Sync + Clone + 'static {
    /// Up to `limit` lines after line `after`, in order.
    fn lines_after(
        &self,
        conn: &mut DbConn,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Line>, ServiceError>;
    /// The job's end, once it ended; `NotFound` when it does not exist.
    fn end(&self, conn: &mut DbConn) -> Result<Option<End>, ServiceError>;
}

/// One line as an event.
#[derive(Debug, Serialize)]
struct LineEvent<'a> {
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    server_id: Option<&'a str>,
    text: &'a str,
}

/// The end of a job as an event.
#[derive(Debug, Serialize)]
struct EndEvent<'a> {
    state: &'a str,
    reason: Option<&'a str>,
}

fn line_event(line: &Line) -> Bytes {
    let json = serde_json::to_string(&LineEvent {
        seq: line.seq,
        at: line.at.and_utc(),
        server_id: line.server_id.as_deref(),
        text: &line.text,
    })
    .unwrap_or_default();
    Bytes::from(format!("id: {}\nevent: log\ndata: {json}\n\n", line.seq))
}

/// Where a reader is.
struct Reader<L> {
    state: AppState,
    log: L,
    after: i64,
    updates: tokio::sync::watch::Receiver<u64>,
    done: bool,
}

impl<L: JobLog> Reader<L> {
    async fn lines(&self) -> Result<Vec<Line>, ServiceError> {
        let (log, after) = (self.log.clone(), self.after);
        self.state
            .db(move |conn| log.lines_after(conn, after, BATCH))
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
            let log = self.log.clone();
            let end = self.state.db(move |conn| log.end(conn)).await?;
            if let Some(end) = end {
                // The job writes its last line before it ends: one more read has it.
                if !self.lines().await?.is_empty() {
                    continue;
                }
                self.done = true;
                let json = serde_json::to_string(&EndEvent {
                    state: &end.state,
                    reason: end.reason.as_deref(),
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

/// The events of `log` after line `after`: each line as it is written,
/// then the job's end, then the end of the stream. `NotFound` when the job
/// does not exist.
pub async fn stream<L: JobLog>(
    state: &AppState,
    log: L,
    after: i64,
) -> Result<impl Stream<Item = Result<Bytes, ServiceError>>, ServiceError> {
    let probe = log.clone();
    state.db(move |conn| probe.end(conn).map(drop)).await?;
    let reader = Reader {
        updates: state.deploy_signals.log_updates(),
        state: state.clone(),
        log,
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
