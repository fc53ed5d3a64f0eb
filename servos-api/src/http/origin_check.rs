//! Refuses state-changing requests sent by another site (CSRF defence in
//! depth beside `SameSite=Strict` cookies and the web forms' tokens): a
//! foreign `Origin`, or a browser's `Sec-Fetch-Site: cross-site`, on
//! anything but GET/HEAD/OPTIONS.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError as _};

use crate::http::error::ApiError;
use crate::state::AppState;

/// The middleware function.
pub async fn middleware<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) && !same_origin(&req)
    {
        tracing::warn!("refused a cross-origin state-changing request");
        let response = ApiError::ForeignOrigin.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn same_origin(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let Some(origin) = headers.get(header::ORIGIN) else {
        return !matches!(
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            Some("cross-site" | "same-site")
        );
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    // Under `Referrer-Policy: no-referrer` a browser sends `Origin: null`
    // even for a same-origin form post; its `Sec-Fetch-Site` still tells.
    // (A sandboxed frame on another site also says `null`, and `cross-site`.)
    if origin == "null" {
        return headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("same-origin");
    }
    let config = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.clone());
    if let Some(public) = config.as_ref().and_then(|c| c.public_origin.as_deref()) {
        return origin.eq_ignore_ascii_case(public);
    }
    let scheme = if config.as_ref().is_some_and(|c| c.tls.is_some()) {
        "https"
    } else {
        "http"
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}
