//! Environment sets: named, versioned variables for deploys. Every change
//! makes a new immutable version (a deploy records the version it used, and
//! a rollback can use an older one). Names and values are validated by the
//! env-file rules, so no value can inject a second variable.

use std::collections::BTreeMap;

use servos_common::env_file;
use servos_common::secret::SecretText;

use crate::accounts::principal::Principal;
use crate::app::AppState;
use crate::audit::{AuditEvent, Origin};
use crate::http::error::ApiError;
use crate::store::env_sets::{self, EnvSetRow, EnvValueRow, EnvVersionRow};
use crate::store::{self, DbConn};
use crate::vault::keyring::Keyring;

use super::validate;

const TABLE: &str = "env_values";
/// Most variables in one set.
const MAX_VARS: usize = 500;

/// A change: variables to set (added or replaced) and names to remove.
#[derive(Debug, Default)]
pub struct EnvChange {
    /// Variables to add or replace.
    pub set: BTreeMap<String, SecretText>,
    /// Names to remove.
    pub unset: Vec<String>,
}

/// A set with the names of its current variables.
#[derive(Debug)]
pub struct EnvSetSummary {
    /// The set.
    pub set: EnvSetRow,
    /// Names in the current version.
    pub names: Vec<String>,
}

fn check(vars: &BTreeMap<String, SecretText>) -> Result<(), ApiError> {
    if vars.len() > MAX_VARS {
        return Err(ApiError::invalid(
            "set",
            format!("at most {MAX_VARS} variables"),
        ));
    }
    for (name, value) in vars {
        env_file::validate_name(name).map_err(|e| ApiError::invalid("set", e.to_string()))?;
        env_file::validate_value(name, value.expose())
            .map_err(|e| ApiError::invalid("set", e.to_string()))?;
    }
    Ok(())
}

/// Writes `vars` as version `version` of `set_id`, each value sealed in its own row.
fn write_version(
    conn: &mut DbConn,
    keyring: &Keyring,
    set_id: &str,
    version: i64,
    vars: &BTreeMap<String, SecretText>,
) -> Result<(), ApiError> {
    let version_row = EnvVersionRow {
        id: uuid::Uuid::new_v4().to_string(),
        env_set_id: set_id.to_owned(),
        version,
        created_at: store::now(),
    };
    env_sets::insert_version(conn, &version_row)?;
    for (name, value) in vars {
        let id = uuid::Uuid::new_v4().to_string();
        let sealed = super::seal(
            conn,
            keyring,
            TABLE,
            "value",
            &id,
            value.expose().as_bytes(),
        )?;
        env_sets::insert_value(
            conn,
            &EnvValueRow {
                id,
                env_version_id: version_row.id.clone(),
                name: name.clone(),
                value: sealed.value,
                value_key_id: sealed.key_id,
            },
        )?;
    }
    Ok(())
}

/// Opens every value of one version.
pub fn open_version(
    conn: &mut DbConn,
    keyring: &Keyring,
    set_id: &str,
    version: i64,
) -> Result<BTreeMap<String, SecretText>, ApiError> {
    let mut vars = BTreeMap::new();
    for row in env_sets::values(conn, set_id, version)? {
        let plain = super::open(
            conn,
            keyring,
            TABLE,
            "value",
            &row.id,
            &row.value,
            &row.value_key_id,
        )?;
        vars.insert(row.name, super::text(plain)?);
    }
    Ok(vars)
}

/// Creates a set with its first version.
pub async fn create(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    name: &str,
    vars: BTreeMap<String, SecretText>,
) -> Result<EnvSetSummary, ApiError> {
    let name = validate::name(name)?;
    check(&vars)?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            if env_sets::name_taken(conn, &name)? {
                return Err(ApiError::conflict(
                    "an environment set with this name exists",
                ));
            }
            let now = store::now();
            let set = EnvSetRow {
                id: uuid::Uuid::new_v4().to_string(),
                name,
                current_version: 1,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            env_sets::insert_set(conn, &set)?;
            write_version(conn, vault.keyring(), &set.id, 1, &vars)?;
            let event = AuditEvent::on(admin.actor(), "env_set.created", "env_set", &set.id)
                .with_fields(vec!["name", "vars"]);
            let names = vars.into_keys().collect();
            Ok((EnvSetSummary { set, names }, event))
        })
        .await
}

