//! Crafted Ethernet frames: IPv4 (with options, fragments), IPv6 (with
//! extension headers, fragments), TCP, UDP, ICMP and ICMPv6. Checksums are
//! left zero: the classifier does not read them.

use std::net::{Ipv4Addr, Ipv6Addr};

/// IANA protocol numbers used here.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;
pub const GRE: u8 = 47;

/// IPv6 extension header numbers.
pub const HOP_BY_HOP: u8 = 0;
pub const ROUTING: u8 = 43;
pub const FRAGMENT: u8 = 44;
pub const DESTINATION_OPTIONS: u8 = 60;

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An ARP request, to show what is not IP.
pub fn arp() -> Vec<u8> {
    let mut body = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
    body.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(&[10, 0, 0, 2]);
    ethernet(0x0806, &body)
}

/// The start of a TCP header: ports, then zeros up to 20 bytes.
pub fn tcp(src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut header = vec![0; 20];
    header[..2].copy_from_slice(&src_port.to_be_bytes());
    header[2..4].copy_from_slice(&dst_port.to_be_bytes());
    header[12] = 5 << 4;
    header
}

/// A UDP header and a few bytes of payload.
pub fn udp(src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut datagram = vec![0; 12];
    datagram[..2].copy_from_slice(&src_port.to_be_bytes());
    datagram[2..4].copy_from_slice(&dst_port.to_be_bytes());
    datagram[4..6].copy_from_slice(&12u16.to_be_bytes());
    datagram
}

/// An ICMP (or ICMPv6) message: type, code 0, and `rest` after the
/// 4-byte start (an echo's identifier and sequence, or an error's unused
/// word), then `payload`.
pub fn icmp(message_type: u8, rest: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut message = vec![message_type, 0, 0, 0];
    message.extend_from_slice(&rest);
    message.extend_from_slice(payload);
    message
}

/// An echo request or reply's identifier and sequence number 1.
pub fn echo(identifier: u16) -> [u8; 4] {
    let [high, low] = identifier.to_be_bytes();
    [high, low, 0, 1]
}

/// An IPv4 packet.
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub options: Vec<u8>,
    /// Fragment offset in 8-byte units.
    pub fragment_offset: u16,
    pub more_fragments: bool,
    pub payload: Vec<u8>,
}

impl Ipv4 {
    /// A packet without options, not fragmented.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: Vec<u8>) -> Self {
        Self {
            src,
            dst,
            protocol,
            options: Vec::new(),
            fragment_offset: 0,
            more_fragments: false,
            payload,
        }
    }

    /// The IP packet alone (what an ICMP error quotes).
    pub fn bytes(&self) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0, "options come in 4-byte words");
        let header_len = 20 + self.options.len();
        let total = header_len + self.payload.len();
        let mut packet = vec![0; 20];
        packet[0] = 0x40 | (header_len / 4) as u8;
        packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        let flags = self.fragment_offset | if self.more_fragments { 0x2000 } else { 0 };
        packet[6..8].copy_from_slice(&flags.to_be_bytes());
        packet[8] = 64;
        packet[9] = self.protocol;
        packet[12..16].copy_from_slice(&self.src.octets());
        packet[16..20].copy_from_slice(&self.dst.octets());
        packet.extend_from_slice(&self.options);
        packet.extend_from_slice(&self.payload);
        packet
    }

    /// The packet in an Ethernet frame.
    pub fn frame(&self) -> Vec<u8> {
        ethernet(0x0800, &self.bytes())
    }
}

/// An IPv6 packet.
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Extension headers in order, each as (its type, its body after the
    /// next-header byte); bodies are padded to 8-byte multiples.
    pub extensions: Vec<(u8, Vec<u8>)>,
    pub protocol: u8,
    pub payload: Vec<u8>,
}

impl Ipv6 {
    /// A packet without extension headers.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, payload: Vec<u8>) -> Self {
        Self {
            src,
            dst,
            extensions: Vec::new(),
            protocol,
            payload,
        }
    }

    /// A fragment header body for `offset` (8-byte units).
    pub fn fragment(offset: u16, more: bool) -> Vec<u8> {
        let field = (offset << 3) | u16::from(more);
        let mut body = vec![0];
        body.extend_from_slice(&field.to_be_bytes());
        body.extend_from_slice(&[0, 0, 0, 7]);
        body
    }

    /// An options header body (hop-by-hop, destination options, routing)
    /// of `words` 8-byte words.
    pub fn options(words: u8) -> Vec<u8> {
        let mut body = vec![words - 1];
        body.resize(usize::from(words) * 8 - 1, 0);
        body
    }

    /// The IP packet alone.
    pub fn bytes(&self) -> Vec<u8> {
        let mut chain = Vec::new();
        let mut first = self.protocol;
        for (index, (kind, body)) in self.extensions.iter().enumerate() {
            if index == 0 {
                first = *kind;
            }
            let next = self
                .extensions
                .get(index + 1)
                .map_or(self.protocol, |(kind, _)| *kind);
            chain.push(next);
            chain.extend_from_slice(body);
        }
        let payload_len = chain.len() + self.payload.len();
        let mut packet = vec![0x60, 0, 0, 0];
        packet.extend_from_slice(&(payload_len as u16).to_be_bytes());
        packet.push(first);
        packet.push(64);
        packet.extend_from_slice(&self.src.octets());
        packet.extend_from_slice(&self.dst.octets());
        packet.extend_from_slice(&chain);
        packet.extend_from_slice(&self.payload);
        packet
    }

    /// The packet in an Ethernet frame.
    pub fn frame(&self) -> Vec<u8> {
        ethernet(0x86dd, &self.bytes())
    }
}
