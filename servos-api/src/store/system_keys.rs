//! Queries on `system_keys`: sealed values the database needs for itself.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::system_keys;
use super::DbConn;

/// A sealed system value.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = system_keys)]
pub struct SystemKeyRow {
    /// What the value is (`key_check`, `audit_chain_key`).
    pub name: String,
    /// Envelope text.
    pub value: String,
    /// Id of the key that sealed it.
    pub key_id: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// One value by name.
pub fn find(conn: &mut DbConn, name: &str) -> QueryResult<Option<SystemKeyRow>> {
    system_keys::table
        .filter(system_keys::name.eq(name))
        .select(SystemKeyRow::as_select())
        .first(conn)
        .optional()
}

/// Stores a value.
pub fn insert(conn: &mut DbConn, row: &SystemKeyRow) -> QueryResult<()> {
    diesel::insert_into(system_keys::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Replaces a value and the id of the key that sealed it.
pub fn replace(conn: &mut DbConn, name: &str, value: &str, key_id: &str) -> QueryResult<usize> {
    diesel::update(system_keys::table.filter(system_keys::name.eq(name)))
        .set((system_keys::value.eq(value), system_keys::key_id.eq(key_id)))
        .execute(conn)
}
