//! Reading a packet's addresses, protocol and ports: IPv4 (options skipped),
//! IPv6 (a bounded walk over extension headers), TCP, UDP, ICMP and ICMPv6,
//! and the packet an ICMP error quotes.
//!
//! Every read goes through `bpf_skb_load_bytes`, which fails past the end
//! of the packet: that is how truncation is found, at any length, and it
//! also reads packets whose headers are not in the linear part of the skb.

use aya_ebpf::programs::TcContext;
use servos_ebpf_common::{
    FlowKey, MAX_IPV6_EXTENSION_HEADERS, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const ICMP_HEADER: usize = 8;

const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DESTINATION_OPTIONS: u8 = 60;

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_DESTINATION_UNREACHABLE: u8 = 3;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_PARAMETER_PROBLEM: u8 = 12;
const ICMPV6_DESTINATION_UNREACHABLE: u8 = 1;
const ICMPV6_PACKET_TOO_BIG: u8 = 2;
const ICMPV6_TIME_EXCEEDED: u8 = 3;
const ICMPV6_PARAMETER_PROBLEM: u8 = 4;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// What the classifier learnt from a packet.
pub enum Parsed {
    /// Not IPv4 or IPv6 (ARP, for instance): not the policy's business.
    NotIp,
    /// An IP packet too short or too odd to classify: no rule can match it.
    Unparsable,
    /// An IP packet the policy can judge, described in the [`Packet`].
    Ip,
}

/// The parts of an IP packet the policy looks at. Filled in place: the
/// program has 512 bytes of stack, and copies of it would not fit.
pub struct Packet {
    /// Addresses, protocol (ICMPv6 as ICMP) and ports; zero ports when the
    /// packet has none (another protocol, a non-first fragment).
    pub flow: FlowKey,
    /// Whether the addresses are IPv6 (else IPv4-mapped IPv4).
    pub is_ipv6: bool,
    /// Whether the destination port takes part in the policy lookup (TCP
    /// and UDP, except non-first fragments, which carry no port).
    pub has_port: bool,
    /// Whether an allowed packet's flow goes into the connection table.
    pub trackable: bool,
    /// Where the packet an ICMP error quotes starts; 0 for other packets.
    /// It is read only when the rules do not allow the error.
    pub quoted_offset: usize,
}

impl Packet {
    /// A packet before parsing.
    pub const EMPTY: Self = Self {
        flow: FlowKey {
            src: [0; 16],
            dst: [0; 16],
            src_port: [0; 2],
            dst_port: [0; 2],
            protocol: 0,
            padding: [0; 3],
        },
        is_ipv6: false,
        has_port: false,
        trackable: false,
        quoted_offset: 0,
    };
}

/// A header that is not all there.
struct Truncated;

#[inline(always)]
fn load<T>(ctx: &TcContext, offset: usize) -> Result<T, Truncated> {
    ctx.load::<T>(offset).map_err(|_| Truncated)
}

/// Reads the packet into `packet`, choosing the network layer from
/// `skb->protocol`, which the driver sets on every interface, with or
/// without an Ethernet header.
#[inline(always)]
pub fn parse(ctx: &TcContext, ip_offset: usize, packet: &mut Packet) -> Parsed {
    // `skb->protocol` is a big-endian 16-bit value in a 32-bit field.
    let protocol = u16::from_be(ctx.skb.protocol() as u16);
    let parsed = match protocol {
        ETH_P_IP => parse_ipv4(ctx, ip_offset, packet),
        ETH_P_IPV6 => parse_ipv6(ctx, ip_offset, packet),
        _ => return Parsed::NotIp,
    };
    match parsed {
        Ok(()) => Parsed::Ip,
        Err(Truncated) => Parsed::Unparsable,
    }
}

#[inline(always)]
fn ipv4_mapped(addr: [u8; 4]) -> [u8; 16] {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, addr[0], addr[1], addr[2], addr[3],
    ]
}

