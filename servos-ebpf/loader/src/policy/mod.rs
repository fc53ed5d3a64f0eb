//! The mesh policy as the agent hands it over (the `identities` and `policy`
//! of `MeshConfig`), and its compilation into classifier map entries: pure,
//! checked against the classifier's limits, with no kernel involved.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use servos_ebpf_common::{
    IdentityV4Key, IdentityV6Key, PolicyKey, GENERATION_BITS, MAX_IDENTITY_PREFIXES,
    MAX_POLICY_ENTRIES, MAX_RULES, POLICY_ANY_PROTOCOL_BITS, POLICY_PROTOCOL_BITS, PROTO_ICMP,
    PROTO_TCP, PROTO_UDP, UNKNOWN_IDENTITY,
};

/// An app or node identity: the addresses that carry its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The identity's id; never 0, which stands for "unknown" and "any".
    pub id: u32,
    /// Networks whose addresses are this identity (host bits clear).
    pub prefixes: Vec<IpNet>,
}

/// What happens to a packet no rule (and no tracked flow) allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}

/// The protocol a rule allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// Every protocol; with ports, TCP and UDP on those ports.
    Any,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP and ICMPv6 (no ports).
    Icmp,
}

/// An inclusive range of destination ports, never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// The ports `first..=last`.
    pub fn new(first: u16, last: u16) -> Result<Self, PolicyError> {
        if first > last {
            return Err(PolicyError::EmptyPortRange { first, last });
        }
        Ok(Self { first, last })
    }

    /// The lowest port.
    pub fn first(self) -> u16 {
        self.first
    }

    /// The highest port.
    pub fn last(self) -> u16 {
        self.last
    }

    /// The fewest aligned prefixes that cover the range exactly, as
    /// (first port, number of leading port bits that must match).
    pub fn prefixes(self) -> Vec<(u16, u8)> {
        let mut prefixes = Vec::new();
        let mut next = u32::from(self.first);
        let last = u32::from(self.last);
        while next <= last {
            // The largest block that starts at `next`, is aligned on its
            // size, and ends within the range.
            let mut block_bits = next.trailing_zeros().min(16);
            while next + (1 << block_bits) - 1 > last {
                block_bits -= 1;
            }
            prefixes.push((next as u16, (16 - block_bits) as u8));
            next += 1 << block_bits;
        }
        prefixes
    }
}

/// One allow rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule's id, stable while the rule exists; counters are per id.
    pub id: u64,
    /// Source identity; 0 for any source.
    pub src: u32,
    /// Destination identity; 0 for any destination.
    pub dst: u32,
    /// The protocol allowed.
    pub protocol: Protocol,
    /// Destination ports; `None` for all.
    pub ports: Option<PortRange>,
}

/// The rules and the default action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// What applies when no rule allows a packet.
    pub default_action: DefaultAction,
    /// The allow rules.
    pub rules: Vec<Rule>,
}

