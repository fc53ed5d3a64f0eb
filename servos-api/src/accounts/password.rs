//! argon2id password hashing with bounded concurrency.
//!
//! Parameters follow OWASP's recommendation (m = 19 MiB, t = 2, p = 1). At
//! most `permits` hashes run at once, so a login flood queues instead of
//! allocating 19 MiB per request.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use servos_common::secret::SecretText;
use tokio::sync::Semaphore;

use crate::error::ServiceError;

/// A PHC string for a password nobody has, verified when an email is
/// unknown so both cases take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_now(&SecretText::new("servos-timing-equaliser".into())).unwrap_or_default()
});

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &SecretText) -> Result<String, argon2::password_hash::Error> {
    let mut salt_bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt_bytes)
        .map_err(|_| argon2::password_hash::Error::Crypto)?;
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Ok(argon2()
        .hash_password(password.expose().as_bytes(), &salt)?
        .to_string())
}

/// Hashes and verifies passwords on the blocking pool, a bounded number at a time.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl PasswordHasher {
    /// A hasher running at most `permits` hashes at once.
    pub fn new(permits: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// Runs CPU- or memory-heavy work (hashing, decoding an uploaded key
    /// whose KDF cost its author chose) on the blocking pool, a bounded
    /// number at a time.
    pub async fn run_bounded<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(ServiceError::internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(ServiceError::internal)
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: SecretText) -> Result<String, ServiceError> {
        self.run_bounded(move || hash_now(&password))
            .await?
            .map_err(ServiceError::internal)
    }

    /// True when `password` matches `phc`; with `None`, burns the same time
    /// against a dummy hash and returns false.
    pub async fn verify(
        &self,
        password: SecretText,
        phc: Option<String>,
    ) -> Result<bool, ServiceError> {
        self.run_bounded(move || {
            let known = phc.is_some();
            let phc = phc.unwrap_or_else(|| DUMMY_HASH.clone());
            let matches = PasswordHash::new(&phc)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.expose().as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false);
            known && matches
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(2);
        let phc = hasher
            .hash(SecretText::new("correct horse battery".into()))
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let ok = hasher
            .verify(
                SecretText::new("correct horse battery".into()),
                Some(phc.clone()),
            )
            .await
            .expect("verify");
        let bad = hasher
            .verify(SecretText::new("wrong".into()), Some(phc))
            .await
            .expect("verify");
        let unknown = hasher
            .verify(SecretText::new("servos-timing-equaliser".into()), None)
            .await
            .expect("verify");
        assert!(ok && !bad && !unknown);
    }
}
