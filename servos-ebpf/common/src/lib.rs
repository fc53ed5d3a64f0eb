//! The contract between the mesh classifier (`servos-ebpf`) and its loader
//! (`servos-ebpf-loader`): map names, limits, and the `#[repr(C)]` keys and
//! values both sides read and write.
//!
//! Every multi-byte field of a key that a longest-prefix-match trie compares
//! is a big-endian byte array: the kernel matches LPM keys bit by bit from
//! the first byte, so the most significant bits must come first.
//!
//! Policy updates are generational: every identity and policy key starts
//! with a generation byte (0 or 1), [`ACTIVE_GENERATION_MAP`] names the one
//! packets use, and [`SETTINGS_MAP`] holds one [`GenerationSettings`] per
//! generation. User space writes the inactive generation completely and
//! then flips the index, so a packet always sees one whole policy.
#![no_std]

#[cfg(feature = "user")]
mod pod;

/// Name of the one-element array holding the active generation (`u32`, 0 or 1).
pub const ACTIVE_GENERATION_MAP: &str = "SERVOS_ACTIVE";
/// Name of the array of [`GenerationSettings`], indexed by generation.
pub const SETTINGS_MAP: &str = "SERVOS_SETTINGS";
/// Name of the LPM trie from [`IdentityV4Key`] to an identity (`u32`).
pub const IDENTITIES_V4_MAP: &str = "SERVOS_IDENT_V4";
/// Name of the LPM trie from [`IdentityV6Key`] to an identity (`u32`).
pub const IDENTITIES_V6_MAP: &str = "SERVOS_IDENT_V6";
/// Name of the LPM trie from [`PolicyKey`] to the allowing [`RuleRef`].
pub const POLICY_MAP: &str = "SERVOS_POLICY";
/// Name of the LRU hash of allowed flows, [`FlowKey`] to [`RuleRef`].
pub const FLOWS_MAP: &str = "SERVOS_FLOWS";
/// Name of the per-CPU array of [`Counter`]s, indexed by counter slot.
pub const COUNTERS_MAP: &str = "SERVOS_COUNTERS";
/// Name of the array of [`SlotOwner`]s, indexed by rule counter slot.
pub const SLOTS_MAP: &str = "SERVOS_SLOTS";
/// Every map, in the order the loader opens them.
pub const MAP_NAMES: [&str; 8] = [
    ACTIVE_GENERATION_MAP,
    SETTINGS_MAP,
    IDENTITIES_V4_MAP,
    IDENTITIES_V6_MAP,
    POLICY_MAP,
    FLOWS_MAP,
    COUNTERS_MAP,
    SLOTS_MAP,
];

/// Name of the load-time global holding the offset of the IP header in a
/// packet: 0 on a WireGuard (TUN) interface, 14 after an Ethernet header.
pub const IP_OFFSET_GLOBAL: &str = "SERVOS_IP_OFFSET";
/// Name of the classifier program in the object file.
pub const PROGRAM_NAME: &str = "servos_classify";

/// Rules that can be in force at once: one counter slot each.
pub const MAX_RULES: u32 = 16_384;
/// Policy trie entries per generation (a port range takes up to 30 entries).
pub const MAX_POLICY_ENTRIES: u32 = 65_536;
/// Identity prefixes per address family and generation.
pub const MAX_IDENTITY_PREFIXES: u32 = 16_384;
/// Flows the connection table remembers; the least recently used go first.
pub const MAX_FLOWS: u32 = 65_536;
/// IPv6 extension headers walked before a packet is given up as unparsable.
pub const MAX_IPV6_EXTENSION_HEADERS: u32 = 6;

/// Counter slot of packets allowed by the default action.
pub const DEFAULT_ALLOWED_SLOT: u32 = MAX_RULES;
/// Counter slot of packets denied by the default action.
pub const DEFAULT_DENIED_SLOT: u32 = MAX_RULES + 1;
/// Length of the counters array: the rule slots and the two default slots.
pub const COUNTER_SLOTS: u32 = MAX_RULES + 2;

/// Identity of an address no identity prefix covers; in a rule, "any".
pub const UNKNOWN_IDENTITY: u32 = 0;

/// Bits of the generation byte at the start of identity and policy keys.
pub const GENERATION_BITS: u32 = 8;
/// Prefix length of a policy entry that matches any protocol.
pub const POLICY_ANY_PROTOCOL_BITS: u32 = GENERATION_BITS + 32 + 32;
/// Prefix length of a policy entry that matches a protocol on any port.
pub const POLICY_PROTOCOL_BITS: u32 = POLICY_ANY_PROTOCOL_BITS + 8;
/// Prefix length of a full policy lookup (one exact port).
pub const POLICY_FULL_BITS: u32 = POLICY_PROTOCOL_BITS + 16;