/// Applies a change as a new version.
pub async fn update(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
    change: EnvChange,
) -> Result<EnvSetSummary, ApiError> {
    check(&change.set)?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            let set = env_sets::find_live(conn, &id)?.ok_or(ApiError::NotFound)?;
            let mut vars = open_version(conn, vault.keyring(), &set.id, set.current_version)?;
            for name in &change.unset {
                if vars.remove(name).is_none() {
                    return Err(ApiError::invalid(
                        "unset",
                        format!("{name} is not in this set"),
                    ));
                }
            }
            vars.extend(change.set);
            check(&vars)?;
            let version = set.current_version + 1;
            write_version(conn, vault.keyring(), &set.id, version, &vars)?;
            env_sets::set_current_version(conn, &set.id, version, store::now())?;
            let set = env_sets::find_live(conn, &id)?.ok_or(ApiError::NotFound)?;
            let event = AuditEvent::on(admin.actor(), "env_set.updated", "env_set", &id)
                .with_fields(vec!["vars"]);
            Ok((
                EnvSetSummary {
                    set,
                    names: vars.into_keys().collect(),
                },
                event,
            ))
        })
        .await
}

/// Every live set with its current names.
pub async fn list(state: &AppState) -> Result<Vec<EnvSetRow>, ApiError> {
    state.db(|conn| Ok(env_sets::list_live(conn)?)).await
}

/// One set with its current names (no values).
pub async fn get(state: &AppState, id: String) -> Result<EnvSetSummary, ApiError> {
    state
        .db(move |conn| {
            let set = env_sets::find_live(conn, &id)?.ok_or(ApiError::NotFound)?;
            let names = env_sets::values(conn, &id, set.current_version)?
                .into_iter()
                .map(|v| v.name)
                .collect();
            Ok(EnvSetSummary { set, names })
        })
        .await
}

/// Every version of a set with its variable names, newest first.
pub async fn versions(
    state: &AppState,
    id: String,
) -> Result<Vec<(EnvVersionRow, Vec<String>)>, ApiError> {
    state
        .db(move |conn| {
            env_sets::find_live(conn, &id)?.ok_or(ApiError::NotFound)?;
            let names = env_sets::names(conn, &id)?;
            Ok(env_sets::versions(conn, &id)?
                .into_iter()
                .map(|v| {
                    let of_version = names
                        .iter()
                        .filter(|(n, _)| *n == v.version)
                        .map(|(_, name)| name.clone())
                        .collect();
                    (v, of_version)
                })
                .collect())
        })
        .await
}

/// Returns one variable's current value, and records that it was shown.
pub async fn reveal(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
    name: String,
) -> Result<SecretText, ApiError> {
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            let set = env_sets::find_live(conn, &id)?.ok_or(ApiError::NotFound)?;
            let row = env_sets::values(conn, &id, set.current_version)?
                .into_iter()
                .find(|v| v.name == name)
                .ok_or_else(|| {
                    ApiError::invalid("name", "no such variable in the current version")
                })?;
            let plain = super::open(
                conn,
                vault.keyring(),
                TABLE,
                "value",
                &row.id,
                &row.value,
                &row.value_key_id,
            )?;
            let event = AuditEvent::on(admin.actor(), "env_set.revealed", "env_set", &id)
                .with_fields(vec!["vars"]);
            Ok((super::text(plain)?, event))
        })
        .await
}

/// Deletes a set (soft); its versions stay for the deployments that used them.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
) -> Result<(), ApiError> {
    state
        .soft_delete(
            origin,
            admin.actor(),
            ("env_set", "env_set.deleted"),
            env_sets::soft_delete,
            id,
        )
        .await
}
