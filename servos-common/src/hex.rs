//! Lowercase hexadecimal text of bytes (digests, MACs, key ids), both ways.

/// `bytes` as lowercase hex, two digits per byte.
pub fn lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase hex `text`; `None` for an odd length or any
/// other character (upper case included).
pub fn parse_lower(text: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_digits_per_byte() {
        assert_eq!(super::lower(&[0, 9, 0xab, 0xff]), "0009abff");
        assert_eq!(super::lower(&[]), "");
    }

    #[test]
    fn only_lowercase_digits_parse() {
        assert_eq!(super::parse_lower("0009abff"), Some(vec![0, 9, 0xab, 0xff]));
        assert_eq!(super::parse_lower(""), Some(vec![]));
        for bad in ["0", "AB", "0g", "a b"] {
            assert_eq!(super::parse_lower(bad), None, "{bad}");
        }
    }
}