#[inline(always)]
fn parse_ipv4(ctx: &TcContext, offset: usize, packet: &mut Packet) -> Result<(), Truncated> {
    let header: [u8; IPV4_MIN_HEADER] = load(ctx, offset)?;
    let header_len = usize::from(header[0] & 0x0f) * 4;
    if header[0] >> 4 != 4 || header_len < IPV4_MIN_HEADER {
        return Err(Truncated);
    }
    // Options are skipped, not read, but must be there.
    if (ctx.len() as usize) < offset + header_len {
        return Err(Truncated);
    }
    packet.flow.src = ipv4_mapped([header[12], header[13], header[14], header[15]]);
    packet.flow.dst = ipv4_mapped([header[16], header[17], header[18], header[19]]);
    packet.flow.protocol = header[9];
    let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & 0x1fff;
    if fragment_offset == 0 {
        read_transport(ctx, offset + header_len, packet)?;
    }
    Ok(())
}

#[inline(always)]
fn parse_ipv6(ctx: &TcContext, offset: usize, packet: &mut Packet) -> Result<(), Truncated> {
    let start: [u8; 8] = load(ctx, offset)?;
    if start[0] >> 4 != 6 {
        return Err(Truncated);
    }
    packet.is_ipv6 = true;
    packet.flow.src = load(ctx, offset + 8)?;
    packet.flow.dst = load(ctx, offset + 24)?;
    let mut next_header = start[6];
    let mut cursor = offset + IPV6_HEADER;
    // One more round than there may be extension headers: the last may
    // only find the transport header.
    let mut walked = 0;
    while walked <= MAX_IPV6_EXTENSION_HEADERS {
        match next_header {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DESTINATION_OPTIONS => {
                let extension: [u8; 2] = load(ctx, cursor)?;
                next_header = extension[0];
                cursor += (usize::from(extension[1]) + 1) * 8;
            }
            IPV6_FRAGMENT => {
                let fragment: [u8; 4] = load(ctx, cursor)?;
                next_header = fragment[0];
                cursor += 8;
                if u16::from_be_bytes([fragment[2], fragment[3]]) >> 3 != 0 {
                    // A later fragment: what follows is the middle of the
                    // payload, not a header.
                    packet.flow.protocol = normalise_v6(next_header);
                    return Ok(());
                }
            }
            _ => {
                packet.flow.protocol = next_header;
                read_transport(ctx, cursor, packet)?;
                packet.flow.protocol = normalise_v6(next_header);
                return Ok(());
            }
        }
        walked += 1;
    }
    Err(Truncated)
}

#[inline(always)]
fn normalise_v6(protocol: u8) -> u8 {
    if protocol == PROTO_ICMPV6 {
        PROTO_ICMP
    } else {
        protocol
    }
}

/// Reads ports (TCP, UDP), echo identifiers and where the quoted packet is
/// (ICMP) for `packet.flow.protocol`, as it stands in the IP header; other
/// protocols have neither and are tracked by addresses alone.
#[inline(always)]
fn read_transport(ctx: &TcContext, offset: usize, packet: &mut Packet) -> Result<(), Truncated> {
    match (packet.flow.protocol, packet.is_ipv6) {
        (PROTO_TCP | PROTO_UDP, _) => {
            let ports: [u8; 4] = load(ctx, offset)?;
            packet.flow.src_port = [ports[0], ports[1]];
            packet.flow.dst_port = [ports[2], ports[3]];
            packet.has_port = true;
        }
        (PROTO_ICMP, false) | (PROTO_ICMPV6, true) => {
            let header: [u8; ICMP_HEADER] = load(ctx, offset)?;
            let kind = icmp_kind(header[0], packet.is_ipv6);
            (packet.flow.src_port, packet.flow.dst_port) = icmp_ports(&kind, &header);
            if matches!(kind, IcmpKind::Error) {
                packet.quoted_offset = offset + ICMP_HEADER;
                return Ok(());
            }
        }
        _ => {}
    }
    packet.trackable = true;
    Ok(())
}

