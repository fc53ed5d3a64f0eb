//! Queries on `api_tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::UserId;
use super::schema::{api_tokens, users};
use super::users::UserRow;
use super::DbConn;

/// A stored API token (its hash only).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiTokenRow {
    /// UUID.
    pub id: String,
    /// Owner.
    pub user_id: UserId,
    /// Operator-chosen label.
    pub name: String,
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// Role granted (never above the owner's).
    pub role: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Optional expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Last successful use.
    pub last_used_at: Option<NaiveDateTime>,
    /// Revocation time.
    pub revoked_at: Option<NaiveDateTime>,
}

/// Stores a new token.
pub fn insert(conn: &mut DbConn, row: &ApiTokenRow) -> QueryResult<()> {
    diesel::insert_into(api_tokens::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// An unrevoked token with its live owner, by hash.
pub fn find_active_with_user(
    conn: &mut DbConn,
    token_hash: &str,
) -> QueryResult<Option<(ApiTokenRow, UserRow)>> {
    api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .filter(users::deleted_at.is_null())
        .select((ApiTokenRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}

/// One token by id, revoked or not.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<ApiTokenRow>> {
    api_tokens::table
        .filter(api_tokens::id.eq(id))
        .select(ApiTokenRow::as_select())
        .first(conn)
        .optional()
}

/// Tokens, newest first; all users' when `user_id` is `None`.
pub fn list(conn: &mut DbConn, user_id: Option<&UserId>) -> QueryResult<Vec<ApiTokenRow>> {
    let mut query = api_tokens::table
        .select(ApiTokenRow::as_select())
        .order((api_tokens::created_at.desc(), api_tokens::id.asc()))
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(api_tokens::user_id.eq(user_id.clone()));
    }
    query.load(conn)
}

/// Records a use of the token.
pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(api_tokens::table.filter(api_tokens::id.eq(id)))
        .set(api_tokens::last_used_at.eq(Some(now)))
        .execute(conn)
}

/// Revokes an unrevoked token.
pub fn revoke(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// Revokes every unrevoked token of a user.
pub fn revoke_for_user(
    conn: &mut DbConn,
    user_id: &UserId,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
}
