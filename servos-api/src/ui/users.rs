//! Account management (admins): list, create, change a role, delete.

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::accounts::role::Role;
use crate::accounts::users::{self, UserChange};
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::ids::UserId;

use super::chrome::Chrome;
use super::flash::Flash;
use super::form::{FieldErrors, Form};
use super::views;

const ROLES: [Role; 3] = [Role::Viewer, Role::Deployer, Role::Admin];

/// An account as a table row.
#[derive(Debug)]
struct UserItem {
    id: String,
    email: String,
    role: String,
    created: String,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    chrome: &'a Chrome,
    users: Vec<UserItem>,
    roles: [&'static str; 3],
    email: String,
    role: String,
    errors: FieldErrors,
}

fn parse_role(text: &str) -> Option<Role> {
    Role::parse(text)
}

async fn page<'a>(
    state: &AppState,
    chrome: &'a Chrome,
    email: String,
    role: String,
    errors: FieldErrors,
) -> Result<UsersPage<'a>, ApiError> {
    let me = chrome.principal()?.user_id;
    let users = users::list(state)
        .await?
        .into_iter()
        .map(|row| UserItem {
            is_me: row.id == me,
            created: views::when(row.created_at),
            id: row.id.to_string(),
            email: row.email,
            role: row.role,
        })
        .collect();
    Ok(UsersPage {
        chrome,
        users,
        roles: ROLES.map(Role::as_str),
        email,
        role,
        errors,
    })
}

/// `GET /users`.
pub async fn list(state: web::Data<AppState>, chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("users");
    let page = page(
        &state,
        &chrome,
        String::new(),
        "viewer".into(),
        FieldErrors::default(),
    )
    .await?;
    chrome.ok(&page)
}

/// `POST /users`: creates an account.
pub async fn create(
    state: web::Data<AppState>,
    chrome: Chrome,
    mut form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("users");
    let email = form.text("email");
    let role_text = form.text("role");
    let password = form.secret("password");
    let mut errors = FieldErrors::default();
    match parse_role(&role_text) {
        None => errors.add("role", "pick a role"),
        Some(role) => {
            let admin = chrome.principal()?;
            match users::create(&state, chrome.origin.clone(), admin, &email, password, role).await
            {
                Ok(user) => {
                    let text = format!("Account {} created as {}.", user.email, user.role);
                    return Ok(chrome.redirect("/users", Flash::success(text)));
                }
                Err(e) => errors = FieldErrors::from_service(e, &[])?,
            }
        }
    }
    let page = page(&state, &chrome, email, role_text, errors).await?;
    chrome.invalid(&page)
}

/// `POST /users/{id}/role`.
pub async fn change_role(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<UserId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let Some(role) = parse_role(&form.text("role")) else {
        return Ok(chrome.redirect("/users", Flash::error("Pick a role.")));
    };
    let change = UserChange {
        role: Some(role),
        password: None,
    };
    let done = users::update(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
        change,
    )
    .await;
    let flash = match done {
        Ok(user) => Flash::success(format!("{} is now {}.", user.email, user.role)),
        Err(ServiceError::Conflict { message, .. }) => Flash::error(message),
        Err(e) => return Err(e.into()),
    };
    Ok(chrome.redirect("/users", flash))
}

/// `POST /users/{id}/delete`: the account's sessions end and tokens are revoked.
pub async fn delete(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<UserId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let done = users::delete(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
    )
    .await;
    let flash = match done {
        Ok(()) => {
            Flash::success("Account deleted; its sessions ended and its API tokens were revoked.")
        }
        Err(ServiceError::Conflict { message, .. }) => Flash::error(message),
        Err(e) => return Err(e.into()),
    };
    Ok(chrome.redirect("/users", flash))
}
