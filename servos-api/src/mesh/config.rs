//! A node's mesh configuration: itself, its peers (every other live node
//! whose token is not revoked), the identities and the policy, at the
//! mesh's current version.

use std::net::{SocketAddr, ToSocketAddrs as _};

use ipnet::{IpNet, Ipv4Net};
use servos_common::protocol::{MeshConfig, NodeSettings, Peer, ProtocolTag, WgPublicKey};

use crate::error::ServiceError;
use crate::store::mesh_nodes::{self, NodeRow};
use crate::store::{mesh_state, DbConn};

use super::addressing::MeshCidr;
use super::{identities, policy, uuid_of};

/// Seconds between keepalives a peer sends, so that NAT mappings and the
/// handshake stay fresh while the mesh is idle.
const KEEPALIVE_SECS: u16 = 25;

/// The configuration of live node `node`.
pub fn for_node(
    conn: &mut DbConn,
    cidr: MeshCidr,
    node: &NodeRow,
) -> Result<MeshConfig, ServiceError> {
    let version = mesh_state::version(conn)?;
    let place = cidr.place(node.address_index).ok_or_else(|| {
        ServiceError::conflict(format!(
            "node {} is outside the mesh CIDR {cidr}; remove it and install the agent again",
            node.id
        ))
    })?;
    let everyone = mesh_nodes::list_live(conn)?;
    let in_mesh: Vec<(NodeRow, String)> = everyone
        .iter()
        .filter(|(n, _, _)| n.revoked_at.is_none())
        .map(|(n, name, _)| (n.clone(), name.clone()))
        .collect();
    let mut peers = Vec::new();
    for (peer, _, server_address) in everyone.iter().filter(|(n, _, _)| n.revoked_at.is_none()) {
        if peer.id == node.id {
            continue;
        }
        let Some(peer_place) = cidr.place(peer.address_index) else {
            continue;
        };
        let host = Ipv4Net::new(peer_place.address.addr(), 32).map_err(ServiceError::internal)?;
        peers.push(Peer {
            node_id: uuid_of(peer.id.as_str())?,
            name: name_of(&in_mesh, peer),
            public_key: key_of(peer)?,
            endpoint: endpoint_of(peer, server_address),
            allowed_ips: vec![IpNet::V4(host), IpNet::V4(peer_place.container_subnet)],
            persistent_keepalive: Some(KEEPALIVE_SECS),
        });
    }
    let identities = identities::load(conn, cidr, &in_mesh)?;
    let policy = policy::compiled(conn, &identities)?;
    Ok(MeshConfig {
        protocol: ProtocolTag,
        version: u64::try_from(version).map_err(ServiceError::internal)?,
        node: NodeSettings {
            id: uuid_of(node.id.as_str())?,
            name: name_of(&in_mesh, node),
            address: IpNet::V4(place.address),
            public_key: key_of(node)?,
            container_subnet: IpNet::V4(place.container_subnet),
            listen_port: u16::try_from(node.listen_port).map_err(ServiceError::internal)?,
        },
        peers,
        identities: identities.list,
        policy,
    })
}

fn name_of(nodes: &[(NodeRow, String)], node: &NodeRow) -> String {
    nodes
        .iter()
        .find(|(n, _)| n.id == node.id)
        .map_or_else(|| node.id.to_string(), |(_, name)| name.clone())
}

fn key_of(node: &NodeRow) -> Result<WgPublicKey, ServiceError> {
    node.public_key
        .parse()
        .map_err(|_| ServiceError::internal(format_args!("node {} has a damaged key", node.id)))
}

/// Where peers reach `node`: the endpoint it gave, else its server's
/// address (resolved now when it is a name) with its WireGuard port.
fn endpoint_of(node: &NodeRow, server_address: &str) -> Option<SocketAddr> {
    if let Some(endpoint) = node.endpoint.as_deref().and_then(|e| e.parse().ok()) {
        return Some(endpoint);
    }
    let port = u16::try_from(node.listen_port).ok()?;
    let mut resolved = (server_address, port).to_socket_addrs().ok()?;
    resolved
        .find(SocketAddr::is_ipv4)
        .or_else(|| (server_address, port).to_socket_addrs().ok()?.next())
}
