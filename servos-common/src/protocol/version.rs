//! The protocol version: the request header, the tag every answer carries, and the mismatch answer.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// Request header carrying the agent's protocol version.
pub const HEADER: &str = "Servos-Agent-Protocol";

/// The `error` code of a `409` answer to an agent that speaks another version.
pub const MISMATCH_ERROR: &str = "agent_protocol_mismatch";

/// The `"protocol"` field of every answer: serializes as [`VERSION`] and
/// refuses to deserialize any other number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProtocolTag;

impl Serialize for ProtocolTag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(VERSION)
    }
}

impl<'de> Deserialize<'de> for ProtocolTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let theirs = u32::deserialize(deserializer)?;
        if theirs == VERSION {
            Ok(ProtocolTag)
        } else {
            Err(serde::de::Error::custom(ProtocolMismatch::new(
                theirs.to_string(),
            )))
        }
    }
}

/// The two sides speak different protocol versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent protocol mismatch: this side speaks version {VERSION}, the other {theirs}")]
pub struct ProtocolMismatch {
    /// What the other side sent (a number, or text if it was not one).
    pub theirs: String,
}

impl ProtocolMismatch {
    /// A mismatch with the version the other side named.
    pub fn new(theirs: String) -> Self {
        Self { theirs }
    }

    /// The body the API answers with `409`.
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody {
            error: MISMATCH_ERROR.to_owned(),
            message: format!(
                "this API speaks agent protocol version {VERSION}, the agent sent {}; \
                 install the agent that ships with this API",
                self.theirs
            ),
        }
    }
}

/// Checks the [`HEADER`] of an agent's request (API side): `Ok` only for [`VERSION`].
pub fn check_request_header(value: Option<&str>) -> Result<(), ProtocolMismatch> {
    match value.map(str::trim) {
        Some(text) if text.parse::<u32>() == Ok(VERSION) => Ok(()),
        Some(text) => Err(ProtocolMismatch::new(shown(text))),
        None => Err(ProtocolMismatch::new("no version".to_owned())),
    }
}

/// At most 16 characters of a received header, so a huge one cannot flood a message.
fn shown(text: &str) -> String {
    text.chars().take(16).collect()
}

/// The body of every error answer of the API: `{"error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, such as [`MISMATCH_ERROR`].
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ErrorBody {
    /// True when the API refused the agent's protocol version.
    pub fn is_protocol_mismatch(&self) -> bool {
        self.error == MISMATCH_ERROR
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_round_trips_and_refuses_other_versions() {
        assert_eq!(serde_json::to_string(&ProtocolTag).expect("json"), "1");
        assert_eq!(
            serde_json::from_str::<ProtocolTag>("1").expect("json"),
            ProtocolTag
        );
        let err = serde_json::from_str::<ProtocolTag>("2").expect_err("version 2 refused");
        assert!(err.to_string().contains("mismatch"), "{err}");
    }

    #[test]
    fn the_header_check_accepts_only_this_version() {
        assert_eq!(check_request_header(Some("1")), Ok(()));
        assert_eq!(check_request_header(Some(" 1 ")), Ok(()));
        let other = check_request_header(Some("2")).expect_err("2 refused");
        assert_eq!(other.theirs, "2");
        assert!(check_request_header(None).is_err());
        let long = "9".repeat(1000);
        let refused = check_request_header(Some(&long)).expect_err("refused");
        assert_eq!(refused.theirs.len(), 16);
    }

    #[test]
    fn the_mismatch_body_names_both_versions_and_is_recognised() {
        let body = ProtocolMismatch::new("2".to_owned()).to_error_body();
        assert!(body.is_protocol_mismatch());
        assert!(body.message.contains("version 1"), "{}", body.message);
        assert!(body.message.contains("sent 2"), "{}", body.message);
        let json = serde_json::to_string(&body).expect("json");
        let back: ErrorBody = serde_json::from_str(&json).expect("json");
        assert_eq!(back, body);
        let other = ErrorBody {
            error: "unauthorized".to_owned(),
            message: String::new(),
        };
        assert!(!other.is_protocol_mismatch());
    }
}
