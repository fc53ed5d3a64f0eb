//! Queries on `app_build_args`: the build arguments of applications built
//! from git, each value in clear or sealed for its application and name
//! ([`identity`]).

use diesel::prelude::*;

use super::ids::AppId;
use super::schema::{app_build_args, apps};
use super::DbConn;

/// A stored build argument: exactly one of `value` and `sealed_value`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = app_build_args)]
pub struct BuildArgRow {
    /// UUID.
    pub id: String,
    /// The application.
    pub app_id: AppId,
    /// Name, as Docker's `--build-arg` takes it.
    pub name: String,
    /// The value of a non-secret argument, in clear.
    pub value: Option<String>,
    /// The value of a secret argument, sealed.
    pub sealed_value: Option<String>,
    /// Data key of `sealed_value`.
    pub sealed_value_key_id: Option<String>,
}

/// What a secret build argument is sealed for: its application and name.
pub fn identity(app_id: &str, name: &str) -> String {
    format!("{app_id}/{name}")
}

/// The build arguments of one application, by name.
pub fn of_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Vec<BuildArgRow>> {
    app_build_args::table
        .filter(app_build_args::app_id.eq(app_id))
        .order(app_build_args::name.asc())
        .select(BuildArgRow::as_select())
        .load(conn)
}

/// The build arguments of every live application, by application and name.
pub fn of_live_apps(conn: &mut DbConn) -> QueryResult<Vec<BuildArgRow>> {
    app_build_args::table
        .inner_join(apps::table)
        .filter(apps::deleted_at.is_null())
        .order((app_build_args::app_id.asc(), app_build_args::name.asc()))
        .select(BuildArgRow::as_select())
        .load(conn)
}

/// Makes `rows` the build arguments of application `app_id`.
pub fn replace_all(conn: &mut DbConn, app_id: &AppId, rows: &[BuildArgRow]) -> QueryResult<()> {
    diesel::delete(app_build_args::table.filter(app_build_args::app_id.eq(app_id)))
        .execute(conn)?;
    for row in rows {
        diesel::insert_into(app_build_args::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}
