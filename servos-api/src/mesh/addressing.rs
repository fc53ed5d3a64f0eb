//! Where nodes and containers live in the mesh CIDR
//! (`SERVOS_MESH_CIDR`, default `10.210.0.0/16`): the lower half holds one
//! address per node, the upper half one `/24` of container addresses per
//! node. Node `n` (its index, from 1) gets the `n`-th address of the lower
//! half and the `n`-th `/24` of the upper half, so both follow from one
//! number and two nodes can never share either.
//!
//! Inside a node's `/24`, the first address is the gateway of its Docker
//! network, and each application that joins the mesh owns one `/30` block
//! (its mesh index `i` owns addresses `4i` to `4i+3`; block 0 holds the
//! gateway), the same block on every node: the block is the application's
//! identity there. A container takes the block's first address its
//! application's running containers do not hold, so a redeploy's new
//! container and the old one serve side by side.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;

/// The prefix length of each node's container subnet.
pub const CONTAINER_PREFIX: u8 = 24;
/// How many applications can join the mesh: the `/30` blocks of a `/24`
/// but the gateway's.
pub const MAX_MESH_APPS: i64 = 63;
/// The prefix length of an application's block in a node's subnet.
pub const APP_BLOCK_PREFIX: u8 = 30;
/// The largest mesh prefix: a `/20` holds 8 nodes.
const MAX_MESH_PREFIX: u8 = 20;

/// The mesh CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshCidr(Ipv4Net);

/// A node's place in the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePlace {
    /// Its address, with the whole mesh prefix (the interface's address).
    pub address: Ipv4Net,
    /// Its containers' subnet.
    pub container_subnet: Ipv4Net,
}

impl MeshCidr {
    /// The network, e.g. `10.210.0.0/16`.
    pub fn net(self) -> Ipv4Net {
        self.0
    }

    /// How many nodes fit: as many as the upper half has `/24`s.
    pub fn capacity(self) -> i64 {
        1_i64 << (u32::from(CONTAINER_PREFIX) - 1 - u32::from(self.0.prefix_len()))
    }

    /// The place of node `index` (1 to [`Self::capacity`]).
    pub fn place(self, index: i64) -> Option<NodePlace> {
        if !(1..=self.capacity()).contains(&index) {
            return None;
        }
        let base = u32::from(self.0.network());
        let offset = u32::try_from(index).ok()?;
        let half = 1_u32 << (31 - u32::from(self.0.prefix_len()));
        let address = Ipv4Addr::from(base + offset);
        let subnet =
            Ipv4Addr::from(base + half + ((offset - 1) << (32 - u32::from(CONTAINER_PREFIX))));
        Some(NodePlace {
            address: Ipv4Net::new(address, self.0.prefix_len()).ok()?,
            container_subnet: Ipv4Net::new(subnet, CONTAINER_PREFIX).ok()?,
        })
    }

    /// The smallest index not in `used` (ascending), if the mesh has room.
    pub fn free_index(self, used: &[i64]) -> Option<i64> {
        let mut want = 1;
        for &taken in used {
            if taken == want {
                want += 1;
            } else if taken > want {
                break;
            }
        }
        (want <= self.capacity()).then_some(want)
    }
}

/// The block of the application with mesh index `index` (1 to
/// [`MAX_MESH_APPS`]) in a node's container subnet.
pub fn app_block(subnet: Ipv4Net, index: i64) -> Option<Ipv4Net> {
    if !(1..=MAX_MESH_APPS).contains(&index) {
        return None;
    }
    let offset = u32::try_from(index * 4).ok()?;
    Ipv4Net::new(
        Ipv4Addr::from(u32::from(subnet.network()) + offset),
        APP_BLOCK_PREFIX,
    )
    .ok()
}

/// The address a new container of the application takes in `block`: the
/// first the application's running containers (`taken`) do not hold, and
/// never `subnet`'s broadcast address; `None` when every one is held.
pub fn container_address(subnet: Ipv4Net, block: Ipv4Net, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let first = u32::from(block.network());
    (first..=u32::from(block.broadcast()))
        .map(Ipv4Addr::from)
        .find(|address| *address != subnet.broadcast() && !taken.contains(address))
}

