//! Heartbeats (status and counters the agent reports) and key rotation.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::enroll::Backend;
use super::version::ProtocolTag;
use super::wg_key::WgPublicKey;

/// `POST /api/v1/agent/heartbeat` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The agent's version.
    pub agent_version: String,
    /// The WireGuard implementation in use.
    pub backend: Backend,
    /// The config version the agent has applied.
    pub config_version: u64,
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// Every peer on the interface, as WireGuard reports it.
    pub peers: Vec<PeerStatus>,
    /// The classifier's counters; `None` while no classifier is attached.
    pub counters: Option<PolicyCounters>,
}

/// One peer's state on the interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerStatus {
    /// The peer's public key.
    pub public_key: WgPublicKey,
    /// The peer's current endpoint (WireGuard follows roaming peers).
    pub endpoint: Option<SocketAddr>,
    /// Seconds since the last handshake; `None` before the first.
    pub last_handshake_secs: Option<u64>,
    /// Bytes received from the peer.
    pub rx_bytes: u64,
    /// Bytes sent to the peer.
    pub tx_bytes: u64,
}

/// The classifier's totals since it was first attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCounters {
    /// Traffic allowed by each rule.
    pub rules: Vec<RuleCounter>,
    /// Traffic no rule matched, allowed by the default action.
    pub default_allowed: TrafficCounter,
    /// Traffic no rule matched, dropped by the default action.
    pub default_denied: TrafficCounter,
}

/// Traffic one rule allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCounter {
    /// The rule's id.
    pub rule_id: u32,
    /// Packets matched.
    pub packets: u64,
    /// Bytes matched.
    pub bytes: u64,
}

/// A packet and byte count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficCounter {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
}

/// `200` answer to a heartbeat: the config version the API holds for the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatAnswer {
    /// Always [`super::VERSION`].
    pub protocol: ProtocolTag,
    /// The node's current config version; an agent behind it fetches the config.
    pub config_version: u64,
}

/// `POST /api/v1/agent/key` body: the node's new public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// The new public key.
    pub public_key: WgPublicKey,
}
