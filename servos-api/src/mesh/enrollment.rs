//! Enrolling nodes. An admin (or the installer) makes a one-time token for
//! a registered server, valid for 15 minutes and stored as SHA-256; the
//! server's agent trades it, with its public key and facts, for its mesh
//! address, its peers and a long-lived agent token (`agt_`, also stored as
//! SHA-256). Re-enrolling a server keeps its node and address; the new key
//! and token replace the old ones.
//!
//! A token only enrolls the server it was made for, and only from that
//! server: the request must come from an address the server's registered
//! address resolves to, so a token copied to another machine is refused.

use std::net::{IpAddr, ToSocketAddrs as _};

use chrono::NaiveDateTime;
use servos_common::protocol::{EnrollRequest, Enrollment, ProtocolTag};
use servos_common::secret::SecretText;
use servos_common::token::{self, AGENT_TOKEN_PREFIX, ENROLLMENT_TOKEN_PREFIX};

use crate::accounts::failures;
use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::enrollment_tokens::{self, EnrollmentTokenRow};
use crate::store::ids::{NodeId, ServerId};
use crate::store::mesh_nodes::{self, Enrolled, NodeRow};
use crate::store::{self, errors, mesh_state, servers, tx};

use super::facts::NodeFacts;
use super::{config, uuid_of};

/// Tries at allocating an address when replicas race for the same one.
const ALLOCATION_TRIES: usize = 5;

/// A token just made: shown once.
#[derive(Debug)]
pub struct IssuedToken {
    /// The token (`aen_...`).
    pub token: SecretText,
    /// When it stops working.
    pub expires_at: NaiveDateTime,
}

/// Makes an enrollment token for live server `server_id`, audited as `actor`.
pub async fn issue_token(
    state: &AppState,
    origin: Origin,
    actor: Actor,
    server_id: ServerId,
) -> Result<IssuedToken, ServiceError> {
    let secret = token::generate(ENROLLMENT_TOKEN_PREFIX).map_err(ServiceError::internal)?;
    let now = store::now();
    let expires_at = now + state.config.mesh.enrollment_ttl;
    let row = EnrollmentTokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        server_id: server_id.clone(),
        token_hash: token::sha256_hex(secret.expose()),
        created_by: actor.label(),
        created_at: now,
        expires_at,
        used_at: None,
    };
    state
        .audited(origin, move |conn| {
            servers::find_live(conn, &server_id)?.ok_or(ServiceError::NotFound)?;
            enrollment_tokens::insert(conn, &row)?;
            let event = AuditEvent::on(
                actor,
                "enrollment_token.created",
                TargetType::Server,
                &server_id,
            )
            .with_fields(vec!["expires_at"]);
            Ok(((), event))
        })
        .await?;
    Ok(IssuedToken {
        token: secret,
        expires_at,
    })
}

/// Enrolls the server whose token `bearer` is. A wrong, used, expired or
/// deleted server's token is `401`, audited and counted against the
/// client's IP, and changes nothing.
pub async fn enroll(
    state: &AppState,
    origin: Origin,
    bearer: SecretText,
    request: EnrollRequest,
) -> Result<Enrollment, ServiceError> {
    if !token::is_well_formed(ENROLLMENT_TOKEN_PREFIX, bearer.expose()) {
        return Err(refused(state, &origin).await);
    }
    let hash = token::sha256_hex(bearer.expose());
    let agent_token = token::generate(AGENT_TOKEN_PREFIX).map_err(ServiceError::internal)?;
    let agent_hash = token::sha256_hex(agent_token.expose());
    let mut tries = 0;
    loop {
        tries += 1;
        let attempt = enroll_once(state, &origin, &hash, &agent_hash, &request).await;
        match attempt {
            Ok((node_id, config, version)) => {
                state.mesh_watch.saw(version);
                return Ok(Enrollment {
                    protocol: ProtocolTag,
                    node_id,
                    agent_token,
                    config,
                });
            }
            Err(Outcome::Refused) => return Err(refused(state, &origin).await),
            Err(Outcome::Raced) if tries < ALLOCATION_TRIES => continue,
            Err(Outcome::Raced) => {
                return Err(ServiceError::conflict(
                    "other nodes enrolled at the same moment; try again",
                ))
            }
            Err(Outcome::Failed(e)) => return Err(e),
        }
    }
}

/// How one try at enrolling went wrong.
enum Outcome {
    /// The token does not enroll anything.
    Refused,
    /// Another enrollment took the same address first.
    Raced,
    /// Anything else.
    Failed(ServiceError),
}

impl From<ServiceError> for Outcome {
    fn from(e: ServiceError) -> Self {
        Self::Failed(e)
    }
}

async fn refused(state: &AppState, origin: &Origin) -> ServiceError {
    let event = AuditEvent {
        actor: Actor::Anonymous,
        action: "enrollment_token.rejected",
        target_type: None,
        target_id: None,
        fields: Vec::new(),
    };
    failures::record(state, origin, event).await;
    ServiceError::Unauthenticated
}

