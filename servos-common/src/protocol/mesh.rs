//! The mesh configuration of one node: itself, its peers, the identities and the policy.

use std::collections::HashSet;
use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::version::ProtocolTag;
use super::wg_key::WgPublicKey;

/// The MTU of every node's mesh interface, and of the containers behind it:
/// 1500 less WireGuard's 80 bytes over IPv6.
pub const MESH_MTU: u32 = 1420;

/// `MeshConfig`: everything a node applies, at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshConfig {
    /// Always [`super::VERSION`].
    pub protocol: ProtocolTag,
    /// Grows with every change that concerns this node.
    pub version: u64,
    /// The node's own settings.
    pub node: NodeSettings,
    /// Every other node this one talks to.
    pub peers: Vec<Peer>,
    /// The sources and destinations policy rules name.
    pub identities: Vec<Identity>,
    /// Who may talk to whom on the mesh.
    pub policy: Policy,
}

/// Why a [`MeshConfig`] cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeshConfigError {
    /// Two peers share a public key.
    #[error("peer key {0} appears twice")]
    DuplicatePeer(WgPublicKey),
    /// A peer has the node's own public key.
    #[error("peer {0} has this node's own key")]
    PeerIsSelf(String),
    /// The node's address is not inside a network of its own prefix (e.g. a /32 address).
    #[error("node address {0} must carry the mesh prefix, such as 10.210.0.2/16")]
    AddressWithoutMeshPrefix(IpNet),
}

impl MeshConfig {
    /// Checks what the agent relies on: unique peer keys, none of them the node's own.
    pub fn validate(&self) -> Result<(), MeshConfigError> {
        if self.node.address.prefix_len() == self.node.address.max_prefix_len() {
            return Err(MeshConfigError::AddressWithoutMeshPrefix(self.node.address));
        }
        let mut seen = HashSet::new();
        for peer in &self.peers {
            if peer.public_key == self.node.public_key {
                return Err(MeshConfigError::PeerIsSelf(peer.name.clone()));
            }
            if !seen.insert(peer.public_key) {
                return Err(MeshConfigError::DuplicatePeer(peer.public_key));
            }
        }
        Ok(())
    }
}

/// The node's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// The node's id.
    pub id: Uuid,
    /// The node's name (its server's name).
    pub name: String,
    /// The node's address with the whole mesh prefix (`10.210.0.2/16`).
    pub address: IpNet,
    /// The public key the API holds for this node.
    pub public_key: WgPublicKey,
    /// The node's container subnet (`10.210.129.0/24`).
    pub container_subnet: IpNet,
    /// The UDP port WireGuard listens on.
    pub listen_port: u16,
}

/// Another node, as WireGuard sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The peer's node id.
    pub node_id: Uuid,
    /// The peer's name.
    pub name: String,
    /// The peer's public key.
    pub public_key: WgPublicKey,
    /// Where to reach the peer; `None` waits for it to call.
    pub endpoint: Option<SocketAddr>,
    /// The peer's node address (`/32`) and container subnet.
    pub allowed_ips: Vec<IpNet>,
    /// Seconds between keepalives; `None` for none.
    pub persistent_keepalive: Option<u16>,
}

/// A node or application that policy rules name by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The id rules use; `0` is reserved for "any".
    pub id: u32,
    /// A node or an application.
    pub kind: IdentityKind,
    /// Its name.
    pub name: String,
    /// The node's or application's id.
    pub ref_id: Uuid,
    /// The addresses it sends from.
    pub prefixes: Vec<IpNet>,
}

/// What an [`Identity`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A node (its node address).
    Node,
    /// An application (its containers' addresses).
    App,
}

/// The mesh policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What happens to traffic no rule allows.
    pub default_action: PolicyAction,
    /// The allow rules.
    pub rules: Vec<PolicyRule>,
}

/// The fate of traffic no rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    /// Dropped.
    Deny,
    /// Let through.
    Allow,
}

/// One allow rule: traffic from `src` to `dst` (and its replies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Stable while the rule exists; counters are reported per id.
    pub id: u32,
    /// Source identity id; `0` for any.
    pub src: u32,
    /// Destination identity id; `0` for any.
    pub dst: u32,
    /// The transport protocol.
    pub protocol: Protocol,
    /// Destination ports (inclusive); `None` for all.
    pub ports: Option<PortRange>,
}

/// The transport protocol a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// Any protocol.
    Any,
}

/// An inclusive port range, `[first, last]` in JSON, with `first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// A range, or `None` when `first > last`.
    pub fn new(first: u16, last: u16) -> Option<Self> {
        (first <= last).then_some(Self { first, last })
    }

    /// The first port.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// The last port.
    pub fn last(&self) -> u16 {
        self.last
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        [self.first, self.last].serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let [first, last] = <[u16; 2]>::deserialize(deserializer)?;
        Self::new(first, last).ok_or_else(|| {
            serde::de::Error::custom(format!("port range [{first}, {last}] is reversed"))
        })
    }
}
