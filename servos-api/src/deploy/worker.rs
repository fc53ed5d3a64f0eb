//! The worker pool: `SERVOS_DEPLOY_WORKERS` workers per process, on a
//! runtime of their own. Each takes over a job whose lease ran out (its
//! process stopped), else claims the oldest runnable queued job, runs it,
//! and looks again; idle, it sleeps until a job is queued in this process
//! or the poll interval passes (jobs queued by other processes).
//!
//! When the process stops, the workers claim nothing more and their running
//! jobs get `SERVOS_DEPLOY_STOP_GRACE_SECS` to end; a job cut at the end of
//! the grace has its lease let go at once, so that a restarted or other
//! process takes it over without waiting for the lease to run out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::deployments::{self, DeploymentRow};
use crate::store::ids::{DeploymentId, WorkerName};
use crate::store::{self, tx};

use super::run::{self, WorkerContext};

/// How long the runtime's tasks get to end once the pool has returned.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);

/// The running pool; dropping it stops the workers, lets their running
/// jobs end within the stop grace, and returns once they did or were cut.
#[derive(Debug)]
pub struct Engine {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    alive: Arc<AtomicUsize>,
}

impl Engine {
    /// Starts the workers of `state`'s settings.
    pub fn start(state: AppState) -> std::io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let alive = Arc::new(AtomicUsize::new(0));
        // Counted now, so the count is right as soon as `start` returns.
        let counted: Vec<Alive> = (0..state.config.deploy.workers)
            .map(|_| Alive::new(alive.clone()))
            .collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("servos-deploy")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("servos-deploy".into())
            .spawn(move || {
                let cut = runtime.block_on(pool(state.clone(), stopped, counted));
                // Ends the cut jobs' lease keepers before their leases are
                // let go, so that none renews a lease after that.
                runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
                release_leases(&state, &cut);
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
            alive,
        })
    }

    /// How many workers are running (looking for a job or running one).
    pub fn workers_alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }
}

/// Counts a worker as alive for as long as it is held.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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

/// A job a worker of this process is running.
#[derive(Debug, Clone)]
struct RunningJob {
    worker: WorkerName,
    deployment_id: DeploymentId,
}

/// The jobs this process's workers are running, by worker name.
#[derive(Debug, Clone, Default)]
struct RunningJobs(Arc<Mutex<HashMap<WorkerName, DeploymentId>>>);

impl RunningJobs {
    /// Records that `worker` runs deployment `id`.
    fn insert(&self, worker: &WorkerName, id: &DeploymentId) {
        self.lock().insert(worker.clone(), id.clone());
    }

    /// Records that `worker` runs nothing.
    fn remove(&self, worker: &WorkerName) {
        self.lock().remove(worker);
    }

    /// The jobs running now.
    fn list(&self) -> Vec<RunningJob> {
        self.lock()
            .iter()
            .map(|(worker, id)| RunningJob {
                worker: worker.clone(),
                deployment_id: id.clone(),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WorkerName, DeploymentId>> {
        // A worker that panicked left the map whole: each change is one call.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// This process's part of every worker name.
fn process_tag() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", std::process::id(), &random[..8])
}

/// Runs the workers until told to stop, then waits for their running jobs
/// within the stop grace; returns the jobs it had to cut.
async fn pool(
    state: AppState,
    mut stopped: watch::Receiver<bool>,
    alive: Vec<Alive>,
) -> Vec<RunningJob> {
    let settings = state.config.deploy.clone();
    let ctx = Arc::new(WorkerContext {
        signals: state.deploy_signals.clone(),
        servers: Arc::new(Semaphore::new(settings.server_parallelism)),
        settings,
        state,
    });
    let tag = process_tag();
    let running = RunningJobs::default();
    tracing::info!(workers = ctx.settings.workers, "deploy workers started");
    let mut workers = JoinSet::new();
    for (n, counted) in alive.into_iter().enumerate() {
        let name = WorkerName::from(format!("{tag}/{n}"));
        workers.spawn(work(
            ctx.clone(),
            name,
            stopped.clone(),
            running.clone(),
            counted,
        ));
    }
    while !*stopped.borrow_and_update() {
        if stopped.changed().await.is_err() {
            break;
        }
    }
    let grace = ctx.settings.stop_grace;
    tracing::info!(
        deployments = running.list().len(),
        grace_secs = grace.as_secs(),
        "deploy workers stopping; waiting for their running deployments to end"
    );
    let all_ended = async { while workers.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_ended).await.is_ok() {
        return Vec::new();
    }
    workers.abort_all();
    running.list()
}

/// Lets the leases of the jobs cut at the end of the stop grace run out now.
fn release_leases(state: &AppState, cut: &[RunningJob]) {
    for job in cut {
        tracing::warn!(
            deployment_id = %job.deployment_id,
            worker = %job.worker,
            "the deployment did not end within the stop grace; it is left for another process to take over"
        );
        if let Err(e) = release_lease(state, job) {
            tracing::warn!(deployment_id = %job.deployment_id, error = %e, "cannot release a deployment lease");
        }
    }
}

/// Sets `job`'s lease to run out now, if its worker still holds it.
fn release_lease(state: &AppState, job: &RunningJob) -> Result<usize, ServiceError> {
    let mut conn = state.pool.get()?;
    let now = store::now();
    Ok(deployments::release_lease(
        &mut conn,
        &job.deployment_id,
        &job.worker,
        now,
    )?)
}

/// Claims and runs jobs one after another until told to stop; a job it is
/// running when told so runs on (the pool decides how long).
async fn work(
    ctx: Arc<WorkerContext>,
    name: WorkerName,
    mut stopped: watch::Receiver<bool>,
    running: RunningJobs,
    _alive: Alive,
) {
    while !*stopped.borrow_and_update() {
        match next_job(&ctx.state, &name).await {
            Ok(Some(job)) => {
                // Another job may be waiting: let a peer look too.
                ctx.signals.job_queued();
                running.insert(&name, &job.id);
                run::run(&ctx, &name, job).await;
                running.remove(&name);
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(worker = %name, error = %e, "cannot claim a deployment"),
        }
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = ctx.signals.next_job() => {}
            () = tokio::time::sleep(ctx.settings.poll) => {}
        }
    }
}

/// Takes over an expired job, else claims a queued one, in one write
/// transaction. A claim that loses a race on PostgreSQL (another replica
/// started a job of the same application first) finds nothing this time.
async fn next_job(
    state: &AppState,
    worker: &WorkerName,
) -> Result<Option<DeploymentRow>, ServiceError> {
    let lease = state.config.deploy.lease;
    let worker = worker.clone();
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
                Err(e) if store::errors::is_unique_violation(&e) => Ok(None),
                other => Ok(other?),
            }
        })
        .await
}
