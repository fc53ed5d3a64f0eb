//! Policy semantics in the kernel: which lookups a packet gets, port range
//! edges, the default action, counters, replies, and policy updates.

use std::net::Ipv4Addr;

use servos_ebpf_loader::{Count, DefaultAction, Protocol, Verdict};

use crate::frames::{self, Ipv4, Ipv6};
use crate::{apply, counters, program, rule, run, A, A6, B, B6, C, STRANGER};

fn tcp(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Vec<u8> {
    Ipv4::new(src, dst, frames::TCP, frames::tcp(src_port, dst_port)).frame()
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, dst_port: u16) -> Vec<u8> {
    Ipv4::new(src, dst, frames::UDP, frames::udp(40_000, dst_port)).frame()
}

#[test]
fn rules_for_exact_identities_any_source_any_destination_and_any_to_any() {
    let mut program = program();
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![
            rule(10, 1, 2, Protocol::Tcp, Some((80, 80))),
            rule(11, 0, 3, Protocol::Udp, Some((53, 53))),
            rule(12, 1, 0, Protocol::Tcp, Some((22, 22))),
            rule(13, 0, 0, Protocol::Udp, Some((123, 123))),
        ],
    );
    let cases = [
        // exact (1, 2)
        (tcp(A, B, 40_000, 80), Verdict::Pass, Some(10)),
        (tcp(B, A, 40_000, 80), Verdict::Drop, None),
        (tcp(C, B, 40_000, 80), Verdict::Drop, None),
        // any source to 3, unknown sources included
        (udp(A, C, 53), Verdict::Pass, Some(11)),
        (udp(STRANGER, C, 53), Verdict::Pass, Some(11)),
        (udp(A, B, 53), Verdict::Drop, None),
        // 1 to any destination, unknown ones included
        (tcp(A, STRANGER, 40_000, 22), Verdict::Pass, Some(12)),
        (tcp(B, STRANGER, 40_000, 22), Verdict::Drop, None),
        // any to any
        (udp(STRANGER, STRANGER, 123), Verdict::Pass, Some(13)),
        (udp(C, A, 123), Verdict::Pass, Some(13)),
    ];
    let mut expected_packets = std::collections::BTreeMap::new();
    for (frame, verdict, rule_id) in &cases {
        assert_eq!(run(&mut program, frame), *verdict, "{rule_id:?}");
        if let Some(rule_id) = rule_id {
            *expected_packets.entry(*rule_id).or_insert(0u64) += 1;
        }
    }
    let counts = counters(&mut program);
    let packets: std::collections::BTreeMap<u64, u64> = counts
        .rules
        .iter()
        .map(|(rule_id, count)| (*rule_id, count.packets))
        .collect();
    assert_eq!(packets, expected_packets);
    assert_eq!(counts.default_denied.packets, 4);
}

#[test]
fn the_most_specific_identity_prefix_names_the_address() {
    let mut program = program();
    // 10.0.1.7 is in network C (identity 3); 10.0.0.1 is A (identity 1).
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![rule(1, 3, 1, Protocol::Tcp, None)],
    );
    assert_eq!(run(&mut program, &tcp(C, A, 1, 2)), Verdict::Pass);
    assert_eq!(
        run(&mut program, &tcp(Ipv4Addr::new(10, 0, 2, 7), A, 1, 2)),
        Verdict::Drop
    );
}

#[test]
fn port_ranges_hold_exactly_their_edges() {
    let mut program = program();
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![
            rule(1, 1, 2, Protocol::Tcp, Some((1000, 2000))),
            rule(2, 1, 2, Protocol::Udp, Some((0, 65535))),
            rule(3, 2, 1, Protocol::Tcp, Some((65535, 65535))),
        ],
    );
    for (port, expected) in [
        (999, Verdict::Drop),
        (1000, Verdict::Pass),
        (1023, Verdict::Pass),
        (1024, Verdict::Pass),
        (2000, Verdict::Pass),
        (2001, Verdict::Drop),
    ] {
        assert_eq!(
            run(&mut program, &tcp(A, B, 50_000, port)),
            expected,
            "tcp {port}"
        );
    }
    for port in [0, 1, 65535] {
        assert_eq!(
            run(&mut program, &udp(A, B, port)),
            Verdict::Pass,
            "udp {port}"
        );
    }
    assert_eq!(run(&mut program, &tcp(B, A, 1, 65535)), Verdict::Pass);
    assert_eq!(run(&mut program, &tcp(B, A, 1, 65534)), Verdict::Drop);
}

