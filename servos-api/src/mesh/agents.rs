//! What agents do with their token: authenticate, wait for a newer
//! configuration, report a heartbeat, and replace their key (the node
//! keeps its address). Each change an agent makes is audited with the
//! `agent` actor.

use std::time::Duration;

use servos_common::protocol::{Heartbeat, HeartbeatAnswer, MeshConfig, ProtocolTag, WgPublicKey};
use servos_common::token::{self, AGENT_TOKEN_PREFIX};

use crate::accounts::failures;
use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::mesh_nodes::{self, NodeRow, Reported};
use crate::store::{self, mesh_state, servers, DbConn};

use super::config;
use super::facts::NodeFacts;

/// An authenticated agent: its node, and its server's name.
#[derive(Debug, Clone)]
pub struct AgentNode {
    /// The node.
    pub node: NodeRow,
    /// Its server's name.
    pub server: String,
}

impl AgentNode {
    /// The actor recorded in audit entries.
    pub fn actor(&self) -> Actor {
        Actor::Agent {
            node_id: self.node.id.to_string(),
            server: self.server.clone(),
        }
    }
}

/// The node of a live, unrevoked agent token; `None` for anything else.
pub fn authenticate(conn: &mut DbConn, bearer: &str) -> store::DbResult<Option<AgentNode>> {
    if !token::is_well_formed(AGENT_TOKEN_PREFIX, bearer) {
        return Ok(None);
    }
    let Some(node) = mesh_nodes::by_token_hash(conn, &token::sha256_hex(bearer))? else {
        return Ok(None);
    };
    let Some(server) = servers::find_live(conn, &node.server_id)? else {
        return Ok(None);
    };
    Ok(Some(AgentNode {
        node,
        server: server.name,
    }))
}

/// Records a refused agent token: audited and counted against the client's IP.
pub async fn refused(state: &AppState, origin: &Origin) {
    let event = AuditEvent {
        actor: Actor::Anonymous,
        action: "agent_token.rejected",
        target_type: None,
        target_id: None,
        fields: Vec::new(),
    };
    failures::record(state, origin, event).await;
}

/// The node's configuration when the mesh version is newer than `since`;
/// otherwise waits up to `wait` for a change, then `None`.
pub async fn config_after(
    state: &AppState,
    agent: &AgentNode,
    since: u64,
    wait: Duration,
) -> Result<Option<MeshConfig>, ServiceError> {
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let current = state.db(|conn| Ok(mesh_state::version(conn)?)).await?;
    state.mesh_watch.saw(current);
    if current <= since && state.mesh_watch.newer_than(since, wait).await <= since {
        return Ok(None);
    }
    let (id, cidr) = (agent.node.id.clone(), state.config.mesh.cidr);
    state
        .db(move |conn| {
            let node = live(conn, &id)?;
            config::for_node(conn, cidr, &node).map(Some)
        })
        .await
}

/// Records a heartbeat; answers the version the agent should have.
pub async fn heartbeat(
    state: &AppState,
    agent: &AgentNode,
    beat: Heartbeat,
) -> Result<HeartbeatAnswer, ServiceError> {
    let id = agent.node.id.clone();
    let mut facts = NodeFacts::parse(&agent.node.facts);
    facts.backend = beat.backend.as_str().to_owned();
    facts.agent_version.clone_from(&beat.agent_version);
    let reported = Reported {
        applied_version: i64::try_from(beat.config_version).ok(),
        last_heartbeat_at: Some(store::now()),
        last_status: serde_json::to_string(&StatusReport::from(&beat)).ok(),
        facts: facts.to_json(),
    };
    let version = state
        .db(move |conn| {
            mesh_nodes::report(conn, &id, &reported)?;
            Ok(mesh_state::version(conn)?)
        })
        .await?;
    Ok(HeartbeatAnswer {
        protocol: ProtocolTag,
        config_version: u64::try_from(version).map_err(ServiceError::internal)?,
    })
}

/// What the API keeps of a heartbeat: its peers and counters.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StatusReport {
    /// Seconds the agent had been running.
    pub uptime_secs: u64,
    /// Each peer: key, handshake age, traffic.
    #[schema(value_type = Vec<Object>)]
    pub peers: Vec<servos_common::protocol::PeerStatus>,
    /// The classifier's counters, when it runs.
    #[schema(value_type = Option<Object>)]
    pub counters: Option<servos_common::protocol::PolicyCounters>,
}

impl From<&Heartbeat> for StatusReport {
    fn from(beat: &Heartbeat) -> Self {
        Self {
            uptime_secs: beat.uptime_secs,
            peers: beat.peers.clone(),
            counters: beat.counters.clone(),
        }
    }
}

/// Replaces the node's key (its address stays); answers its configuration
/// with the new key. Sending the key it already has changes nothing, so an
/// agent that crashed after the API's answer can repeat the call.
pub async fn rotate_key(
    state: &AppState,
    origin: Origin,
    agent: &AgentNode,
    public_key: WgPublicKey,
) -> Result<MeshConfig, ServiceError> {
    let (id, cidr, actor) = (agent.node.id.clone(), state.config.mesh.cidr, agent.actor());
    let key = public_key.to_base64();
    let (config, version) = state
        .audited(origin, move |conn| {
            let node = live(conn, &id)?;
            let version = if node.public_key == key {
                mesh_state::version(conn)?
            } else {
                if mesh_nodes::key_taken(conn, &key, Some(&id))? {
                    return Err(ServiceError::conflict_on(
                        "public_key",
                        "another node has this key",
                    ));
                }
                mesh_nodes::set_key(conn, &id, &key, store::now())?;
                mesh_state::bump(conn)?
            };
            let node = live(conn, &id)?;
            let config = config::for_node(conn, cidr, &node)?;
            let event = AuditEvent::on(actor, "mesh_node.key_rotated", TargetType::MeshNode, &id)
                .with_fields(vec!["public_key"]);
            Ok(((config, version), event))
        })
        .await?;
    state.mesh_watch.saw(version);
    Ok(config)
}

fn live(conn: &mut DbConn, id: &crate::store::ids::NodeId) -> Result<NodeRow, ServiceError> {
    mesh_nodes::find_live(conn, id)?.ok_or(ServiceError::Unauthenticated)
}
