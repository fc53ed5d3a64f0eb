//! One claimed job from start to end: its lease kept alive (and cancels
//! noticed) in the background, a take-over's clean-up first, then its
//! servers in parallel (bounded per process), then its final state, which
//! is recorded only while the lease is still this worker's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::deployment_targets::{self as targets, TargetChange};
use crate::store::deployments::{self, DeploymentRow};
use crate::store::{self};

use super::events::LogWriter;
use super::plan::{self, Plan};
use super::server_steps::{self, TargetJob, TargetOutcome};
use super::{recovery, Signals, StepError};
use crate::config::DeploySettings;

/// Longest reason stored for a failed deployment.
const MAX_REASON: usize = 2000;
/// Longest pause between two lease renewals (which also pick up cancels).
const MAX_RENEW_EVERY: Duration = Duration::from_secs(2);

/// A job's cancel and lease flags, checked between steps.
#[derive(Debug, Default)]
pub struct JobFlags {
    cancel: AtomicBool,
    lost: AtomicBool,
}

impl JobFlags {
    /// `Err` when the job must stop: its lease was lost, or a cancel came.
    pub fn check(&self) -> Result<(), StepError> {
        if self.lost.load(Ordering::SeqCst) {
            Err(StepError::LeaseLost)
        } else if self.cancel.load(Ordering::SeqCst) {
            Err(StepError::Cancelled)
        } else {
            Ok(())
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

/// What a worker shares with the jobs it runs.
#[derive(Debug)]
pub struct WorkerContext {
    /// Application state.
    pub state: AppState,
    /// Engine settings.
    pub settings: DeploySettings,
    /// Wake-ups.
    pub signals: Arc<Signals>,
    /// Bounds the servers worked on at once in this process.
    pub servers: Arc<Semaphore>,
}

/// How a job ended.
#[derive(Debug)]
enum Outcome {
    Succeeded,
    Failed(String),
    Cancelled(String),
    Lost,
}

/// Runs `job`, claimed by `worker`, to its end.
pub async fn run(ctx: &WorkerContext, worker: &str, job: DeploymentRow) {
    let log = match LogWriter::open(&ctx.state, ctx.signals.clone(), &job.id).await {
        Ok(log) => log,
        Err(e) => {
            tracing::error!(deployment_id = %job.id, error = %e, "cannot open the deployment log");
            return;
        }
    };
    let flags = Arc::new(JobFlags::default());
    let keeper = tokio::spawn(keep_lease(
        ctx.state.clone(),
        job.id.clone(),
        worker.to_owned(),
        ctx.settings.lease,
        flags.clone(),
    ));
    log.line(
        None,
        format!("attempt {} started by worker {worker}", job.attempt),
    )
    .await;
    let outcome = execute(ctx, &job, &log, &flags).await;
    keeper.abort();
    finish(ctx, worker, &job, outcome, &log).await;
}

/// Renews the lease until aborted; raises the cancel flag when one was
/// asked for, and the lost flag when another worker holds the job.
async fn keep_lease(
    state: AppState,
    id: String,
    worker: String,
    lease: Duration,
    flags: Arc<JobFlags>,
) {
    let every = (lease / 3).min(MAX_RENEW_EVERY);
    loop {
        tokio::time::sleep(every).await;
        let (id, worker) = (id.clone(), worker.clone());
        let renewed = state
            .db(move |conn| {
                let until = store::now() + lease;
                Ok(deployments::renew_lease(conn, &id, &worker, until)?)
            })
            .await;
        match renewed {
            Ok(Some(cancel)) => {
                if cancel {
                    flags.cancel.store(true, Ordering::SeqCst);
                }
            }
            Ok(None) => {
                flags.lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew a deployment lease"),
        }
    }
}

async fn execute(
    ctx: &WorkerContext,
    job: &DeploymentRow,
    log: &LogWriter,
    flags: &JobFlags,
) -> Outcome {
    let mut plan = match plan::load(&ctx.state, job.clone()).await {
        Ok(plan) => plan,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if job.attempt > 1 {
        if let Err(e) = recovery::recover(&ctx.state, &mut plan, log, &ctx.settings).await {
            return Outcome::Failed(format!("cannot recover the interrupted attempt: {e}"));
        }
        if job.attempt > ctx.settings.max_attempts {
            return give_up(ctx, &plan, log).await;
        }
    }
    let pending: Vec<_> = plan.targets.iter().filter(|t| !t.is_finished()).collect();
    let outcomes = futures_util::future::join_all(pending.iter().map(|target| {
        let plan = &plan;
        async move {
            let Ok(_permit) = ctx.servers.acquire().await else {
                return TargetOutcome::Failed("the engine is stopping".into());
            };
            let target_job = TargetJob {
                state: &ctx.state,
                plan,
                target,
                log,
                flags,
                settings: &ctx.settings,
            };
            server_steps::deploy(target_job).await
        }
    }))
    .await;
    if flags.lost() || outcomes.contains(&TargetOutcome::LeaseLost) {
        return Outcome::Lost;
    }
    summarize(
        &plan,
        &pending
            .iter()
            .map(|t| t.server_id.as_str())
            .collect::<Vec<_>>(),
        &outcomes,
        flags.cancelled(),
    )
}

/// The job's end from its servers' ends (earlier attempts' failures included).
fn summarize(
    plan: &Plan,
    servers: &[&str],
    outcomes: &[TargetOutcome],
    cancelled: bool,
) -> Outcome {
    let mut failures: Vec<String> = plan
        .targets
        .iter()
        .filter(|t| t.state == targets::FAILED)
        .map(|t| {
            format!(
                "{}: {}",
                plan.server_name(&t.server_id),
                t.reason.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    for (server, outcome) in servers.iter().zip(outcomes) {
        if let TargetOutcome::Failed(reason) = outcome {
            failures.push(format!("{}: {reason}", plan.server_name(server)));
        }
    }
    let total = plan.targets.len();
    if cancelled && outcomes.contains(&TargetOutcome::Cancelled) {
        let switched = plan
            .targets
            .iter()
            .filter(|t| t.state == targets::SUCCEEDED)
            .count()
            + outcomes
                .iter()
                .filter(|o| **o == TargetOutcome::Succeeded)
                .count();
        return Outcome::Cancelled(format!(
            "cancelled; {switched} of {total} server(s) had already switched to the new version"
        ));
    }
    if failures.is_empty() {
        return Outcome::Succeeded;
    }
    // By server name, so the reason reads the same whatever order servers ended in.
    failures.sort();
    let mut reason = format!(
        "failed on {} of {total} server(s): {}",
        failures.len(),
        failures.join("; ")
    );
    if reason.len() > MAX_REASON {
        let cut = (0..=MAX_REASON)
            .rev()
            .find(|i| reason.is_char_boundary(*i))
            .unwrap_or(0);
        reason.truncate(cut);
        reason.push('…');
    }
    Outcome::Failed(reason)
}

/// Fails the servers an interrupted job never finished, after too many attempts.
async fn give_up(ctx: &WorkerContext, plan: &Plan, log: &LogWriter) -> Outcome {
    let reason = format!(
        "interrupted {} times (the API process running it stopped); giving up",
        ctx.settings.max_attempts
    );
    for target in plan.targets.iter().filter(|t| !t.is_finished()) {
        let (id, why) = (target.id.clone(), reason.clone());
        let failed = ctx
            .state
            .db(move |conn| {
                let change = TargetChange {
                    state: Some(targets::FAILED.into()),
                    reason: Some(why),
                    finished_at: Some(store::now()),
                    ..TargetChange::default()
                };
                Ok(targets::update(conn, &id, &change, store::now())?)
            })
            .await;
        if let Err(e) = failed {
            tracing::warn!(error = %e, "cannot record a deployment target's end");
        }
    }
    log.line(None, reason.clone()).await;
    Outcome::Failed(reason)
}

/// Records the end (only while this worker holds the lease) and audits it.
async fn finish(
    ctx: &WorkerContext,
    worker: &str,
    job: &DeploymentRow,
    outcome: Outcome,
    log: &LogWriter,
) {
    let (state, action, reason) = match outcome {
        Outcome::Lost => {
            log.line(
                None,
                format!("worker {worker} stopped: another worker took this deployment over"),
            )
            .await;
            return;
        }
        Outcome::Succeeded => (deployments::SUCCEEDED, "deployment.succeeded", None),
        Outcome::Failed(reason) => (deployments::FAILED, "deployment.failed", Some(reason)),
        Outcome::Cancelled(reason) => {
            (deployments::CANCELLED, "deployment.cancelled", Some(reason))
        }
    };
    log.line(
        None,
        match &reason {
            Some(reason) => format!("deployment {state}: {reason}"),
            None => format!("deployment {state}"),
        },
    )
    .await;
    let (id, worker) = (job.id.clone(), worker.to_owned());
    let recorded = ctx
        .state
        .audited(Origin::default(), move |conn| {
            let now = store::now();
            if deployments::finish(conn, &id, &worker, state, reason.as_deref(), now)? == 0 {
                return Err(ServiceError::conflict(
                    "the lease was lost before the end was recorded",
                ));
            }
            let event = AuditEvent::on(Actor::System, action, "deployment", &id)
                .with_fields(vec!["state", "reason"]);
            Ok(((), event))
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(deployment_id = %job.id, error = %e, "cannot record the end of a deployment");
    }
    ctx.signals.log_written();
}
