//! How the agent trusts the API's certificate: a pinned public key or a CA file, both through rustls.

mod pin;

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use serde::{Deserialize, Serialize};

pub use pin::{PinError, PinnedVerifier, SpkiPin};

/// What `join` was told to trust, kept in `settings.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TrustAnchor {
    /// The SHA-256 of the API certificate's SubjectPublicKeyInfo.
    Pin {
        /// `SHA256:<base64>`.
        pin: SpkiPin,
    },
    /// CA certificates (PEM) the API's certificate must chain to, with its name checked.
    Ca {
        /// The PEM text of the CA file given to `join`.
        pem: String,
    },
}

/// Why no TLS configuration could be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file holds no usable certificate.
    #[error("the CA file holds no PEM certificate")]
    NoCaCertificate,
    /// The CA file is not PEM.
    #[error("the CA file is not PEM: {0}")]
    BadPem(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA certificates cannot make a verifier.
    #[error("CA certificates: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// The crypto provider of every connection (ring, as the rest of ServOS).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that trusts exactly `anchor`.
pub fn client_config(anchor: &TrustAnchor) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match anchor {
        TrustAnchor::Pin { pin } => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(*pin, provider)))
            .with_no_client_auth(),
        TrustAnchor::Ca { pem } => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|err| TlsError::BadPem(err.to_string()))?;
                roots.add(cert)?;
            }
            if roots.is_empty() {
                return Err(TlsError::NoCaCertificate);
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let anchor = TrustAnchor::Ca {
            pem: "nothing here".to_owned(),
        };
        assert!(matches!(
            client_config(&anchor),
            Err(TlsError::NoCaCertificate)
        ));
    }

    #[test]
    fn anchors_round_trip_through_settings_json() {
        let pin: SpkiPin = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
            .parse()
            .expect("pin");
        let anchor = TrustAnchor::Pin { pin };
        let json = serde_json::to_string(&anchor).expect("json");
        assert_eq!(
            json,
            r#"{"kind":"pin","pin":"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}"#
        );
        assert_eq!(
            serde_json::from_str::<TrustAnchor>(&json).expect("json"),
            anchor
        );
        assert!(client_config(&anchor).is_ok());
    }
}
