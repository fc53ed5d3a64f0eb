//! Submitted HTML forms and the errors shown next to their fields.
//!
//! A [`Form`] is only ever built by the CSRF middleware after the token
//! checked out, so a handler that takes one cannot run on a forged POST.
//! Values are zeroized when the form is dropped; secret fields are taken
//! out as [`SecretText`].

use std::collections::BTreeMap;
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};
use servos_common::secret::SecretText;
use zeroize::Zeroizing;

use crate::error::ServiceError;
use crate::http::error::ApiError;

/// The fields of a submitted `application/x-www-form-urlencoded` body, in order.
#[derive(Default)]
pub struct Form {
    pairs: Vec<(String, Zeroizing<String>)>,
}

/// Names only: a form may hold passwords and secret values.
impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Form {
    /// Parses a urlencoded body; a body that does not parse is refused.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let raw: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| ApiError::invalid("form", "is not a valid form submission"))?;
        Ok(Self {
            pairs: raw
                .into_iter()
                .map(|(name, value)| (name, Zeroizing::new(value)))
                .collect(),
        })
    }

    /// The first value of `name`, as sent (`""` when absent).
    pub fn raw(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed (`""` when absent).
    pub fn text(&self, name: &str) -> String {
        self.raw(name).trim().to_owned()
    }

    /// The trimmed value of `name`, or `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    /// Every value of `name` (checkbox groups, multi-selects), trimmed.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// True when a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// Takes the value of a secret field out of the form, as sent.
    pub fn secret(&mut self, name: &str) -> SecretText {
        let value = self
            .pairs
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, v)| std::mem::take(&mut **v))
            .unwrap_or_default();
        SecretText::new(value)
    }

    /// Takes a secret field, or `None` when it was left empty.
    pub fn optional_secret(&mut self, name: &str) -> Option<SecretText> {
        Some(self.secret(name)).filter(|s| !s.expose().is_empty())
    }

    /// Takes the value of a secret `<textarea>` as its text was, or `None`
    /// when it was left empty. A textarea holds its line breaks as LF, but
    /// HTML submits each as CRLF, so every CRLF becomes LF again; nothing
    /// else changes (no trimming, a last line break kept).
    pub fn optional_secret_lines(&mut self, name: &str) -> Option<SecretText> {
        let sent = self.optional_secret(name)?;
        if !sent.expose().contains("\r\n") {
            return Some(sent);
        }
        Some(SecretText::new(sent.expose().replace("\r\n", "\n")))
    }

    /// The names of the fields, in order (for editors with numbered rows).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| n.as_str())
    }
}

impl FromRequest for Form {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// Only the CSRF middleware stores a form; without one the POST is refused.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions_mut()
                .remove::<Form>()
                .ok_or(ApiError::CsrfRejected),
        )
    }
}

/// Errors of a submitted form: per field, and for the form as a whole.
#[derive(Debug, Default)]
pub struct FieldErrors {
    fields: Vec<(String, String)>,
    /// A problem that belongs to no one field (a name already taken, ...).
    pub general: Option<String>,
}

impl FieldErrors {
    /// The message for `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// Records a problem with `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields.push((field.to_owned(), message.into()));
    }

    /// Splits a service error: what the user can fix in the form becomes a
    /// field (or general) error; anything else stays an error to answer.
    /// Field names given by the service are mapped through `rename` to the
    /// form's own names.
    pub fn from_service(e: ServiceError, rename: &[(&str, &str)]) -> Result<Self, ServiceError> {
        let mut errors = Self::default();
        let renamed = |field: &'static str| {
            rename
                .iter()
                .find(|(from, _)| *from == field)
                .map_or(field, |(_, to)| *to)
        };
        match e {
            ServiceError::Invalid { field, message }
            | ServiceError::Conflict {
                field: Some(field),
                message,
            } => errors.add(renamed(field), message),
            ServiceError::Conflict {
                field: None,
                message,
            } => errors.general = Some(message),
            other => return Err(other),
        }
        Ok(errors)
    }
}

/// Parses `key=value` lines (labels); blank lines are skipped.
pub fn key_value_lines(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {} is not key=value", number + 1));
        };
        map.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(map)
}

/// The `key=value` lines of a map, for a textarea.
pub fn key_value_text(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_takes_secrets() {
        let mut form =
            Form::parse(b"name=+web-1+&role=run&role=build&ok=on&pw=s%26cret").expect("parses");
        assert_eq!(form.text("name"), "web-1");
        assert_eq!(form.all("role"), ["run", "build"]);
        assert!(form.checked("ok") && !form.checked("missing"));
        assert_eq!(form.secret("pw").expose(), "s&cret");
        assert_eq!(form.raw("pw"), "", "a secret is taken out");
        assert_eq!(form.optional("missing"), None);
    }

    #[test]
    fn secret_lines_are_kept_byte_for_byte() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQ==\n-----END PRIVATE KEY-----\n";
        let as_browser = serde_urlencoded::to_string([
            ("file", pem.replace('\n', "\r\n").as_str()),
            ("raw", "  a\n\tb\r\n\n "),
            ("lone", "a\rb\nc"),
            ("empty", ""),
        ])
        .expect("encodes");
        let mut form = Form::parse(as_browser.as_bytes()).expect("parses");
        assert_eq!(
            form.optional_secret_lines("file")
                .map(|s| s.expose().to_owned()),
            Some(pem.to_owned()),
            "HTML's CRLF back to the LF the textarea held"
        );
        assert_eq!(
            form.optional_secret_lines("raw")
                .map(|s| s.expose().to_owned()),
            Some("  a\n\tb\n\n ".to_owned()),
            "no trimming, no other change"
        );
        assert_eq!(
            form.optional_secret("lone").map(|s| s.expose().to_owned()),
            Some("a\rb\nc".to_owned()),
            "the parser itself changes no byte"
        );
        assert!(form.optional_secret_lines("empty").is_none());
        assert!(form.optional_secret_lines("missing").is_none());
    }

    #[test]
    fn service_errors_become_field_errors() {
        let errors = FieldErrors::from_service(
            ServiceError::invalid("limits.memory_bytes", "too small"),
            &[("limits.memory_bytes", "memory_mib")],
        )
        .expect("a field error");
        assert_eq!(errors.get("memory_mib"), Some("too small"));
        let errors =
            FieldErrors::from_service(ServiceError::conflict("busy"), &[]).expect("general");
        assert_eq!(errors.general.as_deref(), Some("busy"));
        let errors = FieldErrors::from_service(ServiceError::conflict_on("name", "taken"), &[])
            .expect("a field error");
        assert_eq!(errors.get("name"), Some("taken"));
        assert!(FieldErrors::from_service(ServiceError::NotFound, &[]).is_err());
    }

    #[test]
    fn labels_round_trip() {
        let map = key_value_lines("a=1\n\n b = x=y \n").expect("parses");
        assert_eq!(map.get("b").map(String::as_str), Some("x=y"));
        assert_eq!(key_value_lines(&key_value_text(&map)), Ok(map));
        assert!(key_value_lines("novalue").is_err());
    }
}
