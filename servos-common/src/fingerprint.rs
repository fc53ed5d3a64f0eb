//! An SSH host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:`
//! and the unpadded standard base64 of a 32-byte SHA-256 digest.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;

const PREFIX: &str = "SHA256:";
/// Unpadded base64 characters of 32 bytes.
const ENCODED_LEN: usize = 43;

/// The text is not a `SHA256:` fingerprint. Carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a host key fingerprint is SHA256: and 43 characters of unpadded base64")]
pub struct FingerprintError;

/// The SHA-256 fingerprint of an SSH host key; `Display` gives its canonical text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostKeyFingerprint([u8; 32]);

impl HostKeyFingerprint {
    /// Parses exactly `SHA256:` and 43 characters of unpadded standard base64
    /// whose unused low bits are zero, so every fingerprint has one text.
    pub fn parse(text: &str) -> Result<Self, FingerprintError> {
        let encoded = text
            .strip_prefix(PREFIX)
            .filter(|encoded| encoded.len() == ENCODED_LEN)
            .ok_or(FingerprintError)?;
        let mut digest = [0; 32];
        match STANDARD_NO_PAD.decode_slice(encoded, &mut digest) {
            Ok(32) => Ok(Self(digest)),
            _ => Err(FingerprintError),
        }
    }
}

impl FromStr for HostKeyFingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for HostKeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD_NO_PAD.encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ssh-keygen -lf` of an Ed25519 key.
    const PRINTED: &str = "SHA256:JeF3vU2NO0wmxCvaye2Tkd0j8DGmEFafQpm8JWa+rWs";

    #[test]
    fn what_ssh_keygen_prints_round_trips() {
        let fingerprint: HostKeyFingerprint = PRINTED.parse().expect("fingerprint");
        assert_eq!(fingerprint.to_string(), PRINTED);
        assert_eq!(HostKeyFingerprint::parse(PRINTED), Ok(fingerprint));
        let zero = format!("SHA256:{}", "A".repeat(43));
        assert_eq!(
            HostKeyFingerprint::parse(&zero).map(|f| f.to_string()),
            Ok(zero)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let body = &PRINTED[PREFIX.len()..];
        for bad in [
            String::new(),
            "SHA256:".to_owned(),
            body.to_owned(),
            format!("sha256:{body}"),
            format!("MD5:{body}"),
            format!("{PRINTED}="),
            format!("{PRINTED}A"),
            PRINTED[..PRINTED.len() - 1].to_owned(),
            format!(" {PRINTED}"),
            format!("{PRINTED}\n"),
            // URL-safe base64 is another alphabet.
            PRINTED.replace('+', "-"),
            // The last character carries two unused bits, which must be zero.
            format!("{}t", &PRINTED[..PRINTED.len() - 1]),
            format!("SHA256:A{}", "é".repeat(21)),
        ] {
            assert_eq!(
                HostKeyFingerprint::parse(&bad),
                Err(FingerprintError),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_error_names_the_form_not_the_input() {
        let secretish = "SHA256:not-a-fingerprint-at-all";
        let message = HostKeyFingerprint::parse(secretish)
            .expect_err("refused")
            .to_string();
        assert!(!message.contains("not-a-fingerprint"), "{message}");
        assert!(message.contains("SHA256:"), "{message}");
    }
}
