//! Installing the agent on a server (`POST /api/v1/servers/{id}/agent`)
//! and following the install (`/api/v1/agent-installs/{id}`).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Origin;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Viewer};
use crate::http::sse;
use crate::mesh::install::{self, Install, InstallLog};
use crate::state::AppState;
use crate::store::agent_installs::InstallRow;
use crate::store::ids::{InstallId, ServerId};

/// An install of the agent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Install)]
pub struct InstallView {
    /// Id.
    pub id: InstallId,
    /// The server.
    pub server_id: ServerId,
    /// `running`, `succeeded` or `failed`.
    #[schema(pattern = "^(running|succeeded|failed)$")]
    pub state: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its step log (in a single install's view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Vec<String>>,
}

impl From<InstallRow> for InstallView {
    fn from(row: InstallRow) -> Self {
        Self {
            id: row.id,
            server_id: row.server_id,
            state: row.state,
            reason: row.reason,
            requested_by: row.requested_by,
            created_at: row.created_at.and_utc(),
            finished_at: row.finished_at.map(|t| t.and_utc()),
            log: None,
        }
    }
}

impl From<Install> for InstallView {
    fn from(install: Install) -> Self {
        Self {
            log: Some(install.lines.into_iter().map(|line| line.text).collect()),
            ..Self::from(install.row)
        }
    }
}

/// Installs (or upgrades) the agent on a commissioned server over its
/// pinned SSH session; follow it at `/api/v1/agent-installs/{id}`.
#[utoipa::path(post, path = "/api/v1/servers/{id}/agent", tag = "mesh",
    params(("id" = String, Path, description = "Server id")),
    responses((status = 202, body = InstallView),
    (status = 409, body = ErrorBody, description = "The server is not commissioned, an install on it is \
    running, or this API is not set up to install agents")),
    security(("session" = []), ("bearer" = [])))]
pub async fn start(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<ServerId>,
) -> Result<HttpResponse, ApiError> {
    let row = install::start(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(InstallView::from(row)))
}

/// One install with its step log.
#[utoipa::path(get, path = "/api/v1/agent-installs/{id}", tag = "mesh",
    params(("id" = String, Path, description = "Install id")),
    responses((status = 200, body = InstallView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<InstallId>,
) -> Result<HttpResponse, ApiError> {
    let found = install::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(InstallView::from(found)))
}

/// Where an event stream resumes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Send only lines after this number.
    pub after: Option<i64>,
}

/// The install's step log as server-sent events, then its end.
#[utoipa::path(get, path = "/api/v1/agent-installs/{id}/events", tag = "mesh",
    params(("id" = String, Path, description = "Install id"), EventsQuery),
    responses((status = 200, content_type = "text/event-stream", body = String)),
    security(("session" = []), ("bearer" = [])))]
pub async fn events(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<InstallId>,
    query: web::Query<EventsQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let after = sse::resume_after(&req, query.after);
    let stream = crate::joblog::stream(&state, InstallLog(id.into_inner()), after).await?;
    Ok(sse::respond(stream))
}
