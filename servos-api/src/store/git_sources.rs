//! Queries on `app_git_sources`: where an application built from git is
//! built from (one row per such application).

use diesel::prelude::*;

use super::ids::AppId;
use super::schema::{app_git_sources, apps};
use super::DbConn;

/// A stored git source.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = app_git_sources)]
pub struct GitSourceRow {
    /// The application.
    pub app_id: AppId,
    /// Repository URL (never with credentials).
    pub url: String,
    /// Branch to build.
    pub branch: String,
    /// Dockerfile path in the repository.
    pub dockerfile: String,
    /// Build context in the repository.
    pub context: String,
    /// The server that builds.
    pub builder_server_id: String,
    /// Git credential to clone with.
    pub git_credential_id: Option<String>,
}

/// The git source of one application, if it is built from git.
pub fn of_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Option<GitSourceRow>> {
    app_git_sources::table
        .filter(app_git_sources::app_id.eq(app_id))
        .select(GitSourceRow::as_select())
        .first(conn)
        .optional()
}

/// The git sources of every live application built from git.
pub fn of_live_apps(conn: &mut DbConn) -> QueryResult<Vec<GitSourceRow>> {
    app_git_sources::table
        .inner_join(apps::table)
        .filter(apps::deleted_at.is_null())
        .select(GitSourceRow::as_select())
        .load(conn)
}

/// Live applications built on server `server_id`, by name: (id, name).
pub fn live_apps_built_on(conn: &mut DbConn, server_id: &str) -> QueryResult<Vec<(AppId, String)>> {
    app_git_sources::table
        .inner_join(apps::table)
        .filter(app_git_sources::builder_server_id.eq(server_id))
        .filter(apps::deleted_at.is_null())
        .order((apps::name.asc(), apps::id.asc()))
        .select((apps::id, apps::name))
        .load(conn)
}

/// Live applications cloned with git credential `credential_id`, by name:
/// (id, name).
pub fn live_apps_cloned_with(
    conn: &mut DbConn,
    credential_id: &str,
) -> QueryResult<Vec<(AppId, String)>> {
    app_git_sources::table
        .inner_join(apps::table)
        .filter(app_git_sources::git_credential_id.eq(credential_id))
        .filter(apps::deleted_at.is_null())
        .order((apps::name.asc(), apps::id.asc()))
        .select((apps::id, apps::name))
        .load(conn)
}

/// Makes `row` application `app_id`'s git source, or removes it (`None`).
pub fn replace(conn: &mut DbConn, app_id: &AppId, row: Option<&GitSourceRow>) -> QueryResult<()> {
    diesel::delete(app_git_sources::table.filter(app_git_sources::app_id.eq(app_id)))
        .execute(conn)?;
    if let Some(row) = row {
        diesel::insert_into(app_git_sources::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}
