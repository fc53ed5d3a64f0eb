//! What the API asks of deployments: queue one (of the application as it
//! is now, or a rollback to a succeeded one), cancel one, list and show
//! them. Each request is one write transaction with its audit entry; the
//! workers do the rest.

use chrono::NaiveDateTime;

use crate::accounts::principal::Principal;
use crate::apps::{self, App};
use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::builds::{self, BuildRow};
use crate::store::deployment_logs::{self, LogRow};
use crate::store::deployment_targets::{self as targets, TargetRow};
use crate::store::deployments::{self, DeploymentFilter, DeploymentRow};
use crate::store::ids::{AppId, DeploymentId, TargetId};
use crate::store::states::{DeploymentState, TargetState};
use crate::store::{self, registries, DbConn};

/// Audit target type of deployments.
const TARGET: TargetType = TargetType::Deployment;

/// A deployment and its servers.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The job.
    pub row: DeploymentRow,
    /// One entry per server.
    pub targets: Vec<TargetRow>,
    /// For an application built from git: the commit it builds.
    pub source_commit: Option<String>,
}

/// Stores a queued deployment of `app` with one pending target per
/// server, and its first log line.
fn enqueue(
    conn: &mut DbConn,
    app: &App,
    image: String,
    env_version: i64,
    rollback_of: Option<DeploymentId>,
    source_commit: Option<String>,
    actor: &Actor,
) -> Result<Deployment, ServiceError> {
    if app.spec.server_ids.is_empty() {
        return Err(ServiceError::conflict(
            "the application has no target servers to deploy to",
        ));
    }
    let now = store::now();
    let row = DeploymentRow {
        id: DeploymentId::random(),
        app_id: app.id.clone(),
        image,
        image_digest: None,
        env_version,
        state: DeploymentState::Queued,
        reason: None,
        rollback_of,
        requested_by: actor.label(),
        cancel_requested: false,
        worker: None,
        lease_until: None,
        attempt: 0,
        created_at: now,
        started_at: None,
        finished_at: None,
    };
    deployments::insert(conn, &row)?;
    if let Some(commit) = &source_commit {
        builds::insert(
            conn,
            &BuildRow {
                deployment_id: row.id.clone(),
                app_id: app.id.clone(),
                commit_sha: commit.clone(),
                image: row.image.clone(),
                created_at: now,
            },
        )?;
    }
    let mut rows = Vec::with_capacity(app.spec.server_ids.len());
    for server_id in &app.spec.server_ids {
        let target = TargetRow {
            id: TargetId::random(),
            deployment_id: row.id.clone(),
            server_id: server_id.clone(),
            state: TargetState::Pending,
            container: None,
            host_port: None,
            image_digest: None,
            reason: None,
            started_at: None,
            finished_at: None,
            updated_at: now,
            timings: targets::TargetTimings::default(),
        };
        targets::insert(conn, &target)?;
        rows.push(target);
    }
    let text = match &row.rollback_of {
        Some(source) => format!(
            "rollback to deployment {source} requested by {}: image {}, environment version {}",
            row.requested_by, row.image, row.env_version
        ),
        None => match &source_commit {
            Some(commit) => format!(
                "requested by {}: build of commit {commit} into image {}, environment version {}",
                row.requested_by, row.image, row.env_version
            ),
            None => format!(
                "requested by {}: image {}, environment version {}",
                row.requested_by, row.image, row.env_version
            ),
        },
    };
    deployment_logs::append(
        conn,
        &LogRow {
            deployment_id: row.id.clone(),
            seq: 1,
            server_id: None,
            at: now,
            text,
        },
    )?;
    Ok(Deployment {
        row,
        targets: rows,
        source_commit,
    })
}

/// Queues a deployment of the application's current image and
/// environment; for an application built from git, a build and deployment
/// of its branch's head commit, asked of its builder first.
pub async fn deploy(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
) -> Result<Deployment, ServiceError> {
    let app = {
        let app_id = app_id.clone();
        state.db(move |conn| apps::load(conn, &app_id)).await?
    };
    let commit = match app.spec.git {
        Some(_) => Some(crate::build::resolve::head_commit(state, &app).await?),
        None => None,
    };
    let queued = state
        .audited(origin, move |conn| {
            queue_current(conn, &app_id, caller.actor(), commit.as_deref())
        })
        .await?;
    state.deploy_signals.job_queued();
    Ok(queued)
}

