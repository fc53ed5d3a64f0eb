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

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App};

    #[actix_web::test]
    async fn a_panic_becomes_a_generic_500() {
        let app = test::init_service(
            App::new()
                .route(
                    "/boom",
                    web::get().to(|| async {
                        panic!("secret-canary in a panic message");
                        #[allow(unreachable_code)]
                        ""
                    }),
                )
                .wrap(from_fn(super::middleware)),
        )
        .await;
        let res =
            test::try_call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
        let err = res.expect_err("the panic is turned into an error");
        let response = err.error_response();
        assert_eq!(response.status(), 500);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("\"internal\"") && !text.contains("secret-canary"),
            "{text}"
        );
    }
}
