//! Policy compilation: port ranges as prefixes, limits, rule and identity checks.

use super::*;

fn net(text: &str) -> IpNet {
    text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn identity(id: u32, prefixes: &[&str]) -> Identity {
    Identity {
        id,
        prefixes: prefixes.iter().map(|text| net(text)).collect(),
    }
}

fn rule(id: u64, src: u32, dst: u32, protocol: Protocol, ports: Option<(u16, u16)>) -> Rule {
    Rule {
        id,
        src,
        dst,
        protocol,
        ports: ports.map(|(first, last)| PortRange { first, last }),
    }
}

fn deny(rules: Vec<Rule>) -> Policy {
    Policy {
        default_action: DefaultAction::Deny,
        rules,
    }
}

/// Every port a set of prefixes covers, in order.
fn covered(prefixes: &[(u16, u8)]) -> Vec<u32> {
    let mut ports = Vec::new();
    for &(start, bits) in prefixes {
        let size = 1u32 << (16 - u32::from(bits));
        assert_eq!(
            u32::from(start) % size,
            0,
            "prefix {start}/{bits} is not aligned"
        );
        ports.extend(u32::from(start)..u32::from(start) + size);
    }
    ports.sort_unstable();
    ports
}

#[test]
fn port_ranges_become_the_fewest_prefixes_that_cover_them_exactly() -> Result<(), PolicyError> {
    let cases: [(u16, u16, usize); 9] = [
        (8080, 8080, 1),
        (0, 65535, 1),
        (1024, 2047, 1),
        (1, 65534, 30),
        (1000, 2000, 8),
        (0, 0, 1),
        (65535, 65535, 1),
        (80, 81, 1),
        (81, 82, 2),
    ];
    for (first, last, count) in cases {
        let prefixes = PortRange::new(first, last)?.prefixes();
        assert_eq!(prefixes.len(), count, "{first}-{last}: {prefixes:?}");
        let expected: Vec<u32> = (u32::from(first)..=u32::from(last)).collect();
        assert_eq!(covered(&prefixes), expected, "{first}-{last}");
    }
    Ok(())
}

#[test]
fn an_empty_port_range_is_refused() {
    assert_eq!(
        PortRange::new(2, 1),
        Err(PolicyError::EmptyPortRange { first: 2, last: 1 })
    );
}

#[test]
fn rules_become_entries_at_the_length_their_protocol_and_ports_need() -> Result<(), PolicyError> {
    let identities = [identity(1, &["10.0.0.1/32"]), identity(2, &["10.0.1.0/24"])];
    let policy = deny(vec![
        rule(4, 1, 2, Protocol::Tcp, Some((8080, 8081))),
        rule(5, 0, 2, Protocol::Any, None),
        rule(6, 1, 0, Protocol::Icmp, None),
        rule(7, 0, 0, Protocol::Udp, Some((0, 65535))),
        rule(8, 2, 1, Protocol::Any, Some((53, 53))),
    ]);
    let compiled = compile(&identities, &policy)?;
    let entries: Vec<(u32, u32, EntryMatch, u64)> = compiled
        .entries
        .iter()
        .map(|entry| (entry.src, entry.dst, entry.matches, entry.rule_id))
        .collect();
    let port = |protocol, port, bits| EntryMatch::PortPrefix {
        protocol,
        port,
        bits,
    };
    assert_eq!(
        entries,
        [
            (0, 0, EntryMatch::Protocol(PROTO_UDP), 7),
            (0, 2, EntryMatch::AnyProtocol, 5),
            (1, 0, EntryMatch::Protocol(PROTO_ICMP), 6),
            (1, 2, port(PROTO_TCP, 8080, 15), 4),
            (2, 1, port(PROTO_TCP, 53, 16), 8),
            (2, 1, port(PROTO_UDP, 53, 16), 8),
        ]
    );
    assert_eq!(compiled.rule_ids, [4, 5, 6, 7, 8]);
    let (bits, key) = compiled.entries[1].key(1);
    assert_eq!(bits, POLICY_ANY_PROTOCOL_BITS);
    assert_eq!(key.generation, 1);
    assert_eq!(key.dst_identity, [0, 0, 0, 2]);
    let (bits, key) = compiled.entries[3].key(0);
    assert_eq!(bits, POLICY_PROTOCOL_BITS + 15);
    assert_eq!((key.protocol, key.port), (PROTO_TCP, 8080u16.to_be_bytes()));
    Ok(())
}

#[test]
fn where_rules_overlap_exactly_the_lowest_id_has_the_entry() -> Result<(), PolicyError> {
    let identities = [identity(1, &["10.0.0.1/32"])];
    let policy = deny(vec![
        rule(9, 0, 1, Protocol::Tcp, Some((80, 80))),
        rule(3, 0, 1, Protocol::Tcp, Some((80, 80))),
    ]);
    let compiled = compile(&identities, &policy)?;
    assert_eq!(compiled.entries.len(), 1);
    assert_eq!(compiled.entries[0].rule_id, 3);
    // Both keep a counter slot.
    assert_eq!(compiled.rule_ids, [3, 9]);
    Ok(())
}

#[test]
fn identities_are_split_by_family_and_keyed_with_the_generation() -> Result<(), PolicyError> {
    let identities = [
        identity(3, &["10.1.0.0/16", "fd00::/64"]),
        identity(4, &["10.1.2.3/32"]),
    ];
    let compiled = compile(&identities, &deny(Vec::new()))?;
    assert_eq!(compiled.identities_v4.len(), 2);
    assert_eq!(compiled.identities_v6.len(), 1);
    let (bits, key) = identity_v4_key(&compiled.identities_v4[0].0, 1);
    assert_eq!((bits, key.generation, key.addr), (8 + 16, 1, [10, 1, 0, 0]));
    let (bits, key) = identity_v6_key(&compiled.identities_v6[0].0, 0);
    assert_eq!((bits, key.generation, key.addr[0]), (8 + 64, 0, 0xfd));
    Ok(())
}

#[test]
fn bad_identities_are_refused_with_what_is_wrong() {
    let cases = [
        (vec![identity(0, &[])], PolicyError::ReservedIdentity),
        (
            vec![identity(1, &[]), identity(1, &[])],
            PolicyError::DuplicateIdentity(1),
        ),
        (
            vec![identity(1, &["10.0.0.1/24"])],
            PolicyError::HostBits {
                identity: 1,
                prefix: net("10.0.0.1/24"),
            },
        ),
        (
            vec![identity(1, &["10.0.0.0/24"]), identity(2, &["10.0.0.0/24"])],
            PolicyError::SharedPrefix {
                prefix: net("10.0.0.0/24"),
                first: 1,
                second: 2,
            },
        ),
    ];
    for (identities, expected) in cases {
        assert_eq!(compile(&identities, &deny(Vec::new())), Err(expected));
    }
}

#[test]
fn bad_rules_are_refused_with_what_is_wrong() {
    let identities = [identity(1, &["10.0.0.1/32"])];
    let cases = [
        (
            vec![
                rule(1, 0, 0, Protocol::Tcp, None),
                rule(1, 0, 0, Protocol::Udp, None),
            ],
            PolicyError::DuplicateRule(1),
        ),
        (
            vec![rule(2, 1, 5, Protocol::Tcp, None)],
            PolicyError::UnknownIdentity {
                rule: 2,
                identity: 5,
            },
        ),
        (
            vec![rule(3, 0, 0, Protocol::Icmp, Some((1, 2)))],
            PolicyError::PortsOnIcmp(3),
        ),
    ];
    for (rules, expected) in cases {
        assert_eq!(compile(&identities, &deny(rules)), Err(expected));
    }
}

#[test]
fn limits_are_checked_with_the_numbers() {
    let too_many_rules: Vec<Rule> = (0..=u64::from(MAX_RULES))
        .map(|id| rule(id, 0, 0, Protocol::Tcp, Some((1, 1))))
        .collect();
    assert_eq!(
        compile(&[], &deny(too_many_rules)),
        Err(PolicyError::TooManyRules {
            count: MAX_RULES as usize + 1,
            max: MAX_RULES
        })
    );

    // 30 prefixes per rule: 2,185 rules make 65,550 entries.
    let wide: Vec<Rule> = (0..2185)
        .map(|id| {
            let identity = id as u32 + 1;
            rule(id, identity, 0, Protocol::Udp, Some((1, 65534)))
        })
        .collect();
    let identities: Vec<Identity> = (1..=2185)
        .map(|id: u32| Identity {
            id,
            prefixes: vec![IpNet::V4(Ipv4Net::new(id.into(), 32).unwrap_or_default())],
        })
        .collect();
    match compile(&identities, &deny(wide)) {
        Err(PolicyError::TooManyEntries { count, max }) => {
            assert_eq!(max, MAX_POLICY_ENTRIES);
            assert!(count > MAX_POLICY_ENTRIES as usize, "{count}");
        }
        other => panic!("expected too many entries, got {other:?}"),
    }

    let prefixes: Vec<IpNet> = (0..=MAX_IDENTITY_PREFIXES)
        .map(|n| IpNet::V4(Ipv4Net::new(n.into(), 32).unwrap_or_default()))
        .collect();
    assert_eq!(
        compile(&[Identity { id: 1, prefixes }], &deny(Vec::new())),
        Err(PolicyError::TooManyPrefixes {
            family: 4,
            count: MAX_IDENTITY_PREFIXES as usize + 1,
            max: MAX_IDENTITY_PREFIXES
        })
    );
}
