//! Encryption of stored secrets: the master key, the keyring of data keys
//! it wraps, and key rotation.
//!
//! At start the master key must open the database's key-check value; on the
//! first start that value, the audit chain key and the first data key are
//! created, sealed under the master key, in one transaction.

pub mod keyring;
pub mod rebind;
pub mod rotation;

use ring::rand::{SecureRandom, SystemRandom};
use servos_common::envelope::{Aad, EnvelopeError};
use servos_common::master_key::MasterKey;
use servos_common::secret::SecretBytes;
use zeroize::Zeroizing;

use crate::store::data_keys;
use crate::store::system_keys::{self, SystemKeyRow};
use crate::store::{self, tx, DbConn, DbError, StoreError};
use keyring::Keyring;

const KEY_CHECK: &str = "key_check";
const AUDIT_CHAIN_KEY: &str = "audit_chain_key";
const KEY_CHECK_PLAINTEXT: &[u8] = b"servos key check v1";

/// Why the vault could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key is valid but is not the one this database was made with.
    #[error(
        "this master key does not open this database: SERVOS_MASTER_KEY has id {presented_key_id}, the database needs the master key with id {stored_key_id}"
    )]
    WrongMasterKey {
        /// Id of the key the database expects.
        stored_key_id: String,
        /// Id of the key that was given.
        presented_key_id: String,
    },
    /// A sealed system value is damaged.
    #[error("sealed system value `{name}` cannot be read: {source}")]
    Damaged {
        /// Which value.
        name: String,
        /// What failed.
        source: EnvelopeError,
    },
    /// A value names a data key the keyring does not have.
    #[error("data key {0} is not in the keyring")]
    UnknownDataKey(String),
    /// The keyring is empty.
    #[error("the keyring has no data key")]
    NoDataKey,
    /// A stored value does not open (damaged, or moved from another row).
    #[error("stored value cannot be decrypted: {0}")]
    Undecryptable(EnvelopeError),
    /// Sealing failed (random number generator).
    #[error("cannot seal a system value: {0}")]
    Seal(#[from] EnvelopeError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbError> for VaultError {
    fn from(e: DbError) -> Self {
        Self::Store(StoreError::Query(e))
    }
}

fn aad(name: &str) -> Aad<'_> {
    Aad {
        table: "system_keys",
        column: "value",
        identity: name,
    }
}

/// Fails unless `master` opens the key-check value `row`.
fn check(master: &MasterKey, row: &SystemKeyRow) -> Result<(), VaultError> {
    let opened = master.envelope().open(&aad(KEY_CHECK), &row.value);
    if matches!(&opened, Ok(v) if v.expose() == KEY_CHECK_PLAINTEXT) {
        Ok(())
    } else {
        Err(VaultError::WrongMasterKey {
            stored_key_id: row.key_id.clone(),
            presented_key_id: master.envelope().id().to_owned(),
        })
    }
}

/// The keys the running API holds in memory, opened from the database.
#[derive(Debug)]
pub struct Vault {
    audit_chain_key: SecretBytes,
    keyring: Keyring,
}

impl Vault {
    /// Before migrations touch anything: refuses a master key that does not
    /// open an existing database. A database without the table yet is new.
    pub fn check_existing(conn: &mut DbConn, master: &MasterKey) -> Result<(), VaultError> {
        match system_keys::find(conn, KEY_CHECK) {
            Ok(Some(row)) => check(master, &row),
            Ok(None) | Err(_) => Ok(()),
        }
    }

    /// Checks that `master` opens this database and loads the system keys,
    /// creating them on the first start.
    pub fn open(conn: &mut DbConn, master: MasterKey) -> Result<Self, VaultError> {
        let keyring = Keyring::new(master);
        let master = keyring.master();
        let audit_chain_key = tx::write(conn, |conn| {
            let key = master.envelope();
            match system_keys::find(conn, KEY_CHECK)? {
                Some(row) => check(master, &row)?,
                None => {
                    let now = store::now();
                    system_keys::insert(
                        conn,
                        &SystemKeyRow {
                            name: KEY_CHECK.into(),
                            value: key.seal(&aad(KEY_CHECK), KEY_CHECK_PLAINTEXT)?,
                            key_id: key.id().into(),
                            created_at: now,
                        },
                    )?;
                    let mut fresh = Zeroizing::new([0u8; 32]);
                    SystemRandom::new()
                        .fill(&mut *fresh)
                        .map_err(|_| EnvelopeError::Random)?;
                    system_keys::insert(
                        conn,
                        &SystemKeyRow {
                            name: AUDIT_CHAIN_KEY.into(),
                            value: key.seal(&aad(AUDIT_CHAIN_KEY), &*fresh)?,
                            key_id: key.id().into(),
                            created_at: now,
                        },
                    )?;
                }
            }
            let row =
                system_keys::find(conn, AUDIT_CHAIN_KEY)?.ok_or_else(|| VaultError::Damaged {
                    name: AUDIT_CHAIN_KEY.into(),
                    source: EnvelopeError::TooShort,
                })?;
            let audit_chain_key =
                key.open(&aad(AUDIT_CHAIN_KEY), &row.value)
                    .map_err(|source| VaultError::Damaged {
                        name: AUDIT_CHAIN_KEY.into(),
                        source,
                    })?;
            if data_keys::newest(conn)?.is_none() {
                keyring.create_data_key(conn)?;
            }
            Ok::<_, VaultError>(audit_chain_key)
        })?;
        Ok(Self {
            audit_chain_key,
            keyring,
        })
    }

    /// The keyring, to seal and open stored secrets.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The key that chains audit entries.
    pub fn audit_chain_key(&self) -> &SecretBytes {
        &self.audit_chain_key
    }
}
