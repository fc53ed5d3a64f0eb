//! What an agent says of itself (host name, kernel, backend, version),
//! stored as JSON with its node.

use serde::{Deserialize, Serialize};

/// A node's facts, as its agent reported them at enrollment and in each
/// heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeFacts {
    /// Host name.
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// `kernel`, `boringtun` or `wireguard-go`.
    pub backend: String,
    /// The agent's version.
    pub agent_version: String,
}

impl NodeFacts {
    /// The facts of a stored node; unreadable ones read as empty.
    pub fn parse(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}
