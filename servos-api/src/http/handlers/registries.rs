//! `/api/v1/registries`: container registry credentials.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::audit::Origin;
use crate::credentials::registries::{self, NewRegistry};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Viewer};
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;
use crate::store::registries::RegistryRow;

use super::views::Revealed;

/// New registry credential.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegistry {
    /// Name.
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// Registry host, `host[:port]`, without scheme or path.
    #[schema(pattern = r"^[A-Za-z0-9.:\[\]-]+$", max_length = 253)]
    pub host: String,
    /// User name: 1 to 256 printable characters.
    #[schema(pattern = "^[!-~]([ -~]*[!-~])?$", max_length = 256)]
    pub username: String,
    /// Password or token, 1 byte to 64 KiB (stored encrypted, never returned).
    #[schema(value_type = String, min_length = 1)]
    pub password: SecretText,
}

/// A registry credential, without its password.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Registry)]
pub struct RegistryView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Registry host.
    pub host: String,
    /// User name.
    pub username: String,
    /// The password, masked.
    pub password: &'static str,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<RegistryRow> for RegistryView {
    fn from(row: RegistryRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            host: row.host,
            username: row.username,
            password: super::views::MASK,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// Lists registry credentials (passwords masked).
#[utoipa::path(get, path = "/api/v1/registries", tag = "credentials", responses((status = 200, body = [RegistryView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _caller: Viewer) -> Result<HttpResponse, ApiError> {
    let rows = registries::list(&state).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(RegistryView::from).collect::<Vec<_>>()))
}

/// Stores a registry credential.
#[utoipa::path(post, path = "/api/v1/registries", tag = "credentials", request_body = CreateRegistry,
    responses((status = 201, body = RegistryView),
    (status = 409, body = ErrorBody, description = "A registry credential has this name")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<CreateRegistry>,
) -> Result<HttpResponse, ApiError> {
    let CreateRegistry {
        name,
        host,
        username,
        password,
    } = body.0;
    let new = NewRegistry {
        name,
        host,
        username,
        password,
    };
    let row = registries::create(&state, origin, admin.0, new).await?;
    Ok(HttpResponse::Created().json(RegistryView::from(row)))
}

/// One registry credential (password masked).
#[utoipa::path(get, path = "/api/v1/registries/{id}", tag = "credentials", params(("id" = String, Path, description = "Credential id")),
    responses((status = 200, body = RegistryView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = registries::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(RegistryView::from(row)))
}

/// Deletes a registry credential.
#[utoipa::path(delete, path = "/api/v1/registries/{id}", tag = "credentials", params(("id" = String, Path, description = "Credential id")),
    responses((status = 204, description = "Deleted")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    registries::delete(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Shows the password once; the reveal is audited.
#[utoipa::path(post, path = "/api/v1/registries/{id}/reveal", tag = "credentials", params(("id" = String, Path, description = "Credential id")),
    responses((status = 200, body = Revealed),
    (status = 422, body = ErrorBody, description = "The stored secret cannot be decrypted; enter it again")),
    security(("session" = []), ("bearer" = [])))]
pub async fn reveal(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let value = crate::credentials::reveal(
        &state,
        origin,
        admin.0,
        registries::PASSWORD,
        id.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Revealed::from(value)))
}
