//! The general per-IP request limit, applied to every request but the
//! health probes before access control (the limits themselves are in
//! `limits.rs`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, ResponseError as _};

use crate::http::error::ApiError;
use crate::http::handlers::health;
use crate::http::request_context::RequestContext;
use crate::state::AppState;

/// Middleware applying the general per-IP limit to every request but the
/// health probes (a monitor must never be refused).
pub async fn middleware<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .filter(|_| !health::is_probe(req.method(), req.path()))
        .cloned();
    let ip = req
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.client_ip.clone());
    if let (Some(state), Some(ip)) = (state, ip) {
        if let Err(e) = state.limits.requests_per_ip.check_and_record(&ip) {
            let response = ApiError::from(e).error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
