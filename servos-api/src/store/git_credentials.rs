//! Queries on `git_credentials`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::git_credentials;
use super::DbConn;

/// A stored git credential; `token` is sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = git_credentials)]
pub struct GitCredentialRow {
    /// UUID.
    pub id: String,
    /// Unique name among live credentials.
    pub name: String,
    /// `github`, `gitlab`, `gitea`, `forgejo` or `other`.
    pub provider: String,
    /// User name, where the provider wants one with the token.
    pub username: Option<String>,
    /// Sealed token.
    pub token: String,
    /// Data key of `token`.
    pub token_key_id: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// Stores a credential.
pub fn insert(conn: &mut DbConn, row: &GitCredentialRow) -> QueryResult<()> {
    diesel::insert_into(git_credentials::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Live credentials by name.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<GitCredentialRow>> {
    git_credentials::table
        .filter(git_credentials::deleted_at.is_null())
        .order(git_credentials::name.asc())
        .select(GitCredentialRow::as_select())
        .load(conn)
}

/// A live credential by id.
pub fn find_live(conn: &mut DbConn, id: &str) -> QueryResult<Option<GitCredentialRow>> {
    git_credentials::table
        .filter(git_credentials::id.eq(id))
        .filter(git_credentials::deleted_at.is_null())
        .select(GitCredentialRow::as_select())
        .first(conn)
        .optional()
}

/// True when a live credential has this name.
pub fn name_taken(conn: &mut DbConn, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        git_credentials::table
            .filter(git_credentials::name.eq(name))
            .filter(git_credentials::deleted_at.is_null()),
    ))
    .get_result(conn)
}

/// The sealed token of a live credential and its data key id.
pub fn sealed_token(
    conn: &mut DbConn,
    id: &str,
) -> QueryResult<Option<super::sealed::SealedValue>> {
    git_credentials::table
        .filter(git_credentials::id.eq(id))
        .filter(git_credentials::deleted_at.is_null())
        .select((
            git_credentials::token.nullable(),
            git_credentials::token_key_id.nullable(),
        ))
        .first(conn)
        .optional()
}

/// Soft-deletes a live credential.
pub fn soft_delete(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        git_credentials::table
            .filter(git_credentials::id.eq(id))
            .filter(git_credentials::deleted_at.is_null()),
    )
    .set((
        git_credentials::deleted_at.eq(Some(now)),
        git_credentials::updated_at.eq(now),
    ))
    .execute(conn)
}
