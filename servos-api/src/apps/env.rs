//! An application's environment: an environment set the application owns.
//! Each change (add, edit, remove variables) makes a new immutable version;
//! old versions stay, so a rollback redeploys with the values as they were.
//! Names and values are checked by the env-file rules and sealed like every
//! environment value (`credentials::env_sets`).

use servos_common::secret::SecretText;

use crate::accounts::principal::Principal;
use crate::audit::{AuditEvent, Origin};
use crate::credentials::env_sets::{self as env_service, EnvChange};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ids::AppId;
use crate::store::{apps, env_sets, DbConn};
use crate::vault::keyring::Keyring;

/// One variable's name and flag; its value is never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedVar {
    /// Name.
    pub name: String,
    /// Delivered as a file rather than in the environment.
    pub file_secret: bool,
}

/// The current environment of an application, without values.
#[derive(Debug, Clone)]
pub struct MaskedEnv {
    /// The application.
    pub app_id: AppId,
    /// Current version (0 before the first change).
    pub version: i64,
    /// Variables by name.
    pub vars: Vec<MaskedVar>,
}

/// One opened variable, for the deploy code only.
#[derive(Debug, Clone)]
pub struct OpenVar {
    /// Name.
    pub name: String,
    /// Value (zeroized when dropped).
    pub value: SecretText,
    /// Delivered as a file rather than in the environment.
    pub file_secret: bool,
}

/// The environment set of a live application.
fn env_set_of(conn: &mut DbConn, app_id: &AppId) -> Result<env_sets::EnvSetRow, ServiceError> {
    let (app, _) = apps::find_live(conn, app_id)?.ok_or(ServiceError::NotFound)?;
    env_sets::find(conn, &app.env_set_id)?
        .ok_or_else(|| ServiceError::internal(format_args!("application {app_id} has no env set")))
}

fn masked(
    conn: &mut DbConn,
    app_id: &AppId,
    set: &env_sets::EnvSetRow,
) -> Result<MaskedEnv, ServiceError> {
    let vars = env_sets::values(conn, &set.id, set.current_version)?
        .into_iter()
        .map(|row| MaskedVar {
            name: row.name,
            file_secret: row.file_secret,
        })
        .collect();
    Ok(MaskedEnv {
        app_id: app_id.clone(),
        version: set.current_version,
        vars,
    })
}

/// The current variable names and flags of a live application.
pub async fn show(state: &AppState, app_id: AppId) -> Result<MaskedEnv, ServiceError> {
    state
        .db(move |conn| {
            let set = env_set_of(conn, &app_id)?;
            masked(conn, &app_id, &set)
        })
        .await
}

/// Applies `change` as the next version of the application's environment.
/// Names given in `change.unset` are reported under the field `remove`.
pub async fn change(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
    change: EnvChange,
) -> Result<MaskedEnv, ServiceError> {
    if change.set.is_empty() && change.unset.is_empty() {
        return Err(ServiceError::invalid(
            "set",
            "gives no variable to set or remove",
        ));
    }
    env_service::check_change(&change, "remove")?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            let set = env_set_of(conn, &app_id)?;
            let (version, vars) =
                env_service::apply_change(conn, vault.keyring(), &set.id, change, "remove")?;
            let env = MaskedEnv {
                app_id: app_id.clone(),
                version,
                vars: vars
                    .into_iter()
                    .map(|(name, var)| MaskedVar {
                        name,
                        file_secret: var.file_secret,
                    })
                    .collect(),
            };
            let event = AuditEvent::on(caller.actor(), "app.env_changed", super::TARGET, &app_id)
                .with_fields(vec!["env"]);
            Ok((env, event))
        })
        .await
}

/// Returns the current value of variable `name` of live application
/// `app_id` to an admin, and records that it was shown.
pub async fn reveal(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    app_id: AppId,
    name: String,
) -> Result<SecretText, ServiceError> {
    let vault = state.vault.clone();
    let event = AuditEvent::on(admin.actor(), "app.env_revealed", super::TARGET, &app_id)
        .with_field(format!("env.{name}"));
    crate::credentials::audited_reveal(state, origin, event, "app.env_reveal_failed", move |conn| {
        let set = env_set_of(conn, &app_id)?;
        env_service::open_current(conn, vault.keyring(), &set.id, set.current_version, &name)
    })
    .await
}

/// Opens the environment of live application `app_id` at `version` (as a
/// deployment recorded it; 0 is the empty environment before the first
/// change), each value decrypted into a zeroizing [`SecretText`]. For the
/// deploy code: the values must go only into the env file sent to a server.
pub fn open(
    conn: &mut DbConn,
    keyring: &Keyring,
    app_id: &AppId,
    version: i64,
) -> Result<Vec<OpenVar>, ServiceError> {
    let set = env_set_of(conn, app_id)?;
    if !(0..=set.current_version).contains(&version) {
        return Err(ServiceError::invalid(
            "version",
            "this application's environment has no such version",
        ));
    }
    Ok(env_service::open_version(conn, keyring, &set.id, version)?
        .into_iter()
        .map(|(name, var)| OpenVar {
            name,
            value: var.value,
            file_secret: var.file_secret,
        })
        .collect())
}
