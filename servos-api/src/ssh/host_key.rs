//! Host key pinning inside russh's server-key check. Any difference from
//! the pin is a mismatch, including a key of another algorithm (an RSA key
//! offered after an Ed25519 pin is a downgrade, not an "unknown" key). The
//! check runs before authentication, so a mismatched server never sees the
//! client's key.

use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::HashAlg;
use russh::keys::PublicKeyOrCertificate;

/// The fingerprint the server presented, readable after the handshake.
#[derive(Debug, Clone, Default)]
pub struct Presented(Arc<Mutex<Option<String>>>);

impl Presented {
    /// The presented `SHA256:` fingerprint, if the handshake got that far.
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, fingerprint: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fingerprint);
    }
}

/// russh handler that accepts exactly the pinned host key (or, with no pin,
/// the first key presented: trust on first use).
#[derive(Debug)]
pub struct PinCheck {
    pinned: Option<String>,
    presented: Presented,
}

impl PinCheck {
    /// A check against `pinned`.
    pub fn new(pinned: Option<String>) -> Self {
        Self {
            pinned,
            presented: Presented::default(),
        }
    }

    /// Where the presented fingerprint will be recorded.
    pub fn presented(&self) -> Presented {
        self.presented.clone()
    }
}

/// `SHA256:<base64>` as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &russh::keys::PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl client::Handler for PinCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            // Host certificates are not pinned; refuse rather than guess.
            return Ok(false);
        };
        let presented = fingerprint(key);
        self.presented.set(presented.clone());
        Ok(self
            .pinned
            .as_deref()
            .is_none_or(|pinned| pinned == presented))
    }
}

#[cfg(test)]
mod tests {
    use servos_common::fingerprint::HostKeyFingerprint;

    use super::*;

    #[test]
    fn fingerprints_are_what_ssh_keygen_prints_and_parse_back() {
        let key = russh::keys::PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIxYR79+4vDwGwaITtciTq2egX9+OVo3NCOPzuVO60Vj",
        )
        .expect("an Ed25519 public key");
        let printed = fingerprint(&key);
        // `ssh-keygen -lf` of that key.
        assert_eq!(
            printed,
            "SHA256:JeF3vU2NO0wmxCvaye2Tkd0j8DGmEFafQpm8JWa+rWs"
        );
        let parsed = HostKeyFingerprint::parse(&printed).expect("parses");
        assert_eq!(parsed.to_string(), printed);
    }
}
