//! The worker pool: `SERVOS_DEPLOY_WORKERS` workers per process, on a
//! runtime of their own. Each takes over a job whose lease ran out (its
//! process stopped), else claims the oldest runnable queued job, runs it,
//! and looks again; idle, it sleeps until a job is queued in this process
//! or the poll interval passes (jobs queued by other processes).

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{watch, Semaphore};

use crate::app::AppState;
use crate::store::deployments::{self, DeploymentRow};
use crate::store::{self, tx};

use super::run::{self, WorkerContext};

/// The running pool; dropping it stops the workers (a job they were
/// running is taken over later by whichever worker finds its lease expired).
#[derive(Debug)]
pub struct Engine {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the workers of `state`'s settings.
    pub fn start(state: AppState) -> std::io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("servos-deploy")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("servos-deploy".into())
            .spawn(move || {
                runtime.block_on(pool(state, stopped));
                runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// This process's part of every worker name.
fn process_tag() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", std::process::id(), &random[..8])
}

async fn pool(state: AppState, mut stopped: watch::Receiver<bool>) {
    let settings = state.config.deploy.clone();
    let ctx = Arc::new(WorkerContext {
        signals: state.deploy_signals.clone(),
        servers: Arc::new(Semaphore::new(settings.server_parallelism)),
        settings,
        state,
    });
    let tag = process_tag();
    tracing::info!(workers = ctx.settings.workers, "deploy workers started");
    let workers: Vec<_> = (0..ctx.settings.workers)
        .map(|n| tokio::spawn(work(ctx.clone(), format!("{tag}/{n}"))))
        .collect();
    while !*stopped.borrow_and_update() {
        if stopped.changed().await.is_err() {
            break;
        }
    }
    for worker in workers {
        worker.abort();
    }
}

async fn work(ctx: Arc<WorkerContext>, name: String) {
    loop {
        match next_job(&ctx.state, &name).await {
            Ok(Some(job)) => {
                // Another job may be waiting: let a peer look too.
                ctx.signals.job_queued();
                run::run(&ctx, &name, job).await;
            }
            Ok(None) => {
                tokio::select! {
                    () = ctx.signals.next_job() => {}
                    () = tokio::time::sleep(ctx.settings.poll) => {}
                }
            }
            Err(e) => {
                tracing::warn!(worker = %name, error = %e, "cannot claim a deployment");
                tokio::time::sleep(ctx.settings.poll).await;
            }
        }
    }
}

/// Takes over an expired job, else claims a queued one, in one write
/// transaction. A claim that loses a race on PostgreSQL (another replica
/// started a job of the same application first) finds nothing this time.
async fn next_job(
    state: &AppState,
    worker: &str,
) -> Result<Option<DeploymentRow>, crate::http::error::ApiError> {
    let lease = state.config.deploy.lease;
    let worker = worker.to_owned();
    state
        .db(move |conn| {
            let claimed = tx::write(conn, |conn| {
                let now = store::now();
                let until = now + lease;
                match deployments::take_over_expired(conn, &worker, now, until)? {
                    Some(job) => Ok(Some(job)),
                    None => deployments::claim_next(conn, &worker, now, until),
                }
            });
            match claimed {
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Ok(None),
                other => Ok(other?),
            }
        })
        .await
}
