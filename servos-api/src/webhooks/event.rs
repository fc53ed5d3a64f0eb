//! What a verified delivery says: a ping, a push (the refs it moved and to
//! which commits), or another event. Only the fields a push needs are read
//! from each provider's payload, which must not name a key twice in one
//! object (a repeated `ref` could mean two branches).

use serde_json::Value;

use super::signature::Provider;
use crate::unique_json::{self, JsonError};

/// A delivery's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The provider checking the hook works.
    Ping,
    /// Refs moved.
    Push(Vec<RefUpdate>),
    /// Anything else, by its event name.
    Other(String),
}

/// One ref a push moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// The full ref (`refs/heads/main`).
    pub git_ref: String,
    /// The commit it points to now; `None` when the push deleted it.
    pub commit: Option<String>,
}

/// Why a push's payload cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the payload of a push {0}")]
pub struct BadPayload(&'static str);

/// The event of a verified delivery from `provider` with event header
/// `event` and body `body`.
pub fn parse(provider: Provider, event: &str, body: &[u8]) -> Result<Event, BadPayload> {
    let is_push = match provider {
        Provider::GitHub if event == "ping" => return Ok(Event::Ping),
        Provider::Bitbucket if event == "diagnostics:ping" => return Ok(Event::Ping),
        Provider::GitHub | Provider::Gitea | Provider::Forgejo => event == "push",
        Provider::GitLab => event == "Push Hook",
        Provider::Bitbucket => event == "repo:push",
    };
    if !is_push {
        return Ok(Event::Other(event.chars().take(100).collect()));
    }
    let payload: Value = unique_json::from_slice(body).map_err(|e| match e {
        JsonError::Syntax { .. } => BadPayload("is not JSON"),
        JsonError::DuplicateKey { .. } => BadPayload("names a key twice in one object"),
    })?;
    let updates = match provider {
        Provider::Bitbucket => bitbucket_updates(&payload)?,
        Provider::GitLab => vec![single(&payload, &["checkout_sha", "after"])?],
        _ => vec![single(&payload, &["after"])?],
    };
    Ok(Event::Push(updates))
}

/// The one ref of a GitHub, Gitea, Forgejo or GitLab push: `ref`, and the
/// commit in the first of `commit_fields` (an all-zero or null commit is a
/// deletion).
fn single(payload: &Value, commit_fields: &[&str]) -> Result<RefUpdate, BadPayload> {
    let git_ref = payload["ref"]
        .as_str()
        .filter(|r| r.starts_with("refs/") && r.len() <= 255)
        .ok_or(BadPayload("has no ref"))?;
    let commit = commit_fields
        .iter()
        .map(|field| &payload[*field])
        .find(|value| !value.is_null())
        .map(|value| {
            value
                .as_str()
                .ok_or(BadPayload("has a commit that is not text"))
        })
        .transpose()?;
    let deleted = payload["deleted"].as_bool() == Some(true)
        || commit.is_none_or(|c| c.bytes().all(|b| b == b'0'));
    Ok(RefUpdate {
        git_ref: git_ref.to_owned(),
        commit: if deleted {
            None
        } else {
            Some(commit_id(commit)?)
        },
    })
}

/// Bitbucket's `push.changes[]`: each `new` branch and its `target.hash`
/// (`new` null for a deleted branch, named by `old`).
fn bitbucket_updates(payload: &Value) -> Result<Vec<RefUpdate>, BadPayload> {
    let changes = payload["push"]["changes"]
        .as_array()
        .ok_or(BadPayload("has no push.changes"))?;
    let mut updates = Vec::new();
    for change in changes {
        let (side, deleted) = if change["new"].is_null() {
            (&change["old"], true)
        } else {
            (&change["new"], false)
        };
        if side["type"].as_str() != Some("branch") {
            continue;
        }
        let name = side["name"]
            .as_str()
            .filter(|n| !n.is_empty() && n.len() <= 200)
            .ok_or(BadPayload("names no branch"))?;
        updates.push(RefUpdate {
            git_ref: format!("refs/heads/{name}"),
            commit: if deleted {
                None
            } else {
                Some(commit_id(side["target"]["hash"].as_str())?)
            },
        });
    }
    Ok(updates)
}

/// A commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
fn commit_id(text: Option<&str>) -> Result<String, BadPayload> {
    text.filter(|c| matches!(c.len(), 40 | 64) && servos_common::hex::parse_lower(c).is_some())
        .map(str::to_owned)
        .ok_or(BadPayload(
            "has no commit id of 40 or 64 lowercase hex digits",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn pushes_of_each_provider() {
        let github = format!(r#"{{"ref":"refs/heads/main","after":"{SHA}","deleted":false}}"#);
        let expected = Event::Push(vec![RefUpdate {
            git_ref: "refs/heads/main".into(),
            commit: Some(SHA.into()),
        }]);
        assert_eq!(
            parse(Provider::GitHub, "push", github.as_bytes()),
            Ok(expected.clone())
        );
        assert_eq!(
            parse(Provider::Gitea, "push", github.as_bytes()),
            Ok(expected.clone())
        );
        let gitlab = format!(
            r#"{{"object_kind":"push","ref":"refs/heads/main","checkout_sha":"{SHA}","after":"{SHA}"}}"#
        );
        assert_eq!(
            parse(Provider::GitLab, "Push Hook", gitlab.as_bytes()),
            Ok(expected.clone())
        );
        let bitbucket = format!(
            r#"{{"push":{{"changes":[{{"new":{{"type":"branch","name":"main","target":{{"hash":"{SHA}"}}}},"old":null}}]}}}}"#
        );
        assert_eq!(
            parse(Provider::Bitbucket, "repo:push", bitbucket.as_bytes()),
            Ok(expected)
        );
    }

    #[test]
    fn pings_deletions_others_and_bad_payloads() {
        assert_eq!(parse(Provider::GitHub, "ping", b"{}"), Ok(Event::Ping));
        assert_eq!(
            parse(Provider::Bitbucket, "diagnostics:ping", b"{}"),
            Ok(Event::Ping)
        );
        assert_eq!(
            parse(Provider::GitHub, "issues", b"not json"),
            Ok(Event::Other("issues".into()))
        );
        let deleted = br#"{"ref":"refs/heads/old","after":"0000000000000000000000000000000000000000","deleted":true}"#;
        assert_eq!(
            parse(Provider::GitHub, "push", deleted),
            Ok(Event::Push(vec![RefUpdate {
                git_ref: "refs/heads/old".into(),
                commit: None
            }]))
        );
        let gitlab_deleted = br#"{"ref":"refs/heads/old","checkout_sha":null,"after":"0000000000000000000000000000000000000000"}"#;
        assert!(matches!(
            parse(Provider::GitLab, "Push Hook", gitlab_deleted),
            Ok(Event::Push(updates)) if updates[0].commit.is_none()
        ));
        assert!(parse(Provider::GitHub, "push", b"[]").is_err());
        assert!(parse(
            Provider::GitHub,
            "push",
            br#"{"ref":"refs/heads/main","after":"ABC"}"#
        )
        .is_err());
        assert!(parse(Provider::GitHub, "push", b"{").is_err());
        let twice =
            format!(r#"{{"ref":"refs/heads/main","ref":"refs/heads/prod","after":"{SHA}"}}"#);
        assert_eq!(
            parse(Provider::GitHub, "push", twice.as_bytes()),
            Err(BadPayload("names a key twice in one object"))
        );
    }
}
