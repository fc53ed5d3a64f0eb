//! Account management: admins create, change and delete accounts; everyone
//! changes their own password. Changing a password ends every session of
//! that account.

use servos_common::secret::SecretText;

use crate::app::AppState;
use crate::audit::{self, AuditEvent, Origin};
use crate::http::error::ApiError;
use crate::store::users::UserRow;
use crate::store::{self, api_tokens, sessions, tx, users, DbConn};

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
pub async fn list(state: &AppState) -> Result<Vec<UserRow>, ApiError> {
    state.db(|conn| Ok(users::list_live(conn)?)).await
}

/// One live account.
pub async fn get(state: &AppState, id: String) -> Result<UserRow, ApiError> {
    state
        .db(move |conn| users::find_live(conn, &id)?.ok_or(ApiError::NotFound))
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
) -> Result<UserRow, ApiError> {
    let email = validate::email(email)?;
    validate::new_password(&password)?;
    let password_hash = state.hasher.hash(password).await?;
    let chain = state.audit_chain.clone();
    state
        .db(move |conn| {
            tx::write(conn, |conn| {
                if users::find_live_by_email(conn, &email)?.is_some() {
                    return Err(ApiError::conflict("an account with this email exists"));
                }
                let now = store::now();
                let user = UserRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    email,
                    password_hash,
                    role: role.as_str().into(),
                    created_at: now,
                    updated_at: now,
                    deleted_at: None,
                };
                users::insert(conn, &user)?;
                audit::append(
                    conn,
                    &chain,
                    &origin,
                    AuditEvent::on(admin.actor(), "user.created", "user", &user.id)
                        .with_fields(vec!["email", "role", "password"]),
                )?;
                Ok(user)
            })
        })
        .await
}

/// Changes an account's role and/or password.
pub async fn update(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
    change: UserChange,
) -> Result<UserRow, ApiError> {
    if change.role.is_none() && change.password.is_none() {
        return Err(ApiError::invalid(
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
    let chain = state.audit_chain.clone();
    state
        .db(move |conn| {
            tx::write(conn, |conn| {
                let user = users::find_live(conn, &id)?.ok_or(ApiError::NotFound)?;
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
                audit::append(
                    conn,
                    &chain,
                    &origin,
                    AuditEvent::on(admin.actor(), "user.updated", "user", &id).with_fields(fields),
                )?;
                users::find_live(conn, &id)?.ok_or(ApiError::NotFound)
            })
        })
        .await
}

/// Soft-deletes an account, ending its sessions and revoking its tokens.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
) -> Result<(), ApiError> {
    if id == admin.user_id {
        return Err(ApiError::conflict("you cannot delete your own account"));
    }
    let chain = state.audit_chain.clone();
    state
        .db(move |conn| {
            tx::write(conn, |conn| {
                let user = users::find_live(conn, &id)?.ok_or(ApiError::NotFound)?;
                if user.role == Role::Admin.as_str() {
                    ensure_another_admin(conn)?;
                }
                let now = store::now();
                users::soft_delete(conn, &id, now)?;
                sessions::delete_for_user(conn, &id)?;
                api_tokens::revoke_for_user(conn, &id, now)?;
                audit::append(
                    conn,
                    &chain,
                    &origin,
                    AuditEvent::on(admin.actor(), "user.deleted", "user", &id)
                        .with_fields(vec!["deleted_at"]),
                )?;
                Ok(())
            })
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
) -> Result<(), ApiError> {
    validate::new_password(&new)?;
    let user = get(state, principal.user_id.clone()).await?;
    if !state
        .hasher
        .verify(current, Some(user.password_hash))
        .await?
    {
        return Err(ApiError::invalid(
            "current_password",
            "is not the current password",
        ));
    }
    let hash = state.hasher.hash(new).await?;
    let chain = state.audit_chain.clone();
    state
        .db(move |conn| {
            tx::write(conn, |conn| {
                users::set_password_hash(conn, &principal.user_id, &hash, store::now())?;
                sessions::delete_for_user(conn, &principal.user_id)?;
                audit::append(
                    conn,
                    &chain,
                    &origin,
                    AuditEvent::on(
                        principal.actor(),
                        "user.password_changed",
                        "user",
                        &principal.user_id,
                    )
                    .with_fields(vec!["password"]),
                )?;
                Ok(())
            })
        })
        .await
}

fn ensure_another_admin(conn: &mut DbConn) -> Result<(), ApiError> {
    if users::count_live_admins(conn)? <= 1 {
        return Err(ApiError::conflict(
            "this is the last admin; make another admin first",
        ));
    }
    Ok(())
}
