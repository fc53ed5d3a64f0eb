//! Queries on `deployment_targets`: one row per server of a deployment,
//! with the step it reached, what it left on the server and, once it
//! ended, where its time went.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{AppId, DeploymentId, ServerId, TargetId};
use super::schema::deployment_targets;
use super::states::TargetState;
use super::DbConn;

/// A stored target.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deployment_targets)]
pub struct TargetRow {
    /// UUID; also names the files the deployment writes on the server.
    pub id: TargetId,
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// The server.
    pub server_id: ServerId,
    /// Step reached.
    pub state: TargetState,
    /// The new container's name.
    pub container: Option<String>,
    /// The loopback port on the server that the new container publishes.
    pub host_port: Option<i32>,
    /// The image the container runs, as resolved on this server.
    pub image_digest: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
    /// When work on this server began.
    pub started_at: Option<NaiveDateTime>,
    /// When it ended.
    pub finished_at: Option<NaiveDateTime>,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Where its time went, once it ended.
    #[diesel(embed)]
    pub timings: TargetTimings,
}

impl TargetRow {
    /// True once it ended on this server.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// Where a target's time went, in milliseconds, recorded when it ended
/// (`None` before, and for targets that ended before this was recorded).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset,
)]
#[diesel(table_name = deployment_targets)]
pub struct TargetTimings {
    /// From the start of work on the server to its end.
    pub total_ms: Option<i64>,
    /// In the server's Docker: the wall time of every Docker command.
    pub docker_ms: Option<i64>,
    /// Waiting for the new container's health check to pass.
    pub health_wait_ms: Option<i64>,
    /// Waiting for the old container's requests to finish.
    pub drain_ms: Option<i64>,
}

impl TargetTimings {
    /// ServOS's own time: the total less Docker, health wait and drain;
    /// `None` until all were recorded.
    pub fn servos_ms(&self) -> Option<i64> {
        let own = self
            .total_ms?
            .saturating_sub(self.docker_ms?)
            .saturating_sub(self.health_wait_ms?)
            .saturating_sub(self.drain_ms?);
        Some(own.max(0))
    }
}

/// What one step changes on a target; fields left `None` keep their value.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = deployment_targets)]
pub struct TargetChange {
    /// New step.
    pub state: Option<TargetState>,
    /// Container name.
    pub container: Option<String>,
    /// Published port.
    pub host_port: Option<i32>,
    /// Resolved image.
    pub image_digest: Option<String>,
    /// Failure reason.
    pub reason: Option<String>,
    /// Start time.
    pub started_at: Option<NaiveDateTime>,
    /// End time.
    pub finished_at: Option<NaiveDateTime>,
    /// Where its time went.
    #[diesel(embed)]
    pub timings: TargetTimings,
}

/// Stores a target.
pub fn insert(conn: &mut DbConn, row: &TargetRow) -> QueryResult<()> {
    diesel::insert_into(deployment_targets::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The targets of a deployment, by server id.
pub fn of_deployment(
    conn: &mut DbConn,
    deployment_id: &DeploymentId,
) -> QueryResult<Vec<TargetRow>> {
    deployment_targets::table
        .filter(deployment_targets::deployment_id.eq(deployment_id))
        .order(deployment_targets::server_id.asc())
        .select(TargetRow::as_select())
        .load(conn)
}

/// Applies `change` to target `id`.
pub fn update(
    conn: &mut DbConn,
    id: &TargetId,
    change: &TargetChange,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(deployment_targets::table.filter(deployment_targets::id.eq(id)))
        .set((change, deployment_targets::updated_at.eq(now)))
        .execute(conn)
}

/// Puts an unfinished target back to `pending`, forgetting the container a
/// stopped attempt started (recovery removed it).
pub fn reset(conn: &mut DbConn, id: &TargetId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(deployment_targets::table.filter(deployment_targets::id.eq(id)))
        .set((
            deployment_targets::state.eq(TargetState::Pending),
            deployment_targets::container.eq(None::<String>),
            deployment_targets::host_port.eq(None::<i32>),
            deployment_targets::updated_at.eq(now),
        ))
        .execute(conn)
}

/// The image that the succeeded target of deployment `deployment_id` on
/// `server_id` ran, if any.
pub fn succeeded_image(
    conn: &mut DbConn,
    deployment_id: &DeploymentId,
    server_id: &ServerId,
) -> QueryResult<Option<String>> {
    deployment_targets::table
        .filter(deployment_targets::deployment_id.eq(deployment_id))
        .filter(deployment_targets::server_id.eq(server_id))
        .filter(deployment_targets::state.eq(TargetState::Succeeded))
        .select(deployment_targets::image_digest)
        .first::<Option<String>>(conn)
        .optional()
        .map(Option::flatten)
}

/// Every server where a deployment of application `app_id` had a target,
/// by id: the servers the application may have left something on.
pub fn servers_of_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Vec<ServerId>> {
    use super::schema::deployments;
    deployment_targets::table
        .inner_join(deployments::table)
        .filter(deployments::app_id.eq(app_id))
        .select(deployment_targets::server_id)
        .distinct()
        .order(deployment_targets::server_id.asc())
        .load(conn)
}
