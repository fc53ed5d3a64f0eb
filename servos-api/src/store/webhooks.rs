//! Queries on `webhooks`: an application's webhook, its sealed secret (and
//! the one it replaced, for a grace period) and its branch.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::AppId;
use super::schema::webhooks;
use super::DbConn;

/// A stored webhook.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    /// UUID (with the application, the secrets' identity: [`identity`]).
    pub id: String,
    /// The application.
    pub app_id: AppId,
    /// A push to this branch deploys.
    pub branch: String,
    /// The secret, sealed.
    pub secret: String,
    /// Data key of `secret`.
    pub secret_key_id: String,
    /// The secret before the last rotation, sealed.
    pub previous_secret: Option<String>,
    /// Data key of `previous_secret`.
    pub previous_secret_key_id: Option<String>,
    /// Until when `previous_secret` is accepted.
    pub previous_until: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// A new secret, and the one it replaces with its deadline.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = webhooks, treat_none_as_null = true)]
pub struct SecretChange {
    /// The new secret, sealed.
    pub secret: String,
    /// Its data key.
    pub secret_key_id: String,
    /// The replaced secret, sealed.
    pub previous_secret: Option<String>,
    /// Its data key.
    pub previous_secret_key_id: Option<String>,
    /// Until when it is accepted.
    pub previous_until: Option<NaiveDateTime>,
    /// When.
    pub updated_at: NaiveDateTime,
}

/// What a webhook's secrets are sealed for: its application and its id.
pub fn identity(app_id: &str, id: &str) -> String {
    format!("{app_id}/{id}")
}

/// The live webhook of application `app_id`.
pub fn of_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .filter(webhooks::app_id.eq(app_id))
        .filter(webhooks::deleted_at.is_null())
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// Stores a webhook.
pub fn insert(conn: &mut DbConn, row: &WebhookRow) -> QueryResult<()> {
    diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Replaces live webhook `id`'s secrets.
pub fn set_secret(conn: &mut DbConn, id: &str, change: &SecretChange) -> QueryResult<usize> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::deleted_at.is_null()),
    )
    .set(change)
    .execute(conn)
}

/// Sets live webhook `id`'s branch.
pub fn set_branch(
    conn: &mut DbConn,
    id: &str,
    branch: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::deleted_at.is_null()),
    )
    .set((webhooks::branch.eq(branch), webhooks::updated_at.eq(now)))
    .execute(conn)
}

/// Soft-deletes application `app_id`'s live webhook.
pub fn soft_delete(conn: &mut DbConn, app_id: &AppId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        webhooks::table
            .filter(webhooks::app_id.eq(app_id))
            .filter(webhooks::deleted_at.is_null()),
    )
    .set(webhooks::deleted_at.eq(Some(now)))
    .execute(conn)
}
