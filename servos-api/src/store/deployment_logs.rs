//! Queries on `deployment_logs`: the append-only step log of a deployment,
//! numbered without gaps so that a reader resumes after the last line it saw.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{DeploymentId, ServerId};
use super::schema::deployment_logs;
use super::DbConn;

/// One line of a deployment's log.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deployment_logs)]
pub struct LogRow {
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// Line number within the deployment, from 1.
    pub seq: i64,
    /// The server the line is about, if any.
    pub server_id: Option<ServerId>,
    /// When it was written.
    pub at: NaiveDateTime,
    /// The text (never a secret value).
    pub text: String,
}

/// Appends a line.
pub fn append(conn: &mut DbConn, row: &LogRow) -> QueryResult<()> {
    diesel::insert_into(deployment_logs::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The number of the last line of a deployment (0 when it has none).
pub fn last_seq(conn: &mut DbConn, deployment_id: &DeploymentId) -> QueryResult<i64> {
    deployment_logs::table
        .filter(deployment_logs::deployment_id.eq(deployment_id))
        .select(diesel::dsl::max(deployment_logs::seq))
        .first::<Option<i64>>(conn)
        .map(Option::unwrap_or_default)
}

/// Lines after `after_seq`, in order, at most `limit`.
pub fn after(
    conn: &mut DbConn,
    deployment_id: &DeploymentId,
    after_seq: i64,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    deployment_logs::table
        .filter(deployment_logs::deployment_id.eq(deployment_id))
        .filter(deployment_logs::seq.gt(after_seq))
        .order(deployment_logs::seq.asc())
        .limit(limit)
        .select(LogRow::as_select())
        .load(conn)
}
