//! Turns a panicking handler into a generic 500; the panic is logged
//! (by the hook installed at start), never sent to the client.
//!
//! The request cannot be kept aside while routing runs (the router needs it
//! unshared), so the 500 travels out as an error that actix renders with
//! [`ApiError`]'s body.

use std::panic::AssertUnwindSafe;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;
use futures_util::FutureExt as _;

use crate::http::error::ApiError;

/// The middleware function.
pub async fn middleware<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(ApiError::internal("a handler panicked").into()),
    }
}
