//! The lab's network: a namespace and veth pair per host, routing through the root namespace, and the FORWARD rules that let hosts reach each other.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::plan::{self, HostAddresses, HOST_PREFIX_LEN, NETNS_DIR, RULE_COMMENT};
use crate::process::{run, run_with_input, PATH};
use crate::tools::Tools;
use crate::LabError;

/// How long the root sides of deleted namespaces' veth pairs may take to go.
const INTERFACES_GO_WITHIN: Duration = Duration::from_secs(5);
/// The pause between two checks for them.
const POLL: Duration = Duration::from_millis(10);
/// Where the kernel switches IPv4 forwarding for the root namespace.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Creates, in one `ip` run, each host's namespace and veth pair (the host side is
/// `eth0` inside the namespace), and addresses and raises the root sides.
/// `ip netns add` prepares `/run/netns` on first use in a way that races with itself,
/// so the caller runs this under the slot lock.
pub(crate) fn create_links(
    tools: &Tools,
    hosts: &[(String, HostAddresses)],
) -> Result<(), LabError> {
    let mut batch = String::new();
    for (name, addresses) in hosts {
        // Writing to a String cannot fail.
        let _ = writeln!(
            batch,
            "netns add {name}\n\
             link add {name} type veth peer name eth0 netns {name}\n\
             addr add {}/{HOST_PREFIX_LEN} dev {name}\n\
             link set {name} up",
            addresses.gateway
        );
    }
    run_with_input(ip(tools).args(["-batch", "-"]), &batch)?;
    Ok(())
}

/// Configures the inside of a host's namespace: loopback, the address on `eth0`, and
/// the default route through the root namespace.
pub(crate) fn configure_host(
    tools: &Tools,
    name: &str,
    addresses: HostAddresses,
) -> Result<(), LabError> {
    let batch = format!(
        "link set lo up\n\
         addr add {}/{HOST_PREFIX_LEN} dev eth0\n\
         link set eth0 up\n\
         route add default via {}\n",
        addresses.address, addresses.gateway
    );
    run_with_input(ip(tools).args(["-n", name, "-batch", "-"]), &batch)?;
    Ok(())
}

/// Turns on IPv4 forwarding in the root namespace, which carries host-to-host traffic.
/// It stays on: other labs (and Docker) may rely on it.
pub(crate) fn enable_forwarding() -> Result<(), LabError> {
    if fs::read_to_string(IP_FORWARD).is_ok_and(|value| value.trim() == "1") {
        return Ok(());
    }
    fs::write(IP_FORWARD, "1")
        .map_err(|error| LabError::io(format!("write 1 to {IP_FORWARD}"), error))
}

/// The FORWARD rules that accept traffic from and to the hosts of `slot`, as the
/// arguments after `-I FORWARD` / `-D FORWARD`. Docker sets the FORWARD policy to DROP.
fn forward_rules(slot: u16) -> [Vec<String>; 2] {
    let pattern = plan::interface_pattern(slot);
    let comment = format!("{RULE_COMMENT}{}", plan::lab_name(slot));
    ["-i", "-o"].map(|direction| {
        [
            direction,
            &pattern,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "ACCEPT",
        ]
        .map(str::to_owned)
        .to_vec()
    })
}

/// Inserts the FORWARD rules of `slot` at the top of the chain.
pub(crate) fn add_forward_rules(tools: &Tools, slot: u16) -> Result<(), LabError> {
    for rule in forward_rules(slot) {
        run(iptables(tools).args(["-I", "FORWARD", "1"]).args(&rule))?;
    }
    Ok(())
}

/// Deletes every copy of the FORWARD rules of `slot`; fine when there is none.
/// Fails when one is still listed afterwards.
pub(crate) fn remove_forward_rules(tools: &Tools, slot: u16) -> Result<(), LabError> {
    for rule in forward_rules(slot) {
        // `-D` fails once no copy is left; the bound only guards against a loop.
        for _ in 0..100 {
            if run(iptables(tools).args(["-D", "FORWARD"]).args(&rule)).is_err() {
                break;
            }
        }
    }
    if slots_with_rules(tools)?.contains(&slot) {
        return Err(LabError::Leftover {
            name: plan::lab_name(slot),
            what: "FORWARD rules that `iptables -D` does not delete".to_owned(),
        });
    }
    Ok(())
}

