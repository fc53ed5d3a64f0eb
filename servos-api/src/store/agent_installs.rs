//! Queries on `agent_installs` and `agent_install_logs`: installs of the
//! agent on a server, and their step log.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{InstallId, ServerId};
use super::schema::{agent_install_logs, agent_installs};
use super::DbConn;

/// A stored install.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agent_installs)]
pub struct InstallRow {
    /// UUID.
    pub id: InstallId,
    /// The server.
    pub server_id: ServerId,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// When it ended.
    pub finished_at: Option<NaiveDateTime>,
}

/// One line of an install's log.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agent_install_logs)]
pub struct InstallLogRow {
    /// The install.
    pub install_id: InstallId,
    /// Line number from 1.
    pub seq: i64,
    /// When.
    pub at: NaiveDateTime,
    /// The text (never a secret value).
    pub text: String,
}

/// Stores an install.
pub fn insert(conn: &mut DbConn, row: &InstallRow) -> QueryResult<()> {
    diesel::insert_into(agent_installs::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// An install by id.
pub fn find(conn: &mut DbConn, id: &InstallId) -> QueryResult<Option<InstallRow>> {
    agent_installs::table
        .filter(agent_installs::id.eq(id))
        .select(InstallRow::as_select())
        .first(conn)
        .optional()
}

/// The newest install on a server.
pub fn last_of_server(conn: &mut DbConn, server_id: &ServerId) -> QueryResult<Option<InstallRow>> {
    agent_installs::table
        .filter(agent_installs::server_id.eq(server_id))
        .order(agent_installs::created_at.desc())
        .select(InstallRow::as_select())
        .first(conn)
        .optional()
}

/// The running install of a server, if any.
pub fn running_on(conn: &mut DbConn, server_id: &ServerId) -> QueryResult<Option<InstallRow>> {
    agent_installs::table
        .filter(agent_installs::server_id.eq(server_id))
        .filter(agent_installs::state.eq("running"))
        .select(InstallRow::as_select())
        .first(conn)
        .optional()
}

/// Ends a running install.
pub fn finish(
    conn: &mut DbConn,
    id: &InstallId,
    state: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        agent_installs::table
            .filter(agent_installs::id.eq(id))
            .filter(agent_installs::state.eq("running")),
    )
    .set((
        agent_installs::state.eq(state),
        agent_installs::reason.eq(reason),
        agent_installs::finished_at.eq(Some(now)),
    ))
    .execute(conn)
}

/// Fails every install still running (their process stopped), at start.
pub fn fail_interrupted(conn: &mut DbConn, reason: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(agent_installs::table.filter(agent_installs::state.eq("running")))
        .set((
            agent_installs::state.eq("failed"),
            agent_installs::reason.eq(Some(reason)),
            agent_installs::finished_at.eq(Some(now)),
        ))
        .execute(conn)
}

/// Appends a line.
pub fn append(conn: &mut DbConn, row: &InstallLogRow) -> QueryResult<()> {
    diesel::insert_into(agent_install_logs::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Every line of an install, in order.
pub fn lines(conn: &mut DbConn, id: &InstallId) -> QueryResult<Vec<InstallLogRow>> {
    agent_install_logs::table
        .filter(agent_install_logs::install_id.eq(id))
        .order(agent_install_logs::seq.asc())
        .select(InstallLogRow::as_select())
        .load(conn)
}
