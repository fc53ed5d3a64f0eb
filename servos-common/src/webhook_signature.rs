//! Who sent a delivery and whether its signature holds, judged on the raw
//! body before anything parses it. Each provider is told by its event
//! header and checked its own way, with the exact header format required
//! (a missing or differently cased prefix is refused, not guessed at):
//!
//! | provider | event header | proof |
//! |---|---|---|
//! | GitHub | `X-GitHub-Event` | `X-Hub-Signature-256: sha256=<hex>` |
//! | Forgejo | `X-Forgejo-Event` | `X-Forgejo-Signature: <hex>` |
//! | Gitea | `X-Gitea-Event` | `X-Gitea-Signature: <hex>` |
//! | GitLab | `X-Gitlab-Event` | `webhook-signature: v1,<base64>` over `id.timestamp.body` (timestamp within 5 minutes), else `X-Gitlab-Token` |
//! | Bitbucket | `X-Event-Key` | `X-Hub-Signature: sha256=<hex>` |
//!
//! Every comparison is ring's constant-time HMAC verification, against the
//! current secret and, during a rotation's grace period, the previous one.

use base64::Engine as _;
use ring::hmac;

/// How far a signed timestamp may be from now, in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// The prefix of the secrets ServOS generates; GitLab's signed webhooks
/// key the HMAC with the base64 text after it.
pub const SECRET_PREFIX: &str = "whsec_";

/// A git hosting service sending webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// GitHub.
    GitHub,
    /// Forgejo (which also sends Gitea's headers).
    Forgejo,
    /// Gitea.
    Gitea,
    /// GitLab.
    GitLab,
    /// Bitbucket.
    Bitbucket,
}

impl Provider {
    /// Its name as deliveries record it.
    pub fn name(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::Forgejo => "forgejo",
            Self::Gitea => "gitea",
            Self::GitLab => "gitlab",
            Self::Bitbucket => "bitbucket",
        }
    }
}

/// The headers of a delivery, names lower-cased.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Headers from `(name, value)` pairs; values that are not text are
    /// left out by the caller.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
        )
    }

    /// The value of header `name` (lower case), if sent once.
    pub fn get(&self, name: &str) -> Option<&str> {
        let mut found = self.0.iter().filter(|(n, _)| n == name);
        let first = found.next()?;
        found.next().is_none().then_some(first.1.as_str())
    }
}

/// Who sent a delivery, and what it says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The provider.
    pub provider: Provider,
    /// The event name.
    pub event: String,
    /// The provider's delivery id, when it sends one.
    pub delivery: Option<String>,
}

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No known provider's event header.
    #[error("no known provider's event header")]
    UnknownProvider,
    /// The header carrying the proof is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// The header carrying the proof is not in its exact format.
    #[error("{0} is not in its exact format")]
    Malformed(&'static str),
    /// The signature or token does not match the secret.
    #[error("the signature does not match")]
    Mismatch,
    /// The signed timestamp is more than 5 minutes away from now.
    #[error("the signed timestamp is more than 5 minutes from now")]
    Stale,
}

/// The provider and event of a delivery, by its event header.
pub fn identify(headers: &Headers) -> Result<Sender, Refusal> {
    let (provider, event, delivery) = if let Some(event) = headers.get("x-github-event") {
        (Provider::GitHub, event, headers.get("x-github-delivery"))
    } else if let Some(event) = headers.get("x-forgejo-event") {
        (Provider::Forgejo, event, headers.get("x-forgejo-delivery"))
    } else if let Some(event) = headers.get("x-gitea-event") {
        (Provider::Gitea, event, headers.get("x-gitea-delivery"))
    } else if let Some(event) = headers.get("x-gitlab-event") {
        let delivery = headers
            .get("x-gitlab-event-uuid")
            .or_else(|| headers.get("webhook-id"));
        (Provider::GitLab, event, delivery)
    } else if let Some(event) = headers.get("x-event-key") {
        (Provider::Bitbucket, event, headers.get("x-request-uuid"))
    } else {
        return Err(Refusal::UnknownProvider);
    };
    Ok(Sender {
        provider,
        event: event.to_owned(),
        delivery: delivery
            .filter(|d| !d.is_empty() && d.len() <= 200)
            .map(str::to_owned),
    })
}

