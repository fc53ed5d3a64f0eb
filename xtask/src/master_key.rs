//! Fresh master keys in the form `SERVOS_MASTER_KEY` takes: base64 of 32 random bytes.

use std::fs::File;
use std::io::Read as _;

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The length in bytes of a master key.
const KEY_BYTES: usize = 32;

/// A new key from the kernel's CSPRNG, standard base64 with padding.
pub fn generate() -> Result<String> {
    let mut bytes = [0u8; KEY_BYTES];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("could not read /dev/urandom")?;
    Ok(STANDARD.encode(bytes))
}

/// Whether `text` (surrounding whitespace ignored) decodes to exactly 32 bytes.
pub fn is_valid(text: &str) -> bool {
    STANDARD
        .decode(text.trim())
        .is_ok_and(|bytes| bytes.len() == KEY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::{generate, is_valid};

    #[test]
    fn generated_keys_are_valid_and_differ() -> anyhow::Result<()> {
        let (a, b) = (generate()?, generate()?);
        assert!(is_valid(&a) && is_valid(&b));
        assert_ne!(a, b);
        assert!(!is_valid("c2hvcnQ="));
        Ok(())
    }
}
