//! The HTTP error type: a service's [`ServiceError`] or a refusal of the
//! HTTP layer itself, each with its status and stable code.
//!
//! Internal causes are logged once, with the request id, and never sent to
//! the client, which only sees `{"error": code, "message": text}` (and
//! `field` when one field is at fault).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::ServiceError;

/// The `Retry-After` (seconds) of a 503: about what a database restart or a
/// replaced connection takes.
pub const RETRY_UNAVAILABLE_AFTER: u64 = 2;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// What a service refused or failed with.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not acceptable JSON.
    #[error("{0}")]
    BadJson(String),
    /// The body is larger than the limit.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body did not arrive within the request time limit.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// The route is explicitly denied to everyone.
    #[error("this operation is not allowed")]
    Blocked,
    /// A state-changing request from another site.
    #[error("cross-origin request refused")]
    ForeignOrigin,
    /// A web form without the session's CSRF token (or with a wrong one).
    #[error("this form has expired or did not come from this site; reload the page and try again")]
    CsrfRejected,
    /// An agent that speaks another protocol version.
    #[error("{}", .0.to_error_body().message)]
    AgentProtocol(servos_common::protocol::ProtocolMismatch),
    /// No such method on this resource.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the resource has, for the `Allow` header.
        allow: String,
    },
}

impl ApiError {
    /// An invalid field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::invalid(field, message).into()
    }

    /// An internal failure; `cause` is logged when the response is built.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ServiceError::internal(cause).into()
    }

    /// Not found.
    pub fn not_found() -> Self {
        ServiceError::NotFound.into()
    }

    /// No (valid) credentials.
    pub fn unauthenticated() -> Self {
        ServiceError::Unauthenticated.into()
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Service(e) => service_code(e),
            Self::BadJson(_) => "invalid_json",
            Self::TooLarge { .. } => "too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Blocked => "blocked",
            Self::ForeignOrigin => "foreign_origin",
            Self::CsrfRejected => "csrf_rejected",
            Self::AgentProtocol(_) => servos_common::protocol::MISMATCH_ERROR,
            Self::MethodNotAllowed { .. } => "method_not_allowed",
        }
    }
}

fn service_code(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::Invalid { .. } => "invalid_field",
        ServiceError::Unauthenticated => "unauthenticated",
        ServiceError::InvalidCredentials => "invalid_credentials",
        ServiceError::InvalidSetupToken => "invalid_setup_token",
        ServiceError::Forbidden => "forbidden",
        ServiceError::NotFound => "not_found",
        ServiceError::Conflict { .. } => "conflict",
        ServiceError::Gone => "gone",
        ServiceError::TooManyRequests { .. } => "rate_limited",
        ServiceError::Undecryptable => "undecryptable",
        ServiceError::Upstream(_) => "server_unreachable",
        ServiceError::Unavailable => "unavailable",
        ServiceError::StorageFull => "storage_full",
        ServiceError::Internal(_) => "internal",
    }
}

fn service_status(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Invalid { .. } => StatusCode::BAD_REQUEST,
        ServiceError::Unauthenticated
        | ServiceError::InvalidCredentials
        | ServiceError::InvalidSetupToken => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden => StatusCode::FORBIDDEN,
        ServiceError::NotFound => StatusCode::NOT_FOUND,
        ServiceError::Conflict { .. } => StatusCode::CONFLICT,
        ServiceError::Gone => StatusCode::GONE,
        ServiceError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::Undecryptable => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::Upstream(_) => StatusCode::BAD_GATEWAY,
        ServiceError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
/// Body of every error response.
pub struct ErrorBody {
    /// Stable code, e.g. `invalid_field`.
    pub error: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The field at fault, for `invalid_field` and some `conflict`s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Service(e) => service_status(e),
            Self::BadJson(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Blocked | Self::ForeignOrigin | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::AgentProtocol(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let mut field = None;
        match self {
            Self::Service(ServiceError::Internal(cause)) => {
                tracing::error!(cause = %cause, "request failed");
            }
            Self::Service(ServiceError::TooManyRequests { retry_after }) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
            }
            Self::Service(ServiceError::Unavailable) => {
                response.insert_header((
                    header::RETRY_AFTER,
                    HeaderValue::from(RETRY_UNAVAILABLE_AFTER),
                ));
            }
            Self::Service(ServiceError::Unauthenticated) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::Service(ServiceError::Invalid { field: f, .. }) => field = Some(*f),
            Self::Service(ServiceError::Conflict { field: f, .. }) => field = *f,
            // The rest of a stalled body is not worth waiting for.
            Self::RequestTimeout => {
                response.force_close();
            }
            Self::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.insert_header((header::ALLOW, value));
                }
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
            field,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_failures_answer_their_own_status_and_code() {
        let unavailable = ApiError::from(ServiceError::Unavailable);
        let response = unavailable.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.code(), "unavailable");
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(RETRY_UNAVAILABLE_AFTER))
        );
        let full = ApiError::from(ServiceError::StorageFull);
        assert_eq!(
            full.error_response().status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
        assert_eq!(full.code(), "storage_full");
        assert!(full.to_string().contains("data directory is full"));
    }
}
