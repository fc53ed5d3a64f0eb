//! `status.json`: what the running agent last saw, written on every heartbeat for `servos-agent status`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use servos_common::protocol::{Backend, PolicyAction, PolicyCounters, WgPublicKey};

/// The running agent's view of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    /// When this was written (seconds since the Unix epoch).
    pub updated_unix: u64,
    /// The agent's process id.
    pub pid: u32,
    /// The WireGuard implementation in use.
    pub backend: Backend,
    /// The config version applied.
    pub config_version: u64,
    /// Whether the last call to the API succeeded.
    pub api_reachable: bool,
    /// Why the last call failed, if it did.
    pub api_problem: Option<String>,
    /// The interface's peers.
    pub peers: Vec<PeerLine>,
    /// The mesh classifier.
    pub classifier: ClassifierStatus,
}

/// One peer as the interface reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerLine {
    /// The peer's name from the config (empty for a peer the config does not know).
    pub name: String,
    /// The peer's public key.
    pub public_key: WgPublicKey,
    /// Its current endpoint.
    pub endpoint: Option<SocketAddr>,
    /// Seconds since the last handshake.
    pub last_handshake_secs: Option<u64>,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// The mesh classifier as the running agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierStatus {
    /// The folder on the BPF file system holding its maps and links.
    pub pin_dir: PathBuf,
    /// The policy this run put in force; `None` before its first update
    /// completes (the policy pinned by the previous run holds, or "deny
    /// everything" on a first start) and after an update that failed.
    pub policy: Option<PolicyLine>,
    /// Totals since the classifier was first attached on this node; `None`
    /// when they could not be read.
    pub counters: Option<PolicyCounters>,
}

/// The policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyLine {
    /// The latest configuration version that carried it.
    pub config_version: u64,
    /// What happens to traffic no rule allows.
    pub default_action: PolicyAction,
    /// How many rules it has.
    pub rules: usize,
}
