//! Browser sessions: login, logout, and resolving a session cookie.

use chrono::{Duration, NaiveDateTime};
use servos_common::secret::SecretText;
use servos_common::token;

use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::errors::skip_if_storage_full;
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::store::{self, sessions, users, DbConn};

use super::failures;
use super::principal::{Credential, Principal};
use super::role::Role;
use super::validate;

/// Name of the session cookie.
pub const COOKIE: &str = "servos_session";

/// How often at most a session's `last_seen_at` is written.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Checks an email and password and opens a session (for the API and the
/// login page alike). Returns the cookie value (to send once) and the user.
pub async fn login(
    state: &AppState,
    origin: Origin,
    email: &str,
    password: SecretText,
) -> Result<(SecretText, UserRow), ServiceError> {
    let email = email.trim().to_lowercase();
    if let Some(ip) = &origin.client_ip {
        state.limits.auth_failures.check(ip)?;
        state.limits.login_per_ip.check_and_record(ip)?;
    }
    state.limits.login_failures_per_account.check(&email)?;
    let lookup = email.clone();
    let user = state
        .db(move |conn| Ok(users::find_live_by_email(conn, &lookup)?))
        .await?;
    let matches = state
        .hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let Some(user) = user.filter(|_| matches) else {
        state.limits.login_failures_per_account.record(&email);
        let target = validate::email(&email).unwrap_or_default();
        failures::record(
            state,
            &origin,
            AuditEvent {
                actor: Actor::Anonymous,
                action: "session.login_failed",
                target_type: Some(TargetType::Account),
                target_id: Some(target),
                fields: Vec::new(),
            },
        )
        .await;
        return Err(ServiceError::InvalidCredentials);
    };
    let cookie = token::generate("").map_err(ServiceError::internal)?;
    let id_hash = token::sha256_hex(cookie.expose());
    let max_age = state.config.session_max_age;
    let user = state
        .audited(origin, move |conn| {
            let now = store::now();
            sessions::insert(
                conn,
                &SessionRow {
                    id_hash,
                    user_id: user.id.clone(),
                    created_at: now,
                    last_seen_at: now,
                    expires_at: now + max_age,
                },
            )?;
            let actor = Actor::User {
                id: user.id.to_string(),
                email: user.email.clone(),
            };
            let event = AuditEvent::on(actor, "session.login", TargetType::User, &user.id);
            Ok((user, event))
        })
        .await?;
    Ok((cookie, user))
}

/// Ends the caller's session (a no-op for API tokens, which are revoked instead).
pub async fn logout(
    state: &AppState,
    origin: Origin,
    principal: Principal,
) -> Result<(), ServiceError> {
    let Credential::Session { id_hash } = principal.via.clone() else {
        return Err(ServiceError::invalid(
            "authorization",
            "API tokens have no session; revoke the token instead",
        ));
    };
    state
        .audited(origin, move |conn| {
            sessions::delete(conn, &id_hash)?;
            let event = AuditEvent::on(
                principal.actor(),
                "session.logout",
                TargetType::User,
                &principal.user_id,
            );
            Ok(((), event))
        })
        .await
}

/// Resolves a cookie value to a principal; expired or idle sessions are
/// deleted and yield `None`.
pub fn authenticate(
    conn: &mut DbConn,
    cookie: &str,
    idle_timeout: Duration,
) -> crate::store::DbResult<Option<Principal>> {
    let id_hash = token::sha256_hex(cookie);
    let Some((session, user)) = sessions::find_with_user(conn, &id_hash)? else {
        return Ok(None);
    };
    let now = store::now();
    if is_expired(&session, now, idle_timeout) {
        skip_if_storage_full(sessions::delete(conn, &id_hash), "expired session removal")?;
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        skip_if_storage_full(sessions::touch(conn, &id_hash, now), "session last use")?;
    }
    let Some(role) = Role::parse(&user.role) else {
        return Ok(None);
    };
    Ok(Some(Principal {
        user_id: user.id,
        email: user.email,
        role,
        via: Credential::Session { id_hash },
    }))
}

fn is_expired(session: &SessionRow, now: NaiveDateTime, idle_timeout: Duration) -> bool {
    session.expires_at <= now || session.last_seen_at + idle_timeout <= now
}
