//! The mesh coordinator: the API's side of the WireGuard mesh.
//!
//! - `addressing.rs`: where nodes and their containers live in the mesh CIDR.
//! - `enrollment.rs`: one-time enrollment tokens, and enrolling a node with one.
//! - `agents.rs`: what agents do with their token: wait for a newer
//!   configuration, report heartbeats, replace their key.
//! - `config.rs`: a node's configuration: itself, its peers, identities, policy.
//! - `identities.rs`: the identity numbers of nodes and mesh applications.
//! - `apps.rs`: applications joining and leaving the mesh.
//! - `policy.rs`: the policy rules and the default action.
//! - `counters.rs`: the policy's counters, summed over the nodes' reports.
//! - `install/`: installing the agent on a server over SSH.
//! - `nodes.rs`: nodes as admins list, remove and revoke them.
//! - `facts.rs`: what an agent says of itself.
//! - `watch.rs`: waking agents that wait for a newer configuration.

pub mod addressing;
pub mod agents;
pub mod apps;
pub mod config;
pub mod counters;
pub mod enrollment;
pub mod facts;
pub mod identities;
pub mod install;
pub mod nodes;
pub mod policy;
pub mod watch;

use crate::error::ServiceError;

/// A stored id as the UUID the agent protocol carries.
pub fn uuid_of(id: &str) -> Result<uuid::Uuid, ServiceError> {
    id.parse()
        .map_err(|_| ServiceError::internal(format_args!("id {id} is not a UUID")))
}
