//! Fuzz target: the token checks never panic, a token has at most one kind,
//! and any one-character change to an accepted token is refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use servos_common::token::{
    is_well_formed, sha256_hex, AGENT_TOKEN_PREFIX, API_TOKEN_PREFIX, ENROLLMENT_TOKEN_PREFIX,
    SETUP_TOKEN_PREFIX,
};

/// Every prefix tokens are generated with; session and form tokens have none.
const PREFIXES: [&str; 5] = [
    "",
    API_TOKEN_PREFIX,
    SETUP_TOKEN_PREFIX,
    ENROLLMENT_TOKEN_PREFIX,
    AGENT_TOKEN_PREFIX,
];

fuzz_target!(|text: &str| {
    let hash = sha256_hex(text);
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));

    let mut kinds = PREFIXES
        .iter()
        .filter(|prefix| is_well_formed(prefix, text));
    let Some(prefix) = kinds.next() else {
        return;
    };
    assert!(kinds.next().is_none(), "a token of two kinds");

    // The checksum catches every substitution, in the random part and in itself.
    let alphanumeric = (b'0'..=b'9').chain(b'A'..=b'Z').chain(b'a'..=b'z');
    for at in prefix.len()..text.len() {
        for other in alphanumeric.clone().filter(|&c| c != text.as_bytes()[at]) {
            let mut changed = String::with_capacity(text.len());
            changed.push_str(&text[..at]);
            changed.push(char::from(other));
            changed.push_str(&text[at + 1..]);
            assert!(
                !is_well_formed(prefix, &changed),
                "a change at {at} kept the checksum"
            );
        }
    }
});
