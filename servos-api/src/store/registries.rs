//! Queries on `registries`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::registries;
use super::DbConn;

/// A stored registry credential; `password` is sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = registries)]
pub struct RegistryRow {
    /// UUID.
    pub id: String,
    /// Unique name among live credentials.
    pub name: String,
    /// Registry host (`registry.example.com:5000`).
    pub host: String,
    /// User name.
    pub username: String,
    /// Sealed password or token.
    pub password: String,
    /// Data key of `password`.
    pub password_key_id: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// Stores a credential.
pub fn insert(conn: &mut DbConn, row: &RegistryRow) -> QueryResult<()> {
    diesel::insert_into(registries::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A live credential by id.
pub fn find_live(conn: &mut DbConn, id: &str) -> QueryResult<Option<RegistryRow>> {
    registries::table
        .filter(registries::id.eq(id))
        .filter(registries::deleted_at.is_null())
        .select(RegistryRow::as_select())
        .first(conn)
        .optional()
}

/// True when a live credential has this name.
pub fn name_taken(conn: &mut DbConn, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        registries::table
            .filter(registries::name.eq(name))
            .filter(registries::deleted_at.is_null()),
    ))
    .get_result(conn)
}

/// Live credentials by name.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<RegistryRow>> {
    registries::table
        .filter(registries::deleted_at.is_null())
        .order(registries::name.asc())
        .select(RegistryRow::as_select())
        .load(conn)
}

/// Soft-deletes a live credential.
pub fn soft_delete(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        registries::table
            .filter(registries::id.eq(id))
            .filter(registries::deleted_at.is_null()),
    )
    .set((
        registries::deleted_at.eq(Some(now)),
        registries::updated_at.eq(now),
    ))
    .execute(conn)
}

/// The sealed password of a live credential and its data key id.
pub fn sealed_password(
    conn: &mut DbConn,
    id: &str,
) -> QueryResult<Option<super::sealed::SealedValue>> {
    registries::table
        .filter(registries::id.eq(id))
        .filter(registries::deleted_at.is_null())
        .select((
            registries::password.nullable(),
            registries::password_key_id.nullable(),
        ))
        .first(conn)
        .optional()
}
