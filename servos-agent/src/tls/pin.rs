//! The pinned-key verifier: accepts exactly the API whose certificate key
//! has the pin given at `join` (`servos_common::pin`), checked inside the
//! TLS handshake.
//!
//! Like `curl --pinnedpubkey`, the pin replaces the CA chain and the name
//! check: the certificate's key is the identity. The handshake signature is
//! still verified against that key, so only the holder of the pinned private
//! key completes a handshake, and nothing (no request, no token) is sent to
//! any other server.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
pub use servos_common::pin::{PinError, SpkiPin};

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
        let found = SpkiPin::of_certificate(end_entity.as_ref()).map_err(refused)?;
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
