//! Queries on `mesh_state`: the version of the mesh configuration, raised
//! by every change agents must learn of.

use diesel::prelude::*;

use super::schema::mesh_state;
use super::DbConn;

/// The current version.
pub fn version(conn: &mut DbConn) -> QueryResult<i64> {
    mesh_state::table
        .filter(mesh_state::id.eq(1))
        .select(mesh_state::version)
        .first(conn)
}

/// Raises the version by one (inside the change's transaction) and returns it.
pub fn bump(conn: &mut DbConn) -> QueryResult<i64> {
    diesel::update(mesh_state::table.filter(mesh_state::id.eq(1)))
        .set(mesh_state::version.eq(mesh_state::version + 1))
        .execute(conn)?;
    version(conn)
}

/// What the classifier does with traffic no rule allows: `deny` or `allow`.
pub fn default_action(conn: &mut DbConn) -> QueryResult<String> {
    mesh_state::table
        .filter(mesh_state::id.eq(1))
        .select(mesh_state::default_action)
        .first(conn)
}

/// Sets the default action (the caller bumps the version in the same transaction).
pub fn set_default_action(conn: &mut DbConn, action: &str) -> QueryResult<usize> {
    diesel::update(mesh_state::table.filter(mesh_state::id.eq(1)))
        .set(mesh_state::default_action.eq(action))
        .execute(conn)
}
