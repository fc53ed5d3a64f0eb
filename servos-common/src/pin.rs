//! A certificate's public-key pin: the SHA-256 of its SubjectPublicKeyInfo,
//! written `SHA256:<base64>` (as `curl --pinnedpubkey` and `openssl` give it).
//! The API computes the pin of its own certificate; the agent checks the
//! API's certificate against it.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const PREFIX: &str = "SHA256:";

/// Why a pin was refused or did not match. `Debug` is the message too:
/// rustls shows a verifier's error through `Debug`.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Not `SHA256:` followed by the base64 of 32 bytes.
    #[error("a pin is SHA256:<base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo>")]
    Malformed,
    /// The certificate cannot be parsed.
    #[error("the server's certificate cannot be parsed")]
    BadCertificate,
    /// The server's key is another one.
    #[error("the server's certificate key is {found}, not the pinned {expected}")]
    Mismatch {
        /// The pin given to `join`.
        expected: SpkiPin,
        /// The server's.
        found: SpkiPin,
    },
}

impl fmt::Debug for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// SHA-256 of a certificate's DER SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpkiPin([u8; 32]);

impl SpkiPin {
    /// The pin of a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Result<Self, PinError> {
        let der = rustls_pki_types::CertificateDer::from(der);
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| PinError::BadCertificate)?;
        let spki = cert.subject_public_key_info();
        let hash = digest::digest(&digest::SHA256, spki.as_ref());
        let bytes = hash
            .as_ref()
            .try_into()
            .map_err(|_| PinError::BadCertificate)?;
        Ok(Self(bytes))
    }
}

impl FromStr for SpkiPin {
    type Err = PinError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded = text.strip_prefix(PREFIX).ok_or(PinError::Malformed)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| PinError::Malformed)?;
        Ok(Self(bytes.try_into().map_err(|_| PinError::Malformed)?))
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

impl Serialize for SpkiPin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpkiPin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_print_in_the_documented_form() {
        let text = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let pin: SpkiPin = text.parse().expect("pin");
        assert_eq!(pin.to_string(), text);
        assert_eq!("sha256:abc".parse::<SpkiPin>(), Err(PinError::Malformed));
        assert_eq!(
            "SHA256:c2hvcnQ=".parse::<SpkiPin>(),
            Err(PinError::Malformed)
        );
        assert_eq!(
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".parse::<SpkiPin>(),
            Err(PinError::Malformed)
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(
            SpkiPin::of_certificate(&[1, 2, 3]),
            Err(PinError::BadCertificate)
        );
    }
}
