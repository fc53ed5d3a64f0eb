//! The decision for one packet: identities, at most four policy lookups, the
//! connection table, the default action, and the counter the packet adds to.

use aya_ebpf::{
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC},
    maps::lpm_trie::Key,
    programs::TcContext,
};
use servos_ebpf_common::{
    Counter, FlowKey, IdentityV4Key, IdentityV6Key, PolicyKey, RuleRef, DEFAULT_ALLOW,
    DEFAULT_ALLOWED_SLOT, DEFAULT_DENIED_SLOT, GENERATION_BITS, POLICY_FULL_BITS,
    POLICY_PROTOCOL_BITS, SLOT_IN_USE, UNKNOWN_IDENTITY,
};

use crate::maps::{
    SERVOS_ACTIVE, SERVOS_COUNTERS, SERVOS_FLOWS, SERVOS_IDENT_V4, SERVOS_IDENT_V6,
    SERVOS_IP_OFFSET, SERVOS_POLICY, SERVOS_SETTINGS, SERVOS_SLOTS,
};
use crate::packet::{parse, read_quoted, Packet, Parsed};

/// Let the packet through and leave it to whatever else is attached (for
/// TCX and cls_bpf alike, "no opinion": the packet passes unless a later
/// program drops it).
const PASS: i32 = TC_ACT_UNSPEC;
/// Drop the packet.
const DROP: i32 = TC_ACT_SHOT;

/// Classifies one packet and returns the TC action.
#[inline(always)]
pub fn classify(ctx: &TcContext) -> i32 {
    let generation = active_generation();
    let mut packet = Packet::EMPTY;
    match parse(ctx, SERVOS_IP_OFFSET.load() as usize, &mut packet) {
        Parsed::NotIp => return PASS,
        Parsed::Unparsable => return default_action(ctx, generation),
        Parsed::Ip => {}
    }
    if let Some(rule) = allowing_rule(generation, &packet) {
        count(ctx, rule.slot);
        if packet.trackable {
            remember_flow(&packet.flow, &rule);
        }
        return PASS;
    }
    if let Some(rule) = tracked_rule(ctx, &packet) {
        count(ctx, rule.slot);
        return PASS;
    }
    default_action(ctx, generation)
}

#[inline(always)]
fn active_generation() -> u8 {
    match SERVOS_ACTIVE.get(0) {
        Some(generation) => (*generation & 1) as u8,
        None => 0,
    }
}

#[inline(always)]
fn default_action(ctx: &TcContext, generation: u8) -> i32 {
    let allow = match SERVOS_SETTINGS.get(u32::from(generation)) {
        Some(settings) => settings.default_action == DEFAULT_ALLOW,
        None => false,
    };
    if allow {
        count(ctx, DEFAULT_ALLOWED_SLOT);
        PASS
    } else {
        count(ctx, DEFAULT_DENIED_SLOT);
        DROP
    }
}

#[inline(always)]
fn count(ctx: &TcContext, slot: u32) {
    if let Some(counter) = SERVOS_COUNTERS.get_ptr_mut(slot) {
        // SAFETY: the pointer is this CPU's element of a per-CPU array, valid
        // for the program's run; TC programs do not migrate between CPUs
        // while they run, so nothing else writes it meanwhile.
        let counter: &mut Counter = unsafe { &mut *counter };
        counter.packets += 1;
        counter.bytes += u64::from(ctx.len());
    }
}

#[inline(always)]
fn identity(generation: u8, addr: &[u8; 16], is_ipv6: bool) -> u32 {
    let found = if is_ipv6 {
        let key = Key::new(
            GENERATION_BITS + 128,
            IdentityV6Key {
                generation,
                addr: *addr,
            },
        );
        SERVOS_IDENT_V6.get(&key).copied()
    } else {
        let key = Key::new(
            GENERATION_BITS + 32,
            IdentityV4Key {
                generation,
                addr: [addr[12], addr[13], addr[14], addr[15]],
            },
        );
        SERVOS_IDENT_V4.get(&key).copied()
    };
    found.unwrap_or(UNKNOWN_IDENTITY)
}

/// The rule allowing the packet, looked up as (source, destination), (any,
/// destination), (source, any), (any, any), skipping the pairs that repeat
/// an earlier one when an identity is unknown: at most four lookups, however
/// many rules there are.
#[inline(always)]
fn allowing_rule(generation: u8, packet: &Packet) -> Option<RuleRef> {
    let src = identity(generation, &packet.flow.src, packet.is_ipv6);
    let dst = identity(generation, &packet.flow.dst, packet.is_ipv6);
    let bits = if packet.has_port {
        POLICY_FULL_BITS
    } else {
        POLICY_PROTOCOL_BITS
    };
    let lookup = |src: u32, dst: u32| {
        let key = Key::new(
            bits,
            PolicyKey {
                generation,
                src_identity: src.to_be_bytes(),
                dst_identity: dst.to_be_bytes(),
                protocol: packet.flow.protocol,
                port: packet.flow.dst_port,
            },
        );
        SERVOS_POLICY.get(&key).copied()
    };
    if let Some(rule) = lookup(src, dst) {
        return Some(rule);
    }
    if src != UNKNOWN_IDENTITY {
        if let Some(rule) = lookup(UNKNOWN_IDENTITY, dst) {
            return Some(rule);
        }
    }
    if dst != UNKNOWN_IDENTITY {
        if let Some(rule) = lookup(src, UNKNOWN_IDENTITY) {
            return Some(rule);
        }
    }
    if src != UNKNOWN_IDENTITY && dst != UNKNOWN_IDENTITY {
        return lookup(UNKNOWN_IDENTITY, UNKNOWN_IDENTITY);
    }
    None
}

/// Records an allowed flow, unless it is already there for the same rule
/// (a lookup is cheaper than an update on every packet).
#[inline(always)]
fn remember_flow(flow: &FlowKey, rule: &RuleRef) {
    if let Some(known) = SERVOS_FLOWS.get_ptr(flow) {
        // SAFETY: a pointer into an LRU hash value, valid for this run; a
        // concurrent update can at worst make the read stale, which only
        // costs a redundant insert below.
        let known = unsafe { *known };
        if known.rule_id == rule.rule_id && known.slot == rule.slot {
            return;
        }
    }
    // A full table evicts its least recently used flow; failing to record
    // only means a later reply is judged by the rules alone.
    let _ = SERVOS_FLOWS.insert(flow, rule, 0);
}

/// The rule of a flow the packet answers: its own flow reversed, or, for an
/// ICMP error, the quoted packet's flow in either direction.
#[inline(always)]
fn tracked_rule(ctx: &TcContext, packet: &Packet) -> Option<RuleRef> {
    if packet.trackable {
        return live_flow(&packet.flow.reversed());
    }
    if packet.quoted_offset == 0 {
        return None;
    }
    let mut quoted = Packet::EMPTY.flow;
    if !read_quoted(ctx, packet, &mut quoted) {
        return None;
    }
    live_flow(&quoted).or_else(|| live_flow(&quoted.reversed()))
}

/// A tracked flow whose rule still holds its counter slot.
#[inline(always)]
fn live_flow(flow: &FlowKey) -> Option<RuleRef> {
    let rule = SERVOS_FLOWS.get_ptr(flow)?;
    // SAFETY: a pointer into an LRU hash value, valid for this run; a
    // concurrent update can at worst make the read stale.
    let rule = unsafe { *rule };
    let owner = SERVOS_SLOTS.get(rule.slot)?;
    (owner.state == SLOT_IN_USE && owner.rule_id == rule.rule_id).then_some(rule)
}