/// Why a policy cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// Identity 0 is reserved.
    #[error("identity 0 is reserved for addresses no identity covers")]
    ReservedIdentity,
    /// The same identity id twice.
    #[error("identity {0} is listed twice")]
    DuplicateIdentity(u32),
    /// A prefix with bits set past its length.
    #[error("prefix {prefix} of identity {identity} has host bits set")]
    HostBits {
        /// The identity.
        identity: u32,
        /// The prefix as given.
        prefix: IpNet,
    },
    /// Two identities claim the same network.
    #[error("prefix {prefix} belongs to both identity {first} and identity {second}")]
    SharedPrefix {
        /// The network.
        prefix: IpNet,
        /// The identity listed first.
        first: u32,
        /// The other one.
        second: u32,
    },
    /// The same rule id twice.
    #[error("rule {0} is listed twice")]
    DuplicateRule(u64),
    /// A rule names an identity that is not in the list.
    #[error("rule {rule} names identity {identity}, which is not among the identities")]
    UnknownIdentity {
        /// The rule.
        rule: u64,
        /// The identity it names.
        identity: u32,
    },
    /// An ICMP rule with ports.
    #[error("rule {0} gives ports for ICMP, which has none")]
    PortsOnIcmp(u64),
    /// A port range whose first port is above its last.
    #[error("port range {first}-{last} is empty")]
    EmptyPortRange {
        /// First port given.
        first: u16,
        /// Last port given.
        last: u16,
    },
    /// More rules than counter slots.
    #[error("{count} rules; the classifier holds at most {max}")]
    TooManyRules {
        /// Rules given.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// More policy entries than the policy map holds.
    #[error("the rules make {count} policy entries (port ranges split into prefixes); the classifier holds at most {max}")]
    TooManyEntries {
        /// Entries needed.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// More identity prefixes of one family than its map holds.
    #[error("{count} IPv{family} identity prefixes; the classifier holds at most {max}")]
    TooManyPrefixes {
        /// 4 or 6.
        family: u8,
        /// Prefixes given.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// Every counter slot is taken, counting those of rules the previous
    /// update removed, which are reused only from the next update on.
    #[error("no free counter slot for rule {0}: the slots of rules removed by the previous update are reused from the next update on")]
    NoFreeSlot(u64),
}

/// What a policy entry matches beyond the identities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryMatch {
    /// Any protocol, any port.
    AnyProtocol,
    /// One protocol, any port.
    Protocol(u8),
    /// One protocol, ports sharing their first `bits` bits with `port`.
    PortPrefix {
        /// IANA protocol number.
        protocol: u8,
        /// First port of the prefix.
        port: u16,
        /// Leading port bits that must match (0–16).
        bits: u8,
    },
}

/// One entry of the policy trie: which identities, what traffic, and the
/// rule that allows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyEntry {
    /// Source identity (0: any).
    pub src: u32,
    /// Destination identity (0: any).
    pub dst: u32,
    /// Protocol and ports.
    pub matches: EntryMatch,
    /// The allowing rule.
    pub rule_id: u64,
}

impl PolicyEntry {
    /// The trie key (prefix length and data) of this entry in `generation`.
    pub fn key(&self, generation: u8) -> (u32, PolicyKey) {
        let (bits, protocol, port) = match self.matches {
            EntryMatch::AnyProtocol => (POLICY_ANY_PROTOCOL_BITS, 0, 0),
            EntryMatch::Protocol(protocol) => (POLICY_PROTOCOL_BITS, protocol, 0),
            EntryMatch::PortPrefix {
                protocol,
                port,
                bits,
            } => (POLICY_PROTOCOL_BITS + u32::from(bits), protocol, port),
        };
        let key = PolicyKey {
            generation,
            src_identity: self.src.to_be_bytes(),
            dst_identity: self.dst.to_be_bytes(),
            protocol,
            port: port.to_be_bytes(),
        };
        (bits, key)
    }
}

/// A policy ready to be written into one generation of the maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// The default action.
    pub default_action: DefaultAction,
    /// IPv4 networks and their identities.
    pub identities_v4: Vec<(Ipv4Net, u32)>,
    /// IPv6 networks and their identities.
    pub identities_v6: Vec<(Ipv6Net, u32)>,
    /// Policy entries, one per distinct key; where rules overlap exactly,
    /// the rule with the lowest id has the entry.
    pub entries: Vec<PolicyEntry>,
    /// Every rule's id, ascending (each gets a counter slot, even one whose
    /// entries all belong to rules with lower ids).
    pub rule_ids: Vec<u64>,
}

/// The trie key of an IPv4 identity network in `generation`.
pub fn identity_v4_key(net: &Ipv4Net, generation: u8) -> (u32, IdentityV4Key) {
    let key = IdentityV4Key {
        generation,
        addr: net.addr().octets(),
    };
    (GENERATION_BITS + u32::from(net.prefix_len()), key)
}

/// The trie key of an IPv6 identity network in `generation`.
pub fn identity_v6_key(net: &Ipv6Net, generation: u8) -> (u32, IdentityV6Key) {
    let key = IdentityV6Key {
        generation,
        addr: net.addr().octets(),
    };
    (GENERATION_BITS + u32::from(net.prefix_len()), key)
}