/// One transaction: uses the token, makes or renews the node, raises the
/// mesh version and audits the enrollment.
async fn enroll_once(
    state: &AppState,
    origin: &Origin,
    token_hash: &str,
    agent_hash: &str,
    request: &EnrollRequest,
) -> Result<(uuid::Uuid, servos_common::protocol::MeshConfig, i64), Outcome> {
    let (state2, origin, token_hash, agent_hash, request) = (
        state.clone(),
        origin.clone(),
        token_hash.to_owned(),
        agent_hash.to_owned(),
        request.clone(),
    );
    let cidr = state.config.mesh.cidr;
    state
        .db(move |conn| {
            let chain = state2.audit_chain.clone();
            let result = tx::write(conn, |conn| -> Result<_, Outcome> {
                let now = store::now();
                // First: the version row's lock makes enrollments take turns
                // (PostgreSQL), so each sees the addresses the others took.
                let version = mesh_state::bump(conn).map_err(db)?;
                let Some(token) = enrollment_tokens::by_hash(conn, &token_hash).map_err(db)? else {
                    return Err(Outcome::Refused);
                };
                if enrollment_tokens::use_once(conn, &token.id, now).map_err(db)? == 0 {
                    return Err(Outcome::Refused);
                }
                let Some(server) = servers::find_live(conn, &token.server_id).map_err(db)? else {
                    return Err(Outcome::Refused);
                };
                if !comes_from(&server.address, origin.client_ip.as_deref()) {
                    return Err(Outcome::Refused);
                }
                let facts = NodeFacts {
                    hostname: request.hostname.clone(),
                    kernel: request.kernel.clone(),
                    backend: request.backend.as_str().to_owned(),
                    agent_version: request.agent_version.clone(),
                };
                let change = Enrolled {
                    public_key: request.public_key.to_base64(),
                    endpoint: request.endpoint.map(|e| e.to_string()),
                    listen_port: i32::from(request.listen_port),
                    facts: facts.to_json(),
                    token_hash: agent_hash.clone(),
                    enrolled_at: now,
                    updated_at: now,
                    revoked_at: None,
                };
                let existing = mesh_nodes::of_server(conn, &server.id).map_err(db)?;
                let key = request.public_key.to_base64();
                if mesh_nodes::key_taken(conn, &key, existing.as_ref().map(|n| &n.id))
                    .map_err(db)?
                {
                    return Err(Outcome::Failed(ServiceError::conflict_on(
                        "public_key",
                        "another node has this key",
                    )));
                }
                let node = match existing {
                    Some(node) => {
                        mesh_nodes::enroll_again(conn, &node.id, &change).map_err(db)?;
                        node.id
                    }
                    None => {
                        let used = mesh_nodes::used_indexes(conn).map_err(db)?;
                        let index = cidr.free_index(&used).ok_or_else(|| {
                            Outcome::Failed(ServiceError::conflict(format!(
                                "the mesh {cidr} is full ({} nodes); set a larger SERVOS_MESH_CIDR",
                                cidr.capacity()
                            )))
                        })?;
                        let row = new_node(&server.id, index, change);
                        mesh_nodes::insert(conn, &row).map_err(db)?;
                        row.id
                    }
                };
                let node = mesh_nodes::find_live(conn, &node)
                    .map_err(db)?
                    .ok_or(Outcome::Failed(ServiceError::NotFound))?;
                let actor = Actor::Agent {
                    node_id: node.id.to_string(),
                    server: server.name.clone(),
                };
                let event =
                    AuditEvent::on(actor, "mesh_node.enrolled", TargetType::MeshNode, &node.id)
                        .with_fields(vec![
                            "public_key",
                            "endpoint",
                            "listen_port",
                            "facts",
                            "token",
                        ]);
                crate::audit::append(conn, &chain, &origin, event).map_err(db)?;
                let config = config::for_node(conn, cidr, &node)?;
                Ok((uuid_of(node.id.as_str())?, config, version))
            });
            Ok(result)
        })
        .await
        .map_err(Outcome::Failed)?
}

impl From<store::DbError> for Outcome {
    fn from(e: store::DbError) -> Self {
        db(e)
    }
}

fn db(e: store::DbError) -> Outcome {
    if errors::is_unique_violation(&e) {
        Outcome::Raced
    } else {
        Outcome::Failed(e.into())
    }
}

/// True when `client_ip` is an address `server_address` (an IP or a host
/// name) resolves to.
fn comes_from(server_address: &str, client_ip: Option<&str>) -> bool {
    let Some(client) = client_ip.and_then(|ip| ip.parse::<IpAddr>().ok()) else {
        return false;
    };
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
        v4 => v4,
    };
    (server_address, 0)
        .to_socket_addrs()
        .is_ok_and(|mut found| found.any(|address| address.ip() == client))
}

fn new_node(server_id: &ServerId, index: i64, enrolled: Enrolled) -> NodeRow {
    NodeRow {
        id: NodeId::random(),
        server_id: server_id.clone(),
        address_index: index,
        public_key: enrolled.public_key,
        endpoint: enrolled.endpoint,
        listen_port: enrolled.listen_port,
        facts: enrolled.facts,
        token_hash: enrolled.token_hash,
        applied_version: None,
        last_heartbeat_at: None,
        last_status: None,
        enrolled_at: enrolled.enrolled_at,
        updated_at: enrolled.updated_at,
        revoked_at: None,
        deleted_at: None,
    }
}