/// Checks the delivery's proof against each of `secrets` (the current one
/// first); `now` is the current Unix time in seconds.
pub fn verify(
    provider: Provider,
    headers: &Headers,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<(), Refusal> {
    match provider {
        Provider::GitHub => hex_hmac(headers, "x-hub-signature-256", "sha256=", body, secrets),
        Provider::Bitbucket => hex_hmac(headers, "x-hub-signature", "sha256=", body, secrets),
        Provider::Forgejo => hex_hmac(headers, "x-forgejo-signature", "", body, secrets),
        Provider::Gitea => hex_hmac(headers, "x-gitea-signature", "", body, secrets),
        Provider::GitLab if headers.get("webhook-signature").is_some() => {
            standard_webhook(headers, body, secrets, now)
        }
        Provider::GitLab => {
            let token = headers
                .get("x-gitlab-token")
                .ok_or(Refusal::Missing("X-Gitlab-Token"))?;
            // Equal to a secret, compared in constant time: the token's
            // HMAC under the secret against the secret's own.
            let matches = secrets.iter().any(|secret| {
                let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
                let expected = hmac::sign(&key, secret);
                hmac::verify(&key, token.as_bytes(), expected.as_ref()).is_ok()
            });
            matches.then_some(()).ok_or(Refusal::Mismatch)
        }
    }
}

/// `header: <prefix><64 lowercase hex digits>`, the HMAC-SHA256 of the body.
fn hex_hmac(
    headers: &Headers,
    header: &'static str,
    prefix: &str,
    body: &[u8],
    secrets: &[&[u8]],
) -> Result<(), Refusal> {
    let value = headers.get(header).ok_or(Refusal::Missing(header))?;
    let tag = value
        .strip_prefix(prefix)
        .and_then(crate::hex::parse_lower)
        .filter(|tag| tag.len() == 32)
        .ok_or(Refusal::Malformed(header))?;
    let matches = secrets
        .iter()
        .any(|secret| hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), body, &tag).is_ok());
    matches.then_some(()).ok_or(Refusal::Mismatch)
}