/// Inside a write transaction: queues a deployment of the application's
/// current image and environment requested by `actor` (for an application
/// built from git, a build of `commit` and its deployment), and returns it
/// with its audit entry for the caller to append. Call
/// `deploy_signals.job_queued()` once the transaction committed.
pub fn queue_current(
    conn: &mut DbConn,
    app_id: &AppId,
    actor: Actor,
    commit: Option<&str>,
) -> Result<(Deployment, AuditEvent), ServiceError> {
    let app = apps::load(conn, app_id)?;
    let (image, source_commit) = match (&app.spec.image, &app.spec.git, commit) {
        (Some(image), _, _) => (image.as_str().to_owned(), None),
        (None, Some(_), Some(commit)) if crate::build::git::is_commit(commit) => {
            let registry = match &app.spec.registry_id {
                Some(id) => Some(registries::find_live(conn, id)?.ok_or_else(|| {
                    ServiceError::conflict("the application's registry credential was deleted")
                })?),
                None => None,
            };
            let host = registry.as_ref().map(|r| r.host.as_str());
            (
                crate::build::image::name(host, app.id.as_str(), commit),
                Some(commit.to_owned()),
            )
        }
        _ => {
            return Err(ServiceError::conflict_on(
                "image",
                "the application has no image and no commit to build one from",
            ))
        }
    };
    let deployment = enqueue(
        conn,
        &app,
        image,
        app.env_version,
        None,
        source_commit,
        &actor,
    )?;
    let mut fields = vec!["app_id", "image", "env_version"];
    if deployment.source_commit.is_some() {
        fields.push("source_commit");
    }
    let event = AuditEvent::on(actor, "deployment.requested", TARGET, &deployment.row.id)
        .with_fields(fields);
    Ok((deployment, event))
}

/// Queues a deployment of what succeeded deployment `id` ran: its image
/// digest (each server gets the image it ran then) and environment version.
pub async fn rollback(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: DeploymentId,
) -> Result<Deployment, ServiceError> {
    let queued = state
        .audited(origin, move |conn| {
            let source = deployments::find(conn, &id)?.ok_or(ServiceError::NotFound)?;
            if source.state != DeploymentState::Succeeded {
                return Err(ServiceError::conflict(
                    "only a succeeded deployment can be rolled back to",
                ));
            }
            let image = source
                .image_digest
                .clone()
                .filter(|digest| digest.contains('@'))
                .unwrap_or_else(|| source.image.clone());
            let actor = caller.actor();
            let app = apps::load(conn, &source.app_id)?;
            let deployment = enqueue(
                conn,
                &app,
                image,
                source.env_version,
                Some(source.id.clone()),
                None,
                &actor,
            )?;
            let event = AuditEvent::on(
                actor,
                "deployment.rollback_requested",
                TARGET,
                &deployment.row.id,
            )
            .with_fields(vec!["app_id", "image", "env_version", "rollback_of"]);
            Ok((deployment, event))
        })
        .await?;
    state.deploy_signals.job_queued();
    Ok(queued)
}

/// Cancels a queued deployment at once, or asks the worker of a running one
/// to stop at its next step; 409 when it has ended.
pub async fn cancel(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: DeploymentId,
) -> Result<Deployment, ServiceError> {
    let cancelled = state
        .audited(origin, move |conn| {
            deployments::find(conn, &id)?.ok_or(ServiceError::NotFound)?;
            let actor = caller.actor();
            let reason = format!("cancelled by {}", actor.label());
            let now = store::now();
            let dequeued = deployments::cancel_queued(conn, &id, &reason, now)?;
            if dequeued + deployments::request_cancel(conn, &id)? == 0 {
                return Err(ServiceError::conflict("this deployment has already ended"));
            }
            if dequeued == 1 {
                // No worker writes to a job that never started.
                let seq = deployment_logs::last_seq(conn, &id)? + 1;
                deployment_logs::append(
                    conn,
                    &LogRow {
                        deployment_id: id.clone(),
                        seq,
                        server_id: None,
                        at: now,
                        text: format!("{reason} before it started"),
                    },
                )?;
            }
            let event = AuditEvent::on(actor, "deployment.cancel_requested", TARGET, &id)
                .with_fields(vec!["cancel_requested"]);
            Ok((load(conn, &id)?, event))
        })
        .await?;
    state.deploy_signals.log_written();
    Ok(cancelled)
}

fn load(conn: &mut DbConn, id: &DeploymentId) -> Result<Deployment, ServiceError> {
    let row = deployments::find(conn, id)?.ok_or(ServiceError::NotFound)?;
    let targets = targets::of_deployment(conn, id)?;
    let source_commit = builds::of_deployment(conn, id)?.map(|b| b.commit_sha);
    Ok(Deployment {
        row,
        targets,
        source_commit,
    })
}

/// One deployment with its servers.
pub async fn get(state: &AppState, id: DeploymentId) -> Result<Deployment, ServiceError> {
    state.db(move |conn| load(conn, &id)).await
}

/// A page of deployments, newest first, and the cursor of the next page.
pub async fn list(
    state: &AppState,
    app_id: Option<AppId>,
    before: Option<DeploymentId>,
    limit: i64,
) -> Result<(Vec<DeploymentRow>, Option<DeploymentId>), ServiceError> {
    state
        .db(move |conn| {
            let before: Option<(NaiveDateTime, DeploymentId)> = match before {
                Some(id) => {
                    let row = deployments::find(conn, &id)?.ok_or_else(|| {
                        ServiceError::invalid("before", "no deployment has this id")
                    })?;
                    Some((row.created_at, row.id))
                }
                None => None,
            };
            let filter = DeploymentFilter { app_id, before };
            let mut rows = deployments::list(conn, &filter, limit + 1)?;
            let next = if rows.len() as i64 > limit {
                rows.truncate(usize::try_from(limit).unwrap_or(0));
                rows.last().map(|r| r.id.clone())
            } else {
                None
            };
            Ok((rows, next))
        })
        .await
}
