//! What can go wrong talking to the API, sorted by what the agent does about it.

use servos_common::protocol::ErrorBody;

use crate::error_text::with_causes;

/// A failed call to the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API speaks another protocol version: keep the mesh as it is and tell the operator.
    #[error("the API refused this agent's protocol version: {0}")]
    ProtocolMismatch(String),
    /// The token was refused (wrong, used, expired or revoked).
    #[error("the API refused the token ({0})")]
    Unauthorized(String),
    /// Any other error answer.
    #[error("the API answered {status}: {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's error code and message, or what could be read of the body.
        detail: String,
    },
    /// The answer is not the message this protocol version expects.
    #[error("the API's answer cannot be read: {0}")]
    BadAnswer(String),
    /// No answer: connection, TLS (including a certificate that is not the
    /// pinned one) or timeout.
    #[error("cannot reach the API: {0}")]
    Unreachable(String),
}

impl ApiError {
    /// An error answer from its status and body.
    pub(super) fn from_answer(status: u16, body: &[u8]) -> Self {
        let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
        let detail = match &parsed {
            Some(body) => body.to_string(),
            None => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        };
        match (status, parsed) {
            (409, Some(body)) if body.is_protocol_mismatch() => {
                Self::ProtocolMismatch(body.message)
            }
            (401, _) => Self::Unauthorized(detail),
            _ => Self::Refused { status, detail },
        }
    }

    /// A transport error, with its whole chain of causes (a TLS refusal is
    /// only visible in the innermost one).
    pub(super) fn transport(err: &reqwest::Error) -> Self {
        Self::Unreachable(with_causes(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_answer_is_recognised_with_its_message() {
        let body = br#"{"error":"agent_protocol_mismatch","message":"this API speaks agent protocol version 2"}"#;
        match ApiError::from_answer(409, body) {
            ApiError::ProtocolMismatch(message) => {
                assert_eq!(message, "this API speaks agent protocol version 2")
            }
            other => panic!("not a mismatch: {other:?}"),
        }
    }

    #[test]
    fn other_answers_keep_their_status_and_code() {
        let conflict = br#"{"error":"conflict","message":"taken","field":"name"}"#;
        assert!(matches!(
            ApiError::from_answer(409, conflict),
            ApiError::Refused { status: 409, .. }
        ));
        assert!(matches!(
            ApiError::from_answer(401, b"{}"),
            ApiError::Unauthorized(_)
        ));
        let text = ApiError::from_answer(502, b"<html>bad gateway</html>").to_string();
        assert!(
            text.contains("502") && text.contains("bad gateway"),
            "{text}"
        );
    }
}
