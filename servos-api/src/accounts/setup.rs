//! First run: the setup token and the first admin.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use servos_common::secret::SecretText;
use servos_common::token::{self, SETUP_TOKEN_PREFIX};
use subtle::ConstantTimeEq as _;

use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::users::UserRow;
use crate::store::{self, setup_token, tx, users, DbConn, StoreError};

use super::failures;
use super::role::Role;
use super::users::new_user;
use super::validate;

/// Name of the token file inside the data directory.
pub const TOKEN_FILE: &str = "setup_token";

/// Path of the token file.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// Why the setup token could not be prepared at start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token file could not be written or removed.
    #[error("cannot write {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The random number generator failed.
    #[error(transparent)]
    Random(#[from] token::RandomError),
}

impl From<crate::store::DbError> for SetupError {
    fn from(e: crate::store::DbError) -> Self {
        Self::Store(StoreError::Query(e))
    }
}

/// At start: when no admin exists, issues a fresh setup token (hash in the
/// database, the token in a 0600 file) and returns it to be announced;
/// otherwise removes any leftover token.
pub fn prepare(conn: &mut DbConn, data_dir: &Path) -> Result<Option<SecretText>, SetupError> {
    let path = token_path(data_dir);
    let token = tx::write(conn, |conn| -> Result<_, SetupError> {
        if users::count_live_admins(conn)? > 0 {
            setup_token::clear(conn)?;
            return Ok(None);
        }
        let token = token::generate(SETUP_TOKEN_PREFIX)?;
        setup_token::replace(conn, &token::sha256_hex(token.expose()), store::now())?;
        write_token_file(&path, &token)?;
        Ok(Some(token))
    })?;
    if token.is_none() {
        remove_token_file(&path)?;
    }
    Ok(token)
}

fn write_token_file(path: &Path, token: &SecretText) -> Result<(), SetupError> {
    let tmp = path.with_extension("tmp");
    let io = |source| SetupError::File {
        path: path.to_owned(),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(token.expose().as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn remove_token_file(path: &Path) -> Result<(), SetupError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SetupError::File {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// True once an admin exists: setup is done and answers 410 from then on.
pub async fn is_complete(state: &AppState) -> Result<bool, ServiceError> {
    state
        .db(|conn| Ok(users::count_live_admins(conn)? > 0))
        .await
}

/// Setup (`POST /api/v1/setup` and the setup page): checks the token in
/// constant time and creates the first admin; the token is single-use.
pub async fn complete(
    state: &AppState,
    origin: Origin,
    token: SecretText,
    email: &str,
    password: SecretText,
) -> Result<UserRow, ServiceError> {
    if let Some(ip) = &origin.client_ip {
        state.limits.auth_failures.check(ip)?;
    }
    let email = validate::email(email)?;
    validate::new_password(&password)?;
    let presented_hash = token::sha256_hex(token.expose());
    // Cheap refusal before spending a hash when setup is already done.
    if state.db(|conn| Ok(users::count_live_admins(conn)?)).await? > 0 {
        return Err(ServiceError::Gone);
    }
    let password_hash = state.hasher.hash(password).await?;
    let origin_for_failure = origin.clone();
    let user = state
        .audited(origin, move |conn| {
            if users::count_live_admins(conn)? > 0 {
                return Err(ServiceError::Gone);
            }
            let Some(stored) = setup_token::current_hash(conn)? else {
                return Err(ServiceError::Gone);
            };
            if !bool::from(stored.as_bytes().ct_eq(presented_hash.as_bytes())) {
                return Err(ServiceError::InvalidSetupToken);
            }
            if setup_token::consume(conn, &stored)? != 1 {
                return Err(ServiceError::Gone);
            }
            let user = new_user(email, password_hash, Role::Admin);
            users::insert(conn, &user)?;
            let event = AuditEvent::on(
                Actor::Anonymous,
                "setup.completed",
                TargetType::User,
                &user.id,
            )
            .with_fields(vec!["email", "role", "password"]);
            Ok((user, event))
        })
        .await;
    match &user {
        Err(ServiceError::InvalidSetupToken) => {
            failures::record(
                state,
                &origin_for_failure,
                AuditEvent {
                    actor: Actor::Anonymous,
                    action: "setup.rejected",
                    target_type: None,
                    target_id: None,
                    fields: Vec::new(),
                },
            )
            .await;
        }
        Ok(_) => {
            if let Err(e) = remove_token_file(&token_path(&state.config.data_dir)) {
                tracing::error!(error = %e, "setup done but the token file could not be removed");
            }
            tracing::info!("setup complete: first admin created; the setup token is used up");
        }
        Err(_) => {}
    }
    user
}
