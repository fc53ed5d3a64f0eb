//! How an error message quotes a piece of input it names (a variable
//! name, a JSON key): escaped, so it cannot break a log line, and cut
//! short, so a huge one cannot flood a message. Only names are quoted,
//! never values.

/// `text` as an error shows it: control characters, quotes and
/// backslashes escaped, at most `max_chars` characters of it, and `...`
/// after it when it was longer.
pub fn quoted(text: &str, max_chars: usize) -> String {
    let mut shown: String = text
        .chars()
        .take(max_chars)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(max_chars).is_some() {
        shown.push_str("...");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(quoted("PLAIN_NAME", 64), "PLAIN_NAME");
        assert_eq!(quoted("a\n\"b\\", 64), r#"a\n\"b\\"#);
        assert_eq!(quoted(&"é".repeat(10), 4), "éééé...");
        assert_eq!(quoted("abcd", 4), "abcd");
    }
}
