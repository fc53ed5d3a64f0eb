//! `/api/v1/users`: account management (admins).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use servos_common::secret::SecretText;

use crate::accounts::role::Role;
use crate::accounts::users::{self, UserChange};
use crate::audit::Origin;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Admin;
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;
use crate::store::ids::UserId;

use super::views::{self, UserView};

/// New account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Email (unique among live accounts, whatever the case).
    #[schema(schema_with = fields::email)]
    pub email: String,
    /// Initial password.
    #[schema(schema_with = fields::new_password)]
    pub password: SecretText,
    /// Role.
    pub role: Role,
}

/// Account change; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateUser {
    /// New role.
    pub role: Option<Role>,
    /// New password; ends every session of the account.
    #[schema(schema_with = fields::new_password)]
    pub password: Option<SecretText>,
}

/// Lists live accounts.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = [UserView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let rows = users::list(&state).await?;
    Ok(HttpResponse::Ok().json(views::all::<_, UserView>(rows)?))
}

/// Creates an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView),
    (status = 409, body = ErrorBody, description = "A live account has this email")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let CreateUser {
        email,
        password,
        role,
    } = body.0;
    let user = users::create(&state, origin, admin.0, &email, password, role).await?;
    Ok(HttpResponse::Created().json(UserView::try_from(user)?))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let user = users::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(UserView::try_from(user)?))
}

/// Changes an account's role and/or password.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = UpdateUser, responses((status = 200, body = UserView),
    (status = 409, body = ErrorBody, description = "It would leave no admin")),
    security(("session" = []), ("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<UserId>,
    body: StrictJson<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let UpdateUser { role, password } = body.0;
    let change = UserChange { role, password };
    let user = users::update(&state, origin, admin.0, id.into_inner(), change).await?;
    Ok(HttpResponse::Ok().json(UserView::try_from(user)?))
}

/// Deletes an account (soft delete); its sessions end and tokens are revoked.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deleted"),
    (status = 409, body = ErrorBody, description = "It is the caller's own account, or the last admin")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    users::delete(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
