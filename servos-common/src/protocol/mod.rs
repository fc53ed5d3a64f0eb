//! The agent protocol: every message `servos-agent` and `servos-api` exchange (docs/agent-protocol.md).
//!
//! Each message refuses unknown fields, and every answer carries a
//! [`ProtocolTag`] that only deserializes when it names [`VERSION`], so
//! neither side mistakes another version's message for its own.

mod enroll;
mod heartbeat;
mod mesh;
#[cfg(test)]
mod tests;
mod version;
mod wg_key;

pub use enroll::{Backend, EnrollRequest, Enrollment};
pub use heartbeat::{
    Heartbeat, HeartbeatAnswer, KeyRotation, PeerStatus, PolicyCounters, RuleCounter,
    TrafficCounter,
};
pub use mesh::{
    Identity, IdentityKind, MeshConfig, MeshConfigError, NodeSettings, Peer, Policy, PolicyAction,
    PolicyRule, PortRange, Protocol, MESH_MTU,
};
pub use version::{
    check_request_header, ErrorBody, ProtocolMismatch, ProtocolTag, HEADER, MISMATCH_ERROR, VERSION,
};
pub use wg_key::{WgKeyError, WgPublicKey, WG_KEY_LEN};

/// `POST`: enrolls a node with an enrollment token; answers [`Enrollment`].
pub const ENROLL_PATH: &str = "/api/v1/agent/enroll";
/// `GET ?since=V&wait=S`: the node's [`MeshConfig`] when newer than `V`, else `204` after up to `S` seconds.
pub const CONFIG_PATH: &str = "/api/v1/agent/config";
/// `POST`: a [`Heartbeat`]; answers [`HeartbeatAnswer`].
pub const HEARTBEAT_PATH: &str = "/api/v1/agent/heartbeat";
/// `POST`: a [`KeyRotation`]; answers the node's [`MeshConfig`] with its new key.
pub const KEY_PATH: &str = "/api/v1/agent/key";
/// Longest wait, in seconds, an agent may ask of the config long poll.
pub const MAX_CONFIG_WAIT_SECS: u32 = 30;
