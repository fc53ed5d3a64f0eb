//! Fuzz target: telling and verifying a webhook delivery never panics, and
//! a delivery proven with one secret proves nothing with another.
//!
//! The input reads like an HTTP request without its first line: `name: value`
//! lines, an empty line, then the body, so the seeds are readable and a
//! signed delivery can be written by hand.

#![no_main]

use libfuzzer_sys::fuzz_target;
use servos_common::webhook_signature::{identify, verify, Headers, Provider, Refusal};

/// The secret the seeds are signed with.
const SECRET: &[u8] = b"whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=";
/// Another secret, which must never accept what `SECRET` signed.
const OTHER: &[u8] = b"whsec_b3RoZXItc2VjcmV0LWtleQ==";
/// The current time for signed timestamps; the GitLab seeds are signed near it.
const NOW: i64 = 1_800_000_000;
const PROVIDERS: [Provider; 5] = [
    Provider::GitHub,
    Provider::Forgejo,
    Provider::Gitea,
    Provider::GitLab,
    Provider::Bitbucket,
];

fuzz_target!(|data: &[u8]| {
    let (head, body) = split_request(data);
    let headers = Headers::new(head.lines().map(|line| {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        (name.to_owned(), value.to_owned())
    }));
    let _ = identify(&headers);

    for provider in PROVIDERS {
        let with_secret = verify(provider, &headers, body, &[SECRET], NOW);
        let with_other = verify(provider, &headers, body, &[OTHER], NOW);
        assert!(
            verify(provider, &headers, body, &[], NOW).is_err(),
            "{provider:?}: verified with no secret"
        );
        match &with_secret {
            Ok(()) => {
                assert!(
                    with_other.is_err(),
                    "{provider:?}: verified with both secrets"
                );
                // During a rotation either secret may come first.
                for secrets in [[SECRET, OTHER], [OTHER, SECRET]] {
                    assert_eq!(verify(provider, &headers, body, &secrets, NOW), Ok(()));
                }
                let token_only =
                    provider == Provider::GitLab && headers.get("webhook-signature").is_none();
                if let (false, Some((first, rest))) = (token_only, body.split_first()) {
                    let mut changed = vec![first ^ 1];
                    changed.extend_from_slice(rest);
                    assert_eq!(
                        verify(provider, &headers, &changed, &[SECRET], NOW),
                        Err(Refusal::Mismatch),
                        "{provider:?}: a changed body verified"
                    );
                }
            }
            // A header's form is judged before any secret: the refusal
            // cannot tell one secret from another.
            Err(Refusal::Mismatch) => {}
            Err(refusal) => assert_eq!(with_other.as_ref(), Err(refusal), "{provider:?}"),
        }
    }
});

/// The header block (as text, invalid UTF-8 replaced) and the body after the first empty line.
fn split_request(data: &[u8]) -> (String, &[u8]) {
    let end = data.windows(2).position(|pair| pair == b"\n\n");
    let (head, body) = match end {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &data[data.len()..]),
    };
    (String::from_utf8_lossy(head).into_owned(), body)
}
