//! The services' error type: what went wrong, in the domain's terms.
//!
//! Services (accounts, applications, servers, deployments, ...) return
//! [`ServiceError`]; `http/error.rs` maps it to an HTTP status and a stable
//! code, and the web UI to a page or a form error. Messages never hold a
//! secret value; internal causes are logged, never shown.

/// Everything a service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field of the request is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong, without echoing secret input.
        message: String,
    },
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
    /// No such resource.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state (a taken name, a
    /// deployment already running, ...).
    #[error("{message}")]
    Conflict {
        /// The field whose value conflicts, when one does.
        field: Option<&'static str>,
        /// What conflicts.
        message: String,
    },
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
    /// The database is unavailable (no connection, or the one in use was
    /// lost); a retry shortly after may succeed.
    #[error("the database is unavailable; retry shortly")]
    Unavailable,
    /// The database's storage has no room for the change (the data
    /// directory's filesystem is full); nothing was saved.
    #[error("the data directory is full: the change was not saved; free space on its filesystem and retry")]
    StorageFull,
    /// Anything else; the cause is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl ServiceError {
    /// An invalid field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A conflict with the current state that no single field causes.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            field: None,
            message: message.into(),
        }
    }

    /// A conflict caused by the value of `field` (a name already taken).
    pub fn conflict_on(field: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: Some(field),
            message: message.into(),
        }
    }

    /// An internal failure; `cause` is logged where the error is answered.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}
