//! `/api/v1/apps/{id}/deploy` and `/api/v1/deployments`: queue, list,
//! show, cancel and roll back deployments, and stream a deployment's step
//! log as server-sent events.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Origin;
use crate::deploy::events;
use crate::deploy::requests::{self, Deployment};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Deployer, Viewer};
use crate::http::sse;
use crate::state::AppState;
use crate::store::deployment_targets::{TargetRow, TargetTimings};
use crate::store::deployments::DeploymentRow;
use crate::store::ids::{AppId, DeploymentId, ServerId, TargetId};
use crate::store::states::{DeploymentState, TargetState};

/// Most deployments in one page.
const MAX_PAGE: i64 = 200;

/// One server of a deployment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Target)]
pub struct TargetView {
    /// Id; also names the files the deployment writes on the server.
    pub id: TargetId,
    /// The server.
    pub server_id: ServerId,
    /// The step it reached.
    pub state: TargetState,
    /// The container started on it.
    pub container: Option<String>,
    /// The loopback port the container publishes there.
    pub host_port: Option<i32>,
    /// The image it runs, as resolved on that server.
    pub image_digest: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
    /// When work on it began.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Where its time went, once it ended.
    pub timings: Option<TimingsView>,
}

/// Where one server's share of a deployment spent its time, in
/// milliseconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Timings)]
pub struct TimingsView {
    /// From the start of work on the server (connecting) to its end.
    pub total_ms: i64,
    /// In the server's Docker: the wall time of every Docker command (login,
    /// pull, inspect, run, port, health-check exec, stop, rm, logout), each
    /// including one SSH channel round trip.
    pub docker_ms: i64,
    /// Waiting for the new container's health check to pass, besides its
    /// Docker commands: the application's time.
    pub health_wait_ms: i64,
    /// Waiting for the old container's requests in flight to finish.
    pub drain_ms: i64,
    /// ServOS's own: the total less Docker, health wait and drain.
    pub servos_ms: i64,
}

impl TimingsView {
    /// The view of recorded timings; `None` until all were recorded.
    fn of(timings: TargetTimings) -> Option<Self> {
        Some(Self {
            total_ms: timings.total_ms?,
            docker_ms: timings.docker_ms?,
            health_wait_ms: timings.health_wait_ms?,
            drain_ms: timings.drain_ms?,
            servos_ms: timings.servos_ms()?,
        })
    }
}

impl From<TargetRow> for TargetView {
    fn from(row: TargetRow) -> Self {
        Self {
            id: row.id,
            server_id: row.server_id,
            state: row.state,
            container: row.container,
            host_port: row.host_port,
            image_digest: row.image_digest,
            reason: row.reason,
            started_at: row.started_at.map(|t| t.and_utc()),
            finished_at: row.finished_at.map(|t| t.and_utc()),
            timings: TimingsView::of(row.timings),
        }
    }
}

/// A deployment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Deployment)]
pub struct DeploymentView {
    /// Id.
    pub id: DeploymentId,
    /// The application.
    pub app_id: AppId,
    /// The image as requested.
    pub image: String,
    /// What it resolved to after the pull.
    pub image_digest: Option<String>,
    /// The environment version deployed.
    pub env_version: i64,
    /// Where it stands.
    pub state: DeploymentState,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// The deployment this one rolls back to.
    pub rollback_of: Option<DeploymentId>,
    /// Who asked for it.
    pub requested_by: String,
    /// A cancel was asked for.
    pub cancel_requested: bool,
    /// Times a worker started it (more than 1 after a take-over).
    pub attempt: i32,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its servers (in a single deployment's view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<TargetView>>,
    /// The git commit it builds, for an application built from git (in a
    /// single deployment's view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
}

impl From<DeploymentRow> for DeploymentView {
    fn from(row: DeploymentRow) -> Self {
        Self {
            id: row.id,
            app_id: row.app_id,
            image: row.image,
            image_digest: row.image_digest,
            env_version: row.env_version,
            state: row.state,
            reason: row.reason,
            rollback_of: row.rollback_of,
            requested_by: row.requested_by,
            cancel_requested: row.cancel_requested,
            attempt: row.attempt,
            created_at: row.created_at.and_utc(),
            started_at: row.started_at.map(|t| t.and_utc()),
            finished_at: row.finished_at.map(|t| t.and_utc()),
            targets: None,
            source_commit: None,
        }
    }
}

impl From<Deployment> for DeploymentView {
    fn from(deployment: Deployment) -> Self {
        Self {
            targets: Some(
                deployment
                    .targets
                    .into_iter()
                    .map(TargetView::from)
                    .collect(),
            ),
            source_commit: deployment.source_commit,
            ..Self::from(deployment.row)
        }
    }
}

/// Filters and paging; all optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeploymentQuery {
    /// Only this application's deployments.
    pub app_id: Option<AppId>,
    /// Deployments older than this one (from `next_before`).
    pub before: Option<DeploymentId>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// One page of deployments, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeploymentPage {
    /// Deployments.
    pub deployments: Vec<DeploymentView>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<DeploymentId>,
}

