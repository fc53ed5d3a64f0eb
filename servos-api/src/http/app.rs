//! The actix `App`: the routes of the table behind the middleware stack.
//! `serve` and the tests build the app the same way.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App};

use crate::http::error::ApiError;
use crate::http::routes::TierTable;
use crate::http::{
    access, connections, origin_check, panic_guard, rate_limit, request_body, request_context,
    routes, security_headers,
};
use crate::state::AppState;
use crate::ui::{csrf, errors as page_errors};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The app: routes from the table, behind (outermost first) request context,
/// panic guard, security headers, page errors as HTML, connection cap, body
/// deadline, rate limit, origin check, access control and the web forms'
/// CSRF check.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let https = state.config.secure_cookies();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::Data::new(TierTable::new()))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        // A path whose id does not parse names nothing that exists.
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::invalid("query", e.to_string()).into()),
        )
        .configure(routes::configure)
        .wrap(from_fn(csrf::middleware))
        .wrap(from_fn(access::middleware))
        .wrap(from_fn(origin_check::middleware))
        .wrap(from_fn(rate_limit::middleware))
        .wrap(from_fn(request_body::middleware))
        .wrap(from_fn(connections::middleware))
        .wrap(from_fn(page_errors::middleware))
        .wrap(security_headers::headers(https))
        .wrap(from_fn(panic_guard::middleware))
        .wrap(from_fn(request_context::middleware))
}
