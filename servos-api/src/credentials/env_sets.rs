//! Environment sets: named, versioned variables for deploys. Every change
//! makes a new immutable version (a deploy records the version it used, and
//! a rollback can use an older one). Names and the values of plain
//! variables are validated by the env-file rules, so no value can inject a
//! second variable; a file secret's value never goes into the env file and
//! is kept byte for byte (line breaks included), only its length bounded.
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

/// A file secret's value: any text (it is written as a file, not on an
/// env-file line), as long as a plain value may be.
fn check_file_value(
    field: &'static str,
    name: &str,
    value: &SecretText,
) -> Result<(), ServiceError> {
    if value.expose().len() > env_file::MAX_VALUE_LEN {
        return Err(ServiceError::invalid(
            field,
            format!(
                "the file {name} is too long (at most {} bytes)",
                env_file::MAX_VALUE_LEN
            ),
        ));
    }
    Ok(())
}

/// A variable as a version would store it: a file's value by the file
/// rules, a plain one's by the env-file rules.
fn check_var(field: &'static str, name: &str, var: &EnvVar) -> Result<(), ServiceError> {
    if var.file_secret {
        check_file_value(field, name, &var.value)
    } else {
        check_value(field, name, &var.value)
    }
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
        match (&edit.value, edit.file_secret) {
            (Some(value), Some(false)) => check_value("set", name, value)?,
            // A file, or a variable whose flag the current version holds:
            // `apply_change` checks it again once that is known.
            (Some(value), _) => check_file_value("set", name, value)?,
            (None, _) => {}
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
        let sealed = super::seal(
            conn,
            keyring,
            TABLE,
            "value",
            &env_sets::identity(set_id, version, name),
            var.value.expose().as_bytes(),
        )?;
        env_sets::insert_value(
            conn,
            &EnvValueRow {
                id: uuid::Uuid::new_v4().to_string(),
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

/// Opens one stored value of version `version` of set `set_id`.
fn open_value(
    conn: &mut DbConn,
    keyring: &Keyring,
    (set_id, version): (&str, i64),
    row: &EnvValueRow,
) -> Result<SecretText, ServiceError> {
    let plain = super::open(
        conn,
        keyring,
        TABLE,
        "value",
        &env_sets::identity(set_id, version, &row.name),
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
            value: open_value(conn, keyring, (set_id, version), &row)?,
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
    let mut previous = open_previous(conn, keyring, set_id, version - 1)?;
    for name in &change.unset {
        if previous.remove(name).is_none() {
            return Err(ServiceError::invalid(
                unset_field,
                format!("{name} is not set"),
            ));
        }
    }
    for (name, edit) in change.set {
        let var = match (previous.remove(&name), edit.value) {
            (Some(Ok(mut var)), value) => {
                if let Some(value) = value {
                    var.value = value;
                }
                var.file_secret = edit.file_secret.unwrap_or(var.file_secret);
                var
            }
            // A damaged value is repaired by a new one.
            (Some(Err(Damaged { file_secret })), Some(value)) => EnvVar {
                value,
                file_secret: edit.file_secret.unwrap_or(file_secret),
            },
            (Some(Err(_)), None) => {
                return Err(ServiceError::invalid(
                    "set",
                    format!("{name} cannot be decrypted: give it a new value or remove it"),
                ))
            }
            (None, Some(value)) => EnvVar {
                value,
                file_secret: edit.file_secret.unwrap_or(false),
            },
            (None, None) => {
                return Err(ServiceError::invalid(
                    "set",
                    format!("{name} is new and needs a value"),
                ))
            }
        };
        check_var("set", &name, &var)?;
        previous.insert(name, Ok(var));
    }
    let damaged: Vec<&str> = previous
        .iter()
        .filter(|(_, var)| var.is_err())
        .map(|(name, _)| name.as_str())
        .collect();
    if !damaged.is_empty() {
        return Err(ServiceError::invalid(
            "set",
            format!(
                "{} cannot be decrypted: give each a new value or remove it (the rest is carried over)",
                damaged.join(", ")
            ),
        ));
    }
    let vars: BTreeMap<String, EnvVar> = previous
        .into_iter()
        .filter_map(|(name, var)| var.ok().map(|var| (name, var)))
        .collect();
    check_count("set", vars.len())?;
    write_version(conn, keyring, set_id, version, &vars)?;
    Ok((version, vars))
}

/// A variable whose value does not decrypt; only a new value or its removal
/// repairs it.
#[derive(Debug)]
struct Damaged {
    file_secret: bool,
}

/// Opens every value of one version a change builds on, each alone: one
/// that does not decrypt is [`Damaged`], not a failure of the whole change.
fn open_previous(
    conn: &mut DbConn,
    keyring: &Keyring,
    set_id: &str,
    version: i64,
) -> Result<BTreeMap<String, Result<EnvVar, Damaged>>, ServiceError> {
    let mut vars = BTreeMap::new();
    for row in env_sets::values(conn, set_id, version)? {
        let var = match open_value(conn, keyring, (set_id, version), &row) {
            Ok(value) => Ok(EnvVar {
                value,
                file_secret: row.file_secret,
            }),
            Err(ServiceError::Undecryptable) => Err(Damaged {
                file_secret: row.file_secret,
            }),
            Err(e) => return Err(e),
        };
        vars.insert(row.name, var);
    }
    Ok(vars)
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
    open_value(conn, keyring, (set_id, current_version), &row)
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
    let event = AuditEvent::on(admin.actor(), "env_set.revealed", TargetType::EnvSet, &id)
        .with_field(format!("vars.{name}"));
    super::audited_reveal(state, origin, event, "env_set.reveal_failed", move |conn| {
        let set = env_sets::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
        open_current(conn, vault.keyring(), &id, set.current_version, &name)
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
