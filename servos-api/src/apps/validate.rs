//! Validation of an application's fields. Each check names the field at
//! fault and says what is expected; none echoes the input.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::ServiceError;
use crate::store::ids::ServerId;

use super::image::{ImageRef, ImageRefError};

/// Most target servers of one application.
pub const MAX_SERVERS: usize = 100;
/// Most labels of one application.
const MAX_LABELS: usize = 64;
/// Longest label key, in bytes.
const MAX_LABEL_KEY: usize = 128;
/// Longest label value, in bytes.
const MAX_LABEL_VALUE: usize = 1024;
/// Label keys ServOS sets on the containers it runs.
const RESERVED_LABEL_PREFIX: &str = "servos.";
/// Accepted memory limit, bytes: Docker's minimum (6 MiB) to 16 TiB.
const MEMORY_BYTES: (i64, i64) = (6 << 20, 16 << 40);
/// Accepted CPU limit, thousandths of a CPU: Docker's minimum (0.01) to 1024 CPUs.
const MILLI_CPUS: (i64, i64) = (10, 1_024_000);
/// Most retries of `on-failure:N`.
const MAX_RESTART_RETRIES: u32 = 1000;

/// A field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    /// The field at fault (`image`, `health_check.retries`, ...).
    pub field: &'static str,
    /// What is wrong, without the input.
    pub problem: String,
}

impl Invalid {
    /// A problem with `field`.
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

impl From<Invalid> for ServiceError {
    fn from(e: Invalid) -> Self {
        ServiceError::invalid(e.field, e.problem)
    }
}

/// The image reference.
pub fn image(raw: &str) -> Result<ImageRef, Invalid> {
    ImageRef::parse(raw).map_err(|e: ImageRefError| {
        Invalid::new(
            "image",
            format!("{e}; expected [registry[:port]/]repository[:tag][@sha256:digest]"),
        )
    })
}

/// The port the container listens on.
pub fn container_port(raw: i64) -> Result<u16, Invalid> {
    u16::try_from(raw)
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| Invalid::new("container_port", "must be 1 to 65535"))
}

/// An id of another resource: a UUID, so that no other text reaches a message.
pub fn id(field: &'static str, raw: &str) -> Result<String, Invalid> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| Invalid::new(field, "must be an id (a UUID)"))
}

/// The target servers: ids, no repeats, at most [`MAX_SERVERS`].
pub fn server_ids(raw: &[String]) -> Result<Vec<ServerId>, Invalid> {
    if raw.len() > MAX_SERVERS {
        return Err(Invalid::new(
            "server_ids",
            format!("at most {MAX_SERVERS} servers"),
        ));
    }
    let mut ids = Vec::with_capacity(raw.len());
    for entry in raw {
        let id = ServerId::from(id("server_ids", entry)?);
        if ids.contains(&id) {
            return Err(Invalid::new("server_ids", format!("{id} is listed twice")));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Docker's restart policy of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never restart.
    No,
    /// Always restart.
    Always,
    /// Restart unless an operator stopped it.
    UnlessStopped,
    /// Restart after a non-zero exit, at most this many times if given.
    OnFailure(Option<u32>),
}

impl FromStr for RestartPolicy {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid::new(
                "restart_policy",
                format!("must be no, always, unless-stopped, on-failure or on-failure:N with N from 1 to {MAX_RESTART_RETRIES}"),
            )
        };
        match raw {
            "no" => Ok(Self::No),
            "always" => Ok(Self::Always),
            "unless-stopped" => Ok(Self::UnlessStopped),
            "on-failure" => Ok(Self::OnFailure(None)),
            other => {
                let count = other.strip_prefix("on-failure:").ok_or_else(invalid)?;
                if !count.bytes().all(|b| b.is_ascii_digit()) || count.starts_with('0') {
                    return Err(invalid());
                }
                count
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_RESTART_RETRIES).contains(n))
                    .map(|n| Self::OnFailure(Some(n)))
                    .ok_or_else(invalid)
            }
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::No => f.write_str("no"),
            Self::Always => f.write_str("always"),
            Self::UnlessStopped => f.write_str("unless-stopped"),
            Self::OnFailure(None) => f.write_str("on-failure"),
            Self::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
        }
    }
}

/// Resource limits of the container; each is optional.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory limit in bytes (6 MiB to 16 TiB).
    #[serde(default)]
    #[schema(minimum = 6291456, maximum = 17592186044416_i64)]
    pub memory_bytes: Option<i64>,
    /// CPU limit in thousandths of a CPU (10 to 1024000; 500 is half a CPU).
    #[serde(default)]
    #[schema(minimum = 10, maximum = 1024000)]
    pub milli_cpus: Option<i64>,
}

