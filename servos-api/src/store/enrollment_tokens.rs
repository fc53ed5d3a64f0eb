//! Queries on `enrollment_tokens`: one-time tokens that enroll a server's
//! agent, stored as SHA-256.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::ServerId;
use super::schema::enrollment_tokens;
use super::DbConn;

/// A stored enrollment token.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = enrollment_tokens)]
pub struct EnrollmentTokenRow {
    /// UUID.
    pub id: String,
    /// The server it enrolls.
    pub server_id: ServerId,
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Who made it (`user:<id>`, `api_token:<id>`, `system`).
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// When it stops working.
    pub expires_at: NaiveDateTime,
    /// When it was used (once).
    pub used_at: Option<NaiveDateTime>,
}

/// Stores a token.
pub fn insert(conn: &mut DbConn, row: &EnrollmentTokenRow) -> QueryResult<()> {
    diesel::insert_into(enrollment_tokens::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The token with this hash, used or not.
pub fn by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<EnrollmentTokenRow>> {
    enrollment_tokens::table
        .filter(enrollment_tokens::token_hash.eq(token_hash))
        .select(EnrollmentTokenRow::as_select())
        .first(conn)
        .optional()
}

/// Marks token `id` used, if it is unused and unexpired at `now`; 0 when
/// another request used it first or it expired.
pub fn use_once(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        enrollment_tokens::table
            .filter(enrollment_tokens::id.eq(id))
            .filter(enrollment_tokens::used_at.is_null())
            .filter(enrollment_tokens::expires_at.gt(now)),
    )
    .set(enrollment_tokens::used_at.eq(Some(now)))
    .execute(conn)
}
