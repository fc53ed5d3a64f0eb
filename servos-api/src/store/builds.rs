//! Queries on `builds`: the commit each deployment of an application built
//! from git builds, and the image it makes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{AppId, DeploymentId};
use super::schema::builds;
use super::DbConn;

/// A deployment's build.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = builds)]
pub struct BuildRow {
    /// The deployment that builds.
    pub deployment_id: DeploymentId,
    /// The application.
    pub app_id: AppId,
    /// The commit built.
    pub commit_sha: String,
    /// The image made.
    pub image: String,
    /// When it was asked for.
    pub created_at: NaiveDateTime,
}

/// Stores a build.
pub fn insert(conn: &mut DbConn, row: &BuildRow) -> QueryResult<()> {
    diesel::insert_into(builds::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The build of deployment `id`, if it builds.
pub fn of_deployment(conn: &mut DbConn, id: &DeploymentId) -> QueryResult<Option<BuildRow>> {
    builds::table
        .find(id)
        .select(BuildRow::as_select())
        .first(conn)
        .optional()
}
