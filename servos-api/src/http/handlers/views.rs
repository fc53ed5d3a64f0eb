//! Response bodies shared by several handlers. Timestamps are RFC 3339 UTC.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::accounts::role::Role;
use crate::http::error::ApiError;
use crate::store::api_tokens::ApiTokenRow;
use crate::store::ids::UserId;
use crate::store::users::UserRow;

/// An account, without its password hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for UserView {
    type Error = ApiError;

    fn try_from(row: UserRow) -> Result<Self, ApiError> {
        Ok(Self {
            role: Role::parse(&row.role).ok_or_else(|| {
                ApiError::internal(format_args!("user {} has an unknown role", row.id))
            })?,
            id: row.id,
            email: row.email,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// An API token's metadata (never the token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Token)]
pub struct TokenView {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: UserId,
    /// Label.
    pub name: String,
    /// Role granted.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use, if any.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiTokenRow> for TokenView {
    type Error = ApiError;

    fn try_from(row: ApiTokenRow) -> Result<Self, ApiError> {
        Ok(Self {
            role: Role::parse(&row.role).ok_or_else(|| {
                ApiError::internal(format_args!("token {} has an unknown role", row.id))
            })?,
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            created_at: row.created_at.and_utc(),
            expires_at: row.expires_at.map(|t| t.and_utc()),
            last_used_at: row.last_used_at.map(|t| t.and_utc()),
            revoked_at: row.revoked_at.map(|t| t.and_utc()),
        })
    }
}

/// Converts every row, failing on the first bad one.
pub fn all<R, V: TryFrom<R, Error = ApiError>>(rows: Vec<R>) -> Result<Vec<V>, ApiError> {
    rows.into_iter().map(V::try_from).collect()
}

/// How a secret field shows in list and get responses.
pub const MASK: &str = "********";

/// A revealed secret value (the only response that carries one).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revealed {
    /// The secret value.
    pub value: String,
}

impl From<servos_common::secret::SecretText> for Revealed {
    fn from(secret: servos_common::secret::SecretText) -> Self {
        Self {
            value: secret.expose().to_owned(),
        }
    }
}
