//! `/api/v1/servers`: servers, commissioning with host key pinning, checks.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Origin;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Deployer, Viewer};
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::servers::{self, NewServer};
use crate::state::AppState;
use crate::store::ids::ServerId;
use crate::store::servers::{ServerCheckRow, ServerRow};

/// New server.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    /// Name.
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// Host name or IP address.
    #[schema(pattern = "^[A-Za-z0-9.:-]+$", max_length = 253)]
    pub address: String,
    /// SSH port (default 22).
    #[serde(default = "default_port")]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// Remote user: a Unix user name like `deploy`.
    #[schema(pattern = "^[a-z_][a-z0-9_-]*$", max_length = 32)]
    pub user: String,
    /// SSH key of kind `server`.
    pub ssh_key_id: String,
    /// Roles: `run` and/or `build` (default `run`).
    #[serde(default = "default_roles")]
    #[schema(pattern = "^(run|build)$", min_items = 1)]
    pub roles: Vec<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_port() -> u16 {
    22
}

fn default_roles() -> Vec<String> {
    vec!["run".into()]
}

/// A fingerprint the admin checked out of band (`ssh-keygen -lf` on the host).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmHostKey {
    /// `SHA256:...`, as `ssh-keygen -lf` prints it.
    #[schema(pattern = "^SHA256:[A-Za-z0-9+/]{43}$")]
    pub fingerprint: String,
}

/// One health check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Check)]
pub struct CheckView {
    /// When.
    pub at: DateTime<Utc>,
    /// Status found.
    pub status: String,
    /// Host key presented.
    pub fingerprint: Option<String>,
    /// Docker server version.
    pub docker_version: Option<String>,
    /// Free bytes on the Docker data disk.
    pub disk_free_bytes: Option<i64>,
    /// What failed.
    pub error: Option<String>,
}

impl From<ServerCheckRow> for CheckView {
    fn from(row: ServerCheckRow) -> Self {
        Self {
            at: row.at.and_utc(),
            status: row.status,
            fingerprint: row.fingerprint,
            docker_version: row.docker_version,
            disk_free_bytes: row.disk_free_bytes,
            error: row.error,
        }
    }
}

/// A server.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Server)]
pub struct ServerView {
    /// Id.
    pub id: ServerId,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// SSH port.
    pub port: i32,
    /// Remote user.
    pub user: String,
    /// SSH key id.
    pub ssh_key_id: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Labels.
    #[schema(value_type = Object)]
    pub labels: serde_json::Value,
    /// `new`, `ready`, `docker_unavailable`, `unreachable` or `host_key_changed`.
    pub status: String,
    /// Pinned host key.
    pub host_key_fingerprint: Option<String>,
    /// The different key the server presented (not trusted).
    pub pending_fingerprint: Option<String>,
    /// Newest check.
    pub last_check: Option<CheckView>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<(ServerRow, Option<ServerCheckRow>)> for ServerView {
    fn from((row, check): (ServerRow, Option<ServerCheckRow>)) -> Self {
        Self {
            id: row.id,
            name: row.name,
            address: row.address,
            port: row.port,
            user: row.ssh_user,
            ssh_key_id: row.ssh_key_id,
            roles: row
                .roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            labels: serde_json::from_str(&row.labels).unwrap_or_default(),
            status: row.status,
            host_key_fingerprint: row.host_key_fingerprint,
            pending_fingerprint: row.pending_fingerprint,
            last_check: check.map(CheckView::from),
            created_at: row.created_at.and_utc(),
        }
    }
}

/// Lists servers with their newest check.
#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", responses((status = 200, body = [ServerView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _caller: Viewer) -> Result<HttpResponse, ApiError> {
    let rows = servers::list(&state).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(ServerView::from).collect::<Vec<_>>()))
}

/// Registers a server (nothing is connected yet).
#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", request_body = CreateServer,
    responses((status = 201, body = ServerView),
    (status = 409, body = ErrorBody, description = "A server has this name")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<CreateServer>,
) -> Result<HttpResponse, ApiError> {
    let CreateServer {
        name,
        address,
        port,
        user,
        ssh_key_id,
        roles,
        labels,
    } = body.0;
    let new = NewServer {
        name,
        address,
        port,
        user,
        ssh_key_id,
        roles,
        labels,
    };
    let row = servers::create(&state, origin, admin.0, new).await?;
    Ok(HttpResponse::Created().json(ServerView::from((row, None))))
}