/// Checks the identities and the policy and turns them into map entries.
pub fn compile(identities: &[Identity], policy: &Policy) -> Result<CompiledPolicy, PolicyError> {
    let networks = identity_networks(identities)?;
    let known: BTreeSet<u32> = identities.iter().map(|identity| identity.id).collect();

    if policy.rules.len() > MAX_RULES as usize {
        return Err(PolicyError::TooManyRules {
            count: policy.rules.len(),
            max: MAX_RULES,
        });
    }
    let mut rules: Vec<&Rule> = policy.rules.iter().collect();
    rules.sort_by_key(|rule| rule.id);
    let mut rule_ids = Vec::with_capacity(rules.len());
    let mut entries: BTreeMap<(u32, u32, EntryMatch), u64> = BTreeMap::new();
    for rule in rules {
        if rule_ids.last() == Some(&rule.id) {
            return Err(PolicyError::DuplicateRule(rule.id));
        }
        rule_ids.push(rule.id);
        for identity in [rule.src, rule.dst] {
            if identity != UNKNOWN_IDENTITY && !known.contains(&identity) {
                return Err(PolicyError::UnknownIdentity {
                    rule: rule.id,
                    identity,
                });
            }
        }
        for matches in rule_matches(rule)? {
            entries
                .entry((rule.src, rule.dst, matches))
                .or_insert(rule.id);
        }
    }
    if entries.len() > MAX_POLICY_ENTRIES as usize {
        return Err(PolicyError::TooManyEntries {
            count: entries.len(),
            max: MAX_POLICY_ENTRIES,
        });
    }
    let entries = entries
        .into_iter()
        .map(|((src, dst, matches), rule_id)| PolicyEntry {
            src,
            dst,
            matches,
            rule_id,
        })
        .collect();
    let (identities_v4, identities_v6) = networks;
    Ok(CompiledPolicy {
        default_action: policy.default_action,
        identities_v4,
        identities_v6,
        entries,
        rule_ids,
    })
}

type IdentityNetworks = (Vec<(Ipv4Net, u32)>, Vec<(Ipv6Net, u32)>);

fn identity_networks(identities: &[Identity]) -> Result<IdentityNetworks, PolicyError> {
    let mut ids = BTreeSet::new();
    let mut owners: BTreeMap<IpNet, u32> = BTreeMap::new();
    for identity in identities {
        if identity.id == UNKNOWN_IDENTITY {
            return Err(PolicyError::ReservedIdentity);
        }
        if !ids.insert(identity.id) {
            return Err(PolicyError::DuplicateIdentity(identity.id));
        }
        for prefix in &identity.prefixes {
            if prefix.trunc() != *prefix {
                return Err(PolicyError::HostBits {
                    identity: identity.id,
                    prefix: *prefix,
                });
            }
            if let Some(first) = owners.insert(*prefix, identity.id) {
                return Err(PolicyError::SharedPrefix {
                    prefix: *prefix,
                    first,
                    second: identity.id,
                });
            }
        }
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (prefix, id) in owners {
        match prefix {
            IpNet::V4(net) => v4.push((net, id)),
            IpNet::V6(net) => v6.push((net, id)),
        }
    }
    for (family, count) in [(4, v4.len()), (6, v6.len())] {
        if count > MAX_IDENTITY_PREFIXES as usize {
            return Err(PolicyError::TooManyPrefixes {
                family,
                count,
                max: MAX_IDENTITY_PREFIXES,
            });
        }
    }
    Ok((v4, v6))
}

/// The trie matches of one rule: "any protocol" with ports stands for TCP
/// and UDP on those ports; a range covering every port is the protocol alone.
fn rule_matches(rule: &Rule) -> Result<Vec<EntryMatch>, PolicyError> {
    let protocols: &[u8] = match (rule.protocol, rule.ports) {
        (Protocol::Any, None) => return Ok(vec![EntryMatch::AnyProtocol]),
        (Protocol::Icmp, Some(_)) => return Err(PolicyError::PortsOnIcmp(rule.id)),
        (Protocol::Icmp, None) => &[PROTO_ICMP],
        (Protocol::Tcp, _) => &[PROTO_TCP],
        (Protocol::Udp, _) => &[PROTO_UDP],
        (Protocol::Any, Some(_)) => &[PROTO_TCP, PROTO_UDP],
    };
    let mut matches = Vec::new();
    for &protocol in protocols {
        match rule.ports {
            None => matches.push(EntryMatch::Protocol(protocol)),
            Some(range) => matches.extend(range.prefixes().into_iter().map(|(port, bits)| {
                if bits == 0 {
                    EntryMatch::Protocol(protocol)
                } else {
                    EntryMatch::PortPrefix {
                        protocol,
                        port,
                        bits,
                    }
                }
            })),
        }
    }
    Ok(matches)
}

#[cfg(test)]
mod tests;
