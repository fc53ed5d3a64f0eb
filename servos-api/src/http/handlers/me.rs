//! The caller's own account: `GET /api/v1/me`, `PUT /api/v1/me/password`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::accounts::principal::Credential;
use crate::accounts::role::Role;
use crate::accounts::users;
use crate::audit::Origin;
use crate::http::error::ApiError;
use crate::http::extract::Viewer;
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;
use crate::store::ids::UserId;

/// Who the caller is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Me)]
pub struct MeView {
    /// User id.
    pub user_id: UserId,
    /// Email.
    pub email: String,
    /// Effective role of this credential.
    pub role: Role,
    /// `session` or `api_token`.
    pub authenticated_by: &'static str,
}

/// The authenticated caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", responses((status = 200, body = MeView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(caller: Viewer) -> HttpResponse {
    let p = caller.0;
    HttpResponse::Ok().json(MeView {
        user_id: p.user_id,
        email: p.email,
        role: p.role,
        authenticated_by: match p.via {
            Credential::Session { .. } => "session",
            Credential::ApiToken { .. } => "api_token",
        },
    })
}

/// Password change request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    #[schema(value_type = String)]
    pub current_password: SecretText,
    /// The new password.
    #[schema(schema_with = fields::new_password)]
    pub new_password: SecretText,
}

/// Changes the caller's password; every session of the account ends.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "users", request_body = PasswordChange,
    responses((status = 204, description = "Changed; every session of the account ended")),
    security(("session" = []), ("bearer" = [])))]
pub async fn change_password(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Viewer,
    body: StrictJson<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChange {
        current_password,
        new_password,
    } = body.0;
    users::change_own_password(&state, origin, caller.0, current_password, new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}
