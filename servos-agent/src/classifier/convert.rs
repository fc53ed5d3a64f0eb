//! Between the agent protocol and the classifier's own types: a
//! configuration's identities and policy go in, counters come out.

use servos_common::protocol::{self, PolicyAction, PolicyCounters, RuleCounter, TrafficCounter};
use servos_ebpf_loader::{
    compile, CompiledPolicy, Count, Counters, DefaultAction, Identity, Policy, PolicyError,
    PortRange, Protocol, Rule,
};

/// Checks a configuration's identities and policy and compiles them into
/// classifier map entries; nothing is written anywhere.
pub fn compile_policy(
    identities: &[protocol::Identity],
    policy: &protocol::Policy,
) -> Result<CompiledPolicy, PolicyError> {
    let identities: Vec<Identity> = identities
        .iter()
        .map(|identity| Identity {
            id: identity.id,
            prefixes: identity.prefixes.clone(),
        })
        .collect();
    let rules = policy
        .rules
        .iter()
        .map(rule)
        .collect::<Result<Vec<_>, _>>()?;
    let default_action = match policy.default_action {
        PolicyAction::Allow => DefaultAction::Allow,
        PolicyAction::Deny => DefaultAction::Deny,
    };
    compile(
        &identities,
        &Policy {
            default_action,
            rules,
        },
    )
}

fn rule(rule: &protocol::PolicyRule) -> Result<Rule, PolicyError> {
    let protocol = match rule.protocol {
        protocol::Protocol::Tcp => Protocol::Tcp,
        protocol::Protocol::Udp => Protocol::Udp,
        protocol::Protocol::Icmp => Protocol::Icmp,
        protocol::Protocol::Any => Protocol::Any,
    };
    let ports = rule
        .ports
        .map(|ports| PortRange::new(ports.first(), ports.last()))
        .transpose()?;
    Ok(Rule {
        id: u64::from(rule.id),
        src: rule.src,
        dst: rule.dst,
        protocol,
        ports,
    })
}

/// The default action of a compiled policy, as the protocol names it.
pub fn default_action(policy: &CompiledPolicy) -> PolicyAction {
    match policy.default_action {
        DefaultAction::Allow => PolicyAction::Allow,
        DefaultAction::Deny => PolicyAction::Deny,
    }
}

/// The classifier's counters as the heartbeat reports them. Rule ids are
/// 32-bit in the protocol; the classifier only holds ids it was given from
/// there, so none is left out.
pub fn policy_counters(counters: &Counters) -> PolicyCounters {
    PolicyCounters {
        rules: counters
            .rules
            .iter()
            .filter_map(|(&rule_id, count)| {
                Some(RuleCounter {
                    rule_id: u32::try_from(rule_id).ok()?,
                    packets: count.packets,
                    bytes: count.bytes,
                })
            })
            .collect(),
        default_allowed: traffic(counters.default_allowed),
        default_denied: traffic(counters.default_denied),
    }
}

fn traffic(count: Count) -> TrafficCounter {
    TrafficCounter {
        packets: count.packets,
        bytes: count.bytes,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use servos_common::protocol::{IdentityKind, PolicyRule};
    use servos_ebpf_loader::EntryMatch;
    use uuid::Uuid;

    use super::*;

    fn identity(id: u32, prefix: &str) -> protocol::Identity {
        protocol::Identity {
            id,
            kind: IdentityKind::Node,
            name: format!("node-{id}"),
            ref_id: Uuid::new_v4(),
            prefixes: vec![prefix.parse().expect("prefix")],
        }
    }

    fn policy_rule(id: u32, protocol: protocol::Protocol, ports: Option<(u16, u16)>) -> PolicyRule {
        PolicyRule {
            id,
            src: 1,
            dst: 2,
            protocol,
            ports: ports.and_then(|(first, last)| protocol::PortRange::new(first, last)),
        }
    }

    fn policy(default_action: PolicyAction, rules: Vec<PolicyRule>) -> protocol::Policy {
        protocol::Policy {
            default_action,
            rules,
        }
    }

    #[test]
    fn identities_rules_and_the_default_action_are_carried_over() {
        let identities = [identity(1, "10.210.0.1/32"), identity(2, "10.210.0.2/32")];
        let rules = vec![
            policy_rule(7, protocol::Protocol::Tcp, Some((8080, 8080))),
            policy_rule(8, protocol::Protocol::Icmp, None),
        ];
        let compiled = compile_policy(&identities, &policy(PolicyAction::Deny, rules))
            .expect("a valid policy");
        assert_eq!(default_action(&compiled), PolicyAction::Deny);
        assert_eq!(compiled.rule_ids, [7, 8]);
        let net = |text: &str| -> ipnet::Ipv4Net { text.parse().expect("net") };
        assert_eq!(
            compiled.identities_v4,
            [(net("10.210.0.1/32"), 1), (net("10.210.0.2/32"), 2)]
        );
        let matches: Vec<(u64, EntryMatch)> = compiled
            .entries
            .iter()
            .map(|entry| (entry.rule_id, entry.matches))
            .collect();
        assert!(matches.contains(&(
            7,
            EntryMatch::PortPrefix {
                protocol: 6,
                port: 8080,
                bits: 16
            }
        )));
        assert!(matches.contains(&(8, EntryMatch::Protocol(1))));

        let open = compile_policy(&[], &policy(PolicyAction::Allow, vec![])).expect("valid");
        assert_eq!(default_action(&open), PolicyAction::Allow);
    }

    #[test]
    fn an_invalid_policy_is_refused_naming_what_is_wrong() {
        let identities = [identity(1, "10.210.0.1/32")];
        let rules = vec![policy_rule(7, protocol::Protocol::Udp, None)];
        let err = compile_policy(&identities, &policy(PolicyAction::Deny, rules))
            .expect_err("rule 7 names identity 2, which is not listed");
        assert_eq!(
            err,
            PolicyError::UnknownIdentity {
                rule: 7,
                identity: 2
            }
        );
        let shared = [identity(1, "10.210.0.0/24"), identity(2, "10.210.0.0/24")];
        assert!(compile_policy(&shared, &policy(PolicyAction::Deny, vec![])).is_err());
        let icmp_ports = vec![policy_rule(9, protocol::Protocol::Icmp, Some((1, 2)))];
        let both = [identity(1, "10.210.0.1/32"), identity(2, "10.210.0.2/32")];
        assert_eq!(
            compile_policy(&both, &policy(PolicyAction::Deny, icmp_ports)),
            Err(PolicyError::PortsOnIcmp(9))
        );
    }

    #[test]
    fn counters_are_reported_per_rule_and_per_default_action() {
        let counters = Counters {
            rules: BTreeMap::from([(
                7,
                Count {
                    packets: 10,
                    bytes: 840,
                },
            )]),
            default_allowed: Count::default(),
            default_denied: Count {
                packets: 3,
                bytes: 180,
            },
        };
        let reported = policy_counters(&counters);
        assert_eq!(
            reported.rules,
            [RuleCounter {
                rule_id: 7,
                packets: 10,
                bytes: 840
            }]
        );
        assert_eq!(reported.default_allowed, TrafficCounter::default());
        assert_eq!(
            reported.default_denied,
            TrafficCounter {
                packets: 3,
                bytes: 180
            }
        );
    }
}
