//! `settings.json`: what `join` decided and `run` uses (API, trust anchor, node id, interface).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::tls::TrustAnchor;

/// The mesh interface's name unless `join` is told another.
pub const DEFAULT_INTERFACE: &str = "servos0";

/// The node's enrollment, as `join` stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// The API's base URL (`https://...`).
    pub api_url: String,
    /// How the API's certificate is checked.
    pub trust: TrustAnchor,
    /// The node's id.
    pub node_id: Uuid,
    /// The mesh interface's name.
    pub interface: String,
}
