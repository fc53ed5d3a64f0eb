//! The frame around every page: who is signed in and with which role, the
//! form token, the flash message, the active section of the navigation;
//! and rendering a page or redirecting with it.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage as _, HttpRequest, HttpResponse};
use askama::Template;

use crate::accounts::principal::Principal;
use crate::accounts::role::Role;
use crate::audit::Origin;
use crate::http::error::ApiError;
use crate::http::extract::origin_of;
use crate::state::AppState;

use super::flash::{self, Flash};
use super::{assets, csrf};

/// What the layout needs, extracted from the request.
#[derive(Debug)]
pub struct Chrome {
    /// The signed-in caller (none on the setup and login pages).
    pub user: Option<Principal>,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// A message left by the previous request, shown once.
    pub flash: Option<Flash>,
    /// The active section of the navigation.
    pub section: &'static str,
    /// The audit origin of the request.
    pub origin: Origin,
    secure: bool,
    new_form_secret: Option<String>,
}

impl Chrome {
    fn from_request_parts(req: &HttpRequest) -> Result<Self, ApiError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::internal("state missing"))?;
        let user = req.extensions().get::<Principal>().cloned();
        let (secret, new_form_secret) = match csrf::binding_cookie(req) {
            Some(secret) => (secret, None),
            // Signed-in pages always have their session cookie; only the
            // public forms start a pre-session cookie here.
            None if user.is_none() => {
                let secret = csrf::new_form_secret()?;
                (secret.clone(), Some(secret))
            }
            None => (String::new(), None),
        };
        Ok(Self {
            csrf: if secret.is_empty() {
                String::new()
            } else {
                csrf::token_for(&secret)
            },
            flash: req
                .cookie(flash::COOKIE)
                .and_then(|c| Flash::decode(c.value())),
            section: "",
            origin: origin_of(req),
            secure: state.config.secure_cookies(),
            new_form_secret,
            user,
        })
    }

    /// The same frame with `section` highlighted in the navigation.
    pub fn at(mut self, section: &'static str) -> Self {
        self.section = section;
        self
    }

    /// The signed-in caller; pages behind a tier always have one.
    pub fn principal(&self) -> Result<Principal, ApiError> {
        self.user.clone().ok_or_else(ApiError::unauthenticated)
    }

    /// The caller's role, if signed in.
    pub fn role(&self) -> Option<Role> {
        self.user.as_ref().map(|u| u.role)
    }

    /// The caller's email, or `""`.
    pub fn email(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.email.as_str())
    }

    /// The caller's role as text, or `""`.
    pub fn role_name(&self) -> &'static str {
        self.role().map_or("", Role::as_str)
    }

    /// Deployer or admin: may change applications and run checks.
    pub fn can_deploy(&self) -> bool {
        self.role() >= Some(Role::Deployer)
    }

    /// Admin: may change servers, credentials, users; sees the audit trail.
    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// Link of the stylesheet, versioned by its content.
    pub fn css_href(&self) -> &'static str {
        assets::href("app.css")
    }

    /// Link of the script, versioned by its content.
    pub fn js_href(&self) -> &'static str {
        assets::href("app.js")
    }

    /// Whether cookies are sent with `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Renders `page` with `status`; clears the shown flash message and
    /// sets the pre-session cookie when one was started.
    pub fn render(
        &self,
        status: StatusCode,
        page: &impl Template,
    ) -> Result<HttpResponse, ApiError> {
        let html = page.render().map_err(ApiError::internal)?;
        let mut response = HttpResponse::build(status);
        response.content_type("text/html; charset=utf-8");
        if self.flash.is_some() {
            response.cookie(flash::removal(self.secure));
        }
        if let Some(secret) = &self.new_form_secret {
            response.cookie(csrf::form_cookie(secret.clone(), self.secure));
        }
        Ok(response.body(html))
    }

    /// Renders `page` with 200.
    pub fn ok(&self, page: &impl Template) -> Result<HttpResponse, ApiError> {
        self.render(StatusCode::OK, page)
    }

    /// Renders a form again with its errors (422).
    pub fn invalid(&self, page: &impl Template) -> Result<HttpResponse, ApiError> {
        self.render(StatusCode::UNPROCESSABLE_ENTITY, page)
    }

    /// `303 See Other` to `location` with a message for the next page.
    pub fn redirect(&self, location: &str, flash: Flash) -> HttpResponse {
        flash::redirect(location, Some(flash), self.secure)
    }
}

impl FromRequest for Chrome {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request_parts(req))
    }
}
