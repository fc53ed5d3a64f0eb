//! Prefixed bearer tokens: `<prefix><43 base62 random><6 base62 checksum>`.
//!
//! The random part carries 256 bits. The CRC32 checksum lets secret scanners
//! recognise a leaked token offline without asking the server. Only the
//! SHA-256 of a token is ever stored.

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

use crate::secret::SecretText;

/// Prefix of API tokens for scripts and CI.
pub const API_TOKEN_PREFIX: &str = "svs_";
/// Prefix of the first-run setup token.
pub const SETUP_TOKEN_PREFIX: &str = "sst_";
/// Prefix of a node's one-time enrollment token (`servos-agent join`).
pub const ENROLLMENT_TOKEN_PREFIX: &str = "aen_";
/// Prefix of a node's agent token, which authenticates every call after enrollment.
pub const AGENT_TOKEN_PREFIX: &str = "agt_";

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;

/// The system random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("system random number generator failed")]
pub struct RandomError;

/// Generates a new token with the given prefix.
pub fn generate(prefix: &str) -> Result<SecretText, RandomError> {
    let rng = SystemRandom::new();
    let mut body = String::with_capacity(prefix.len() + RANDOM_LEN + CHECKSUM_LEN);
    body.push_str(prefix);
    let mut buf = [0u8; 64];
    while body.len() < prefix.len() + RANDOM_LEN {
        rng.fill(&mut buf).map_err(|_| RandomError)?;
        // Rejection sampling keeps every character uniformly likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if body.len() == prefix.len() + RANDOM_LEN {
                break;
            }
            body.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    let checksum = checksum(&body[prefix.len()..]);
    body.push_str(&checksum);
    Ok(SecretText::new(body))
}

/// True when `token` has the prefix, the right length and a valid checksum.
pub fn is_well_formed(prefix: &str, token: &str) -> bool {
    let Some(rest) = token.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() != RANDOM_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, sum) = rest.split_at(RANDOM_LEN);
    checksum(random) == sum
}

/// Lowercase hex SHA-256 of a token: the only form that is stored.
pub fn sha256_hex(token: &str) -> String {
    crate::hex::lower(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

fn checksum(random: &str) -> String {
    let mut value = crc32fast::hash(random.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate(API_TOKEN_PREFIX).expect("rng");
        let b = generate(API_TOKEN_PREFIX).expect("rng");
        assert!(is_well_formed(API_TOKEN_PREFIX, a.expose()));
        assert_eq!(a.expose().len(), 4 + 43 + 6);
        assert_ne!(a, b);
        assert!(!is_well_formed(SETUP_TOKEN_PREFIX, a.expose()));
    }

    #[test]
    fn checksum_catches_typos() {
        let token = generate(API_TOKEN_PREFIX).expect("rng");
        let mut chars: Vec<char> = token.expose().chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!is_well_formed(API_TOKEN_PREFIX, &typo));
        assert!(!is_well_formed(API_TOKEN_PREFIX, "svs_short"));
    }

    #[test]
    fn agent_prefixes_are_distinct_token_kinds() {
        let enrollment = generate(ENROLLMENT_TOKEN_PREFIX).expect("rng");
        let agent = generate(AGENT_TOKEN_PREFIX).expect("rng");
        assert!(is_well_formed(ENROLLMENT_TOKEN_PREFIX, enrollment.expose()));
        assert!(is_well_formed(AGENT_TOKEN_PREFIX, agent.expose()));
        assert!(!is_well_formed(AGENT_TOKEN_PREFIX, enrollment.expose()));
        assert!(!is_well_formed(ENROLLMENT_TOKEN_PREFIX, agent.expose()));
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
