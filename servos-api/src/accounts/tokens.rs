//! API tokens: created (shown once), listed, revoked, and resolved from a
//! bearer header.

use chrono::Duration;
use servos_common::secret::SecretText;
use servos_common::token::{self, API_TOKEN_PREFIX};

use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::api_tokens::{self, ApiTokenRow};
use crate::store::errors::skip_if_storage_full;
use crate::store::{self, DbConn};

use super::principal::{Credential, Principal};
use super::role::Role;

/// How often at most a token's `last_used_at` is written.
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// Longest accepted token name.
const MAX_NAME_CHARS: usize = 100;

/// What a caller asks for when creating a token.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Label.
    pub name: String,
    /// Role; at most the caller's.
    pub role: Role,
    /// Lifetime in days; `None` never expires.
    pub expires_in_days: Option<u32>,
}

/// Creates a token for the caller. Returns the row and the token itself,
/// which is never stored or shown again.
pub async fn create(
    state: &AppState,
    origin: Origin,
    principal: Principal,
    request: NewToken,
) -> Result<(ApiTokenRow, SecretText), ServiceError> {
    let name = request.name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    if request.role > principal.role {
        return Err(ServiceError::invalid(
            "role",
            "cannot be higher than the role of the caller",
        ));
    }
    if request.expires_in_days == Some(0) || request.expires_in_days > Some(3650) {
        return Err(ServiceError::invalid(
            "expires_in_days",
            "must be 1 to 3650",
        ));
    }
    let secret = token::generate(API_TOKEN_PREFIX).map_err(ServiceError::internal)?;
    let now = store::now();
    let row = ApiTokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: principal.user_id.clone(),
        name,
        token_hash: token::sha256_hex(secret.expose()),
        role: request.role.as_str().into(),
        created_at: now,
        expires_at: request
            .expires_in_days
            .map(|days| now + Duration::days(i64::from(days))),
        last_used_at: None,
        revoked_at: None,
    };
    let row = state
        .audited(origin, move |conn| {
            api_tokens::insert(conn, &row)?;
            let event = AuditEvent::on(
                principal.actor(),
                "api_token.created",
                TargetType::ApiToken,
                &row.id,
            )
            .with_fields(vec!["name", "role", "expires_at"]);
            Ok((row, event))
        })
        .await?;
    Ok((row, secret))
}

/// The caller's tokens; every user's for an admin.
pub async fn list(
    state: &AppState,
    principal: Principal,
) -> Result<Vec<ApiTokenRow>, ServiceError> {
    state
        .db(move |conn| {
            let owner = (principal.role != Role::Admin).then_some(&principal.user_id);
            Ok(api_tokens::list(conn, owner)?)
        })
        .await
}

/// Revokes a token of the caller's (any token, for an admin).
pub async fn revoke(
    state: &AppState,
    origin: Origin,
    principal: Principal,
    id: String,
) -> Result<(), ServiceError> {
    state
        .audited(origin, move |conn| {
            let token = api_tokens::find(conn, &id)?.ok_or(ServiceError::NotFound)?;
            if token.user_id != principal.user_id && principal.role != Role::Admin {
                return Err(ServiceError::NotFound);
            }
            if api_tokens::revoke(conn, &id, store::now())? == 0 {
                return Err(ServiceError::conflict("token is already revoked"));
            }
            let event = AuditEvent::on(
                principal.actor(),
                "api_token.revoked",
                TargetType::ApiToken,
                &id,
            )
            .with_fields(vec!["revoked_at"]);
            Ok(((), event))
        })
        .await
}

/// Resolves a bearer token. `None` for malformed, unknown, revoked or
/// expired tokens. The effective role is the lower of token and owner.
pub fn authenticate(conn: &mut DbConn, bearer: &str) -> crate::store::DbResult<Option<Principal>> {
    if !token::is_well_formed(API_TOKEN_PREFIX, bearer) {
        return Ok(None);
    }
    let Some((row, user)) = api_tokens::find_active_with_user(conn, &token::sha256_hex(bearer))?
    else {
        return Ok(None);
    };
    let now = store::now();
    if row.expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    if row.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        skip_if_storage_full(api_tokens::touch(conn, &row.id, now), "token last use")?;
    }
    let (Some(token_role), Some(user_role)) = (Role::parse(&row.role), Role::parse(&user.role))
    else {
        return Ok(None);
    };
    Ok(Some(Principal {
        user_id: user.id,
        email: user.email,
        role: token_role.min(user_role),
        via: Credential::ApiToken {
            id: row.id,
            name: row.name,
        },
    }))
}