/// Deletes every rule of INPUT, OUTPUT and FORWARD that names an interface
/// of `slot`: what a test that shaped or cut a host's link left when it
/// died (a later lab in the slot would inherit it). Best effort.
pub(crate) fn remove_rules_naming_interfaces(tools: &Tools, slot: u16) {
    let pattern = plan::interface_pattern(slot);
    let prefix = pattern.trim_end_matches('+');
    let names_slot = |word: &str| {
        word.strip_prefix(prefix).is_some_and(|rest| {
            rest == "+" || (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    for chain in ["INPUT", "OUTPUT", "FORWARD"] {
        let Ok(listed) = run(iptables(tools).args(["-S", chain])) else {
            continue;
        };
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            // The nft flavour of iptables quotes comments; they hold no spaces here.
            let words: Vec<&str> = line
                .split_whitespace()
                .map(|w| w.trim_matches('"'))
                .collect();
            if let ["-A", rule @ ..] = words.as_slice() {
                if rule.iter().any(|word| names_slot(word)) {
                    let _ = run(iptables(tools).arg("-D").args(rule));
                }
            }
        }
    }
}

/// The slots that have FORWARD rules.
pub(crate) fn slots_with_rules(tools: &Tools) -> Result<BTreeSet<u16>, LabError> {
    let listed = run(iptables(tools).args(["-S", "FORWARD"]))?;
    // The nft flavour of iptables quotes every comment.
    Ok(String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .filter_map(|word| plan::parse_lab_name(word.trim_matches('"').strip_prefix(RULE_COMMENT)?))
        .collect())
}

/// The host names of `slot` (all slots when `None`) that have a namespace or a
/// root-side interface.
pub(crate) fn hosts_with_links(slot: Option<u16>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in [NETNS_DIR, "/sys/class/net"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if plan::parse_host_name(&name)
                .is_some_and(|(owner, _)| slot.is_none_or(|s| s == owner))
            {
                names.insert(name);
            }
        }
    }
    names
}

/// Deletes the namespaces of `hosts`, which takes their veth pairs with them, and
/// waits for the root-side interfaces to go; deletes those still there one by one.
/// Removing a namespace frees its interfaces in the background, in batches, which is
/// much faster for many hosts than deleting each interface.
pub(crate) fn delete_links(tools: &Tools, hosts: &BTreeSet<String>) {
    let namespaces: String = hosts
        .iter()
        .filter(|name| Path::new(NETNS_DIR).join(name).exists())
        .map(|name| format!("netns delete {name}\n"))
        .collect();
    if !namespaces.is_empty() {
        // Errors are for names already gone; the caller checks what is left.
        let _ = run_with_input(ip(tools).args(["-force", "-batch", "-"]), &namespaces);
    }
    let deadline = Instant::now() + INTERFACES_GO_WITHIN;
    let interface = |name: &String| Path::new("/sys/class/net").join(name).exists();
    while hosts.iter().any(interface) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let interfaces: String = hosts
        .iter()
        .filter(|name| interface(name))
        .map(|name| format!("link delete {name}\n"))
        .collect();
    if !interfaces.is_empty() {
        let _ = run_with_input(ip(tools).args(["-force", "-batch", "-"]), &interfaces);
    }
}

fn ip(tools: &Tools) -> Command {
    let mut command = Command::new(&tools.ip);
    command.env("PATH", PATH);
    command
}

fn iptables(tools: &Tools) -> Command {
    let mut command = Command::new(&tools.iptables);
    // Wait for the xtables lock instead of failing when another lab holds it.
    command.arg("-w").env("PATH", PATH);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_rules_match_the_slot_interfaces_both_ways() {
        let [incoming, outgoing] = forward_rules(3);
        assert_eq!(
            incoming.join(" "),
            "-i svl3h+ -m comment --comment servos-lab:svl3 -j ACCEPT"
        );
        assert_eq!(outgoing[..2], ["-o", "svl3h+"]);
    }
}
