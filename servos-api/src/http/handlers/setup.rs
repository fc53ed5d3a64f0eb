//! `POST /api/v1/setup`: the first admin, with the setup token.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use servos_common::secret::SecretText;

use crate::accounts::setup;
use crate::audit::Origin;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;

use super::views::UserView;

/// Setup request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token from the log or `$SERVOS_DATA_DIR/setup_token`.
    #[schema(value_type = String)]
    pub token: SecretText,
    /// The first admin's email.
    #[schema(schema_with = fields::email)]
    pub email: String,
    /// The first admin's password.
    #[schema(schema_with = fields::new_password)]
    pub password: SecretText,
}

/// Creates the first admin. Single use: 410 once an admin exists.
#[utoipa::path(post, path = "/api/v1/setup", tag = "session", request_body = SetupRequest, responses(
    (status = 201, body = UserView),
    (status = 401, body = ErrorBody, description = "The setup token is incorrect"),
    (status = 410, body = ErrorBody, description = "Setup is complete: an admin exists")))]
pub async fn complete(
    state: web::Data<AppState>,
    origin: Origin,
    body: StrictJson<SetupRequest>,
) -> Result<HttpResponse, ApiError> {
    let SetupRequest {
        token,
        email,
        password,
    } = body.0;
    let user = setup::complete(&state, origin, token, &email, password).await?;
    Ok(HttpResponse::Created().json(UserView::try_from(user)?))
}
