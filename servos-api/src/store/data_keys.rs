//! Queries on `data_keys`: the keyring.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::data_keys;
use super::DbConn;

/// A data key, wrapped under the master key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = data_keys)]
pub struct DataKeyRow {
    /// `dk-` id stored next to every value it seals.
    pub id: String,
    /// Order of creation; the highest seals new values.
    pub generation: i64,
    /// The key, sealed under the master key.
    pub wrapped: String,
    /// Id of the master key that sealed `wrapped`.
    pub master_key_id: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// Every data key, oldest first.
pub fn all(conn: &mut DbConn) -> QueryResult<Vec<DataKeyRow>> {
    data_keys::table
        .order(data_keys::generation.asc())
        .select(DataKeyRow::as_select())
        .load(conn)
}

/// The newest data key.
pub fn newest(conn: &mut DbConn) -> QueryResult<Option<DataKeyRow>> {
    data_keys::table
        .order(data_keys::generation.desc())
        .select(DataKeyRow::as_select())
        .first(conn)
        .optional()
}

/// One data key by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<DataKeyRow>> {
    data_keys::table
        .filter(data_keys::id.eq(id))
        .select(DataKeyRow::as_select())
        .first(conn)
        .optional()
}

/// Stores a new data key.
pub fn insert(conn: &mut DbConn, row: &DataKeyRow) -> QueryResult<()> {
    diesel::insert_into(data_keys::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Replaces a key's wrapping (master key rotation).
pub fn rewrap(
    conn: &mut DbConn,
    id: &str,
    wrapped: &str,
    master_key_id: &str,
) -> QueryResult<usize> {
    diesel::update(data_keys::table.filter(data_keys::id.eq(id)))
        .set((
            data_keys::wrapped.eq(wrapped),
            data_keys::master_key_id.eq(master_key_id),
        ))
        .execute(conn)
}

/// Deletes a data key (only once no value uses it).
pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(data_keys::table.filter(data_keys::id.eq(id))).execute(conn)
}
