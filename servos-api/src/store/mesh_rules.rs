//! Queries on `mesh_rules`: the mesh policy's allow rules.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::mesh_rules;
use super::DbConn;

/// A stored rule.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mesh_rules)]
pub struct RuleRow {
    /// Its number: names its counters, never reused.
    pub id: i64,
    /// `any`, `node` or `app`.
    pub src_kind: String,
    /// The source node's or application's id.
    pub src_ref: Option<String>,
    /// `any`, `node` or `app`.
    pub dst_kind: String,
    /// The destination node's or application's id.
    pub dst_ref: Option<String>,
    /// `tcp`, `udp`, `icmp` or `any`.
    pub protocol: String,
    /// First port of the range (none: every port).
    pub port_first: Option<i32>,
    /// Last port of the range.
    pub port_last: Option<i32>,
    /// When.
    pub created_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// The next rule number: one more than any rule ever had. Call after the
/// version bump of the same transaction, which serialises rule writers.
pub fn next_id(conn: &mut DbConn) -> QueryResult<i64> {
    let max: Option<i64> = mesh_rules::table
        .select(diesel::dsl::max(mesh_rules::id))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

/// Stores a rule.
pub fn insert(conn: &mut DbConn, row: &RuleRow) -> QueryResult<()> {
    diesel::insert_into(mesh_rules::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Live rules, oldest first.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<RuleRow>> {
    mesh_rules::table
        .filter(mesh_rules::deleted_at.is_null())
        .order(mesh_rules::id.asc())
        .select(RuleRow::as_select())
        .load(conn)
}

/// Soft-deletes live rule `id`.
pub fn soft_delete(conn: &mut DbConn, id: &i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        mesh_rules::table
            .filter(mesh_rules::id.eq(id))
            .filter(mesh_rules::deleted_at.is_null()),
    )
    .set(mesh_rules::deleted_at.eq(Some(now)))
    .execute(conn)
}
