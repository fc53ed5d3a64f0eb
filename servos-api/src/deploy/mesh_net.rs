//! The Docker network of a node's mesh applications: a bridge on the
//! node's container subnet, whose containers keep their own addresses when
//! they talk over the mesh (no masquerading towards the mesh CIDR) and can
//! be reached from the mesh interface; the classifier on that interface
//! decides who may talk to whom. The network has the mesh interface's MTU,
//! so containers' packets cross it unfragmented. Each application's containers take
//! addresses in its block of the subnet (`mesh/addressing.rs`).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use servos_common::protocol::MESH_MTU;

use crate::ssh::shell::{as_root, quote};
use crate::store::ids::ServerId;

use super::docker::APP_LABEL;

/// The Docker network mesh applications' containers join.
pub const NETWORK: &str = "servos-mesh";
/// The name of its bridge on the server.
const BRIDGE: &str = "servos-mesh";
/// The agent's mesh interface (`servos-agent join --interface`'s default).
pub const MESH_INTERFACE: &str = "servos0";

/// Where a mesh application's containers go on each of its servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshPlan {
    /// The whole mesh CIDR.
    pub mesh: Ipv4Net,
    /// By server: the node's container subnet and the application's block in it.
    pub spots: HashMap<ServerId, MeshSpot>,
}

/// A node's container subnet and an application's block in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshSpot {
    /// The node's container subnet.
    pub subnet: Ipv4Net,
    /// The application's block.
    pub block: Ipv4Net,
}

/// Makes the network on `subnet` (its first address the gateway) when it
/// is missing, refuses one on another subnet, and adds, when missing, the
/// forwarding rules the mesh needs: containers keep their addresses
/// towards `mesh` (no masquerading), and, where Docker filters forwarded
/// traffic, the mesh interface may reach the bridge (the classifier
/// filters it). The rules need root: the command goes through `sudo -n`
/// for another SSH user.
pub fn ensure_command(subnet: Ipv4Net, mesh: Ipv4Net) -> String {
    let gateway = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    let format = "{{range .IPAM.Config}}{{.Subnet}}{{end}}";
    let network = format!(
        "found=$(docker network inspect --format '{format}' {NETWORK} 2>/dev/null); \
         if [ -z \"$found\" ]; then \
           docker network create --driver bridge --subnet {subnet} --gateway {gateway} \
             -o com.docker.network.bridge.name={BRIDGE} -o com.docker.network.driver.mtu={MESH_MTU} \
             {NETWORK} >/dev/null || exit 1; \
         elif [ \"$found\" != {subnet} ]; then \
           echo \"the {NETWORK} network is on $found, not on this node's subnet {subnet}\" >&2; exit 1; \
         fi"
    );
    let rules = format!(
        "iptables -t nat -C POSTROUTING -s {subnet} -d {mesh} -j RETURN 2>/dev/null \
           || iptables -t nat -I POSTROUTING 1 -s {subnet} -d {mesh} -j RETURN || exit 1; \
         if iptables -n -L DOCKER-USER >/dev/null 2>&1; then \
           iptables -C DOCKER-USER -i {MESH_INTERFACE} -o {BRIDGE} -j ACCEPT 2>/dev/null \
             || iptables -I DOCKER-USER -i {MESH_INTERFACE} -o {BRIDGE} -j ACCEPT || exit 1; \
         fi"
    );
    format!("{network}; {}", as_root(&rules))
}

/// Prints the mesh addresses of the application's running containers.
pub fn taken_command(app_id: &str) -> String {
    let format = format!(
        "{{{{with index .NetworkSettings.Networks \"{NETWORK}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}"
    );
    format!(
        "docker ps -q --filter {} | xargs -r docker inspect --format {}",
        quote(&format!("label={APP_LABEL}={app_id}")),
        quote(&format)
    )
}

/// The addresses [`taken_command`] printed.
pub fn parse_taken(output: &str) -> Vec<Ipv4Addr> {
    output
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_and_its_rules_name_the_node_subnet() {
        let subnet: Ipv4Net = "10.210.129.0/24".parse().expect("subnet");
        let mesh: Ipv4Net = "10.210.0.0/16".parse().expect("mesh");
        let command = ensure_command(subnet, mesh);
        assert!(command.contains("--subnet 10.210.129.0/24 --gateway 10.210.129.1"));
        assert!(command.contains("-s 10.210.129.0/24 -d 10.210.0.0/16 -j RETURN"));
        assert!(command.contains("-i servos0 -o servos-mesh -j ACCEPT"));
        assert!(command.contains("sudo -n sh -c"), "{command}");
        let taken = taken_command("0193");
        assert!(taken.contains("label=servos.app=0193"), "{taken}");
        assert_eq!(
            parse_taken("10.210.129.12\n\nnot an address\n"),
            ["10.210.129.12".parse::<Ipv4Addr>().expect("ip")]
        );
    }
}
