//! Environment sets: named, versioned variables for deploys. Every change
//! makes a new immutable version (a deploy records the version it used, and
//! a rollback can use an older one). Names and values are validated by the
//! env-file rules, so no value can inject a second variable.
//!
//! A set is either shared (named, managed under `/api/v1/env-sets`) or the
//! environment of one application (see `apps::env`); both change through
//! [`apply_change`], and each variable carries a `file_secret` flag.

use std::collections::BTreeMap;

use servos_common::env_file;
use servos_common::secret::SecretText;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::env_sets::{self, EnvSetRow, EnvValueRow, EnvVersionRow};
use crate::store::ids::AppId;
use crate::store::{self, DbConn};
use crate::vault::keyring::Keyring;

use super::validate;

const TABLE: &str = "env_values";
/// Most variables in one set.
const MAX_VARS: usize = 500;

/// One variable of a version: its value, and whether a deploy delivers it
/// to the container as a file rather than in its environment.
#[derive(Debug, Clone)]
pub struct EnvVar {
    /// The value.
    pub value: SecretText,
    /// Delivered as a file.
    pub file_secret: bool,
}

/// An edit of one variable; what it leaves out keeps its current setting,
/// so a client never needs to send back a value it did not change.
#[derive(Debug, Default)]
pub struct VarEdit {
    /// New value (required for a new variable).
    pub value: Option<SecretText>,
    /// New file flag (a new variable defaults to `false`).
    pub file_secret: Option<bool>,
}

/// A change: variables to set (added or edited) and names to remove.
#[derive(Debug, Default)]
pub struct EnvChange {
    /// Variables to add or edit.
    pub set: BTreeMap<String, VarEdit>,
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

fn check_name(field: &'static str, name: &str) -> Result<(), ServiceError> {
    env_file::validate_name(name).map_err(|e| ServiceError::invalid(field, e.to_string()))
}

fn check_value(field: &'static str, name: &str, value: &SecretText) -> Result<(), ServiceError> {
    env_file::validate_value(name, value.expose())
        .map_err(|e| ServiceError::invalid(field, e.to_string()))
}

fn check_count(field: &'static str, len: usize) -> Result<(), ServiceError> {
    if len > MAX_VARS {
        return Err(ServiceError::invalid(
            field,
            format!("at most {MAX_VARS} variables"),
        ));
    }
    Ok(())
}

/// Checks the names and values a change brings, before anything is opened.
/// Errors name the field and the variable, never the value.
pub fn check_change(change: &EnvChange, unset_field: &'static str) -> Result<(), ServiceError> {
    check_count("set", change.set.len())?;
    for (name, edit) in &change.set {
        check_name("set", name)?;
        if let Some(value) = &edit.value {
            check_value("set", name, value)?;
        }
    }
    for name in &change.unset {
        check_name(unset_field, name)?;
        if change.set.contains_key(name) {
            return Err(ServiceError::invalid(
                unset_field,
                format!("{name} is both set and removed"),
            ));
        }
    }
    Ok(())
}

/// Writes `vars` as version `version` of `set_id`, each value sealed in its own row.
fn write_version(
    conn: &mut DbConn,
    keyring: &Keyring,
    set_id: &str,
    version: i64,
    vars: &BTreeMap<String, EnvVar>,
) -> Result<(), ServiceError> {
    let version_row = EnvVersionRow {
        id: uuid::Uuid::new_v4().to_string(),
        env_set_id: set_id.to_owned(),
        version,
        created_at: store::now(),
    };
    env_sets::insert_version(conn, &version_row)?;
    for (name, var) in vars {
        let id = uuid::Uuid::new_v4().to_string();
        let sealed = super::seal(
            conn,
            keyring,
            TABLE,
            "value",
            &id,
            var.value.expose().as_bytes(),
        )?;
        env_sets::insert_value(
            conn,
            &EnvValueRow {
                id,
                env_version_id: version_row.id.clone(),
                name: name.clone(),
                value: sealed.value,
                value_key_id: sealed.key_id,
                file_secret: var.file_secret,
            },
        )?;
    }
    Ok(())
}

/// Opens one stored value.
fn open_value(
    conn: &mut DbConn,
    keyring: &Keyring,
    row: &EnvValueRow,
) -> Result<SecretText, ServiceError> {
    let plain = super::open(
        conn,
        keyring,
        TABLE,
        "value",
        &row.id,
        &row.value,
        &row.value_key_id,
    )?;
    super::text(plain)
}

/// Opens every value of one version (none for version 0, before the first).
pub fn open_version(
    conn: &mut DbConn,
    keyring: &Keyring,
    set_id: &str,
    version: i64,
) -> Result<BTreeMap<String, EnvVar>, ServiceError> {
    let mut vars = BTreeMap::new();
    for row in env_sets::values(conn, set_id, version)? {
        let var = EnvVar {
            value: open_value(conn, keyring, &row)?,
            file_secret: row.file_secret,
        };
        vars.insert(row.name, var);
    }
    Ok(vars)
}

/// Applies `change` to the current version of set `set_id` and stores the
/// result as the next version, which becomes current. Returns the new version's
/// number and variables. Call inside the write transaction of the change;
/// concurrent changes of one set take turns, none is lost.
pub fn apply_change(
    conn: &mut DbConn,
    keyring: &Keyring,
    set_id: &str,
    change: EnvChange,
    unset_field: &'static str,
) -> Result<(i64, BTreeMap<String, EnvVar>), ServiceError> {
    let version = env_sets::advance_version(conn, set_id, store::now())?;
    let mut vars = open_version(conn, keyring, set_id, version - 1)?;
    for name in &change.unset {
        if vars.remove(name).is_none() {
            return Err(ServiceError::invalid(
                unset_field,
                format!("{name} is not set"),
            ));
        }
    }
    for (name, edit) in change.set {
        match vars.get_mut(&name) {
            Some(var) => {
                if let Some(value) = edit.value {
                    var.value = value;
                }
                if let Some(file_secret) = edit.file_secret {
                    var.file_secret = file_secret;
                }
            }
            None => {
                let value = edit.value.ok_or_else(|| {
                    ServiceError::invalid("set", format!("{name} is new and needs a value"))
                })?;
                let file_secret = edit.file_secret.unwrap_or(false);
                vars.insert(name, EnvVar { value, file_secret });
            }
        }
    }
    check_count("set", vars.len())?;
    write_version(conn, keyring, set_id, version, &vars)?;
    Ok((version, vars))
}

/// Stores an empty set (version 0, no variables yet) that holds the
/// environment of application `app_id`.
pub fn create_for_app(conn: &mut DbConn, app_id: &AppId) -> Result<EnvSetRow, ServiceError> {
    let now = store::now();
    let set = EnvSetRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: app_id.to_string(),
        current_version: 0,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        scope: env_sets::APP.to_owned(),
    };
    env_sets::insert_set(conn, &set)?;
    Ok(set)
}

