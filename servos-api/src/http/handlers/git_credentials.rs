//! `/api/v1/git-credentials`: tokens for cloning private repositories.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::audit::Origin;
use crate::credentials::git::{self, NewGitCredential, Provider};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Viewer};
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;
use crate::store::git_credentials::GitCredentialRow;

use super::views::{Revealed, MASK};

/// New git credential.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGitCredential {
    /// Name.
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// Provider.
    pub provider: Provider,
    /// User name, where the provider wants one: 1 to 256 printable characters.
    #[schema(pattern = "^[!-~]([ -~]*[!-~])?$", max_length = 256)]
    pub username: Option<String>,
    /// Access token, 1 byte to 64 KiB (stored encrypted, never returned).
    #[schema(value_type = String, min_length = 1)]
    pub token: SecretText,
}

/// A git credential, without its token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = GitCredential)]
pub struct GitCredentialView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Provider (`github`, `gitlab`, `gitea`, `forgejo`, `other`).
    pub provider: String,
    /// User name.
    pub username: Option<String>,
    /// The token, masked.
    pub token: &'static str,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<GitCredentialRow> for GitCredentialView {
    fn from(row: GitCredentialRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            provider: row.provider,
            username: row.username,
            token: MASK,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// Lists git credentials (tokens masked).
#[utoipa::path(get, path = "/api/v1/git-credentials", tag = "credentials", responses((status = 200, body = [GitCredentialView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _caller: Viewer) -> Result<HttpResponse, ApiError> {
    let rows = git::list(&state).await?;
    Ok(HttpResponse::Ok().json(
        rows.into_iter()
            .map(GitCredentialView::from)
            .collect::<Vec<_>>(),
    ))
}

/// Stores a git credential.
#[utoipa::path(post, path = "/api/v1/git-credentials", tag = "credentials", request_body = CreateGitCredential,
    responses((status = 201, body = GitCredentialView),
    (status = 409, body = ErrorBody, description = "A git credential has this name")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<CreateGitCredential>,
) -> Result<HttpResponse, ApiError> {
    let CreateGitCredential {
        name,
        provider,
        username,
        token,
    } = body.0;
    let new = NewGitCredential {
        name,
        provider,
        username,
        token,
    };
    let row = git::create(&state, origin, admin.0, new).await?;
    Ok(HttpResponse::Created().json(GitCredentialView::from(row)))
}

/// One git credential (token masked).
#[utoipa::path(get, path = "/api/v1/git-credentials/{id}", tag = "credentials", params(("id" = String, Path, description = "Credential id")),
    responses((status = 200, body = GitCredentialView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = git::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(GitCredentialView::from(row)))
}

/// Deletes a git credential.
#[utoipa::path(delete, path = "/api/v1/git-credentials/{id}", tag = "credentials", params(("id" = String, Path, description = "Credential id")),
    responses((status = 204, description = "Deleted"),
    (status = 409, body = ErrorBody, description = "Applications clone with it (field `git_credential_id`; the message names each); nothing was deleted")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    git::delete(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Shows the token once; the reveal is audited.
#[utoipa::path(post, path = "/api/v1/git-credentials/{id}/reveal", tag = "credentials", params(("id" = String, Path, description = "Credential id")),
    responses((status = 200, body = Revealed),
    (status = 422, body = ErrorBody, description = "The stored secret cannot be decrypted; enter it again")),
    security(("session" = []), ("bearer" = [])))]
pub async fn reveal(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let value =
        crate::credentials::reveal(&state, origin, admin.0, git::TOKEN, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Revealed::from(value)))
}
