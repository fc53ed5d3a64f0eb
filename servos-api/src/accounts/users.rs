//! Account management: admins create, change and delete accounts; everyone
//! changes their own password. Changing a password ends every session of
//! that account.

use servos_common::secret::SecretText;

use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ids::UserId;
use crate::store::users::UserRow;
use crate::store::{self, api_tokens, sessions, users, DbConn};

use super::principal::Principal;
use super::role::Role;
use super::validate;

/// A change to an account; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// New password.
    pub password: Option<SecretText>,
}

/// All live accounts.
pub async fn list(state: &AppState) -> Result<Vec<UserRow>, ServiceError> {
    state.db(|conn| Ok(users::list_live(conn)?)).await
}

/// One live account.
pub async fn get(state: &AppState, id: UserId) -> Result<UserRow, ServiceError> {
    state
        .db(move |conn| users::find_live(conn, &id)?.ok_or(ServiceError::NotFound))
        .await
}

/// Creates an account.
pub async fn create(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    email: &str,
    password: SecretText,
    role: Role,
) -> Result<UserRow, ServiceError> {
    let email = validate::email(email)?;
    validate::new_password(&password)?;
    let password_hash = state.hasher.hash(password).await?;
    state
        .audited(origin, move |conn| {
            if users::find_live_by_email(conn, &email)?.is_some() {
                return Err(ServiceError::conflict_on(
                    "email",
                    "an account with this email exists",
                ));
            }
            let user = new_user(email, password_hash, role);
            users::insert(conn, &user)?;
            let event = AuditEvent::on(admin.actor(), "user.created", TargetType::User, &user.id)
                .with_fields(vec!["email", "role", "password"]);
            Ok((user, event))
        })
        .await
}

/// Changes an account's role and/or password.
pub async fn update(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: UserId,
    change: UserChange,
) -> Result<UserRow, ServiceError> {
    if change.role.is_none() && change.password.is_none() {
        return Err(ServiceError::invalid(
            "role",
            "nothing to change: give role and/or password",
        ));
    }
    let password_hash = match change.password {
        Some(password) => {
            validate::new_password(&password)?;
            Some(state.hasher.hash(password).await?)
        }
        None => None,
    };
    state
        .audited(origin, move |conn| {
            let user = users::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            let now = store::now();
            let mut fields = Vec::new();
            if let Some(role) = change.role {
                if user.role == Role::Admin.as_str() && role != Role::Admin {
                    ensure_another_admin(conn)?;
                }
                users::set_role(conn, &id, role.as_str(), now)?;
                fields.push("role");
            }
            if let Some(hash) = &password_hash {
                users::set_password_hash(conn, &id, hash, now)?;
                sessions::delete_for_user(conn, &id)?;
                fields.push("password");
            }
            let event = AuditEvent::on(admin.actor(), "user.updated", TargetType::User, &id)
                .with_fields(fields);
            let user = users::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            Ok((user, event))
        })
        .await
}

/// Soft-deletes an account, ending its sessions and revoking its tokens.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: UserId,
) -> Result<(), ServiceError> {
    if id == admin.user_id {
        return Err(ServiceError::conflict("you cannot delete your own account"));
    }
    state
        .audited(origin, move |conn| {
            let user = users::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            if user.role == Role::Admin.as_str() {
                ensure_another_admin(conn)?;
            }
            let now = store::now();
            users::soft_delete(conn, &id, now)?;
            sessions::delete_for_user(conn, &id)?;
            api_tokens::revoke_for_user(conn, &id, now)?;
            let event = AuditEvent::on(admin.actor(), "user.deleted", TargetType::User, &id)
                .with_fields(vec!["deleted_at"]);
            Ok(((), event))
        })
        .await
}

/// Changes the caller's own password after checking the current one; ends
/// every session of the account, the caller's included.
pub async fn change_own_password(
    state: &AppState,
    origin: Origin,
    principal: Principal,
    current: SecretText,
    new: SecretText,
) -> Result<(), ServiceError> {
    validate::new_password(&new)?;
    let user = get(state, principal.user_id.clone()).await?;
    if !state
        .hasher
        .verify(current, Some(user.password_hash))
        .await?
    {
        return Err(ServiceError::invalid(
            "current_password",
            "is not the current password",
        ));
    }
    let hash = state.hasher.hash(new).await?;
    state
        .audited(origin, move |conn| {
            users::set_password_hash(conn, &principal.user_id, &hash, store::now())?;
            sessions::delete_for_user(conn, &principal.user_id)?;
            let event = AuditEvent::on(
                principal.actor(),
                "user.password_changed",
                TargetType::User,
                &principal.user_id,
            )
            .with_fields(vec!["password"]);
            Ok(((), event))
        })
        .await
}

/// A new live account row with a fresh id.
pub fn new_user(email: String, password_hash: String, role: Role) -> UserRow {
    let now = store::now();
    UserRow {
        id: UserId::random(),
        email,
        password_hash,
        role: role.as_str().into(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

fn ensure_another_admin(conn: &mut DbConn) -> Result<(), ServiceError> {
    if users::count_live_admins(conn)? <= 1 {
        return Err(ServiceError::conflict(
            "this is the last admin; make another admin first",
        ));
    }
    Ok(())
}
