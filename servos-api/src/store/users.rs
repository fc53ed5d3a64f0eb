//! Queries on `users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::UserId;
use super::schema::users;
use super::DbConn;

/// A stored account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// UUID.
    pub id: UserId,
    /// Lowercased email, unique among live accounts.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// `admin`, `deployer` or `viewer`.
    pub role: String,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
    /// Soft-deletion time (UTC).
    pub deleted_at: Option<NaiveDateTime>,
}

/// Inserts a new account.
pub fn insert(conn: &mut DbConn, row: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A live (not deleted) account by id.
pub fn find_live(conn: &mut DbConn, id: &UserId) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::id.eq(id))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// A live account by (lowercased) email.
pub fn find_live_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// All live accounts, oldest first.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::deleted_at.is_null())
        .order((users::created_at.asc(), users::id.asc()))
        .select(UserRow::as_select())
        .load(conn)
}

/// Number of live admin accounts.
pub fn count_live_admins(conn: &mut DbConn) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::deleted_at.is_null())
        .count()
        .get_result(conn)
}

/// Changes a live account's role.
pub fn set_role(
    conn: &mut DbConn,
    id: &UserId,
    role: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::deleted_at.is_null()),
    )
    .set((users::role.eq(role), users::updated_at.eq(now)))
    .execute(conn)
}

/// Replaces a live account's password hash.
pub fn set_password_hash(
    conn: &mut DbConn,
    id: &UserId,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::deleted_at.is_null()),
    )
    .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
    .execute(conn)
}

/// Soft-deletes a live account.
pub fn soft_delete(conn: &mut DbConn, id: &UserId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::deleted_at.is_null()),
    )
    .set((users::deleted_at.eq(Some(now)), users::updated_at.eq(now)))
    .execute(conn)
}
