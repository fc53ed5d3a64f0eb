//! Queries on `apps` and `app_servers`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{AppId, ServerId};
use super::schema::{app_servers, apps, env_sets, servers};
use super::DbConn;

/// A stored application. `health_check` and `labels` are JSON objects. An
/// application built from git (see `git_sources`) has an empty `image`
/// until it is built.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = apps, treat_none_as_null = true)]
pub struct AppRow {
    /// UUID.
    pub id: AppId,
    /// Unique name among live applications.
    pub name: String,
    /// Docker image reference.
    pub image: String,
    /// Registry credential to pull with, if any.
    pub registry_id: Option<String>,
    /// The environment set this application owns.
    pub env_set_id: String,
    /// Port the container listens on.
    pub container_port: i32,
    /// Health check, JSON.
    pub health_check: String,
    /// Docker restart policy (`unless-stopped`, `on-failure:3`, ...).
    pub restart_policy: String,
    /// Memory limit in bytes.
    pub memory_bytes: Option<i64>,
    /// CPU limit in thousandths of a CPU.
    pub milli_cpus: Option<i32>,
    /// Container labels, JSON.
    pub labels: String,
    /// Public domain name.
    pub domain: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// Stores an application.
pub fn insert(conn: &mut DbConn, row: &AppRow) -> QueryResult<()> {
    diesel::insert_into(apps::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Replaces every column of a live application with `row`'s.
pub fn update(conn: &mut DbConn, row: &AppRow) -> QueryResult<usize> {
    diesel::update(
        apps::table
            .filter(apps::id.eq(&row.id))
            .filter(apps::deleted_at.is_null()),
    )
    .set(row)
    .execute(conn)
}

/// A live application by id, with the current version of its environment.
pub fn find_live(conn: &mut DbConn, id: &AppId) -> QueryResult<Option<(AppRow, i64)>> {
    apps::table
        .inner_join(env_sets::table)
        .filter(apps::id.eq(id))
        .filter(apps::deleted_at.is_null())
        .select((AppRow::as_select(), env_sets::current_version))
        .first(conn)
        .optional()
}

/// Which of `ids` name deleted applications.
pub fn deleted_among(conn: &mut DbConn, ids: &[AppId]) -> QueryResult<Vec<AppId>> {
    apps::table
        .filter(apps::id.eq_any(ids))
        .filter(apps::deleted_at.is_not_null())
        .order(apps::id.asc())
        .select(apps::id)
        .load(conn)
}

/// Live applications by name, each with the current version of its environment.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<(AppRow, i64)>> {
    apps::table
        .inner_join(env_sets::table)
        .filter(apps::deleted_at.is_null())
        .order(apps::name.asc())
        .select((AppRow::as_select(), env_sets::current_version))
        .load(conn)
}

/// True when a live application other than `except` has this name.
pub fn name_taken(conn: &mut DbConn, name: &str, except: &AppId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        apps::table
            .filter(apps::name.eq(name))
            .filter(apps::id.ne(except))
            .filter(apps::deleted_at.is_null()),
    ))
    .get_result(conn)
}

/// True when a live application other than `except` serves this domain.
pub fn domain_taken(conn: &mut DbConn, domain: &str, except: &AppId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        apps::table
            .filter(apps::domain.eq(domain))
            .filter(apps::id.ne(except))
            .filter(apps::deleted_at.is_null()),
    ))
    .get_result(conn)
}

/// Makes `server_ids` the application's target servers.
pub fn set_servers(conn: &mut DbConn, app_id: &AppId, server_ids: &[ServerId]) -> QueryResult<()> {
    diesel::delete(app_servers::table.filter(app_servers::app_id.eq(app_id))).execute(conn)?;
    for server_id in server_ids {
        diesel::insert_into(app_servers::table)
            .values((
                app_servers::app_id.eq(app_id),
                app_servers::server_id.eq(server_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The live target servers of one application, by id.
pub fn server_ids(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Vec<ServerId>> {
    app_servers::table
        .inner_join(servers::table)
        .filter(app_servers::app_id.eq(app_id))
        .filter(servers::deleted_at.is_null())
        .order(app_servers::server_id.asc())
        .select(app_servers::server_id)
        .load(conn)
}

/// The live target servers of every live application: (app id, server id).
pub fn all_server_ids(conn: &mut DbConn) -> QueryResult<Vec<(AppId, ServerId)>> {
    app_servers::table
        .inner_join(servers::table)
        .inner_join(apps::table)
        .filter(apps::deleted_at.is_null())
        .filter(servers::deleted_at.is_null())
        .order((app_servers::app_id.asc(), app_servers::server_id.asc()))
        .select((app_servers::app_id, app_servers::server_id))
        .load(conn)
}

/// The live applications that target server `server_id`, by name: (id, name).
pub fn live_targeting(
    conn: &mut DbConn,
    server_id: &ServerId,
) -> QueryResult<Vec<(AppId, String)>> {
    app_servers::table
        .inner_join(apps::table)
        .filter(app_servers::server_id.eq(server_id))
        .filter(apps::deleted_at.is_null())
        .order((apps::name.asc(), apps::id.asc()))
        .select((apps::id, apps::name))
        .load(conn)
}

/// Takes server `server_id` out of the target servers of `app_ids`.
pub fn detach_server(
    conn: &mut DbConn,
    server_id: &ServerId,
    app_ids: &[AppId],
) -> QueryResult<usize> {
    diesel::delete(
        app_servers::table
            .filter(app_servers::server_id.eq(server_id))
            .filter(app_servers::app_id.eq_any(app_ids)),
    )
    .execute(conn)
}

/// Soft-deletes a live application and the environment set it owns (whose
/// versions stay for the deployments that used them).
pub fn soft_delete(conn: &mut DbConn, id: &AppId, now: NaiveDateTime) -> QueryResult<usize> {
    let env_set_id: Option<String> = apps::table
        .filter(apps::id.eq(id))
        .filter(apps::deleted_at.is_null())
        .select(apps::env_set_id)
        .first(conn)
        .optional()?;
    let Some(env_set_id) = env_set_id else {
        return Ok(0);
    };
    let deleted = diesel::update(
        apps::table
            .filter(apps::id.eq(id))
            .filter(apps::deleted_at.is_null()),
    )
    .set((apps::deleted_at.eq(Some(now)), apps::updated_at.eq(now)))
    .execute(conn)?;
    super::env_sets::soft_delete_scoped(conn, &env_set_id, super::env_sets::APP, now)?;
    Ok(deleted)
}
