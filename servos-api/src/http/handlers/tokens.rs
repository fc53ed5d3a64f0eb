//! `/api/v1/tokens`: API tokens for scripts and CI.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::accounts::role::Role;
use crate::accounts::tokens::{self, NewToken};
use crate::audit::Origin;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Viewer;
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;

use super::views::{self, TokenView};

/// New token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Label, e.g. `ci-deploy`.
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// Role; at most the caller's.
    pub role: Role,
    /// Lifetime in days (1 to 3650); absent or `null` never expires.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// A new token: the only time the token itself is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The bearer token (`svs_...`). Store it now; it is not shown again.
    pub token: String,
    /// Its metadata.
    pub api_token: TokenView,
}

/// The caller's tokens (every user's for an admin).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", responses((status = 200, body = [TokenView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, caller: Viewer) -> Result<HttpResponse, ApiError> {
    let rows = tokens::list(&state, caller.0).await?;
    Ok(HttpResponse::Ok().json(views::all::<_, TokenView>(rows)?))
}

/// Creates a token for the caller.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Viewer,
    body: StrictJson<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let CreateToken {
        name,
        role,
        expires_in_days,
    } = body.0;
    let request = NewToken {
        name,
        role,
        expires_in_days,
    };
    let (row, secret) = tokens::create(&state, origin, caller.0, request).await?;
    Ok(HttpResponse::Created().json(CreatedToken {
        token: secret.expose().to_owned(),
        api_token: TokenView::try_from(row)?,
    }))
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"),
    (status = 409, body = ErrorBody, description = "The token is already revoked")),
    security(("session" = []), ("bearer" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tokens::revoke(&state, origin, caller.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