/// One server with its newest check.
#[utoipa::path(get, path = "/api/v1/servers/{id}", tag = "servers", params(("id" = String, Path, description = "Server id")),
    responses((status = 200, body = ServerView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<ServerId>,
) -> Result<HttpResponse, ApiError> {
    let server = servers::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ServerView::from(server)))
}

/// How to delete a server.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteServerQuery {
    /// Delete it even while applications target it: it is taken out of
    /// their servers, and each is audited (`app.server_detached`).
    pub force: Option<bool>,
}

/// Deletes a server. 409 (field `server_ids`, the message naming them)
/// while live applications target it, unless `force`, which detaches it
/// from them first.
#[utoipa::path(delete, path = "/api/v1/servers/{id}", tag = "servers",
    params(("id" = String, Path, description = "Server id"), DeleteServerQuery),
    responses((status = 204, description = "Deleted"),
    (status = 409, body = ErrorBody, description = "Applications target the server (field `server_ids`; \
    the message names each), or build on it (field `builder_server_id`, even when forced); nothing was deleted")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<ServerId>,
    query: web::Query<DeleteServerQuery>,
) -> Result<HttpResponse, ApiError> {
    let force = query.force.unwrap_or(false);
    servers::delete(&state, origin, admin.0, id.into_inner(), force).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Connects once, pins the host key (trust on first use) and checks Docker.
#[utoipa::path(post, path = "/api/v1/servers/{id}/commission", tag = "servers", params(("id" = String, Path, description = "Server id")),
    responses((status = 200, body = CheckView),
    (status = 409, body = ErrorBody, description = "The host key differs from the pin (connection refused), \
    or the server's SSH key was deleted"),
    (status = 422, body = ErrorBody, description = "The server's SSH key cannot be decrypted"),
    (status = 502, body = ErrorBody, description = "The server could not be reached or refused the connection")),
    security(("session" = []), ("bearer" = [])))]
pub async fn commission(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<ServerId>,
) -> Result<HttpResponse, ApiError> {
    let check = servers::commission(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CheckView::from(check)))
}

/// Checks the server over its pinned connection: SSH, host key, Docker, disk.
#[utoipa::path(post, path = "/api/v1/servers/{id}/check", tag = "servers", params(("id" = String, Path, description = "Server id")),
    responses((status = 200, body = CheckView),
    (status = 409, body = ErrorBody, description = "No host key is pinned yet, the host key differs from the pin (connection refused), \
    or the server's SSH key was deleted"),
    (status = 422, body = ErrorBody, description = "The server's SSH key cannot be decrypted"),
    (status = 502, body = ErrorBody, description = "The server could not be reached or refused the connection")),
    security(("session" = []), ("bearer" = [])))]
pub async fn check(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Deployer,
    id: web::Path<ServerId>,
) -> Result<HttpResponse, ApiError> {
    let check = servers::check(&state, origin, caller.0, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CheckView::from(check)))
}

/// Pins a new host key the admin checked out of band, if the server presents it.
#[utoipa::path(post, path = "/api/v1/servers/{id}/host-key/confirm", tag = "servers", params(("id" = String, Path, description = "Server id")),
    request_body = ConfirmHostKey, responses((status = 200, body = CheckView),
    (status = 409, body = ErrorBody, description = "The server presented another key (connection refused), \
    or the server's SSH key was deleted"),
    (status = 422, body = ErrorBody, description = "The server's SSH key cannot be decrypted"),
    (status = 502, body = ErrorBody, description = "The server could not be reached or refused the connection")),
    security(("session" = []), ("bearer" = [])))]
pub async fn confirm_host_key(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<ServerId>,
    body: StrictJson<ConfirmHostKey>,
) -> Result<HttpResponse, ApiError> {
    let check =
        servers::confirm_host_key(&state, origin, admin.0, id.into_inner(), body.0.fingerprint)
            .await?;
    Ok(HttpResponse::Ok().json(CheckView::from(check)))
}

/// Clears the pin: the next commissioning trusts the key it sees.
#[utoipa::path(post, path = "/api/v1/servers/{id}/host-key/reset", tag = "servers", params(("id" = String, Path, description = "Server id")),
    responses((status = 204, description = "The pin is cleared")), security(("session" = []), ("bearer" = [])))]
pub async fn reset_host_key(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<ServerId>,
) -> Result<HttpResponse, ApiError> {
    servers::reset_host_key(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
