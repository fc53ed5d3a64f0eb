//! Liveness and readiness.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store;

/// The paths of the health probes. A `GET` of one is exempt from the
/// per-IP request budget and connection cap, so that a monitor polling them
/// is never refused, however busy its address is.
pub const PROBES: [&str; 2] = [HEALTHZ, READYZ];

/// The liveness probe's path.
pub const HEALTHZ: &str = "/healthz";

/// The readiness probe's path.
pub const READYZ: &str = "/readyz";

/// True for a health probe: `GET` of one of [`PROBES`].
pub fn is_probe(method: &Method, path: &str) -> bool {
    method == Method::GET && PROBES.contains(&path)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::{table, Tier};

    #[test]
    fn probes_are_public_get_routes() {
        for probe in PROBES {
            assert!(
                table()
                    .iter()
                    .any(|r| r.path == probe && r.method == Method::GET && r.tier == Tier::Public),
                "{probe} is not a public GET route"
            );
            assert!(is_probe(&Method::GET, probe));
            assert!(!is_probe(&Method::POST, probe));
        }
        assert!(!is_probe(&Method::GET, "/healthz/"));
    }
}
