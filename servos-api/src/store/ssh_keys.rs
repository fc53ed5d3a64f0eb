//! Queries on `ssh_keys`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::ssh_keys;
use super::DbConn;

/// A stored SSH key; `private_key` and `passphrase` are sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ssh_keys)]
pub struct SshKeyRow {
    /// UUID.
    pub id: String,
    /// Unique name among live keys.
    pub name: String,
    /// `server` or `builder`.
    pub kind: String,
    /// `ed25519` or `rsa`.
    pub algorithm: String,
    /// OpenSSH public key line.
    pub public_key: String,
    /// `SHA256:...` fingerprint.
    pub fingerprint: String,
    /// Sealed private key.
    pub private_key: String,
    /// Data key of `private_key`.
    pub private_key_key_id: String,
    /// Sealed passphrase, if the key has one.
    pub passphrase: Option<String>,
    /// Data key of `passphrase`.
    pub passphrase_key_id: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// Stores a key.
pub fn insert(conn: &mut DbConn, row: &SshKeyRow) -> QueryResult<()> {
    diesel::insert_into(ssh_keys::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A live key by id.
pub fn find_live(conn: &mut DbConn, id: &str) -> QueryResult<Option<SshKeyRow>> {
    ssh_keys::table
        .filter(ssh_keys::id.eq(id))
        .filter(ssh_keys::deleted_at.is_null())
        .select(SshKeyRow::as_select())
        .first(conn)
        .optional()
}

/// True when a live key has this name.
pub fn name_taken(conn: &mut DbConn, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        ssh_keys::table
            .filter(ssh_keys::name.eq(name))
            .filter(ssh_keys::deleted_at.is_null()),
    ))
    .get_result(conn)
}

/// Live keys by name.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<SshKeyRow>> {
    ssh_keys::table
        .filter(ssh_keys::deleted_at.is_null())
        .order(ssh_keys::name.asc())
        .select(SshKeyRow::as_select())
        .load(conn)
}

/// Soft-deletes a live key.
pub fn soft_delete(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        ssh_keys::table
            .filter(ssh_keys::id.eq(id))
            .filter(ssh_keys::deleted_at.is_null()),
    )
    .set((
        ssh_keys::deleted_at.eq(Some(now)),
        ssh_keys::updated_at.eq(now),
    ))
    .execute(conn)
}

/// The sealed private key of a live key and its data key id.
pub fn sealed_private_key(
    conn: &mut DbConn,
    id: &str,
) -> QueryResult<Option<super::sealed::SealedValue>> {
    ssh_keys::table
        .filter(ssh_keys::id.eq(id))
        .filter(ssh_keys::deleted_at.is_null())
        .select((
            ssh_keys::private_key.nullable(),
            ssh_keys::private_key_key_id.nullable(),
        ))
        .first(conn)
        .optional()
}

/// The sealed passphrase of a live key (absent when it has none).
pub fn sealed_passphrase(
    conn: &mut DbConn,
    id: &str,
) -> QueryResult<Option<super::sealed::SealedValue>> {
    ssh_keys::table
        .filter(ssh_keys::id.eq(id))
        .filter(ssh_keys::deleted_at.is_null())
        .select((ssh_keys::passphrase, ssh_keys::passphrase_key_id))
        .first(conn)
        .optional()
}
