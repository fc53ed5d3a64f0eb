//! Queries on `webhook_deliveries`: every delivery a webhook received, its
//! verdict and what it queued. The unique indexes make a delivery count
//! once and a commit of a branch deploy once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{AppId, DeploymentId};
use super::schema::webhook_deliveries;
use super::DbConn;

/// A received delivery.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    /// UUID.
    pub id: String,
    /// The application.
    pub app_id: AppId,
    /// `github`, `gitea`, `forgejo`, `gitlab`, `bitbucket` or `unknown`.
    pub provider: String,
    /// The provider's delivery id.
    pub delivery: Option<String>,
    /// The provider's event name.
    pub event: Option<String>,
    /// The pushed ref.
    pub git_ref: Option<String>,
    /// The pushed commit.
    pub commit_sha: Option<String>,
    /// `queued`, `ignored`, `duplicate` or `rejected`.
    pub verdict: String,
    /// Why.
    pub reason: String,
    /// What it queued.
    pub deployment_id: Option<DeploymentId>,
    /// When.
    pub received_at: NaiveDateTime,
}

/// Stores a delivery.
pub fn insert(conn: &mut DbConn, row: &DeliveryRow) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The accepted delivery `delivery` of `provider` to `app_id`, if one came.
pub fn seen(
    conn: &mut DbConn,
    app_id: &AppId,
    provider: &str,
    delivery: &str,
) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::app_id.eq(app_id))
        .filter(webhook_deliveries::provider.eq(provider))
        .filter(webhook_deliveries::delivery.eq(delivery))
        .filter(webhook_deliveries::verdict.ne("rejected"))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()
}

/// The delivery that queued a deployment of `commit` on `git_ref`, if one did.
pub fn queued_commit(
    conn: &mut DbConn,
    app_id: &AppId,
    git_ref: &str,
    commit: &str,
) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::app_id.eq(app_id))
        .filter(webhook_deliveries::git_ref.eq(git_ref))
        .filter(webhook_deliveries::commit_sha.eq(commit))
        .filter(webhook_deliveries::verdict.eq("queued"))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()
}

/// The latest `limit` deliveries to `app_id`, newest first.
pub fn recent(conn: &mut DbConn, app_id: &AppId, limit: i64) -> QueryResult<Vec<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::app_id.eq(app_id))
        .order((
            webhook_deliveries::received_at.desc(),
            webhook_deliveries::id.desc(),
        ))
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)
}
