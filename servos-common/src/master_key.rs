//! The master key: parsed from `SERVOS_MASTER_KEY`, never stored by ServOS.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;
use zeroize::Zeroizing;

use crate::envelope::EnvelopeKey;

/// Name of the environment variable that carries the master key.
pub const MASTER_KEY_VAR: &str = "SERVOS_MASTER_KEY";

/// Why a master key value was refused. Never carries the value itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterKeyError {
    /// The variable is unset or empty.
    #[error("{MASTER_KEY_VAR} is not set; generate one with `openssl rand -base64 32` and keep a backup")]
    Missing,
    /// The value is not standard base64.
    #[error("{MASTER_KEY_VAR} is not valid base64; generate one with `openssl rand -base64 32`")]
    NotBase64,
    /// The value decodes to the wrong number of bytes.
    #[error("{MASTER_KEY_VAR} decodes to {0} bytes; it must be exactly 32 bytes (`openssl rand -base64 32`)")]
    WrongLength(usize),
}

/// The operator's master key. It encrypts the database's own keys and the
/// key-check value; its `Debug` is redacted and its bytes are zeroed on drop.
#[derive(Debug)]
pub struct MasterKey(EnvelopeKey);

impl MasterKey {
    /// Parses the variable's value (surrounding whitespace ignored).
    pub fn parse(value: Option<&str>) -> Result<Self, MasterKeyError> {
        let text = value.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Err(MasterKeyError::Missing);
        }
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text)
                .map_err(|_| MasterKeyError::NotBase64)?,
        );
        let array: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| MasterKeyError::WrongLength(bytes.len()))?,
        );
        Ok(Self(EnvelopeKey::new(key_id(&array), &array)))
    }

    /// The envelope key to seal and open values with.
    pub fn envelope(&self) -> &EnvelopeKey {
        &self.0
    }
}

/// A short public identifier of a key: `mk-` and 16 hex digits of an HMAC of
/// a fixed label, so it identifies the key without revealing it.
fn key_id(bytes: &[u8; 32]) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, bytes),
        b"servos master key id v1",
    );
    format!("mk-{}", crate::hex::lower(&tag.as_ref()[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(len: usize) -> String {
        STANDARD.encode(vec![7u8; len])
    }

    #[test]
    fn refuses_bad_values() {
        assert_eq!(MasterKey::parse(None).err(), Some(MasterKeyError::Missing));
        assert_eq!(
            MasterKey::parse(Some("  ")).err(),
            Some(MasterKeyError::Missing)
        );
        assert_eq!(
            MasterKey::parse(Some("not base64!")).err(),
            Some(MasterKeyError::NotBase64)
        );
        assert_eq!(
            MasterKey::parse(Some(&b64(31))).err(),
            Some(MasterKeyError::WrongLength(31))
        );
        assert_eq!(
            MasterKey::parse(Some(&b64(33))).err(),
            Some(MasterKeyError::WrongLength(33))
        );
    }

    #[test]
    fn accepts_32_bytes_with_newline() {
        let key = MasterKey::parse(Some(&format!("{}\n", b64(32)))).expect("valid");
        assert!(key.envelope().id().starts_with("mk-"));
        assert_eq!(key.envelope().id().len(), 19);
    }

    #[test]
    fn messages_name_the_variable() {
        for err in [
            MasterKeyError::Missing,
            MasterKeyError::NotBase64,
            MasterKeyError::WrongLength(31),
        ] {
            assert!(err.to_string().contains(MASTER_KEY_VAR));
        }
    }
}
