//! The keyring: data keys wrapped by the master key. Values are sealed
//! under the newest data key, whose id is stored next to each value, so a
//! master key rotation re-wraps only the data keys, and a data key rotation
//! re-encrypts values in resumable batches.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ring::rand::{SecureRandom, SystemRandom};
use servos_common::envelope::{Aad, EnvelopeError, EnvelopeKey};
use servos_common::master_key::MasterKey;
use servos_common::secret::SecretBytes;
use zeroize::Zeroizing;

use crate::store::data_keys::{self, DataKeyRow};
use crate::store::{self, tx, DbConn};

use super::VaultError;

/// Location of a wrapped data key, for its AAD.
fn aad(id: &str) -> Aad<'_> {
    Aad {
        table: "data_keys",
        column: "wrapped",
        identity: id,
    }
}

/// A value sealed for storage, with the id of the data key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Envelope text.
    pub value: String,
    /// Data key id, for the `*_key_id` column.
    pub key_id: String,
}

/// Unwrapped data keys, loaded on demand and cached.
pub struct Keyring {
    master: MasterKey,
    cache: RwLock<HashMap<String, Arc<EnvelopeKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("master", &self.master)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring unwrapping data keys with `master`.
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The master key.
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Creates a data key newer than every existing one and returns its id.
    pub fn create_data_key(&self, conn: &mut DbConn) -> Result<String, VaultError> {
        let generation = data_keys::newest(conn)?.map_or(1, |k| k.generation + 1);
        let id = format!("dk-{}", uuid::Uuid::new_v4().simple());
        let mut raw = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut *raw)
            .map_err(|_| EnvelopeError::Random)?;
        let master = self.master.envelope();
        data_keys::insert(
            conn,
            &DataKeyRow {
                wrapped: master.seal(&aad(&id), &*raw)?,
                master_key_id: master.id().to_owned(),
                id: id.clone(),
                generation,
                created_at: store::now(),
            },
        )?;
        Ok(id)
    }

    /// The data key `id`, unwrapped (cached after the first use).
    pub fn key(&self, conn: &mut DbConn, id: &str) -> Result<Arc<EnvelopeKey>, VaultError> {
        if let Some(key) = self.read_cache().get(id) {
            return Ok(key.clone());
        }
        let row =
            data_keys::find(conn, id)?.ok_or_else(|| VaultError::UnknownDataKey(id.to_owned()))?;
        let key = Arc::new(unwrap(&self.master, &row)?);
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), key.clone());
        Ok(key)
    }

    /// Seals `plaintext` at `aad` under the newest data key. Call inside a
    /// write transaction, so a data key rotation cannot retire that key
    /// between the choice and the commit.
    pub fn seal(
        &self,
        conn: &mut DbConn,
        aad: &Aad<'_>,
        plaintext: &[u8],
    ) -> Result<Sealed, VaultError> {
        tx::serialize_shared(conn, tx::LockPoint::Keyring)?;
        let newest = data_keys::newest(conn)?.ok_or(VaultError::NoDataKey)?;
        let key = self.key(conn, &newest.id)?;
        Ok(Sealed {
            value: key.seal(aad, plaintext)?,
            key_id: newest.id,
        })
    }

    /// Opens a value stored at `aad`, sealed by data key `key_id`.
    pub fn open(
        &self,
        conn: &mut DbConn,
        aad: &Aad<'_>,
        value: &str,
        key_id: &str,
    ) -> Result<SecretBytes, VaultError> {
        let key = self.key(conn, key_id)?;
        key.open(aad, value).map_err(VaultError::Undecryptable)
    }

    /// Forgets cached keys (after they were re-wrapped or retired).
    pub fn forget(&self, id: &str) {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<EnvelopeKey>>> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Unwraps a data key row with `master`.
pub fn unwrap(master: &MasterKey, row: &DataKeyRow) -> Result<EnvelopeKey, VaultError> {
    let raw = master
        .envelope()
        .open(&aad(&row.id), &row.wrapped)
        .map_err(|source| VaultError::Damaged {
            name: row.id.clone(),
            source,
        })?;
    let bytes: &[u8; 32] = raw.expose().try_into().map_err(|_| VaultError::Damaged {
        name: row.id.clone(),
        source: EnvelopeError::TooShort,
    })?;
    Ok(EnvelopeKey::new(row.id.clone(), bytes))
}

/// Re-wraps a data key row from `old` to `new` master key.
pub fn rewrap(
    conn: &mut DbConn,
    old: &MasterKey,
    new: &MasterKey,
    row: &DataKeyRow,
) -> Result<(), VaultError> {
    let raw = old
        .envelope()
        .open(&aad(&row.id), &row.wrapped)
        .map_err(|source| VaultError::Damaged {
            name: row.id.clone(),
            source,
        })?;
    let wrapped = new.envelope().seal(&aad(&row.id), raw.expose())?;
    data_keys::rewrap(conn, &row.id, &wrapped, new.envelope().id())?;
    Ok(())
}
