//! The classifier's maps and its load-time global. Their names are the ones
//! `servos_ebpf_common` gives the loader (an object symbol is the name).

use aya_ebpf::{
    macros::map,
    maps::{Array, LpmTrie, LruHashMap, PerCpuArray},
    Global,
};
use servos_ebpf_common::{
    Counter, FlowKey, GenerationSettings, IdentityV4Key, IdentityV6Key, PolicyKey, RuleRef,
    SlotOwner, COUNTER_SLOTS, MAX_FLOWS, MAX_IDENTITY_PREFIXES, MAX_POLICY_ENTRIES, MAX_RULES,
};

/// Offset of the IP header in the packet, set by the loader.
#[unsafe(no_mangle)]
pub static SERVOS_IP_OFFSET: Global<u32> = Global::new(0);

/// The generation packets are classified with.
#[map]
pub static SERVOS_ACTIVE: Array<u32> = Array::with_max_entries(1, 0);

/// Per-generation settings (the default action).
#[map]
pub static SERVOS_SETTINGS: Array<GenerationSettings> = Array::with_max_entries(2, 0);

/// IPv4 prefix → identity, both generations.
#[map]
pub static SERVOS_IDENT_V4: LpmTrie<IdentityV4Key, u32> =
    LpmTrie::with_max_entries(2 * MAX_IDENTITY_PREFIXES, 0);

/// IPv6 prefix → identity, both generations.
#[map]
pub static SERVOS_IDENT_V6: LpmTrie<IdentityV6Key, u32> =
    LpmTrie::with_max_entries(2 * MAX_IDENTITY_PREFIXES, 0);

/// (identities, protocol, port prefix) → the allowing rule, both generations.
#[map]
pub static SERVOS_POLICY: LpmTrie<PolicyKey, RuleRef> =
    LpmTrie::with_max_entries(2 * MAX_POLICY_ENTRIES, 0);

/// Flows a rule allowed, for their replies.
#[map]
pub static SERVOS_FLOWS: LruHashMap<FlowKey, RuleRef> = LruHashMap::with_max_entries(MAX_FLOWS, 0);

/// Packets and bytes per counter slot.
#[map]
pub static SERVOS_COUNTERS: PerCpuArray<Counter> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Which rule each rule slot counts for.
#[map]
pub static SERVOS_SLOTS: Array<SlotOwner> = Array::with_max_entries(MAX_RULES, 0);
