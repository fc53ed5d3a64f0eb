//! API tokens: the caller's (every user's for an admin), a form to create
//! one (shown once, in the answer to the POST), and revocation.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::accounts::role::Role;
use crate::accounts::tokens::{self, NewToken};
use crate::accounts::users;
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::ids::UserId;

use super::chrome::Chrome;
use super::flash::Flash;
use super::form::{FieldErrors, Form};
use super::views;

/// A token as a table row (never the token itself).
#[derive(Debug)]
struct TokenItem {
    id: String,
    name: String,
    owner: String,
    role: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage<'a> {
    chrome: &'a Chrome,
    tokens: Vec<TokenItem>,
    roles: Vec<&'static str>,
    created: Option<(String, &'a str)>,
    name: String,
    role: String,
    expires_in_days: String,
    errors: FieldErrors,
}

/// The form's values as typed.
struct Typed {
    name: String,
    role: String,
    expires_in_days: String,
}

async fn page<'a>(
    state: &AppState,
    chrome: &'a Chrome,
    typed: Typed,
    created: Option<(String, &'a str)>,
    errors: FieldErrors,
) -> Result<TokensPage<'a>, ApiError> {
    let principal = chrome.principal()?;
    let owners: HashMap<UserId, String> = if chrome.is_admin() {
        users::list(state)
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect()
    } else {
        HashMap::from([(principal.user_id.clone(), principal.email.clone())])
    };
    let tokens = tokens::list(state, principal.clone())
        .await?
        .into_iter()
        .map(|row| TokenItem {
            owner: owners
                .get(&row.user_id)
                .cloned()
                .unwrap_or_else(|| "deleted user".into()),
            created: views::when(row.created_at),
            expires: row
                .expires_at
                .map(views::when)
                .unwrap_or_else(|| "never".into()),
            last_used: row
                .last_used_at
                .map(views::when)
                .unwrap_or_else(|| "never".into()),
            revoked: row.revoked_at.is_some(),
            id: row.id,
            name: row.name,
            role: row.role,
        })
        .collect();
    let roles = [Role::Viewer, Role::Deployer, Role::Admin]
        .into_iter()
        .filter(|r| *r <= principal.role)
        .map(Role::as_str)
        .collect();
    Ok(TokensPage {
        chrome,
        tokens,
        roles,
        created,
        name: typed.name,
        role: typed.role,
        expires_in_days: typed.expires_in_days,
        errors,
    })
}

/// `GET /tokens`.
pub async fn list(state: web::Data<AppState>, chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("tokens");
    let typed = Typed {
        name: String::new(),
        role: chrome.role_name().into(),
        expires_in_days: "90".into(),
    };
    let page = page(&state, &chrome, typed, None, FieldErrors::default()).await?;
    chrome.ok(&page)
}

/// `POST /tokens`: creates a token and shows it, once, in this answer.
pub async fn create(
    state: web::Data<AppState>,
    chrome: Chrome,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("tokens");
    let typed = Typed {
        name: form.text("name"),
        role: form.text("role"),
        expires_in_days: form.text("expires_in_days"),
    };
    let mut errors = FieldErrors::default();
    let role = Role::parse(&typed.role).unwrap_or_else(|| {
        errors.add("role", "pick a role");
        Role::Viewer
    });
    let expires_in_days = match typed.expires_in_days.as_str() {
        "" => None,
        days => days.parse::<u32>().map(Some).unwrap_or_else(|_| {
            errors.add(
                "expires_in_days",
                "must be a number of days, or empty for never",
            );
            None
        }),
    };
    if errors.is_empty() {
        let request = NewToken {
            name: typed.name.clone(),
            role,
            expires_in_days,
        };
        match tokens::create(&state, chrome.origin.clone(), chrome.principal()?, request).await {
            Ok((row, secret)) => {
                let blank = Typed {
                    name: String::new(),
                    role: chrome.role_name().into(),
                    expires_in_days: "90".into(),
                };
                let shown = Some((row.name, secret.expose()));
                let page = page(&state, &chrome, blank, shown, FieldErrors::default()).await?;
                return chrome.render(StatusCode::CREATED, &page);
            }
            Err(e) => errors = FieldErrors::from_service(e, &[])?,
        }
    }
    let page = page(&state, &chrome, typed, None, errors).await?;
    chrome.invalid(&page)
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let done = tokens::revoke(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
    )
    .await;
    let flash = match done {
        Ok(()) => Flash::success("Token revoked."),
        Err(ServiceError::Conflict { message, .. }) => Flash::info(message),
        Err(e) => return Err(e.into()),
    };
    Ok(chrome.redirect("/tokens", flash))
}
