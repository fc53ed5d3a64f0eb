//! AES-256-GCM envelope for values stored at rest.
//!
//! Stored form: `base64(nonce[12] || ciphertext || tag)`, with a fresh random
//! nonce per encryption. Every value is bound to what it is by associated
//! data ([`Aad`]: table, column, and the identity of what the value belongs
//! to) that the reader rebuilds from what it is reading, never from the
//! blob, so a ciphertext copied into another row, column, owner or version
//! does not open.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"servos-envelope-v1";

/// What a sealed value is; rebuilt by the reader from what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    /// Table holding the value.
    pub table: &'a str,
    /// Column holding the value.
    pub column: &'a str,
    /// The identity of what the value belongs to: the id of the credential
    /// or key it is part of, or, for a variable of a versioned set, the set,
    /// the version and the variable's name (never only a row id that a row
    /// re-inserted under another name or owner could keep).
    pub identity: &'a str,
}

impl Aad<'_> {
    /// Length-prefixed encoding, so no two different locations encode alike.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            AAD_DOMAIN.len() + 12 + self.table.len() + self.column.len() + self.identity.len(),
        );
        out.extend_from_slice(AAD_DOMAIN);
        for part in [self.table, self.column, self.identity] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// Why a value could not be sealed or opened. Never carries secret content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The stored text is not base64.
    #[error("stored value is not valid base64")]
    NotBase64,
    /// The decoded value is shorter than a nonce and a tag.
    #[error("stored value is too short to be a sealed value")]
    TooShort,
    /// Authentication failed: wrong key, wrong location, or tampered data.
    #[error("stored value does not open with this key at this location")]
    Unauthentic,
    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Random,
}

/// A 256-bit AES-GCM key with a stable, non-secret identifier.
pub struct EnvelopeKey {
    id: String,
    cipher: Aes256Gcm,
}

impl EnvelopeKey {
    /// Builds a key from raw bytes; `id` names it in the `key_id` columns.
    pub fn new(id: String, bytes: &[u8; 32]) -> Self {
        Self {
            id,
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }

    /// The identifier stored next to every value this key sealed.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plaintext` for the location `aad` with a fresh random nonce.
    pub fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Result<String, EnvelopeError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| EnvelopeError::Random)?;
        let aad_bytes = aad.encode();
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| EnvelopeError::Unauthentic)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(blob))
    }

    /// Decrypts a value stored at the location `aad`.
    pub fn open(&self, aad: &Aad<'_>, stored: &str) -> Result<SecretBytes, EnvelopeError> {
        let blob = Zeroizing::new(
            STANDARD
                .decode(stored.trim())
                .map_err(|_| EnvelopeError::NotBase64)?,
        );
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(EnvelopeError::TooShort);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let aad_bytes = aad.encode();
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad_bytes,
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| EnvelopeError::Unauthentic)
    }
}

impl fmt::Debug for EnvelopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Aad<'static> = Aad {
        table: "ssh_keys",
        column: "private_key",
        identity: "1",
    };

    fn key(byte: u8) -> EnvelopeKey {
        EnvelopeKey::new(format!("k{byte}"), &[byte; 32])
    }

    #[test]
    fn round_trip() {
        let k = key(1);
        let sealed = k.seal(&HERE, b"secret").expect("seal");
        assert_eq!(k.open(&HERE, &sealed).expect("open").expose(), b"secret");
    }

    #[test]
    fn two_encryptions_differ() {
        let k = key(1);
        let a = k.seal(&HERE, b"same").expect("seal");
        let b = k.seal(&HERE, b"same").expect("seal");
        assert_ne!(a, b);
    }

    #[test]
    fn moved_ciphertext_fails() {
        let k = key(1);
        let sealed = k.seal(&HERE, b"secret").expect("seal");
        for other in [
            Aad {
                identity: "2",
                ..HERE
            },
            Aad {
                column: "passphrase",
                ..HERE
            },
            Aad {
                table: "registries",
                ..HERE
            },
        ] {
            assert_eq!(k.open(&other, &sealed), Err(EnvelopeError::Unauthentic));
        }
    }

    #[test]
    fn aad_parts_cannot_be_shifted() {
        let a = Aad {
            table: "ab",
            column: "c",
            identity: "1",
        };
        let b = Aad {
            table: "a",
            column: "bc",
            identity: "1",
        };
        assert_ne!(a.encode(), b.encode());
    }

    #[test]
    fn every_flipped_bit_fails() {
        let k = key(1);
        let sealed = k.seal(&HERE, b"secret value").expect("seal");
        let raw = STANDARD.decode(&sealed).expect("base64");
        for byte in 0..raw.len() {
            for bit in 0..8 {
                let mut tampered = raw.clone();
                tampered[byte] ^= 1 << bit;
                let text = STANDARD.encode(&tampered);
                assert_eq!(k.open(&HERE, &text), Err(EnvelopeError::Unauthentic));
            }
        }
    }

    #[test]
    fn wrong_key_and_garbage_fail() {
        let sealed = key(1).seal(&HERE, b"secret").expect("seal");
        assert_eq!(key(2).open(&HERE, &sealed), Err(EnvelopeError::Unauthentic));
        assert_eq!(key(1).open(&HERE, "%%%"), Err(EnvelopeError::NotBase64));
        assert_eq!(key(1).open(&HERE, "AAAA"), Err(EnvelopeError::TooShort));
    }

    #[test]
    fn debug_redacts_key() {
        assert!(format!("{:?}", key(7)).contains("REDACTED"));
    }
}
