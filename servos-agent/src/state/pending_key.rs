//! The key files: `wg.key` and a pending `wg.key.next` that replaces it once the API has it.
//!
//! A new key is written beside the old one before the API hears of it, and
//! renamed over the old one only after the API confirmed it, so a crash at
//! any point leaves either the old key working or the new one ready to be
//! confirmed again (`rotate-key` resends a pending key instead of making
//! another; `run` promotes it when the API's config names it).

use std::fs;
use std::path::PathBuf;

use servos_common::protocol::WgPublicKey;

use super::files::{read_secret, write_private};
use super::StateError;
use crate::keys::PrivateKey;

/// The current and pending private key files.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    current: PathBuf,
    next: PathBuf,
}

impl KeyFiles {
    pub(super) fn new(current: PathBuf, next: PathBuf) -> Self {
        Self { current, next }
    }

    /// The key in use.
    pub fn current(&self) -> Result<PrivateKey, StateError> {
        read_key(&self.current)
    }

    /// The pending key, if one is waiting for the API.
    pub fn pending(&self) -> Result<Option<PrivateKey>, StateError> {
        if self.next.exists() {
            read_key(&self.next).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The pending key, or a new one written as pending.
    pub fn pending_or_new(&self) -> Result<PrivateKey, StateError> {
        if let Some(key) = self.pending()? {
            return Ok(key);
        }
        let key = PrivateKey::generate().map_err(|err| StateError::Damaged {
            path: self.next.clone(),
            reason: err.to_string(),
        })?;
        write_private(&self.next, key.to_base64().as_bytes())?;
        Ok(key)
    }

    /// Makes the pending key the current one (an atomic rename).
    pub fn promote(&self) -> Result<(), StateError> {
        fs::rename(&self.next, &self.current).map_err(|err| StateError::io(&self.next, err))
    }

    /// Promotes the pending key when `api_key` (what the API holds for this
    /// node) is its public key; true when it did.
    pub fn promote_if_confirmed(&self, api_key: &WgPublicKey) -> Result<bool, StateError> {
        match self.pending()? {
            Some(pending) if pending.public_key().ok().as_ref() == Some(api_key) => {
                self.promote()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn read_key(path: &std::path::Path) -> Result<PrivateKey, StateError> {
    let text = read_secret(path)?;
    PrivateKey::from_base64(&text).map_err(|err| StateError::Damaged {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::state::StateDir;

    #[test]
    fn a_pending_key_is_kept_until_confirmed_then_replaces_the_old() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = StateDir::new(dir.path()).keys();
        let old = PrivateKey::generate().expect("rng");
        write_private(&dir.path().join("wg.key"), old.to_base64().as_bytes()).expect("write");

        let pending = keys.pending_or_new().expect("pending");
        let again = keys.pending_or_new().expect("same pending");
        let new_public = pending.public_key().expect("pk");
        assert_eq!(
            again.public_key().expect("pk"),
            new_public,
            "a crash before the API answered resends the same key"
        );
        let mode = fs::metadata(dir.path().join("wg.key.next"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);

        let old_public = old.public_key().expect("pk");
        assert!(!keys.promote_if_confirmed(&old_public).expect("reconcile"));
        assert_eq!(
            keys.current().expect("current").public_key().expect("pk"),
            old_public
        );

        assert!(keys.promote_if_confirmed(&new_public).expect("reconcile"));
        assert_eq!(
            keys.current().expect("current").public_key().expect("pk"),
            new_public
        );
        assert!(keys.pending().expect("read").is_none());
    }
}