/// Creates a set with its first version.
pub async fn create(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    name: &str,
    vars: BTreeMap<String, SecretText>,
) -> Result<EnvSetSummary, ServiceError> {
    let name = validate::name(name)?;
    check_count("vars", vars.len())?;
    for (var, value) in &vars {
        check_name("vars", var)?;
        check_value("vars", var, value)?;
    }
    let vars: BTreeMap<String, EnvVar> = vars
        .into_iter()
        .map(|(name, value)| {
            (
                name,
                EnvVar {
                    value,
                    file_secret: false,
                },
            )
        })
        .collect();
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            if env_sets::name_taken(conn, &name)? {
                return Err(ServiceError::conflict_on(
                    "name",
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
                scope: env_sets::SHARED.to_owned(),
            };
            env_sets::insert_set(conn, &set)?;
            write_version(conn, vault.keyring(), &set.id, 1, &vars)?;
            let event = AuditEvent::on(
                admin.actor(),
                "env_set.created",
                TargetType::EnvSet,
                &set.id,
            )
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
) -> Result<EnvSetSummary, ServiceError> {
    check_change(&change, "unset")?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            let set = env_sets::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            let (_, vars) = apply_change(conn, vault.keyring(), &set.id, change, "unset")?;
            let set = env_sets::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            let event = AuditEvent::on(admin.actor(), "env_set.updated", TargetType::EnvSet, &id)
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
pub async fn list(state: &AppState) -> Result<Vec<EnvSetRow>, ServiceError> {
    state.db(|conn| Ok(env_sets::list_live(conn)?)).await
}

/// One set with its current names (no values).
pub async fn get(state: &AppState, id: String) -> Result<EnvSetSummary, ServiceError> {
    state
        .db(move |conn| {
            let set = env_sets::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
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
) -> Result<Vec<(EnvVersionRow, Vec<String>)>, ServiceError> {
    state
        .db(move |conn| {
            env_sets::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
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

/// Opens the current value of variable `name` of set `set_id` (for a
/// reveal; the caller audits it in the same transaction).
pub fn open_current(
    conn: &mut DbConn,
    keyring: &Keyring,
    set_id: &str,
    current_version: i64,
    name: &str,
) -> Result<SecretText, ServiceError> {
    let row = env_sets::values(conn, set_id, current_version)?
        .into_iter()
        .find(|v| v.name == name)
        .ok_or_else(|| ServiceError::invalid("name", "no such variable in the current version"))?;
    open_value(conn, keyring, &row)
}

/// Returns one variable's current value, and records that it was shown.
pub async fn reveal(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
    name: String,
) -> Result<SecretText, ServiceError> {
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            let set = env_sets::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            let value = open_current(conn, vault.keyring(), &id, set.current_version, &name)?;
            let event = AuditEvent::on(admin.actor(), "env_set.revealed", TargetType::EnvSet, &id)
                .with_fields(vec!["vars"]);
            Ok((value, event))
        })
        .await
}

/// Deletes a set (soft); its versions stay for the deployments that used them.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
) -> Result<(), ServiceError> {
    state
        .soft_delete(
            origin,
            admin.actor(),
            (TargetType::EnvSet, "env_set.deleted"),
            env_sets::soft_delete,
            id,
        )
        .await
}
