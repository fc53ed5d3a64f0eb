//! `POST /api/v1/login` and `POST /api/v1/logout`.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use servos_common::secret::SecretText;

use crate::accounts::sessions::{self, COOKIE};
use crate::audit::Origin;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Viewer;
use crate::http::json::StrictJson;
use crate::state::AppState;

use super::views::UserView;

/// Login request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Account email.
    pub email: String,
    /// Account password.
    #[schema(value_type = String)]
    pub password: SecretText,
}

/// The session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` under TLS);
/// an empty value with a zero age clears it.
pub fn session_cookie(state: &AppState, value: String, max_age: CookieDuration) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.secure_cookies())
        .max_age(max_age)
        .finish()
}

/// Opens a browser session: sets the `servos_session` cookie.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest, responses(
    (status = 200, body = UserView),
    (status = 401, body = ErrorBody, description = "The email or password is incorrect")))]
pub async fn login(
    state: web::Data<AppState>,
    origin: Origin,
    body: StrictJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.0;
    let (cookie, user) = sessions::login(&state, origin, &email, password).await?;
    let max_age = CookieDuration::seconds(state.config.session_max_age.num_seconds());
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, cookie.expose().to_owned(), max_age))
        .json(UserView::try_from(user)?))
}

/// Ends the current session and clears the cookie.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session", responses(
    (status = 204, description = "Signed out; the cookie is cleared"),
    (status = 400, body = ErrorBody, description = "The caller used an API token, which has no session: revoke it instead")),
    security(("session" = [])))]
pub async fn logout(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Viewer,
) -> Result<HttpResponse, ApiError> {
    sessions::logout(&state, origin, caller.0).await?;
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie(&state, String::new(), CookieDuration::ZERO))
        .finish())
}