/// The smallest mesh index not in `used` (ascending), if one is free.
pub fn free_app_index(used: &[i64]) -> Option<i64> {
    let mut want = 1;
    for &taken in used {
        if taken == want {
            want += 1;
        } else if taken > want {
            break;
        }
    }
    (want <= MAX_MESH_APPS).then_some(want)
}

impl FromStr for MeshCidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let net: Ipv4Net = text
            .trim()
            .parse()
            .map_err(|_| "expected an IPv4 network such as 10.210.0.0/16".to_owned())?;
        if net.network() != net.addr() {
            return Err(format!(
                "{net} has host bits set; the network is {}",
                net.trunc()
            ));
        }
        if net.prefix_len() > MAX_MESH_PREFIX {
            return Err(format!(
                "/{} is too small; at most /{MAX_MESH_PREFIX} (8 nodes)",
                net.prefix_len()
            ));
        }
        Ok(Self(net))
    }
}

impl fmt::Display for MeshCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> MeshCidr {
        text.parse().expect("a mesh cidr")
    }

    #[test]
    fn nodes_get_addresses_below_and_subnets_above_the_middle() {
        let mesh = cidr("10.210.0.0/16");
        assert_eq!(mesh.capacity(), 128);
        let first = mesh.place(1).expect("first");
        assert_eq!(first.address.to_string(), "10.210.0.1/16");
        assert_eq!(first.container_subnet.to_string(), "10.210.128.0/24");
        let last = mesh.place(128).expect("last");
        assert_eq!(last.address.to_string(), "10.210.0.128/16");
        assert_eq!(last.container_subnet.to_string(), "10.210.255.0/24");
        assert!(mesh.place(0).is_none() && mesh.place(129).is_none());
        assert_eq!(cidr("10.0.0.0/12").capacity(), 2048);
        assert_eq!(cidr("10.9.0.0/20").capacity(), 8);
    }

    #[test]
    fn the_smallest_free_index_is_taken() {
        let mesh = cidr("10.9.0.0/20");
        assert_eq!(mesh.free_index(&[]), Some(1));
        assert_eq!(mesh.free_index(&[1, 2, 4]), Some(3));
        assert_eq!(mesh.free_index(&[2, 3]), Some(1));
        assert_eq!(mesh.free_index(&[1, 2, 3, 4, 5, 6, 7, 8]), None);
    }

    #[test]
    fn applications_own_the_same_block_on_every_node() {
        let mesh = cidr("10.210.0.0/16");
        let subnet = mesh.place(2).expect("node 2").container_subnet;
        let block = app_block(subnet, 3).expect("app 3");
        assert_eq!(block.to_string(), "10.210.129.12/30");
        assert_eq!(
            container_address(subnet, block, &[]).map(|a| a.to_string()),
            Some("10.210.129.12".into())
        );
        let first = "10.210.129.12".parse().expect("ip");
        let second = "10.210.129.13".parse().expect("ip");
        assert_eq!(container_address(subnet, block, &[first]), Some(second));
        assert_eq!(
            container_address(subnet, block, &[second, first]).map(|a| a.to_string()),
            Some("10.210.129.14".into())
        );
        let last = app_block(subnet, 63).expect("app 63");
        let held: Vec<Ipv4Addr> = ["10.210.129.252", "10.210.129.253", "10.210.129.254"]
            .iter()
            .map(|a| a.parse().expect("ip"))
            .collect();
        // .255 is the subnet's broadcast address.
        assert_eq!(container_address(subnet, last, &held), None);
        assert_eq!(
            app_block(subnet, 63).map(|b| b.to_string()),
            Some("10.210.129.252/30".into())
        );
        assert!(app_block(subnet, 0).is_none() && app_block(subnet, 64).is_none());
        assert_eq!(free_app_index(&[1, 2, 5]), Some(3));
        assert_eq!(free_app_index(&(1..=63).collect::<Vec<_>>()), None);
    }

    #[test]
    fn bad_cidrs_are_refused() {
        for bad in [
            "10.210.0.1/16",
            "10.210.0.0/21",
            "fd00::/48",
            "nope",
            "10.210.0.0",
        ] {
            assert!(bad.parse::<MeshCidr>().is_err(), "{bad}");
        }
    }
}
