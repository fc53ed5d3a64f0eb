//! Queries on `servers`, including the host key pin.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::ServerId;
use super::schema::{server_checks, servers};
use super::DbConn;

/// A stored server.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = servers)]
pub struct ServerRow {
    /// UUID.
    pub id: ServerId,
    /// Unique name among live servers.
    pub name: String,
    /// Host name or IP.
    pub address: String,
    /// SSH port.
    pub port: i32,
    /// Remote user.
    pub ssh_user: String,
    /// The SSH key (kind `server`) used to log in.
    pub ssh_key_id: String,
    /// Comma-separated roles (`run`, `build`).
    pub roles: String,
    /// Labels as a JSON object.
    pub labels: String,
    /// Pinned host key, `SHA256:...`.
    pub host_key_fingerprint: Option<String>,
    /// A different key the server presented, not trusted.
    pub pending_fingerprint: Option<String>,
    /// `new`, `ready`, `docker_unavailable`, `unreachable`, `host_key_changed`.
    pub status: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// One recorded health check.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = server_checks)]
pub struct ServerCheckRow {
    /// UUID.
    pub id: String,
    /// The server.
    pub server_id: ServerId,
    /// When.
    pub at: NaiveDateTime,
    /// Status it found.
    pub status: String,
    /// Host key the server presented.
    pub fingerprint: Option<String>,
    /// Docker server version, if Docker answered.
    pub docker_version: Option<String>,
    /// Free bytes on the Docker data disk.
    pub disk_free_bytes: Option<i64>,
    /// What failed.
    pub error: Option<String>,
}

/// Stores a server.
pub fn insert(conn: &mut DbConn, row: &ServerRow) -> QueryResult<()> {
    diesel::insert_into(servers::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A live server by id.
pub fn find_live(conn: &mut DbConn, id: &ServerId) -> QueryResult<Option<ServerRow>> {
    servers::table
        .filter(servers::id.eq(id))
        .filter(servers::deleted_at.is_null())
        .select(ServerRow::as_select())
        .first(conn)
        .optional()
}

/// Live servers by name.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<ServerRow>> {
    servers::table
        .filter(servers::deleted_at.is_null())
        .order(servers::name.asc())
        .select(ServerRow::as_select())
        .load(conn)
}

/// True when a live server has this name.
pub fn name_taken(conn: &mut DbConn, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        servers::table
            .filter(servers::name.eq(name))
            .filter(servers::deleted_at.is_null()),
    ))
    .get_result(conn)
}

/// Pins `fingerprint` if nothing is pinned yet; 0 when another pin won.
pub fn pin_if_unpinned(
    conn: &mut DbConn,
    id: &ServerId,
    fingerprint: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        servers::table
            .filter(servers::id.eq(id))
            .filter(servers::host_key_fingerprint.is_null()),
    )
    .set((
        servers::host_key_fingerprint.eq(Some(fingerprint)),
        servers::pending_fingerprint.eq(None::<String>),
        servers::updated_at.eq(now),
    ))
    .execute(conn)
}

/// Records a mismatched host key: not pinned, only shown.
pub fn mark_host_key_changed(
    conn: &mut DbConn,
    id: &ServerId,
    presented: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(servers::table.filter(servers::id.eq(id)))
        .set((
            servers::pending_fingerprint.eq(Some(presented)),
            servers::status.eq("host_key_changed"),
            servers::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Replaces the pin (after an admin confirmed the new key) or clears it.
pub fn set_pin(
    conn: &mut DbConn,
    id: &ServerId,
    fingerprint: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(servers::table.filter(servers::id.eq(id)))
        .set((
            servers::host_key_fingerprint.eq(fingerprint),
            servers::pending_fingerprint.eq(None::<String>),
            servers::status.eq(if fingerprint.is_some() {
                "ready"
            } else {
                "new"
            }),
            servers::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Records a check and sets the server's status from it.
pub fn record_check(conn: &mut DbConn, check: &ServerCheckRow) -> QueryResult<()> {
    diesel::insert_into(server_checks::table)
        .values(check)
        .execute(conn)?;
    diesel::update(servers::table.filter(servers::id.eq(&check.server_id)))
        .set((
            servers::status.eq(&check.status),
            servers::updated_at.eq(check.at),
        ))
        .execute(conn)
        .map(drop)
}

/// The newest check of a server.
pub fn last_check(conn: &mut DbConn, server_id: &ServerId) -> QueryResult<Option<ServerCheckRow>> {
    server_checks::table
        .filter(server_checks::server_id.eq(server_id))
        .order(server_checks::at.desc())
        .select(ServerCheckRow::as_select())
        .first(conn)
        .optional()
}

/// Soft-deletes a live server.
pub fn soft_delete(conn: &mut DbConn, id: &ServerId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        servers::table
            .filter(servers::id.eq(id))
            .filter(servers::deleted_at.is_null()),
    )
    .set((
        servers::deleted_at.eq(Some(now)),
        servers::updated_at.eq(now),
    ))
    .execute(conn)
}

/// The newest `limit` checks of a server, newest first.
pub fn recent_checks(
    conn: &mut DbConn,
    server_id: &ServerId,
    limit: i64,
) -> QueryResult<Vec<ServerCheckRow>> {
    server_checks::table
        .filter(server_checks::server_id.eq(server_id))
        .order(server_checks::at.desc())
        .limit(limit)
        .select(ServerCheckRow::as_select())
        .load(conn)
}
