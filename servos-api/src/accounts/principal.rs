//! The authenticated caller of a request.

use crate::audit::Actor;
use crate::store::ids::UserId;

use super::role::Role;

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session.
    Session {
        /// SHA-256 of the cookie value.
        id_hash: String,
    },
    /// An API token.
    ApiToken {
        /// Token id.
        id: String,
        /// Token name.
        name: String,
    },
}

/// An authenticated user, acting through a session or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// The user's email.
    pub email: String,
    /// Effective role: the user's, or the token's if lower.
    pub role: Role,
    /// The credential used.
    pub via: Credential,
}

impl Principal {
    /// The actor recorded in audit entries.
    pub fn actor(&self) -> Actor {
        match &self.via {
            Credential::Session { .. } => Actor::User {
                id: self.user_id.to_string(),
                email: self.email.clone(),
            },
            Credential::ApiToken { id, name } => Actor::ApiToken {
                id: id.clone(),
                label: format!("{name} ({})", self.email),
            },
        }
    }
}
