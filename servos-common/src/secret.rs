//! Wrappers for secret values in memory: zeroized on drop, redacted in Debug.

use std::fmt;
use zeroize::Zeroizing;

/// Secret bytes (a decrypted value, a key). Zeroed when dropped; `Debug`
/// never prints the content.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps bytes, taking ownership so no unzeroized copy is left behind.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret content. Callers must not log or persist it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {}])", self.0.len())
    }
}

/// A secret string (password, token). Zeroed when dropped; `Debug` and
/// `Display` never print the content.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps a string, taking ownership.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret content. Callers must not log or persist it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl<'de> serde::Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Serializes a secret's content: only for the one message that must carry
/// it (`#[serde(serialize_with = "...")]`), never for logs or storage of
/// another's secret.
pub fn serialize_exposed<S: serde::Serializer>(
    secret: &SecretText,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let b = SecretBytes::new(b"hunter2".to_vec());
        let t = SecretText::new("hunter2".into());
        assert!(!format!("{b:?}").contains("hunter2"));
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
