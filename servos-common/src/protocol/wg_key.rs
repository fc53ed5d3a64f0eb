//! A WireGuard public key: 32 bytes, standard base64 (44 characters) in JSON.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of a WireGuard key in bytes.
pub const WG_KEY_LEN: usize = 32;

/// Why a text is not a WireGuard public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WgKeyError {
    /// Not standard, padded base64.
    #[error("a WireGuard key must be standard base64")]
    NotBase64,
    /// Decodes to the wrong number of bytes.
    #[error("a WireGuard key must be {WG_KEY_LEN} bytes, this one is {0}")]
    WrongLength(usize),
    /// All zero: the public key of no private key anyone should use.
    #[error("a WireGuard key must not be all zero")]
    AllZero,
}

/// A node's WireGuard public key. Public, so `Debug` and `Display` show it (as base64).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WgPublicKey([u8; WG_KEY_LEN]);

impl WgPublicKey {
    /// Wraps raw key bytes, refusing the all-zero key.
    pub fn from_bytes(bytes: [u8; WG_KEY_LEN]) -> Result<Self, WgKeyError> {
        if bytes == [0; WG_KEY_LEN] {
            return Err(WgKeyError::AllZero);
        }
        Ok(Self(bytes))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; WG_KEY_LEN] {
        &self.0
    }

    /// Standard base64, as `wg` prints keys.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl FromStr for WgPublicKey {
    type Err = WgKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = STANDARD.decode(text).map_err(|_| WgKeyError::NotBase64)?;
        let bytes: [u8; WG_KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| WgKeyError::WrongLength(bytes.len()))?;
        Self::from_bytes(bytes)
    }
}

impl fmt::Display for WgPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for WgPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WgPublicKey({})", self.to_base64())
    }
}

impl Serialize for WgPublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for WgPublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

    #[test]
    fn base64_round_trips() {
        let key: WgPublicKey = KEY.parse().expect("valid key");
        assert_eq!(key.to_string(), KEY);
        let json = serde_json::to_string(&key).expect("json");
        assert_eq!(json, format!("\"{KEY}\""));
        assert_eq!(
            serde_json::from_str::<WgPublicKey>(&json).expect("json"),
            key
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            "not base64!".parse::<WgPublicKey>(),
            Err(WgKeyError::NotBase64)
        );
        assert_eq!(
            STANDARD.encode([1u8; 31]).parse::<WgPublicKey>(),
            Err(WgKeyError::WrongLength(31))
        );
        assert_eq!(
            STANDARD.encode([0u8; 32]).parse::<WgPublicKey>(),
            Err(WgKeyError::AllZero)
        );
        // Unpadded base64 is not the form WireGuard tools print.
        assert!(KEY.trim_end_matches('=').parse::<WgPublicKey>().is_err());
        assert!(serde_json::from_str::<WgPublicKey>("\"AAAA\"").is_err());
    }
}
