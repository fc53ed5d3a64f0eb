//! Where each lab and host lives: names, addresses and directories, all derived from the slot number.
//!
//! Slot `S` owns `10.231.(4S).0/22` and the names `svl<S>` (the lab) and
//! `svl<S>h<i>` (host `i`: its network namespace, the root side of its veth pair
//! and its directory). Host `i` gets the /29 at `S*1024 + i*8` of `10.231.0.0/16`:
//! `.1` the root side, `.2` the host, `.3` an address nothing answers.

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Where the lab keeps slot files, the lock, and each lab's directory.
pub(crate) const LAB_ROOT: &str = "/run/servos-lab";
/// Where `ip netns` keeps namespace handles.
pub(crate) const NETNS_DIR: &str = "/run/netns";
/// The folder of the lab hosts' pinned BPF objects.
const BPF_ROOT: &str = "/sys/fs/bpf/servos-lab";
/// How many labs fit in 10.231.0.0/16 with a /22 each.
pub(crate) const SLOTS: u16 = 64;
/// How many /29 host networks fit in one lab's /22.
pub(crate) const MAX_HOSTS: usize = 128;
/// The prefix of every lab name, interface and namespace.
const PREFIX: &str = "svl";
/// The first address of the lab range.
const LAB_NET: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 0);
/// The prefix length of each host's network.
pub(crate) const HOST_PREFIX_LEN: u8 = 29;
/// The iptables comment prefix that marks the lab's rules.
pub(crate) const RULE_COMMENT: &str = "servos-lab:";

/// The name of the lab in `slot`.
pub(crate) fn lab_name(slot: u16) -> String {
    format!("{PREFIX}{slot}")
}

/// The slot a lab name stands for (only names [`lab_name`] makes).
pub(crate) fn parse_lab_name(name: &str) -> Option<u16> {
    let slot: u16 = name.strip_prefix(PREFIX)?.parse().ok()?;
    (slot < SLOTS && lab_name(slot) == name).then_some(slot)
}

/// The name of host `index` of the lab in `slot`: namespace, root-side interface, directory.
pub(crate) fn host_name(slot: u16, index: usize) -> String {
    format!("{PREFIX}{slot}h{index}")
}

/// The (slot, index) a host name stands for (only names [`host_name`] makes).
pub(crate) fn parse_host_name(name: &str) -> Option<(u16, usize)> {
    let (slot, index) = name.strip_prefix(PREFIX)?.split_once('h')?;
    let (slot, index): (u16, usize) = (slot.parse().ok()?, index.parse().ok()?);
    (slot < SLOTS && index < MAX_HOSTS && host_name(slot, index) == name).then_some((slot, index))
}

/// The directory of the lab in `slot`: one subdirectory per host.
pub(crate) fn lab_dir(slot: u16) -> PathBuf {
    PathBuf::from(LAB_ROOT).join(lab_name(slot))
}

/// Where the agent of host `host` pins its classifier (the BPF file system
/// is shared by every namespace, so each host has its own folder).
pub(crate) fn bpf_dir(host: &str) -> PathBuf {
    PathBuf::from(BPF_ROOT).join(host)
}

/// The file that claims `slot` for a process or marks its lab as kept.
pub(crate) fn slot_file(slot: u16) -> PathBuf {
    PathBuf::from(LAB_ROOT).join(format!("{}.slot", lab_name(slot)))
}

/// The iptables `--in-interface`/`--out-interface` pattern matching every host of `slot`.
pub(crate) fn interface_pattern(slot: u16) -> String {
    format!("{PREFIX}{slot}h+")
}

/// The cgroup that the containers of the lab in `slot` run below (Docker's `--cgroup-parent`).
pub(crate) fn cgroup_parent(slot: u16) -> String {
    format!("/servos-lab/{}", lab_name(slot))
}

/// The addresses of one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostAddresses {
    /// The root namespace's side of the veth pair, the host's default gateway.
    pub gateway: Ipv4Addr,
    /// The host's own address.
    pub address: Ipv4Addr,
    /// An address of the host's network that nothing answers.
    pub unreachable: Ipv4Addr,
}

/// The addresses of host `index` of the lab in `slot`.
pub(crate) fn host_addresses(slot: u16, index: usize) -> HostAddresses {
    debug_assert!(slot < SLOTS && index < MAX_HOSTS);
    let index = u32::try_from(index).unwrap_or(0);
    let base = u32::from(LAB_NET) + u32::from(slot) * 1024 + index * 8;
    HostAddresses {
        gateway: Ipv4Addr::from(base + 1),
        address: Ipv4Addr::from(base + 2),
        unreachable: Ipv4Addr::from(base + 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_fit_interface_names() {
        assert_eq!(parse_lab_name(&lab_name(7)), Some(7));
        assert_eq!(parse_lab_name("svl64"), None);
        assert_eq!(parse_lab_name("svl07"), None);
        assert_eq!(parse_lab_name("svl3h1"), None);
        let longest = host_name(SLOTS - 1, MAX_HOSTS - 1);
        assert!(longest.len() <= 15, "{longest}");
        assert_eq!(parse_host_name(&longest), Some((SLOTS - 1, MAX_HOSTS - 1)));
        assert_eq!(parse_host_name("svl3"), None);
        assert_eq!(parse_host_name("svl3h128"), None);
        assert_eq!(parse_host_name("eth0"), None);
        // The iptables pattern of lab 3 does not match lab 31's interfaces.
        assert!(!host_name(31, 0).starts_with(interface_pattern(3).trim_end_matches('+')));
    }

    #[test]
    fn addresses_stay_in_the_lab_range_and_never_overlap() {
        assert_eq!(
            host_addresses(0, 0),
            HostAddresses {
                gateway: Ipv4Addr::new(10, 231, 0, 1),
                address: Ipv4Addr::new(10, 231, 0, 2),
                unreachable: Ipv4Addr::new(10, 231, 0, 3),
            }
        );
        assert_eq!(host_addresses(1, 33).address, Ipv4Addr::new(10, 231, 5, 10));
        let last = host_addresses(SLOTS - 1, MAX_HOSTS - 1);
        assert_eq!(last.unreachable, Ipv4Addr::new(10, 231, 255, 251));
        let mut seen = std::collections::HashSet::new();
        for slot in 0..SLOTS {
            for index in 0..MAX_HOSTS {
                let addresses = host_addresses(slot, index);
                assert_eq!(addresses.gateway.octets()[..2], [10, 231]);
                assert!(seen.insert(addresses.gateway));
            }
        }
    }
}
