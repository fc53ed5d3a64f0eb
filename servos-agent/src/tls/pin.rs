//! A pinned API certificate: the SHA-256 of its SubjectPublicKeyInfo, checked inside the TLS handshake.
//!
//! Like `curl --pinnedpubkey`, the pin replaces the CA chain and the name
//! check: the certificate's key is the identity. The handshake signature is
//! still verified against that key, so only the holder of the pinned private
//! key completes a handshake, and nothing (no request, no token) is sent to
//! any other server.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
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
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Result<Self, PinError> {
        let cert = webpki::EndEntityCert::try_from(cert).map_err(|_| PinError::BadCertificate)?;
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

/// Accepts exactly the server whose certificate key matches the pin, and
/// verifies its handshake signature with that key.
#[derive(Debug)]
pub struct PinnedVerifier {
    pin: SpkiPin,
    provider: Arc<CryptoProvider>,
}

impl PinnedVerifier {
    /// A verifier for `pin`, verifying signatures with `provider`'s algorithms.
    pub fn new(pin: SpkiPin, provider: Arc<CryptoProvider>) -> Self {
        Self { pin, provider }
    }
}

fn refused(err: PinError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(err))))
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let found = SpkiPin::of_certificate(end_entity).map_err(refused)?;
        if found == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(refused(PinError::Mismatch {
                expected: self.pin,
                found,
            }))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
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
        let cert = CertificateDer::from(vec![1, 2, 3]);
        assert_eq!(
            SpkiPin::of_certificate(&cert),
            Err(PinError::BadCertificate)
        );
    }
}
