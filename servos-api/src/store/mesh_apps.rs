//! Queries on `mesh_apps`: the applications that joined the mesh and the
//! index each holds.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::AppId;
use super::schema::{apps, mesh_apps};
use super::DbConn;

/// An application's place in the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = mesh_apps)]
pub struct MeshAppRow {
    /// The application.
    pub app_id: AppId,
    /// Its block in every node's container subnet, 1 to 63.
    pub mesh_index: i64,
    /// False once it left: the index stays its own.
    pub member: bool,
    /// When it first joined.
    pub joined_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// The row of application `app_id`, member or not.
pub fn find(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Option<MeshAppRow>> {
    mesh_apps::table
        .filter(mesh_apps::app_id.eq(app_id))
        .select(MeshAppRow::as_select())
        .first(conn)
        .optional()
}

/// Every index held, ascending.
pub fn used_indexes(conn: &mut DbConn) -> QueryResult<Vec<i64>> {
    mesh_apps::table
        .order(mesh_apps::mesh_index.asc())
        .select(mesh_apps::mesh_index)
        .load(conn)
}

/// Stores a row.
pub fn insert(conn: &mut DbConn, row: &MeshAppRow) -> QueryResult<()> {
    diesel::insert_into(mesh_apps::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Marks application `app_id` a member or not.
pub fn set_member(
    conn: &mut DbConn,
    app_id: &AppId,
    member: bool,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(mesh_apps::table.filter(mesh_apps::app_id.eq(app_id)))
        .set((mesh_apps::member.eq(member), mesh_apps::updated_at.eq(now)))
        .execute(conn)
}

/// Releases application `app_id`'s index.
pub fn delete(conn: &mut DbConn, app_id: &AppId) -> QueryResult<usize> {
    diesel::delete(mesh_apps::table.filter(mesh_apps::app_id.eq(app_id))).execute(conn)
}

/// The live member applications with their names, by index.
pub fn members(conn: &mut DbConn) -> QueryResult<Vec<(MeshAppRow, String)>> {
    mesh_apps::table
        .inner_join(apps::table)
        .filter(mesh_apps::member.eq(true))
        .filter(apps::deleted_at.is_null())
        .order(mesh_apps::mesh_index.asc())
        .select((MeshAppRow::as_select(), apps::name))
        .load(conn)
}