/// The ICMP (or ICMPv6) message types the classifier tells apart.
enum IcmpKind {
    EchoRequest,
    EchoReply,
    Error,
    Other,
}

#[inline(always)]
fn icmp_kind(message_type: u8, is_ipv6: bool) -> IcmpKind {
    match (is_ipv6, message_type) {
        (false, ICMP_ECHO_REQUEST) | (true, ICMPV6_ECHO_REQUEST) => IcmpKind::EchoRequest,
        (false, ICMP_ECHO_REPLY) | (true, ICMPV6_ECHO_REPLY) => IcmpKind::EchoReply,
        (false, ICMP_DESTINATION_UNREACHABLE | ICMP_TIME_EXCEEDED | ICMP_PARAMETER_PROBLEM)
        | (
            true,
            ICMPV6_DESTINATION_UNREACHABLE
            | ICMPV6_PACKET_TOO_BIG
            | ICMPV6_TIME_EXCEEDED
            | ICMPV6_PARAMETER_PROBLEM,
        ) => IcmpKind::Error,
        _ => IcmpKind::Other,
    }
}

/// Source and destination "ports" of an ICMP message: the echo identifier
/// as the request's source and the reply's destination, so that a reply
/// reversed is its request.
#[inline(always)]
fn icmp_ports(kind: &IcmpKind, header: &[u8; ICMP_HEADER]) -> ([u8; 2], [u8; 2]) {
    let identifier = [header[4], header[5]];
    match kind {
        IcmpKind::EchoRequest => (identifier, [0; 2]),
        IcmpKind::EchoReply => ([0; 2], identifier),
        IcmpKind::Error | IcmpKind::Other => ([0; 2], [0; 2]),
    }
}

/// Reads into `quoted` the flow of the packet an ICMP error carries after
/// its header (`packet.quoted_offset`): its IP header and the start of its
/// transport header, without extension headers. False when it is cut short.
#[inline(always)]
pub fn read_quoted(ctx: &TcContext, packet: &Packet, quoted: &mut FlowKey) -> bool {
    read_quoted_flow(ctx, packet.quoted_offset, packet.is_ipv6, quoted).is_ok()
}

#[inline(always)]
fn read_quoted_flow(
    ctx: &TcContext,
    offset: usize,
    is_ipv6: bool,
    quoted: &mut FlowKey,
) -> Result<(), Truncated> {
    let transport_offset = if is_ipv6 {
        let start: [u8; 8] = load(ctx, offset)?;
        quoted.protocol = start[6];
        quoted.src = load(ctx, offset + 8)?;
        quoted.dst = load(ctx, offset + 24)?;
        offset + IPV6_HEADER
    } else {
        let header: [u8; IPV4_MIN_HEADER] = load(ctx, offset)?;
        let header_len = usize::from(header[0] & 0x0f) * 4;
        if header_len < IPV4_MIN_HEADER {
            return Err(Truncated);
        }
        quoted.protocol = header[9];
        quoted.src = ipv4_mapped([header[12], header[13], header[14], header[15]]);
        quoted.dst = ipv4_mapped([header[16], header[17], header[18], header[19]]);
        offset + header_len
    };
    match quoted.protocol {
        PROTO_TCP | PROTO_UDP => {
            let ports: [u8; 4] = load(ctx, transport_offset)?;
            quoted.src_port = [ports[0], ports[1]];
            quoted.dst_port = [ports[2], ports[3]];
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            let header: [u8; ICMP_HEADER] = load(ctx, transport_offset)?;
            (quoted.src_port, quoted.dst_port) =
                icmp_ports(&icmp_kind(header[0], is_ipv6), &header);
        }
        _ => {}
    }
    quoted.protocol = normalise_v6(quoted.protocol);
    Ok(())
}
