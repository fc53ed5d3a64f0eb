//! Strict JSON bodies: `application/json` only, at most
//! [`MAX_BODY_BYTES`] (413 beyond, with or without a `Content-Length`),
//! within the request time limit (408 after), unknown fields refused, an
//! object that names a key twice refused (at any depth: `crate::unique_json`),
//! server-managed fields (ids, timestamps, owner) silently dropped, and
//! error messages that name fields but never echo values.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::http::app::MAX_BODY_BYTES;
use crate::http::error::ApiError;
use crate::http::request_body;
use crate::unique_json;

/// Fields the server sets itself; ignored when a client sends them.
const SERVER_MANAGED: [&str; 6] = [
    "id",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "owner",
];

/// A JSON body of type `T` (which should `deny_unknown_fields`).
#[derive(Debug)]
pub struct StrictJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for StrictJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::BadJson(
                    "Content-Type must be application/json".into(),
                ));
            }
            let bytes = body.await.map_err(|e| {
                request_body::refusal(&e, MAX_BODY_BYTES)
                    .unwrap_or_else(|| ApiError::BadJson("body is unreadable".into()))
            })?;
            parse(&bytes).map(StrictJson)
        })
    }
}

/// Parses a body as described in the module documentation.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value =
        unique_json::from_slice(bytes).map_err(|e| ApiError::BadJson(format!("body {e}")))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| ApiError::BadJson("body must be a JSON object".into()))?;
    for field in SERVER_MANAGED {
        object.remove(field);
    }
    serde_json::from_value(value).map_err(|e| ApiError::BadJson(describe(&e)))
}

/// serde's messages for unknown/missing fields name only fields; others may
/// quote the offending value, so they are replaced.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("unknown field") || text.starts_with("missing field") {
        text
    } else {
        "a field has the wrong type or an invalid value".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
    }

    #[test]
    fn strict_parsing() {
        let ok: Body =
            parse(br#"{"name":"a","id":"x","created_at":1}"#).expect("server fields dropped");
        assert_eq!(ok.name, "a");
        let unknown = parse::<Body>(br#"{"name":"a","admin":true}"#)
            .err()
            .map(|e| e.to_string());
        assert!(unknown.is_some_and(|m| m.contains("unknown field `admin`")));
        let leaked = parse::<Body>(br#"{"name":["hunter2-secret"]}"#)
            .err()
            .map(|e| e.to_string());
        assert!(leaked.is_some_and(|m| !m.contains("hunter2")));
        assert!(parse::<Body>(b"[1]").is_err());
    }

    /// An object of objects of text, like the environment's `set`.
    type Nested = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

    fn message<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        match parse::<T>(body.as_bytes()) {
            Err(ApiError::BadJson(message)) => message,
            other => panic!("{body} was not refused as bad JSON: {other:?}"),
        }
    }

    #[test]
    fn repeated_keys_are_refused_by_name_without_values() {
        let top = message::<Body>(r#"{"name":"a","name":"b"}"#);
        assert!(top.contains("key `name` twice"), "{top}");
        let nested = message::<Nested>(r#"{"inner":{"TOKEN":"s3cret-1","TOKEN":"s3cret-2"}}"#);
        assert!(nested.contains("key `TOKEN` twice"), "{nested}");
        assert!(!nested.contains("s3cret"), "{nested}");
        let managed = message::<Body>(r#"{"name":"a","id":"x","id":"y"}"#);
        assert!(
            managed.contains("key `id` twice"),
            "checked before server fields are dropped: {managed}"
        );
        let syntax = message::<Body>(r#"{"name":"#);
        assert!(
            syntax.starts_with("body is not valid JSON (line 1"),
            "{syntax}"
        );
    }
}