/// Checks the limits' bounds.
pub fn limits(raw: Limits) -> Result<Limits, Invalid> {
    let within =
        |value: Option<i64>, (min, max): (i64, i64)| value.is_none_or(|v| (min..=max).contains(&v));
    if !within(raw.memory_bytes, MEMORY_BYTES) {
        return Err(Invalid::new(
            "limits.memory_bytes",
            format!("must be {} to {} bytes", MEMORY_BYTES.0, MEMORY_BYTES.1),
        ));
    }
    if !within(raw.milli_cpus, MILLI_CPUS) {
        return Err(Invalid::new(
            "limits.milli_cpus",
            format!("must be {} to {}", MILLI_CPUS.0, MILLI_CPUS.1),
        ));
    }
    Ok(raw)
}

/// Container labels: keys of letters, digits, `.`, `-`, `_` and `/`
/// starting and ending with a letter or digit, not in ServOS's own
/// `servos.` namespace; values without control characters.
pub fn labels(raw: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Invalid> {
    if raw.len() > MAX_LABELS {
        return Err(Invalid::new(
            "labels",
            format!("at most {MAX_LABELS} labels"),
        ));
    }
    for (key, value) in &raw {
        let bytes = key.as_bytes();
        let valid_key = !bytes.is_empty()
            && bytes.len() <= MAX_LABEL_KEY
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
        if !valid_key {
            return Err(Invalid::new(
                "labels",
                format!("keys must be 1 to {MAX_LABEL_KEY} letters, digits, '.', '-', '_' or '/', starting and ending with a letter or digit"),
            ));
        }
        if key.to_ascii_lowercase().starts_with(RESERVED_LABEL_PREFIX) {
            return Err(Invalid::new(
                "labels",
                format!("{key}: keys starting with {RESERVED_LABEL_PREFIX} are set by ServOS"),
            ));
        }
        if value.len() > MAX_LABEL_VALUE || value.chars().any(char::is_control) {
            return Err(Invalid::new(
                "labels",
                format!("{key}: values must be at most {MAX_LABEL_VALUE} bytes without control characters"),
            ));
        }
    }
    Ok(raw)
}

/// A public host name for the application: lowercased, at least two labels
/// of letters, digits and inner dashes, a top-level label that is not all
/// digits (so no IP address), at most 253 bytes.
pub fn domain(raw: &str) -> Result<String, Invalid> {
    let domain = raw.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let valid = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            let bytes = label.as_bytes();
            (1..=63).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if valid {
        Ok(domain)
    } else {
        Err(Invalid::new(
            "domain",
            "must be a host name like app.example.com (no scheme, port, path or wildcard)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ids() {
        assert_eq!(container_port(8080), Ok(8080));
        for bad in [0, -1, 65536, 70000] {
            assert_eq!(
                container_port(bad).map_err(|e| e.field),
                Err("container_port")
            );
        }
        let id = uuid::Uuid::new_v4().to_string();
        assert!(server_ids(std::slice::from_ref(&id)).is_ok());
        assert!(server_ids(&[id.clone(), id]).is_err());
        assert!(server_ids(&["web-1".into()]).is_err());
    }

    #[test]
    fn restart_policies() {
        for ok in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:5",
        ] {
            let policy: RestartPolicy = ok.parse().expect(ok);
            assert_eq!(policy.to_string(), ok);
        }
        for bad in [
            "",
            "sometimes",
            "on-failure:",
            "on-failure:0",
            "on-failure:05",
            "on-failure:1001",
            "on-failure:-1",
            "Always",
        ] {
            assert!(bad.parse::<RestartPolicy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_labels_domains() {
        assert!(limits(Limits {
            memory_bytes: Some(512 << 20),
            milli_cpus: Some(500)
        })
        .is_ok());
        assert!(limits(Limits::default()).is_ok());
        assert_eq!(
            limits(Limits {
                memory_bytes: Some(1),
                milli_cpus: None
            })
            .map_err(|e| e.field),
            Err("limits.memory_bytes")
        );
        assert_eq!(
            limits(Limits {
                memory_bytes: None,
                milli_cpus: Some(0)
            })
            .map_err(|e| e.field),
            Err("limits.milli_cpus")
        );
        let ok = BTreeMap::from([("com.example.team".to_owned(), "web".to_owned())]);
        assert!(labels(ok).is_ok());
        for (key, value) in [
            ("", "x"),
            ("-a", "x"),
            ("a b", "x"),
            ("servos.app", "x"),
            ("Servos.x", "x"),
            ("a", "x\ny"),
        ] {
            assert!(
                labels(BTreeMap::from([(key.to_owned(), value.to_owned())])).is_err(),
                "{key}"
            );
        }
        assert_eq!(domain("App.Example.com").as_deref(), Ok("app.example.com"));
        for bad in [
            "",
            "localhost",
            "https://a.com",
            "a.com:443",
            "a.com/x",
            "*.a.com",
            "-a.com",
            "a..com",
            "10.0.0.1",
            "a.com.",
        ] {
            assert!(domain(bad).is_err(), "{bad}");
        }
    }
}