/// IANA protocol number of ICMP; ICMPv6 is classified under it too.
pub const PROTO_ICMP: u8 = 1;
/// IANA protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IANA protocol number of ICMPv6 (classified as [`PROTO_ICMP`]).
pub const PROTO_ICMPV6: u8 = 58;

/// [`GenerationSettings::default_action`]: drop what no rule allows. Zero, so
/// a classifier whose maps were never written denies (fails closed).
pub const DEFAULT_DENY: u32 = 0;
/// [`GenerationSettings::default_action`]: pass what no rule allows.
pub const DEFAULT_ALLOW: u32 = 1;

/// What applies to every packet classified under one generation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenerationSettings {
    /// [`DEFAULT_DENY`] or [`DEFAULT_ALLOW`].
    pub default_action: u32,
}

/// Data of an IPv4 identity trie key; the prefix length counts
/// [`GENERATION_BITS`] plus the address bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdentityV4Key {
    /// Generation the entry belongs to.
    pub generation: u8,
    /// The address, network byte order.
    pub addr: [u8; 4],
}

/// Data of an IPv6 identity trie key; the prefix length counts
/// [`GENERATION_BITS`] plus the address bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdentityV6Key {
    /// Generation the entry belongs to.
    pub generation: u8,
    /// The address, network byte order.
    pub addr: [u8; 16],
}

/// Data of a policy trie key. A rule for any protocol is an entry with
/// prefix length [`POLICY_ANY_PROTOCOL_BITS`]; for a protocol on any port,
/// [`POLICY_PROTOCOL_BITS`]; for a port range, one entry per prefix of the
/// range, longer than that by the prefix's bits. A packet is looked up with
/// [`POLICY_FULL_BITS`] (or [`POLICY_PROTOCOL_BITS`] when it has no port).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyKey {
    /// Generation the entry belongs to.
    pub generation: u8,
    /// Source identity, big-endian; 0 in an entry means any source.
    pub src_identity: [u8; 4],
    /// Destination identity, big-endian; 0 in an entry means any destination.
    pub dst_identity: [u8; 4],
    /// IANA protocol number (ICMPv6 as ICMP).
    pub protocol: u8,
    /// Destination port, big-endian.
    pub port: [u8; 2],
}

/// One direction of a flow. IPv4 addresses are stored IPv4-mapped
/// (`::ffff:a.b.c.d`) so that one table serves both families.
///
/// For ICMP echo, the request's identifier is the source port and the reply's
/// the destination port, so that a reply reversed is its request.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Source port (or echo identifier), big-endian.
    pub src_port: [u8; 2],
    /// Destination port (or echo identifier), big-endian.
    pub dst_port: [u8; 2],
    /// IANA protocol number (ICMPv6 as ICMP).
    pub protocol: u8,
    /// Always zero: the hash compares every byte of the key.
    pub padding: [u8; 3],
}

impl FlowKey {
    /// The same flow seen from the other end.
    #[must_use]
    pub const fn reversed(&self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            protocol: self.protocol,
            padding: [0; 3],
        }
    }
}

/// A rule as the classifier knows it: the value of a policy entry and of a
/// tracked flow. A flow's replies count against the rule that let it start,
/// and pass only while [`SLOTS_MAP`] still gives the slot to that rule.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleRef {
    /// The rule's id.
    pub rule_id: u64,
    /// The rule's counter slot.
    pub slot: u32,
    /// Always zero.
    pub padding: u32,
}

/// Packets and bytes counted in one slot on one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets.
    pub packets: u64,
    /// Bytes, as the classifier sees the packet (with the Ethernet header
    /// when the IP offset is 14).
    pub bytes: u64,
}

/// [`SlotOwner::state`]: the slot belongs to no rule.
pub const SLOT_FREE: u32 = 0;
/// [`SlotOwner::state`]: the slot counts for [`SlotOwner::rule_id`].
pub const SLOT_IN_USE: u32 = 1;
/// [`SlotOwner::state`]: the rule was removed by the last update; the slot is
/// reused only from the update after, when no packet can still be counting
/// with the generation before.
pub const SLOT_RELEASED: u32 = 2;

/// Which rule a counter slot belongs to; kept in a pinned map so that the
/// assignment, like the counters, survives a restart of the agent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotOwner {
    /// The rule's id (meaningful unless the state is [`SLOT_FREE`]).
    pub rule_id: u64,
    /// [`SLOT_FREE`], [`SLOT_IN_USE`] or [`SLOT_RELEASED`].
    pub state: u32,
    /// Always zero.
    pub padding: u32,
}
