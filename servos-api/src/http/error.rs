//! The one application error type, its HTTP status and stable code.
//!
//! Internal causes are logged once, with the request id, and never sent to
//! the client, which only sees `{"error": code, "message": text}`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field of the request is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong, without echoing secret input.
        message: String,
    },
    /// The body is not acceptable JSON.
    #[error("{0}")]
    BadJson(String),
    /// No (valid) credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Wrong email or password.
    #[error("email or password is incorrect")]
    InvalidCredentials,
    /// Wrong setup token.
    #[error("setup token is incorrect")]
    InvalidSetupToken,
    /// Authenticated, but the role is too low.
    #[error("your role does not allow this")]
    Forbidden,
    /// The route is explicitly denied to everyone.
    #[error("this operation is not allowed")]
    Blocked,
    /// A state-changing request from another site.
    #[error("cross-origin request refused")]
    ForeignOrigin,
    /// A web form without the session's CSRF token (or with a wrong one).
    #[error("this form has expired or did not come from this site; reload the page and try again")]
    CsrfRejected,
    /// No such resource.
    #[error("not found")]
    NotFound,
    /// No such method on this resource.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The resource is gone for good (setup after the first admin).
    #[error("setup is already complete")]
    Gone,
    /// Too many requests; retry after the given seconds.
    #[error("too many requests; retry later")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// A stored secret does not decrypt (damaged or tampered); it fails alone.
    #[error("this stored secret cannot be decrypted; re-enter it")]
    Undecryptable,
    /// A server could not be reached or refused us over SSH.
    #[error("{0}")]
    Upstream(String),
    /// A dependency (the database) is unavailable.
    #[error("service unavailable")]
    Unavailable,
    /// Anything else; the cause is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// An invalid field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A conflict with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// An internal failure; `cause` is logged when the response is built.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::BadJson(_) => "invalid_json",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidSetupToken => "invalid_setup_token",
            Self::Forbidden => "forbidden",
            Self::Blocked => "blocked",
            Self::ForeignOrigin => "foreign_origin",
            Self::CsrfRejected => "csrf_rejected",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::Gone => "gone",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Undecryptable => "undecryptable",
            Self::Upstream(_) => "server_unreachable",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
/// Body of every error response.
pub struct ErrorBody {
    /// Stable code, e.g. `invalid_field`.
    pub error: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The field at fault, for `invalid_field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } | Self::BadJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::InvalidCredentials | Self::InvalidSetupToken => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden | Self::Blocked | Self::ForeignOrigin | Self::CsrfRejected => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone => StatusCode::GONE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Undecryptable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(cause = %cause, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::TooManyRequests { retry_after } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
        }
        if matches!(self, Self::Unauthenticated) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
            field: match self {
                Self::Invalid { field, .. } => Some(field),
                _ => None,
            },
        })
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Self::internal(format_args!("database: {e}"))
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::error!(error = %e, "no database connection available");
        Self::Unavailable
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::internal(e)
    }
}