#[test]
fn the_default_action_decides_what_no_rule_allows() {
    let mut program = program();
    let stray = tcp(A, B, 1, 9);
    // Before any policy: every IP packet is dropped.
    assert_eq!(run(&mut program, &stray), Verdict::Drop);
    apply(&mut program, DefaultAction::Allow, Vec::new());
    assert_eq!(run(&mut program, &stray), Verdict::Pass);
    apply(&mut program, DefaultAction::Deny, Vec::new());
    assert_eq!(run(&mut program, &stray), Verdict::Drop);
    let counts = counters(&mut program);
    let len = stray.len() as u64;
    assert_eq!(
        counts.default_allowed,
        Count {
            packets: 1,
            bytes: len
        }
    );
    assert_eq!(
        counts.default_denied,
        Count {
            packets: 2,
            bytes: 2 * len
        }
    );
}

#[test]
fn counters_rise_by_the_packets_and_bytes_sent() {
    let mut program = program();
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![
            rule(7, 1, 2, Protocol::Tcp, None),
            rule(8, 0, 0, Protocol::Icmp, None),
        ],
    );
    let small = tcp(A, B, 1, 2);
    let mut large = Ipv4::new(A, B, frames::TCP, frames::tcp(1, 2));
    large.payload.resize(1400, 0xab);
    let large = large.frame();
    let v6 = Ipv6::new(A6, B6, frames::TCP, frames::tcp(1, 2)).frame();
    for _ in 0..5 {
        assert_eq!(run(&mut program, &small), Verdict::Pass);
    }
    for _ in 0..3 {
        assert_eq!(run(&mut program, &large), Verdict::Pass);
    }
    assert_eq!(run(&mut program, &v6), Verdict::Pass);
    let counts = counters(&mut program);
    let expected = Count {
        packets: 9,
        bytes: 5 * small.len() as u64 + 3 * large.len() as u64 + v6.len() as u64,
    };
    assert_eq!(counts.rules.get(&7), Some(&expected));
    assert_eq!(counts.rules.get(&8), Some(&Count::default()));
}

#[test]
fn replies_of_allowed_flows_pass_while_their_rule_exists() {
    let mut program = program();
    let rules = vec![rule(1, 1, 2, Protocol::Tcp, Some((80, 80)))];
    apply(&mut program, DefaultAction::Deny, rules.clone());
    let request = tcp(A, B, 40_000, 80);
    let reply = tcp(B, A, 80, 40_000);
    let other_port = tcp(B, A, 80, 40_001);
    assert_eq!(run(&mut program, &reply), Verdict::Drop);
    assert_eq!(run(&mut program, &request), Verdict::Pass);
    assert_eq!(run(&mut program, &reply), Verdict::Pass);
    assert_eq!(run(&mut program, &other_port), Verdict::Drop);
    assert_eq!(
        counters(&mut program)
            .rules
            .get(&1)
            .map(|count| count.packets),
        Some(2)
    );

    // Another rule in force: the flow's rule is gone, its replies stop.
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![rule(2, 1, 2, Protocol::Udp, None)],
    );
    assert_eq!(run(&mut program, &reply), Verdict::Drop);
    // The rule back (same id): a new request tracks the flow again.
    apply(&mut program, DefaultAction::Deny, rules);
    assert_eq!(run(&mut program, &request), Verdict::Pass);
    assert_eq!(run(&mut program, &reply), Verdict::Pass);
}

#[test]
fn an_update_switches_the_whole_policy_and_keeps_counters_by_rule_id() {
    let mut program = program();
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![
            rule(1, 1, 2, Protocol::Tcp, Some((80, 80))),
            rule(2, 1, 2, Protocol::Tcp, Some((81, 81))),
        ],
    );
    for port in [80, 80, 81] {
        assert_eq!(run(&mut program, &tcp(A, B, 1, port)), Verdict::Pass);
    }
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![
            rule(1, 1, 2, Protocol::Tcp, Some((80, 80))),
            rule(3, 1, 2, Protocol::Tcp, Some((82, 82))),
        ],
    );
    assert_eq!(run(&mut program, &tcp(A, B, 1, 80)), Verdict::Pass);
    assert_eq!(run(&mut program, &tcp(A, B, 1, 81)), Verdict::Drop);
    assert_eq!(run(&mut program, &tcp(A, B, 1, 82)), Verdict::Pass);
    let counts = counters(&mut program);
    let packets: Vec<(u64, u64)> = counts
        .rules
        .iter()
        .map(|(rule_id, count)| (*rule_id, count.packets))
        .collect();
    assert_eq!(packets, [(1, 3), (3, 1)]);

    // Third update: the slot rule 2 left is reused, from zero.
    apply(
        &mut program,
        DefaultAction::Deny,
        vec![rule(4, 1, 2, Protocol::Tcp, Some((83, 83)))],
    );
    assert_eq!(run(&mut program, &tcp(A, B, 1, 83)), Verdict::Pass);
    let counts = counters(&mut program);
    assert_eq!(counts.rules.len(), 1);
    assert_eq!(counts.rules.get(&4).map(|count| count.packets), Some(1));
}
