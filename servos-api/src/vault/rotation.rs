//! Key rotation, safe to kill at any moment.
//!
//! - Master key: one transaction re-wraps every data key and re-seals the
//!   system values under the new master key. Killed before the commit,
//!   nothing changed; after it, everything did.
//! - Data key: a new data key is added (one transaction), then values are
//!   re-encrypted in batches (one transaction each, `WHERE key_id <> newest`),
//!   then data keys no value uses any more are retired. A re-run after a
//!   kill finds the unfinished rotation (an older key still in the keyring)
//!   and completes it instead of starting another.

use servos_common::envelope::Aad;
use servos_common::master_key::MasterKey;

use crate::audit::chain::AuditChain;
use crate::audit::target::TargetType;
use crate::audit::{self, Actor, AuditEvent, Origin};
use crate::store::sealed::{SealedColumn, SEALED_COLUMNS};
use crate::store::system_keys;
use crate::store::{data_keys, tx, DbConn};

use super::keyring::{self, Keyring};
use super::{aad as system_aad, VaultError, AUDIT_CHAIN_KEY, KEY_CHECK};
use crate::failpoint;

/// Values re-encrypted per transaction.
pub const BATCH: i64 = 500;

/// What a master key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterRotation {
    /// The data keys were re-wrapped under the new key.
    Rotated {
        /// Number of data keys re-wrapped.
        data_keys: usize,
    },
    /// The database already opens with the new key only.
    AlreadyDone,
}

/// Re-wraps every data key and system value from `old` to `new`.
pub fn rotate_master_key(
    conn: &mut DbConn,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<MasterRotation, VaultError> {
    let check = system_keys::find(conn, KEY_CHECK)?.ok_or(VaultError::NoDataKey)?;
    if super::check(new, &check).is_ok() {
        return Ok(MasterRotation::AlreadyDone);
    }
    super::check(old, &check)?;
    tx::write(conn, |conn| {
        tx::serialize(conn, tx::LockPoint::Keyring)?;
        let keys = data_keys::all(conn)?;
        for row in &keys {
            keyring::rewrap(conn, old, new, row)?;
            failpoint::crash_point("rotate-master-key.rewrapped");
        }
        let mut chain = None;
        for name in [KEY_CHECK, AUDIT_CHAIN_KEY] {
            let row = system_keys::find(conn, name)?.ok_or(VaultError::NoDataKey)?;
            let plain = old
                .envelope()
                .open(&system_aad(name), &row.value)
                .map_err(|source| VaultError::Damaged {
                    name: name.to_owned(),
                    source,
                })?;
            let sealed = new.envelope().seal(&system_aad(name), plain.expose())?;
            system_keys::replace(conn, name, &sealed, new.envelope().id())?;
            if name == AUDIT_CHAIN_KEY {
                chain = Some(AuditChain::new(plain.expose()));
            }
        }
        let chain = chain.ok_or(VaultError::NoDataKey)?;
        audit::append(
            conn,
            &chain,
            &Origin::default(),
            AuditEvent::on(
                Actor::System,
                "master_key.rotated",
                TargetType::Keyring,
                new.envelope().id(),
            )
            .with_fields(vec!["wrapped", "master_key_id"]),
        )?;
        failpoint::crash_point("rotate-master-key.before-commit");
        Ok(MasterRotation::Rotated {
            data_keys: keys.len(),
        })
    })
}

/// What a data key rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataRotation {
    /// The data key every value is now sealed with.
    pub newest: String,
    /// True when this run continued an interrupted rotation.
    pub resumed: bool,
    /// Values re-encrypted by this run.
    pub reencrypted: u64,
    /// Data keys deleted because no value uses them any more.
    pub retired: Vec<String>,
    /// Values that could not be decrypted (`table.column` and row id); their
    /// data keys are kept.
    pub failed: Vec<String>,
}

/// Adds a data key (unless finishing an interrupted rotation), re-encrypts
/// every value under it, and retires the keys no value uses.
pub fn rotate_data_key(
    conn: &mut DbConn,
    keyring: &Keyring,
    chain: &AuditChain,
) -> Result<DataRotation, VaultError> {
    let (newest, resumed) = tx::write(conn, |conn| -> Result<_, VaultError> {
        tx::serialize(conn, tx::LockPoint::Keyring)?;
        let keys = data_keys::all(conn)?;
        if keys.len() > 1 {
            let newest = keys
                .last()
                .map(|k| k.id.clone())
                .ok_or(VaultError::NoDataKey)?;
            return Ok((newest, true));
        }
        let id = keyring.create_data_key(conn)?;
        audit::append(
            conn,
            chain,
            &Origin::default(),
            AuditEvent::on(Actor::System, "data_key.created", TargetType::DataKey, &id),
        )?;
        Ok((id, false))
    })?;
    let mut report = DataRotation {
        newest: newest.clone(),
        resumed,
        ..DataRotation::default()
    };
    for column in SEALED_COLUMNS {
        let mut after = String::new();
        loop {
            let batch = tx::write(conn, |conn| {
                reencrypt_batch(conn, keyring, column, &newest, &after)
            })?;
            report.reencrypted += batch.reencrypted;
            report.failed.extend(batch.failed);
            match batch.last_row {
                Some(last) => after = last,
                None => break,
            }
        }
    }
    report.retired = tx::write(conn, |conn| -> Result<_, VaultError> {
        tx::serialize(conn, tx::LockPoint::Keyring)?;
        let mut retired = Vec::new();
        for key in data_keys::all(conn)? {
            if key.id == newest {
                continue;
            }
            let mut uses = 0;
            for column in SEALED_COLUMNS {
                uses += (column.count_with_key)(conn, &key.id)?;
            }
            if uses == 0 {
                data_keys::delete(conn, &key.id)?;
                audit::append(
                    conn,
                    chain,
                    &Origin::default(),
                    AuditEvent::on(
                        Actor::System,
                        "data_key.retired",
                        TargetType::DataKey,
                        &key.id,
                    ),
                )?;
                retired.push(key.id);
            }
        }
        Ok(retired)
    })?;
    for id in &report.retired {
        keyring.forget(id);
    }
    Ok(report)
}

/// One batch of one column, in its own transaction.
#[derive(Debug, Default)]
struct Batch {
    reencrypted: u64,
    failed: Vec<String>,
    last_row: Option<String>,
}

fn reencrypt_batch(
    conn: &mut DbConn,
    keyring: &Keyring,
    column: &SealedColumn,
    newest: &str,
    after: &str,
) -> Result<Batch, VaultError> {
    let newest_key = keyring.key(conn, newest)?;
    let mut batch = Batch::default();
    for cell in (column.stale)(conn, newest, after, BATCH)? {
        let aad = Aad {
            table: column.table,
            column: column.column,
            identity: &cell.identity,
        };
        match keyring.open(conn, &aad, &cell.value, &cell.key_id) {
            Ok(plain) => {
                let sealed = newest_key.seal(&aad, plain.expose())?;
                (column.replace)(conn, &cell, &sealed, newest)?;
                batch.reencrypted += 1;
                failpoint::crash_point("rotate-data-key.row");
            }
            Err(
                VaultError::Undecryptable(_)
                | VaultError::UnknownDataKey(_)
                | VaultError::Damaged { .. },
            ) => {
                tracing::error!(table = column.table, column = column.column, row = %cell.row_id, "value cannot be decrypted; left as it is");
                batch.failed.push(format!(
                    "{}.{} {}",
                    column.table, column.column, cell.row_id
                ));
            }
            Err(e) => return Err(e),
        }
        batch.last_row = Some(cell.row_id);
    }
    Ok(batch)
}
