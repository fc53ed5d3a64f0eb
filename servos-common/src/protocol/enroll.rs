//! Enrollment: what a joining node tells the API, and what it gets back.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::mesh::MeshConfig;
use super::version::ProtocolTag;
use super::wg_key::WgPublicKey;
use crate::secret::SecretText;

/// Which WireGuard implementation a node runs its mesh interface on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The kernel module, configured over netlink.
    Kernel,
    /// boringtun, embedded in the agent.
    Boringtun,
    /// wireguard-go, a separate userspace process.
    WireguardGo,
}

impl Backend {
    /// The name used in messages and logs (`kernel`, `boringtun`, `wireguard-go`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Kernel => "kernel",
            Backend::Boringtun => "boringtun",
            Backend::WireguardGo => "wireguard-go",
        }
    }
}

/// `POST /api/v1/agent/enroll` body: the node's public key and facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The node's WireGuard public key; the private key never leaves the node.
    pub public_key: WgPublicKey,
    /// The node's host name.
    pub hostname: String,
    /// The running kernel's release (`uname -r`).
    pub kernel: String,
    /// The WireGuard implementation the agent will use.
    pub backend: Backend,
    /// The UDP port the node's WireGuard listens on.
    pub listen_port: u16,
    /// Where other nodes reach this one; `None` lets the API use the server's
    /// registered address with `listen_port`.
    pub endpoint: Option<SocketAddr>,
    /// The agent's version (`CARGO_PKG_VERSION`).
    pub agent_version: String,
}

/// `201` answer to an enrollment: the node's id, its agent token and its first config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// Always [`super::VERSION`].
    pub protocol: ProtocolTag,
    /// The node's id.
    pub node_id: Uuid,
    /// The node's agent token (`agt_...`), for every later call.
    #[serde(serialize_with = "crate::secret::serialize_exposed")]
    pub agent_token: SecretText,
    /// The node's mesh configuration.
    pub config: MeshConfig,
}
