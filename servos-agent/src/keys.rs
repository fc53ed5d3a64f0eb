//! The node's WireGuard private key: made on the node, kept 0600, never sent, logged or printed.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use servos_common::protocol::{WgPublicKey, WG_KEY_LEN};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Why a private key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The key file does not hold 32 bytes of standard base64 (the content is not repeated).
    #[error("the private key file does not hold a base64 WireGuard key")]
    Malformed,
    /// The key's public half is the all-zero key.
    #[error("the private key has a degenerate public key")]
    Degenerate,
}

/// A WireGuard private key. Zeroed on drop; `Debug` is redacted.
pub struct PrivateKey(StaticSecret);

impl PrivateKey {
    /// A new random key, clamped as `wg genkey` clamps.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; WG_KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| KeyError::Random)?;
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        Ok(Self(StaticSecret::from(*bytes)))
    }

    /// Reads the key file's form: standard base64 of the 32 bytes, surrounding whitespace ignored.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyError::Malformed)?,
        );
        let bytes: Zeroizing<[u8; WG_KEY_LEN]> = Zeroizing::new(
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::Malformed)?,
        );
        Ok(Self(StaticSecret::from(*bytes)))
    }

    /// The key file's form: base64 and a newline, in zeroizing memory.
    pub fn to_base64(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.0.to_bytes());
        let mut text = Zeroizing::new(STANDARD.encode(bytes.as_ref()));
        text.push('\n');
        text
    }

    /// The raw key, for the WireGuard implementation only.
    pub fn expose_bytes(&self) -> Zeroizing<[u8; WG_KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key derived from this key.
    pub fn public_key(&self) -> Result<WgPublicKey, KeyError> {
        WgPublicKey::from_bytes(PublicKey::from(&self.0).to_bytes())
            .map_err(|_| KeyError::Degenerate)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_file_form_and_stay_redacted() {
        let key = PrivateKey::generate().expect("rng");
        let text = key.to_base64();
        let back = PrivateKey::from_base64(&text).expect("parses");
        assert_eq!(
            back.public_key().expect("public"),
            key.public_key().expect("public")
        );
        let shown = format!("{key:?}");
        assert!(!shown.contains(text.trim()), "{shown}");
        assert_eq!(shown, "PrivateKey([REDACTED])");
    }

    #[test]
    fn generated_keys_are_clamped_and_distinct() {
        let a = PrivateKey::generate().expect("rng");
        let b = PrivateKey::generate().expect("rng");
        let bytes = a.expose_bytes();
        assert_eq!(bytes[0] & 7, 0);
        assert_eq!(bytes[31] & 0xc0, 0x40);
        assert_ne!(a.public_key().expect("pk"), b.public_key().expect("pk"));
    }

    #[test]
    fn the_public_key_matches_wireguards_derivation() {
        // The example key pair of wg(8)'s documentation style: a fixed private key and its public key.
        let private = PrivateKey::from_base64("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=")
            .expect("parses");
        assert_eq!(
            private.public_key().expect("pk").to_base64(),
            "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
        );
    }

    #[test]
    fn malformed_key_files_are_refused() {
        assert!(matches!(
            PrivateKey::from_base64("not base64"),
            Err(KeyError::Malformed)
        ));
        assert!(matches!(
            PrivateKey::from_base64(&STANDARD.encode([1u8; 16])),
            Err(KeyError::Malformed)
        ));
    }
}
