//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store;

/// Health status body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Status)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Status),
    (status = 503, body = crate::http::error::ErrorBody, description = "The database does not answer")))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db(|conn| store::conn::ping(conn).map_err(|_| ServiceError::Unavailable))
        .await?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}
