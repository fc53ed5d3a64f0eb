//! The nodes of the mesh as admins see and manage them: each with its
//! address, backend, last heartbeat and per-peer handshake age and traffic;
//! removing a node or revoking its token takes it out of every peer list
//! (and frees its address, for a removal).

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ids::{NodeId, ServerId};
use crate::store::mesh_nodes::{self, NodeRow};
use crate::store::{self, mesh_state};

use super::agents::StatusReport;
use super::facts::NodeFacts;

/// A node as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Node {
    /// Id.
    pub id: NodeId,
    /// The server it runs on.
    pub server_id: ServerId,
    /// The server's name.
    pub name: String,
    /// Mesh address (`10.210.0.2`), when inside the mesh CIDR.
    pub address: Option<String>,
    /// Its containers' subnet.
    pub container_subnet: Option<String>,
    /// WireGuard public key.
    pub public_key: String,
    /// Where peers reach it, when it said.
    pub endpoint: Option<String>,
    /// WireGuard port.
    pub listen_port: i32,
    /// Host name, kernel, backend and agent version.
    pub facts: NodeFacts,
    /// The configuration version it last applied.
    pub applied_version: Option<i64>,
    /// Its last heartbeat.
    #[schema(value_type = Option<String>)]
    pub last_heartbeat_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What that heartbeat said: peers and counters.
    pub status: Option<StatusReport>,
    /// When it enrolled.
    #[schema(value_type = String)]
    pub enrolled_at: chrono::DateTime<chrono::Utc>,
    /// Its token was revoked: it is out of the mesh.
    pub revoked: bool,
}

impl Node {
    fn of(state: &AppState, (row, name): (NodeRow, String)) -> Self {
        let place = state.config.mesh.cidr.place(row.address_index);
        Self {
            address: place.map(|p| p.address.addr().to_string()),
            container_subnet: place.map(|p| p.container_subnet.to_string()),
            facts: NodeFacts::parse(&row.facts),
            status: row
                .last_status
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok()),
            last_heartbeat_at: row.last_heartbeat_at.map(|t: NaiveDateTime| t.and_utc()),
            enrolled_at: row.enrolled_at.and_utc(),
            revoked: row.revoked_at.is_some(),
            id: row.id,
            server_id: row.server_id,
            name,
            public_key: row.public_key,
            endpoint: row.endpoint,
            listen_port: row.listen_port,
            applied_version: row.applied_version,
        }
    }
}

/// Every live node, by server name.
pub async fn list(state: &AppState) -> Result<Vec<Node>, ServiceError> {
    let rows = state.db(|conn| Ok(mesh_nodes::list_live(conn)?)).await?;
    Ok(rows
        .into_iter()
        .map(|(row, name, _)| Node::of(state, (row, name)))
        .collect())
}

/// One live node.
pub async fn get(state: &AppState, id: NodeId) -> Result<Node, ServiceError> {
    list(state)
        .await?
        .into_iter()
        .find(|node| node.id == id)
        .ok_or(ServiceError::NotFound)
}

/// The live node of a server, if it has one.
pub async fn of_server(
    state: &AppState,
    server_id: ServerId,
) -> Result<Option<Node>, ServiceError> {
    Ok(list(state)
        .await?
        .into_iter()
        .find(|node| node.server_id == server_id))
}

/// Removes a node from the mesh (its address is freed; its agent's token
/// stops working).
pub async fn remove(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: NodeId,
) -> Result<(), ServiceError> {
    change(
        state,
        origin,
        caller,
        id,
        "mesh_node.removed",
        "deleted_at",
        mesh_nodes::soft_delete,
    )
    .await
}

/// Revokes a node's agent token: it leaves every peer list and its agent
/// is refused until the server is enrolled again.
pub async fn revoke(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: NodeId,
) -> Result<(), ServiceError> {
    change(
        state,
        origin,
        caller,
        id,
        "mesh_node.revoked",
        "revoked_at",
        mesh_nodes::revoke,
    )
    .await
}

async fn change(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: NodeId,
    action: &'static str,
    field: &'static str,
    apply: fn(&mut store::DbConn, &NodeId, NaiveDateTime) -> store::DbResult<usize>,
) -> Result<(), ServiceError> {
    let version = state
        .audited(origin, move |conn| {
            if apply(conn, &id, store::now())? == 0 {
                return Err(ServiceError::NotFound);
            }
            let version = mesh_state::bump(conn)?;
            let event = AuditEvent::on(caller.actor(), action, TargetType::MeshNode, &id)
                .with_fields(vec![field]);
            Ok((version, event))
        })
        .await?;
    state.mesh_watch.saw(version);
    Ok(())
}