/// The Standard Webhooks scheme GitLab signs with: `webhook-signature`
/// holds space-separated `v1,<base64>` signatures of
/// `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the base64 text
/// after the secret's `whsec_` prefix.
fn standard_webhook(
    headers: &Headers,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<(), Refusal> {
    let id = headers
        .get("webhook-id")
        .ok_or(Refusal::Missing("webhook-id"))?;
    let timestamp = headers
        .get("webhook-timestamp")
        .ok_or(Refusal::Missing("webhook-timestamp"))?;
    let signatures = headers
        .get("webhook-signature")
        .ok_or(Refusal::Missing("webhook-signature"))?;
    let at: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(Refusal::Malformed("webhook-timestamp"))?;
    if (now - at).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(Refusal::Stale);
    }
    let mut message = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    message.extend_from_slice(id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let engine = base64::engine::general_purpose::STANDARD;
    let mut tags = Vec::new();
    for signature in signatures.split(' ').filter(|s| !s.is_empty()) {
        let encoded = signature
            .strip_prefix("v1,")
            .ok_or(Refusal::Malformed("webhook-signature"))?;
        tags.push(
            engine
                .decode(encoded)
                .map_err(|_| Refusal::Malformed("webhook-signature"))?,
        );
    }
    let matches = secrets.iter().any(|secret| {
        let Some(key) = std::str::from_utf8(secret)
            .ok()
            .and_then(|s| s.strip_prefix(SECRET_PREFIX))
            .and_then(|s| engine.decode(s).ok())
        else {
            return false;
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        tags.iter()
            .any(|tag| hmac::verify(&key, &message, tag).is_ok())
    });
    matches.then_some(()).ok_or(Refusal::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=";

    fn hex_sig(secret: &[u8], body: &[u8]) -> String {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), body);
        crate::hex::lower(tag.as_ref())
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::new(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn github_signatures_need_the_exact_prefix_and_digits() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = format!("sha256={}", hex_sig(SECRET, body));
        let check = |value: &str| {
            verify(
                Provider::GitHub,
                &headers(&[("X-Hub-Signature-256", value)]),
                body,
                &[SECRET],
                0,
            )
        };
        assert_eq!(check(&good), Ok(()));
        assert_eq!(
            check(&good.replace("sha256=", "SHA256=")),
            Err(Refusal::Malformed("x-hub-signature-256"))
        );
        assert_eq!(
            check(&good[7..]),
            Err(Refusal::Malformed("x-hub-signature-256"))
        );
        assert_eq!(
            check(&good.to_uppercase().replace("SHA256=", "sha256=")),
            Err(Refusal::Malformed("x-hub-signature-256"))
        );
        let mut flipped = body.to_vec();
        flipped[3] ^= 1;
        assert_eq!(
            verify(
                Provider::GitHub,
                &headers(&[("x-hub-signature-256", &good)]),
                &flipped,
                &[SECRET],
                0
            ),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(Provider::GitHub, &headers(&[]), body, &[SECRET], 0),
            Err(Refusal::Missing("x-hub-signature-256"))
        );
        // The previous secret, during a rotation.
        assert_eq!(
            verify(
                Provider::GitHub,
                &headers(&[("x-hub-signature-256", &good)]),
                body,
                &[b"new", SECRET],
                0
            ),
            Ok(())
        );
    }

    #[test]
    fn gitlab_tokens_and_signed_timestamps() {
        let body = b"{}";
        let token = std::str::from_utf8(SECRET).expect("text");
        assert_eq!(
            verify(
                Provider::GitLab,
                &headers(&[("X-Gitlab-Token", token)]),
                body,
                &[SECRET],
                0
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                Provider::GitLab,
                &headers(&[("X-Gitlab-Token", "whsec_other")]),
                body,
                &[SECRET],
                0
            ),
            Err(Refusal::Mismatch)
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(&token[SECRET_PREFIX.len()..])
            .expect("key");
        let sign = |id: &str, at: &str| {
            let message = format!("{id}.{at}.{}", std::str::from_utf8(body).expect("utf8"));
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), message.as_bytes());
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
            )
        };
        let now = 1_800_000_000;
        let signed = |at: i64, signature: String| {
            headers(&[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &at.to_string()),
                ("webhook-signature", &signature),
            ])
        };
        let fresh = signed(now - 10, sign("msg_1", &(now - 10).to_string()));
        assert_eq!(
            verify(Provider::GitLab, &fresh, body, &[SECRET], now),
            Ok(())
        );
        let stale = signed(now - 301, sign("msg_1", &(now - 301).to_string()));
        assert_eq!(
            verify(Provider::GitLab, &stale, body, &[SECRET], now),
            Err(Refusal::Stale)
        );
        let other_id = signed(now, sign("msg_2", &now.to_string()));
        assert_eq!(
            verify(Provider::GitLab, &other_id, body, &[SECRET], now),
            Err(Refusal::Mismatch)
        );
    }

    #[test]
    fn providers_are_told_by_their_event_header() {
        let sender = identify(&headers(&[
            ("X-Gitea-Event", "push"),
            ("X-Forgejo-Event", "push"),
            ("X-Forgejo-Delivery", "d-1"),
        ]))
        .expect("a sender");
        assert_eq!(sender.provider, Provider::Forgejo);
        assert_eq!(sender.delivery.as_deref(), Some("d-1"));
        assert_eq!(
            identify(&headers(&[("X-Other", "push")])),
            Err(Refusal::UnknownProvider)
        );
        // A header sent twice counts as not sent.
        assert_eq!(
            identify(&headers(&[
                ("X-GitHub-Event", "push"),
                ("x-github-event", "ping")
            ])),
            Err(Refusal::UnknownProvider)
        );
    }
}
