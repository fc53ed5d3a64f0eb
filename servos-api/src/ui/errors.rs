//! Errors of page routes as pages. The middleware and handlers answer with
//! `ApiError`'s JSON; for a page this middleware turns it into HTML: a
//! missing or ended session becomes a redirect to the login page (with a
//! notice when a session cookie was sent, so an expired session says so),
//! anything else an error page with the same status and the same generic
//! message. API routes are left alone.

use actix_web::body::{self, BoxBody, EitherBody, MessageBody};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::Cookie;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};
use askama::Template;

use crate::accounts::sessions;
use crate::http::routes::TierTable;

use super::assets;

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    css_href: &'static str,
}

/// What the middleware learned about the request before it ran.
struct Seen {
    had_session: bool,
    return_to: Option<String>,
    secure: bool,
}

/// The middleware function.
pub async fn middleware<B>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B, BoxBody>>, Error>
where
    B: MessageBody + 'static,
{
    if !is_page_request(&req) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let seen = Seen {
        had_session: req.cookie(sessions::COOKIE).is_some(),
        return_to: (req.method() == Method::GET).then(|| {
            let path = req.path();
            match req.query_string() {
                "" => path.to_owned(),
                q => format!("{path}?{q}"),
            }
        }),
        secure: req
            .app_data::<web::Data<crate::state::AppState>>()
            .is_some_and(|s| s.config.secure_cookies()),
    };
    let response = next.call(req).await?;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status().as_u16() < 400 || !is_json {
        return Ok(response.map_into_left_body());
    }
    let (request, response) = response.into_parts();
    let status = response.status();
    let kept_headers: Vec<_> = [header::RETRY_AFTER]
        .iter()
        .filter_map(|name| {
            response
                .headers()
                .get(name)
                .map(|v| (name.clone(), v.clone()))
        })
        .collect();
    let bytes = body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "Something went wrong.".to_owned());
    let page = if status == StatusCode::UNAUTHORIZED {
        to_login(&seen)
    } else {
        let mut page = error_page(status, &message);
        for (name, value) in kept_headers {
            page.headers_mut().insert(name, value);
        }
        page
    };
    Ok(ServiceResponse::new(request, page).map_into_right_body())
}

/// A page route, or an unknown path a browser asked for (not the API's).
fn is_page_request(req: &ServiceRequest) -> bool {
    let Some(table) = req.app_data::<web::Data<TierTable>>() else {
        return false;
    };
    match req.match_pattern() {
        Some(pattern) => table.is_page(&pattern),
        None => {
            !req.path().starts_with("/api/")
                && req
                    .headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"))
        }
    }
}

fn to_login(seen: &Seen) -> HttpResponse {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if seen.had_session {
        query.push(("expired", "1"));
    }
    if let Some(path) = seen.return_to.as_deref().filter(|p| *p != "/") {
        query.push(("next", path));
    }
    let location = match serde_urlencoded::to_string(&query) {
        Ok(q) if !q.is_empty() => format!("/login?{q}"),
        _ => "/login".to_owned(),
    };
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location));
    if seen.had_session {
        response.cookie(
            Cookie::build(sessions::COOKIE, "")
                .path("/")
                .http_only(true)
                .secure(seen.secure)
                .max_age(CookieDuration::ZERO)
                .finish(),
        );
    }
    response.finish()
}

/// An HTML page for an error status with a message safe to show.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let title = match status.as_u16() {
        403 => "Not allowed",
        404 => "Not found",
        405 => "Not allowed here",
        409 => "Conflict",
        410 => "Gone",
        413 => "Too large",
        429 => "Too many requests",
        502 => "Server unreachable",
        503 => "Unavailable",
        507 => "Storage full",
        400..=499 => "Request refused",
        _ => "Something went wrong",
    };
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
        css_href: assets::href("app.css"),
    };
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "error page did not render");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(title)
        }
    }
}

/// Where to go after signing in: a local path only (never another site).
pub fn safe_return_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    local.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_return_path("/apps/1?x=2"), Some("/apps/1?x=2"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "apps",
            "",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad}");
        }
    }
}
