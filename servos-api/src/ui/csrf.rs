//! CSRF protection of every web form: a per-session synchronizer token in a
//! hidden field, checked (in constant time) by a middleware before any page
//! handler sees a POST; beside it, the origin check and `SameSite=Strict`.
//!
//! The token is HMAC-SHA256 of a fixed label keyed with the secret the
//! browser already holds in an `HttpOnly` cookie: the session cookie for
//! signed-in pages, a random pre-session cookie for the login and setup
//! forms. Another site can neither read that cookie nor compute the token,
//! the token changes with every session, and nothing extra is stored.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage as _, ResponseError as _};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use crate::accounts::principal::{Credential, Principal};
use crate::accounts::sessions;
use crate::http::app::MAX_BODY_BYTES;
use crate::http::error::ApiError;
use crate::http::request_body;
use crate::http::routes::TierTable;

use super::form::Form;

/// Name of the hidden form field that carries the token.
pub const FIELD: &str = "csrf";

/// Cookie binding the token of the forms shown before sign-in (login, setup).
pub const FORM_COOKIE: &str = "servos_form";

const LABEL: &[u8] = b"servos web form v1";

/// The token of forms shown to the holder of `cookie_value`.
pub fn token_for(cookie_value: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, cookie_value.as_bytes());
    let tag = ring::hmac::sign(&key, LABEL);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// True when `presented` is the token for `cookie_value` (constant time).
pub fn verify(cookie_value: &str, presented: &str) -> bool {
    bool::from(
        token_for(cookie_value)
            .as_bytes()
            .ct_eq(presented.as_bytes()),
    )
}

/// A fresh random value for the pre-session cookie.
pub fn new_form_secret() -> Result<String, ApiError> {
    servos_common::token::generate("")
        .map(|t| t.expose().to_owned())
        .map_err(ApiError::internal)
}

/// The pre-session cookie: `HttpOnly`, `SameSite=Strict`, for this browser session.
pub fn form_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(FORM_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// The cookie whose value keys the token of this request: the session
/// cookie for a signed-in caller, the pre-session cookie on public pages.
/// An API token (no cookie of its own) gets none: pages' forms are for
/// browsers.
pub fn binding_cookie(req: &actix_web::HttpRequest) -> Option<String> {
    let principal = req.extensions().get::<Principal>().cloned();
    let name = match principal.map(|p| p.via) {
        Some(Credential::Session { .. }) => sessions::COOKIE,
        Some(Credential::ApiToken { .. }) => return None,
        None => FORM_COOKIE,
    };
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The middleware: on a POST to a page, reads the form (within the body
/// limit, 413 beyond; within the request time limit, 408 after), checks its
/// token against the binding cookie, and hands the parsed form to the
/// handler. Missing or wrong tokens get 403.
pub async fn middleware<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if req.method() == Method::POST && is_page(&req) {
        if let Err(e) = check(&mut req).await {
            if matches!(e, ApiError::CsrfRejected) {
                tracing::warn!("refused a web form without a valid CSRF token");
            }
            let response = e.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn is_page(req: &ServiceRequest) -> bool {
    match (req.app_data::<web::Data<TierTable>>(), req.match_pattern()) {
        (Some(table), Some(pattern)) => table.is_page(&pattern),
        _ => false,
    }
}

async fn check(req: &mut ServiceRequest) -> Result<(), ApiError> {
    let secret = binding_cookie(req.request()).ok_or(ApiError::CsrfRejected)?;
    let body = req.extract::<web::Bytes>().await.map_err(|e| {
        request_body::refusal(&e, MAX_BODY_BYTES)
            .unwrap_or_else(|| ApiError::invalid("form", "could not be read"))
    })?;
    let form = Form::parse(&body)?;
    if !verify(&secret, form.raw(FIELD)) {
        return Err(ApiError::CsrfRejected);
    }
    req.extensions_mut().insert(form);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_the_cookie() {
        let token = token_for("cookie-a");
        assert!(verify("cookie-a", &token));
        assert!(!verify("cookie-b", &token));
        assert!(!verify("cookie-a", ""));
        assert_ne!(token, token_for("cookie-b"));
    }
}
