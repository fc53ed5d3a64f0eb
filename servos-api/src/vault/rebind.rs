//! Binding every stored environment value to what it is. Values sealed
//! before identities were bound only to their row's id, so a row deleted
//! and inserted again under another name, version or set still opened.
//! At start, each value that does not open for its set, version and name
//! but does at its old binding is sealed again for its identity (batches,
//! one transaction each; safe to interrupt: a re-run skips what is done).
//! The old binding is never accepted anywhere else.

use servos_common::envelope::Aad;

use crate::store::sealed::{self, SealedCell};
use crate::store::{tx, DbConn};

use super::keyring::Keyring;
use super::rotation::BATCH;
use super::VaultError;

/// What a pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rebound {
    /// Values sealed again for their identity.
    pub rebound: u64,
    /// Row ids of values that open neither way (left as they are; each
    /// fails alone when read, and a new value repairs it).
    pub failed: Vec<String>,
}

/// Seals every environment value still bound to its row id again for its
/// identity.
pub fn env_values(conn: &mut DbConn, keyring: &Keyring) -> Result<Rebound, VaultError> {
    let mut report = Rebound::default();
    let mut after = String::new();
    loop {
        let last = tx::write(conn, |conn| -> Result<Option<String>, VaultError> {
            let cells = sealed::env_value_cells(conn, &after, BATCH)?;
            for cell in &cells {
                rebind(conn, keyring, cell, &mut report)?;
            }
            Ok(cells.last().map(|c| c.row_id.clone()))
        })?;
        match last {
            Some(last) => after = last,
            None => return Ok(report),
        }
    }
}

fn rebind(
    conn: &mut DbConn,
    keyring: &Keyring,
    cell: &SealedCell,
    report: &mut Rebound,
) -> Result<(), VaultError> {
    let bound = Aad {
        table: sealed::ENV_VALUES.table,
        column: sealed::ENV_VALUES.column,
        identity: &cell.identity,
    };
    if keyring
        .open(conn, &bound, &cell.value, &cell.key_id)
        .is_ok()
    {
        return Ok(());
    }
    let legacy = Aad {
        identity: &cell.row_id,
        ..bound
    };
    match keyring.open(conn, &legacy, &cell.value, &cell.key_id) {
        Ok(plain) => {
            let sealed = keyring.seal(conn, &bound, plain.expose())?;
            (sealed::ENV_VALUES.replace)(conn, cell, &sealed.value, &sealed.key_id)?;
            report.rebound += 1;
        }
        Err(
            VaultError::Undecryptable(_)
            | VaultError::UnknownDataKey(_)
            | VaultError::Damaged { .. },
        ) => {
            tracing::error!(row = %cell.row_id, "an environment value opens neither for its identity nor at its old binding; left as it is");
            report.failed.push(cell.row_id.clone());
        }
        Err(e) => return Err(e),
    }
    Ok(())
}
