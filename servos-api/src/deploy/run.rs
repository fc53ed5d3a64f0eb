//! One claimed job from start to end: its lease kept alive (and cancels
//! noticed) by a helper task that ends with the job however the job ends,
//! a take-over's clean-up first, then its servers in parallel (bounded per
//! process), then its final state, which is recorded only while the lease
//! is still this worker's. A job that panics (a bug) has its servers
//! cleaned as a take-over would, and is failed with a reason; the worker
//! goes on with the next job.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::Semaphore;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;

use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::deployment_targets::{self as targets, TargetChange};
use crate::store::deployments::{self, DeploymentRow};
use crate::store::ids::{DeploymentId, ServerId, WorkerName};
use crate::store::states::DeploymentState;
use crate::store::states::TargetState;
use crate::store::{self};

use super::events::LogWriter;
use super::flags::JobFlags;
use super::plan::{self, Plan};
use super::server_steps::{self, TargetJob, TargetOutcome};
use super::StepError;
use super::{recovery, Signals};
use crate::build::phase;
use crate::config::DeploySettings;

/// Longest reason stored for a failed deployment.
const MAX_REASON: usize = 2000;
/// Longest pause between two lease renewals (which also pick up cancels).
const MAX_RENEW_EVERY: Duration = Duration::from_secs(2);

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

/// The reason a job that panicked fails with (the log has the details).
const PANIC_REASON: &str =
    "the deploy engine failed unexpectedly (an internal error; the API log has its location)";

/// Runs `job`, claimed by `worker`, to its end, in a span naming it. A
/// panic inside the job does not reach the worker: the job is ended as
/// failed instead.
pub async fn run(ctx: &WorkerContext, worker: &WorkerName, job: DeploymentRow) {
    let span = tracing::info_span!(
        "deployment",
        deployment_id = %job.id,
        app_id = %job.app_id,
        attempt = job.attempt,
        worker = %worker,
    );
    async {
        let ran = AssertUnwindSafe(run_unguarded(ctx, worker, job.clone()))
            .catch_unwind()
            .await;
        if ran.is_err() {
            tracing::error!("the deployment job panicked; failing it");
            let ended = AssertUnwindSafe(end_after_panic(ctx, worker, &job))
                .catch_unwind()
                .await;
            if ended.is_err() {
                tracing::error!(
                    "cleaning up after the panic panicked too; failing the job as it is"
                );
                let log = LogWriter::open(&ctx.state, ctx.signals.clone(), &job.id).await;
                if let Ok(log) = log {
                    finish(
                        ctx,
                        worker,
                        &job,
                        Outcome::Failed(PANIC_REASON.into()),
                        &log,
                    )
                    .await;
                }
            }
        }
    }
    .instrument(span)
    .await;
}

/// The job's run; its lease keeper is aborted when this future ends or is
/// dropped (a panic unwinding through it drops it).
async fn run_unguarded(ctx: &WorkerContext, worker: &WorkerName, job: DeploymentRow) {
    let log = match LogWriter::open(&ctx.state, ctx.signals.clone(), &job.id).await {
        Ok(log) => log,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the deployment log");
            return;
        }
    };
    let flags = Arc::new(JobFlags::default());
    let _keeper = AbortOnDropHandle::new(tokio::spawn(
        keep_lease(
            ctx.state.clone(),
            job.id.clone(),
            worker.clone(),
            ctx.settings.lease,
            flags.clone(),
        )
        .in_current_span(),
    ));
    log.line(
        None,
        format!("attempt {} started by worker {worker}", job.attempt),
    )
    .await;
    let outcome = execute(ctx, &job, &log, &flags).await;
    drop(_keeper);
    finish(ctx, worker, &job, outcome, &log).await;
}

/// Ends a job whose run panicked: its servers are cleaned as a take-over
/// would (a server whose proxy already serves the new container is
/// finished; elsewhere what the attempt made is removed), every server not
/// finished is failed, and the job is failed with [`PANIC_REASON`].
async fn end_after_panic(ctx: &WorkerContext, worker: &WorkerName, job: &DeploymentRow) {
    let Ok(log) = LogWriter::open(&ctx.state, ctx.signals.clone(), &job.id).await else {
        return;
    };
    log.line(None, PANIC_REASON).await;
    let outcome = match plan::load(&ctx.state, job.clone()).await {
        Ok(mut plan) => {
            if let Err(e) = recovery::recover(&ctx.state, &mut plan, &log, &ctx.settings).await {
                log.line(None, format!("cannot clean up after the failure: {e}"))
                    .await;
            }
            fail_unfinished(ctx, &plan, PANIC_REASON).await;
            Outcome::Failed(PANIC_REASON.into())
        }
        Err(e) => Outcome::Failed(format!(
            "{PANIC_REASON}; cannot load the job to clean up: {e}"
        )),
    };
    finish(ctx, worker, job, outcome, &log).await;
}