/// Where an event stream resumes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Send only lines after this number (a reconnecting `EventSource`
    /// sends `Last-Event-ID` instead).
    pub after: Option<i64>,
}

/// Queues a deployment of the application's current image and
/// environment; for an application built from git, a build of its
/// branch's head commit (asked of its builder first) and its deployment.
#[utoipa::path(post, path = "/api/v1/apps/{id}/deploy", tag = "deployments",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 202, body = DeploymentView),
    (status = 409, body = ErrorBody, description = "The application has no target servers; or it is built from git and its builder is not commissioned, or its branch does not exist"),
    (status = 502, body = ErrorBody, description = "The builder could not be reached, or git could not read the repository")),
    security(("session" = []), ("bearer" = [])))]
pub async fn deploy(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Deployer,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let deployment = requests::deploy(&state, origin, caller.0, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(DeploymentView::from(deployment)))
}

/// Lists deployments, newest first.
#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", params(DeploymentQuery),
    responses((status = 200, body = DeploymentPage)), security(("session" = []), ("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    _caller: Viewer,
    query: web::Query<DeploymentQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be 1 to {MAX_PAGE}"),
        ));
    }
    let (rows, next_before) = requests::list(&state, query.app_id, query.before, limit).await?;
    Ok(HttpResponse::Ok().json(DeploymentPage {
        deployments: rows.into_iter().map(DeploymentView::from).collect(),
        next_before,
    }))
}

/// One deployment with its servers and, for those that ended, where their
/// time went.
#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, body = DeploymentView)), security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<DeploymentId>,
) -> Result<HttpResponse, ApiError> {
    let deployment = requests::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DeploymentView::from(deployment)))
}

/// Cancels a queued deployment, or stops a running one at its next step
/// (servers already switched keep the new version).
#[utoipa::path(post, path = "/api/v1/deployments/{id}/cancel", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, body = DeploymentView),
    (status = 409, body = ErrorBody, description = "The deployment has already ended")),
    security(("session" = []), ("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Deployer,
    id: web::Path<DeploymentId>,
) -> Result<HttpResponse, ApiError> {
    let deployment = requests::cancel(&state, origin, caller.0, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DeploymentView::from(deployment)))
}

/// Queues a new deployment of what this succeeded deployment ran: the same
/// image (by digest) and environment version.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/rollback", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id to return to")),
    responses((status = 202, body = DeploymentView),
    (status = 409, body = ErrorBody, description = "The deployment did not succeed, or its application has no target servers")),
    security(("session" = []), ("bearer" = [])))]
pub async fn rollback(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Deployer,
    id: web::Path<DeploymentId>,
) -> Result<HttpResponse, ApiError> {
    let deployment = requests::rollback(&state, origin, caller.0, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(DeploymentView::from(deployment)))
}

/// The step log as server-sent events: `log` events (`id` = line number,
/// data `{seq, at, server_id, text}`) as lines are written, then one `end`
/// event (`{state, reason}`) once the deployment has ended; then it closes.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/events", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), EventsQuery),
    responses((status = 200, content_type = "text/event-stream", body = String)),
    security(("session" = []), ("bearer" = [])))]
pub async fn events(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<DeploymentId>,
    query: web::Query<EventsQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let after = sse::resume_after(&req, query.after);
    let stream = events::stream(&state, id.into_inner(), after).await?;
    Ok(sse::respond(stream))
}
