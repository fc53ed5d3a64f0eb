//! Lowercase hexadecimal text of bytes (digests, MACs, key ids).

/// `bytes` as lowercase hex, two digits per byte.
pub fn lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_digits_per_byte() {
        assert_eq!(super::lower(&[0, 9, 0xab, 0xff]), "0009abff");
        assert_eq!(super::lower(&[]), "");
    }
}
