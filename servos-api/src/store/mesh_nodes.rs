//! Queries on `mesh_nodes`: the servers that run the agent, their mesh
//! address and key, and what their last heartbeat said.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{NodeId, ServerId};
use super::schema::{mesh_nodes, servers};
use super::DbConn;

/// A stored node.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mesh_nodes)]
pub struct NodeRow {
    /// UUID.
    pub id: NodeId,
    /// The server it runs on.
    pub server_id: ServerId,
    /// Its position in the node half of the mesh CIDR (its address and
    /// container subnet follow from it).
    pub address_index: i64,
    /// Its WireGuard public key, base64.
    pub public_key: String,
    /// `ip:port` other nodes reach it at, when it said.
    pub endpoint: Option<String>,
    /// The UDP port its WireGuard listens on.
    pub listen_port: i32,
    /// What the agent said of itself (host name, kernel, backend,
    /// version), JSON.
    pub facts: String,
    /// SHA-256 of its agent token.
    pub token_hash: String,
    /// The configuration version it last reported applied.
    pub applied_version: Option<i64>,
    /// When it last reported.
    pub last_heartbeat_at: Option<NaiveDateTime>,
    /// Its last report's peers and counters, JSON.
    pub last_status: Option<String>,
    /// When it enrolled (again).
    pub enrolled_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When its token was revoked: it is out of the mesh.
    pub revoked_at: Option<NaiveDateTime>,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
}

/// What an enrollment (or a re-enrollment) sets.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = mesh_nodes, treat_none_as_null = true)]
pub struct Enrolled {
    /// New key.
    pub public_key: String,
    /// Endpoint the node gave.
    pub endpoint: Option<String>,
    /// Its WireGuard port.
    pub listen_port: i32,
    /// What it said of itself, JSON.
    pub facts: String,
    /// Its new token's hash.
    pub token_hash: String,
    /// When.
    pub enrolled_at: NaiveDateTime,
    /// When.
    pub updated_at: NaiveDateTime,
    /// A re-enrollment lifts a revocation.
    pub revoked_at: Option<NaiveDateTime>,
}

/// What a heartbeat records.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = mesh_nodes)]
pub struct Reported {
    /// The version it has applied.
    pub applied_version: Option<i64>,
    /// When.
    pub last_heartbeat_at: Option<NaiveDateTime>,
    /// Peers and counters, JSON.
    pub last_status: Option<String>,
    /// What it said of itself, JSON.
    pub facts: String,
}

/// Stores a node.
pub fn insert(conn: &mut DbConn, row: &NodeRow) -> QueryResult<()> {
    diesel::insert_into(mesh_nodes::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The live node of a server, revoked or not.
pub fn of_server(conn: &mut DbConn, server_id: &ServerId) -> QueryResult<Option<NodeRow>> {
    mesh_nodes::table
        .filter(mesh_nodes::server_id.eq(server_id))
        .filter(mesh_nodes::deleted_at.is_null())
        .select(NodeRow::as_select())
        .first(conn)
        .optional()
}

/// A live node by id.
pub fn find_live(conn: &mut DbConn, id: &NodeId) -> QueryResult<Option<NodeRow>> {
    mesh_nodes::table
        .filter(mesh_nodes::id.eq(id))
        .filter(mesh_nodes::deleted_at.is_null())
        .select(NodeRow::as_select())
        .first(conn)
        .optional()
}

/// The live, unrevoked node whose agent token hashes to `token_hash`.
pub fn by_token_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<NodeRow>> {
    mesh_nodes::table
        .filter(mesh_nodes::token_hash.eq(token_hash))
        .filter(mesh_nodes::deleted_at.is_null())
        .filter(mesh_nodes::revoked_at.is_null())
        .select(NodeRow::as_select())
        .first(conn)
        .optional()
}

/// Every live node (revoked ones included), with its server's name and
/// address, by server name.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<(NodeRow, String, String)>> {
    mesh_nodes::table
        .inner_join(servers::table)
        .filter(mesh_nodes::deleted_at.is_null())
        .order(servers::name.asc())
        .select((NodeRow::as_select(), servers::name, servers::address))
        .load(conn)
}

/// The address indexes live nodes hold, ascending.
pub fn used_indexes(conn: &mut DbConn) -> QueryResult<Vec<i64>> {
    mesh_nodes::table
        .filter(mesh_nodes::deleted_at.is_null())
        .order(mesh_nodes::address_index.asc())
        .select(mesh_nodes::address_index)
        .load(conn)
}

/// Applies an enrollment to live node `id`.
pub fn enroll_again(conn: &mut DbConn, id: &NodeId, change: &Enrolled) -> QueryResult<usize> {
    diesel::update(
        mesh_nodes::table
            .filter(mesh_nodes::id.eq(id))
            .filter(mesh_nodes::deleted_at.is_null()),
    )
    .set(change)
    .execute(conn)
}

/// Records a heartbeat of live node `id`.
pub fn report(conn: &mut DbConn, id: &NodeId, reported: &Reported) -> QueryResult<usize> {
    diesel::update(
        mesh_nodes::table
            .filter(mesh_nodes::id.eq(id))
            .filter(mesh_nodes::deleted_at.is_null()),
    )
    .set(reported)
    .execute(conn)
}

/// Replaces live node `id`'s key, keeping its address.
pub fn set_key(
    conn: &mut DbConn,
    id: &NodeId,
    public_key: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        mesh_nodes::table
            .filter(mesh_nodes::id.eq(id))
            .filter(mesh_nodes::deleted_at.is_null()),
    )
    .set((
        mesh_nodes::public_key.eq(public_key),
        mesh_nodes::updated_at.eq(now),
    ))
    .execute(conn)
}

/// Revokes live node `id`'s token: it leaves every peer list.
pub fn revoke(conn: &mut DbConn, id: &NodeId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        mesh_nodes::table
            .filter(mesh_nodes::id.eq(id))
            .filter(mesh_nodes::deleted_at.is_null())
            .filter(mesh_nodes::revoked_at.is_null()),
    )
    .set((
        mesh_nodes::revoked_at.eq(Some(now)),
        mesh_nodes::updated_at.eq(now),
    ))
    .execute(conn)
}

/// Soft-deletes live node `id`, freeing its address.
pub fn soft_delete(conn: &mut DbConn, id: &NodeId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        mesh_nodes::table
            .filter(mesh_nodes::id.eq(id))
            .filter(mesh_nodes::deleted_at.is_null()),
    )
    .set((
        mesh_nodes::deleted_at.eq(Some(now)),
        mesh_nodes::updated_at.eq(now),
    ))
    .execute(conn)
}

/// True when a live node other than `except` has this key.
pub fn key_taken(
    conn: &mut DbConn,
    public_key: &str,
    except: Option<&NodeId>,
) -> QueryResult<bool> {
    let holders: Vec<NodeId> = mesh_nodes::table
        .filter(mesh_nodes::public_key.eq(public_key))
        .filter(mesh_nodes::deleted_at.is_null())
        .select(mesh_nodes::id)
        .load(conn)?;
    Ok(holders.iter().any(|holder| Some(holder) != except))
}
