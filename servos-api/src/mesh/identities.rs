//! Identities the classifier tells traffic apart by: every node (its mesh
//! address) and every application that joined the mesh (its container
//! addresses). Identity numbers are stable while the thing exists: a
//! node's is its address index, an application's [`APP_IDENTITY_BASE`]
//! plus its mesh index; `0` means "any".

use std::collections::HashMap;

use ipnet::{IpNet, Ipv4Net};
use servos_common::protocol::{Identity, IdentityKind};

use crate::error::ServiceError;
use crate::store::ids::{AppId, NodeId};
use crate::store::mesh_nodes::NodeRow;
use crate::store::{mesh_apps, DbConn};

use super::addressing::{app_block, MeshCidr};

/// Where application identity numbers start: above every node's (a mesh
/// holds at most 2^23 nodes).
pub const APP_IDENTITY_BASE: u32 = 1 << 24;

/// The identities of the live nodes and what they are called.
#[derive(Debug, Default)]
pub struct Identities {
    /// As the configuration carries them.
    pub list: Vec<Identity>,
    /// Node id → identity number.
    pub nodes: HashMap<NodeId, u32>,
    /// Application id → identity number.
    pub apps: HashMap<AppId, u32>,
}

/// A node's identity number.
pub fn node_number(node: &NodeRow) -> Result<u32, ServiceError> {
    u32::try_from(node.address_index)
        .map_err(|_| ServiceError::internal(format_args!("node {} has no usable index", node.id)))
}

/// The identity number of the application with mesh index `index`.
pub fn app_number(index: i64) -> Result<u32, ServiceError> {
    u32::try_from(index)
        .ok()
        .and_then(|index| APP_IDENTITY_BASE.checked_add(index))
        .ok_or_else(|| ServiceError::internal(format_args!("mesh index {index} is out of range")))
}

/// The identities of `nodes` (each with its server's name) and of the
/// member applications: each application's block in every one of those
/// nodes' container subnets.
pub fn load(
    conn: &mut DbConn,
    cidr: MeshCidr,
    nodes: &[(NodeRow, String)],
) -> Result<Identities, ServiceError> {
    let mut identities = of_nodes(cidr, nodes)?;
    let subnets: Vec<Ipv4Net> = nodes
        .iter()
        .filter_map(|(node, _)| cidr.place(node.address_index))
        .map(|place| place.container_subnet)
        .collect();
    for (app, name) in mesh_apps::members(conn)? {
        let number = app_number(app.mesh_index)?;
        identities.list.push(Identity {
            id: number,
            kind: IdentityKind::App,
            name,
            ref_id: super::uuid_of(app.app_id.as_str())?,
            prefixes: subnets
                .iter()
                .filter_map(|subnet| app_block(*subnet, app.mesh_index))
                .map(IpNet::V4)
                .collect(),
        });
        identities.apps.insert(app.app_id, number);
    }
    Ok(identities)
}

fn of_nodes(cidr: MeshCidr, nodes: &[(NodeRow, String)]) -> Result<Identities, ServiceError> {
    let mut identities = Identities::default();
    for (node, name) in nodes {
        let Some(place) = cidr.place(node.address_index) else {
            continue;
        };
        let number = node_number(node)?;
        let host = Ipv4Net::new(place.address.addr(), 32).map_err(ServiceError::internal)?;
        identities.list.push(Identity {
            id: number,
            kind: IdentityKind::Node,
            name: name.clone(),
            ref_id: super::uuid_of(node.id.as_str())?,
            prefixes: vec![IpNet::V4(host)],
        });
        identities.nodes.insert(node.id.clone(), number);
    }
    Ok(identities)
}
