//! Flash messages: what a form POST says to the page it redirects to
//! ("Server web-1 added"). Carried in a short-lived cookie, shown once by
//! the next page and cleared with its response. Never carries a secret.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpResponse;
use base64::Engine as _;

use crate::error::ServiceError;

/// Name of the cookie.
pub const COOKIE: &str = "servos_flash";

/// Longest message kept, in bytes.
const MAX_TEXT: usize = 600;

/// How a message is styled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Something worked.
    Success,
    /// Something needs attention or failed.
    Error,
    /// Neutral information.
    Info,
}

impl Kind {
    /// The CSS modifier and stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Info => "info",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(Self::Success),
            "error" => Some(Self::Error),
            "info" => Some(Self::Info),
            _ => None,
        }
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// Its style.
    pub kind: Kind,
    /// The text (escaped when rendered).
    pub text: String,
}

impl Flash {
    /// A success message.
    pub fn success(text: impl Into<String>) -> Self {
        Self {
            kind: Kind::Success,
            text: text.into(),
        }
    }

    /// An error message.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: Kind::Error,
            text: text.into(),
        }
    }

    /// A neutral message.
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            kind: Kind::Info,
            text: text.into(),
        }
    }

    /// The cookie value: `kind:base64url(text)`.
    fn encode(&self) -> String {
        let mut text = self.text.clone();
        if text.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        format!("{}:{b64}", self.kind.as_str())
    }

    /// Reads a cookie value; anything malformed is ignored.
    pub fn decode(value: &str) -> Option<Self> {
        let (kind, b64) = value.split_once(':')?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        (text.len() <= MAX_TEXT).then_some(Self {
            kind: Kind::parse(kind)?,
            text,
        })
    }
}

fn cookie(value: String, secure: bool, max_age: CookieDuration) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(max_age)
        .finish()
}

/// The cookie that clears a shown message.
pub fn removal(secure: bool) -> Cookie<'static> {
    cookie(String::new(), secure, CookieDuration::ZERO)
}

/// `303 See Other` to `location` (a local path), with an optional message.
pub fn redirect(location: &str, flash: Option<Flash>, secure: bool) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location));
    if let Some(flash) = flash {
        response.cookie(cookie(flash.encode(), secure, CookieDuration::seconds(60)));
    }
    response.finish()
}

/// What a failed request tells the user on the next page: an upstream,
/// conflict or field error as an error flash naming `action` (no secret is
/// in these); other errors stay errors.
pub fn failure(action: &str, e: ServiceError) -> Result<Flash, ServiceError> {
    match e {
        ServiceError::Upstream(message) | ServiceError::Conflict { message, .. } => {
            Ok(Flash::error(format!("{action} failed: {message}")))
        }
        ServiceError::Invalid { field, message } => {
            Ok(Flash::error(format!("{action} failed: {field} {message}")))
        }
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_garbage() {
        let flash = Flash::success("Server \"web-1\" added; <b>ok</b>");
        assert_eq!(Flash::decode(&flash.encode()), Some(flash));
        assert_eq!(Flash::decode("bogus"), None);
        assert_eq!(Flash::decode("weird:aGk"), None);
        let long = Flash::info("é".repeat(MAX_TEXT));
        assert!(Flash::decode(&long.encode()).is_some_and(|f| f.text.len() <= MAX_TEXT));
    }
}
