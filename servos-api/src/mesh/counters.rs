//! The policy's counters across the mesh: what each node's classifier
//! reported with its last heartbeat, summed. Each classifier counts the
//! packets it sees, so a packet between two nodes counts on both.

use std::collections::HashMap;

use servos_common::protocol::TrafficCounter;

use super::nodes::Node;

/// Packets and bytes per rule and per default action, over all nodes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// By rule id.
    pub rules: HashMap<u32, TrafficCounter>,
    /// Traffic no rule matched that the default action let through.
    pub default_allowed: TrafficCounter,
    /// Traffic no rule matched that the default action dropped.
    pub default_denied: TrafficCounter,
}

impl Totals {
    /// Sums the last reports of `nodes`.
    pub fn of(nodes: &[Node]) -> Self {
        let mut totals = Self::default();
        for counters in nodes
            .iter()
            .filter_map(|node| node.status.as_ref()?.counters.as_ref())
        {
            for rule in &counters.rules {
                add(
                    totals.rules.entry(rule.rule_id).or_default(),
                    TrafficCounter {
                        packets: rule.packets,
                        bytes: rule.bytes,
                    },
                );
            }
            add(&mut totals.default_allowed, counters.default_allowed);
            add(&mut totals.default_denied, counters.default_denied);
        }
        totals
    }

    /// What rule `id` counted (nothing for a rule no node reported).
    pub fn rule(&self, id: i64) -> TrafficCounter {
        u32::try_from(id)
            .ok()
            .and_then(|id| self.rules.get(&id).copied())
            .unwrap_or_default()
    }
}

fn add(total: &mut TrafficCounter, more: TrafficCounter) {
    total.packets = total.packets.saturating_add(more.packets);
    total.bytes = total.bytes.saturating_add(more.bytes);
}
