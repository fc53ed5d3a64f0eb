//! The mesh classifier: a TC program, attached to the mesh interface at
//! ingress and egress, that lets through what the mesh policy allows, drops
//! the rest (or passes it, under a default-allow policy), and counts packets
//! and bytes per rule and per default action.
//!
//! For each IP packet: the source and destination addresses are looked up
//! in longest-prefix-match tries of identities (no match: identity 0,
//! "unknown"); then the policy trie, keyed (source identity, destination
//! identity, protocol, destination port), with at most four lookups —
//! (source, destination), (any, destination), (source, any), (any, any) —
//! so the cost does not grow with the number of rules. A rule for any
//! protocol is a shorter prefix than one for a protocol, which is shorter
//! than one for a port range (split into prefixes). The first lookup that
//! finds an entry decides, and within it the longest prefix.
//!
//! A packet allowed by a rule records its flow in an LRU connection table;
//! a packet whose reversed flow is there passes as a reply and counts
//! against that rule, while the rule still exists. A packet no rule and no
//! flow allows gets the default action.
//!
//! The maps have two generations; the packet reads the active one once and
//! does every lookup in it, so a policy update is seen whole or not at all.
//!
//! # Verdicts on unusual packets
//!
//! | packet | verdict |
//! |---|---|
//! | not IPv4 or IPv6 (`skb->protocol`: ARP, LLDP, ...) | passes, not counted |
//! | IP header cut short at any length, a version that contradicts `skb->protocol`, an IPv4 header length under 20 bytes or past the end of the packet | default action, counted there |
//! | IPv4 with options | options skipped (header length from IHL), classified normally |
//! | IPv6 with hop-by-hop, routing, destination options or fragment headers | walked, up to 6 of them, to the transport header; a 7th is unparsable: default action |
//! | IPv6 with another extension header (AH, ESP, mobility, ...) or No Next Header | classified as that protocol, without ports: only rules for any protocol match |
//! | first fragment (offset 0) | classified normally with its ports, and tracked |
//! | later fragment (offset ≠ 0) | no ports: only a rule without ports (or for any protocol) allows it, looked up at the protocol's prefix so no port range can match it; not tracked, and no flow lets it through. IPv6: the protocol is the fragment header's next header |
//! | TCP or UDP with fewer than 4 bytes (the ports) after the IP header | default action; the rest of the TCP header is not needed |
//! | ICMP or ICMPv6 shorter than its 8-byte header | default action |
//! | ICMP or ICMPv6 echo | classified as ICMP without ports; tracked by identifier, so the reply to an allowed request passes |
//! | ICMP error (destination unreachable, time exceeded, parameter problem; ICMPv6 also packet too big) | passes when the packet it quotes belongs to a tracked flow, in either direction (counted against that flow's rule); otherwise classified as ICMP |
//! | another protocol (GRE, SCTP, ...) | classified as that protocol, without ports; tracked by addresses |
//!
//! ICMPv6 is classified as ICMP: a rule for ICMP covers both. Bytes are
//! counted as the classifier sees the packet: with the Ethernet header when
//! the IP offset is 14.
//!
//! # Host builds
//!
//! The workspace builds every member for the host, so this library (and the
//! program binary) compile there too; only the `bpfel-unknown-none` build
//! made by `servos-ebpf-loader` runs.
#![no_std]

pub mod maps;
pub mod packet;
pub mod verdict;
