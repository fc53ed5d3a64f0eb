//! First-run setup, login and logout pages, on the same services as
//! `POST /api/v1/setup`, `/login` and `/logout`.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::accounts::{sessions, setup as first_run};
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::http::handlers::session::session_cookie;
use crate::state::AppState;

use super::chrome::Chrome;
use super::errors::safe_return_path;
use super::flash::{self, Flash};
use super::form::{FieldErrors, Form};

/// The setup page: the form, or word that setup is done.
#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    chrome: &'a Chrome,
    complete: bool,
    email: String,
    errors: FieldErrors,
}

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: &'a Chrome,
    email: String,
    next: String,
    notice: Option<&'static str>,
    setup_pending: bool,
    errors: FieldErrors,
}

/// `GET /setup`.
pub async fn setup_form(
    state: web::Data<AppState>,
    chrome: Chrome,
) -> Result<HttpResponse, ApiError> {
    let complete = first_run::is_complete(&state).await?;
    chrome.ok(&SetupPage {
        chrome: &chrome,
        complete,
        email: String::new(),
        errors: FieldErrors::default(),
    })
}

/// `POST /setup`: creates the first admin, then asks them to sign in.
pub async fn setup(
    state: web::Data<AppState>,
    chrome: Chrome,
    mut form: Form,
) -> Result<HttpResponse, ApiError> {
    let email = form.text("email");
    let token = form.secret("token");
    let password = form.secret("password");
    let confirmation = form.secret("password_confirm");
    let mut errors = FieldErrors::default();
    if password.expose() != confirmation.expose() {
        errors.add("password_confirm", "does not match the password");
    } else {
        match first_run::complete(&state, chrome.origin.clone(), token, &email, password).await {
            Ok(user) => {
                let text = format!("Admin account {} created. Sign in to continue.", user.email);
                return Ok(chrome.redirect("/login", Flash::success(text)));
            }
            Err(ServiceError::Gone) => {
                let page = SetupPage {
                    chrome: &chrome,
                    complete: true,
                    email: String::new(),
                    errors,
                };
                return chrome.render(StatusCode::GONE, &page);
            }
            Err(ServiceError::InvalidSetupToken) => errors.add(
                "token",
                "is not the setup token; copy it from the log or the setup_token file",
            ),
            Err(e) => errors = FieldErrors::from_service(e, &[])?,
        }
    }
    chrome.invalid(&SetupPage {
        chrome: &chrome,
        complete: false,
        email,
        errors,
    })
}

/// `GET /login`: the form, with a notice when a session just ended.
pub async fn login_form(
    state: web::Data<AppState>,
    chrome: Chrome,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let notice = param("expired")
        .is_some()
        .then_some("Your session has ended. Sign in again to continue.");
    let next = param("next")
        .and_then(safe_return_path)
        .unwrap_or("")
        .to_owned();
    let setup_pending = !first_run::is_complete(&state).await?;
    chrome.ok(&LoginPage {
        chrome: &chrome,
        email: String::new(),
        next,
        notice,
        setup_pending,
        errors: FieldErrors::default(),
    })
}

/// `POST /login`: opens a session and goes where the user was headed.
pub async fn login(
    state: web::Data<AppState>,
    chrome: Chrome,
    mut form: Form,
) -> Result<HttpResponse, ApiError> {
    let email = form.text("email");
    let password = form.secret("password");
    let next = safe_return_path(&form.text("next"))
        .unwrap_or("/")
        .to_owned();
    let mut errors = FieldErrors::default();
    let status = match sessions::login(&state, chrome.origin.clone(), &email, password).await {
        Ok((cookie, _)) => {
            let max_age = CookieDuration::seconds(state.config.session_max_age.num_seconds());
            let mut response = flash::redirect(&next, None, chrome.secure());
            response
                .add_cookie(&session_cookie(&state, cookie.expose().to_owned(), max_age))
                .map_err(ApiError::internal)?;
            return Ok(response);
        }
        Err(ServiceError::InvalidCredentials) => {
            errors.general = Some("Email or password is incorrect.".into());
            StatusCode::UNAUTHORIZED
        }
        Err(e) => {
            errors = FieldErrors::from_service(e, &[])?;
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    let page = LoginPage {
        chrome: &chrome,
        email,
        next: if next == "/" { String::new() } else { next },
        notice: None,
        setup_pending: false,
        errors,
    };
    chrome.render(status, &page)
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(
    state: web::Data<AppState>,
    chrome: Chrome,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    sessions::logout(&state, chrome.origin.clone(), chrome.principal()?).await?;
    let mut response = chrome.redirect("/login", Flash::info("You are signed out."));
    response
        .add_cookie(&session_cookie(&state, String::new(), CookieDuration::ZERO))
        .map_err(ApiError::internal)?;
    Ok(response)
}
