//! Offline commands: `audit verify`, `rotate-master-key`, `rotate-data-key`.

use std::process::ExitCode;

use anyhow::Context as _;
use servos_common::master_key::MASTER_KEY_VAR;

use crate::audit::verify::{self, Verdict};
use crate::config::{Config, Settings};
use crate::serve::{master_key_from, open_state};
use crate::store;
use crate::vault::rotation::{self, MasterRotation};

/// Environment variable carrying the new master key for `rotate-master-key`.
pub const NEW_MASTER_KEY_VAR: &str = "SERVOS_NEW_MASTER_KEY";

/// `servos-api audit verify`: exit 0 when the chain is intact, 1 otherwise.
pub fn audit_verify(settings: &Settings) -> anyhow::Result<ExitCode> {
    let state = open_state(settings)?;
    let mut conn = state.pool.get().context("database connection")?;
    let verdict =
        verify::verify(&mut conn, &state.audit_chain).context("reading the audit trail")?;
    println!("{verdict}");
    Ok(match verdict {
        Verdict::Intact { .. } => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// `servos-api rotate-master-key`: re-wraps the keyring from
/// `SERVOS_MASTER_KEY` to `SERVOS_NEW_MASTER_KEY` in one transaction.
pub fn rotate_master_key(settings: &Settings) -> anyhow::Result<ExitCode> {
    let old = master_key_from(MASTER_KEY_VAR)?;
    let new = master_key_from(NEW_MASTER_KEY_VAR)?;
    if old.envelope().id() == new.envelope().id() {
        anyhow::bail!("{NEW_MASTER_KEY_VAR} is the same key as {MASTER_KEY_VAR}");
    }
    let config = Config::from_settings(settings).map_err(anyhow::Error::msg)?;
    store::conn::migrate(&config.database)?;
    let pool = store::conn::pool(&config.database, 2)?;
    let mut conn = pool.get().context("database connection")?;
    match rotation::rotate_master_key(&mut conn, &old, &new)? {
        MasterRotation::Rotated { data_keys } => println!(
            "master key rotated: {data_keys} data keys re-wrapped under {}; start the API with {NEW_MASTER_KEY_VAR}'s value as {MASTER_KEY_VAR} (the old key no longer opens this database)",
            new.envelope().id()
        ),
        MasterRotation::AlreadyDone => println!(
            "already rotated: the database opens with the new master key {}; start the API with it",
            new.envelope().id()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `servos-api rotate-data-key`: adds a data key and re-encrypts every value
/// under it in batches; a re-run finishes an interrupted rotation.
pub fn rotate_data_key(settings: &Settings) -> anyhow::Result<ExitCode> {
    let state = open_state(settings)?;
    let mut conn = state.pool.get().context("database connection")?;
    let report = rotation::rotate_data_key(&mut conn, state.vault.keyring(), &state.audit_chain)?;
    println!(
        "{} data key rotation to {}: {} values re-encrypted, retired {}",
        if report.resumed {
            "finished the"
        } else {
            "completed a"
        },
        report.newest,
        report.reencrypted,
        if report.retired.is_empty() {
            "no keys".to_owned()
        } else {
            report.retired.join(", ")
        }
    );
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "servos-api: {} values could not be decrypted and keep their old data key: {}",
        report.failed.len(),
        report.failed.join("; ")
    );
    Ok(ExitCode::FAILURE)
}