/// Renews the lease until aborted; raises the cancel flag when one was
/// asked for, and the lost flag when another worker holds the job.
async fn keep_lease(
    state: AppState,
    id: DeploymentId,
    worker: WorkerName,
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
                    flags.cancel();
                }
            }
            Ok(None) => {
                flags.lose();
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
    if let (Some(build), false) = (&plan.build, pending.is_empty()) {
        let job = phase::BuildJob {
            state: &ctx.state,
            plan: &plan,
            build,
            log,
            flags,
            limit: ctx.settings.build_timeout,
        };
        if let Err(e) = phase::run(job).await {
            return build_stopped(ctx, &plan, log, e).await;
        }
    }
    let outcomes = futures_util::future::join_all(pending.iter().map(|target| {
        let plan = &plan;
        let span = tracing::info_span!(
            "target",
            target_id = %target.id,
            server_id = %target.server_id,
        );
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
        .instrument(span)
    }))
    .await;
    if flags.lost() || outcomes.contains(&TargetOutcome::LeaseLost) {
        return Outcome::Lost;
    }
    summarize(
        &plan,
        &pending.iter().map(|t| &t.server_id).collect::<Vec<_>>(),
        &outcomes,
        flags.cancelled(),
    )
}

/// The job's end from its servers' ends (earlier attempts' failures included).
fn summarize(
    plan: &Plan,
    servers: &[&ServerId],
    outcomes: &[TargetOutcome],
    cancelled: bool,
) -> Outcome {
    let mut failures: Vec<String> = plan
        .targets
        .iter()
        .filter(|t| t.state == TargetState::Failed)
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
            .filter(|t| t.state == TargetState::Succeeded)
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
    super::events::clip(&mut reason, MAX_REASON);
    Outcome::Failed(reason)
}

/// The job's end when its build did not finish: no server was touched,
/// so each ends as the job does.
async fn build_stopped(
    ctx: &WorkerContext,
    plan: &Plan,
    log: &LogWriter,
    error: StepError,
) -> Outcome {
    let (state, outcome) = match error {
        StepError::LeaseLost => return Outcome::Lost,
        StepError::Cancelled => (
            TargetState::Cancelled,
            Outcome::Cancelled("cancelled during the build; no server was changed".into()),
        ),
        other => (
            TargetState::Failed,
            Outcome::Failed(format!("the build failed: {other}")),
        ),
    };
    let reason = match &outcome {
        Outcome::Cancelled(r) | Outcome::Failed(r) => r.clone(),
        _ => String::new(),
    };
    log.line(None, reason.clone()).await;
    end_unfinished(ctx, plan, state, &reason).await;
    outcome
}

/// Fails the servers an interrupted job never finished, after too many attempts.
async fn give_up(ctx: &WorkerContext, plan: &Plan, log: &LogWriter) -> Outcome {
    let reason = format!(
        "interrupted {} times (the API process running it stopped); giving up",
        ctx.settings.max_attempts
    );
    fail_unfinished(ctx, plan, &reason).await;
    log.line(None, reason.clone()).await;
    Outcome::Failed(reason)
}

/// Records every server of `plan` not finished yet as failed for `reason`.
async fn fail_unfinished(ctx: &WorkerContext, plan: &Plan, reason: &str) {
    end_unfinished(ctx, plan, TargetState::Failed, reason).await;
}

/// Records every server of `plan` not finished yet as ended in `state`
/// for `reason`.
async fn end_unfinished(ctx: &WorkerContext, plan: &Plan, state: TargetState, reason: &str) {
    for target in plan.targets.iter().filter(|t| !t.is_finished()) {
        let (id, why) = (target.id.clone(), reason.to_owned());
        let failed = ctx
            .state
            .db(move |conn| {
                let change = TargetChange {
                    state: Some(state),
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
}

/// Records the end (only while this worker holds the lease) and audits it.
async fn finish(
    ctx: &WorkerContext,
    worker: &WorkerName,
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
        Outcome::Succeeded => (DeploymentState::Succeeded, "deployment.succeeded", None),
        Outcome::Failed(reason) => (DeploymentState::Failed, "deployment.failed", Some(reason)),
        Outcome::Cancelled(reason) => (
            DeploymentState::Cancelled,
            "deployment.cancelled",
            Some(reason),
        ),
    };
    log.line(
        None,
        match &reason {
            Some(reason) => format!("deployment {state}: {reason}"),
            None => format!("deployment {state}"),
        },
    )
    .await;
    let (id, worker) = (job.id.clone(), worker.clone());
    let recorded = ctx
        .state
        .audited(Origin::default(), move |conn| {
            let now = store::now();
            if deployments::finish(conn, &id, &worker, state, reason.as_deref(), now)? == 0 {
                return Err(ServiceError::conflict(
                    "the lease was lost before the end was recorded",
                ));
            }
            let event = AuditEvent::on(Actor::System, action, TargetType::Deployment, &id)
                .with_fields(vec!["state", "reason"]);
            Ok(((), event))
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(deployment_id = %job.id, error = %e, "cannot record the end of a deployment");
    }
    ctx.signals.log_written();
}
