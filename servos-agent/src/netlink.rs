//! The mesh interface's link settings over rtnetlink: MTU, address and up.
//!
//! Done as root before the privilege drop at start, and again (with the
//! CAP_NET_ADMIN the agent keeps) if the API moves the node's address.

use std::io;

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_request::netlink_request_rtnl;

use servos_common::protocol::MESH_MTU;

/// A link operation failed.
#[derive(Debug, thiserror::Error)]
#[error("interface {interface}: {what}: {source}")]
pub struct LinkError {
    interface: String,
    what: &'static str,
    source: io::Error,
}

/// The index of interface `name`.
pub fn index_of(name: &str) -> Result<u32, LinkError> {
    nix::net::if_::if_nametoindex(name).map_err(|err| LinkError {
        interface: name.to_owned(),
        what: "no such interface",
        source: err.into(),
    })
}

/// Sets the MTU, adds `address` (node address with the mesh prefix) and brings `name` up.
pub fn configure(name: &str, address: IpNet) -> Result<(), LinkError> {
    let index = index_of(name)?;
    let fail = |what| {
        move |source| LinkError {
            interface: name.to_owned(),
            what,
            source,
        }
    };
    set_link(index, Some(MESH_MTU), false).map_err(fail("set MTU"))?;
    add_address(index, address).map_err(fail("add address"))?;
    set_link(index, None, true).map_err(fail("bring up"))
}

/// Replaces the interface's address `old` by `new` (the API moved the node).
pub fn move_address(name: &str, old: IpNet, new: IpNet) -> Result<(), LinkError> {
    let index = index_of(name)?;
    let fail = |what| {
        move |source| LinkError {
            interface: name.to_owned(),
            what,
            source,
        }
    };
    add_address(index, new).map_err(fail("add address"))?;
    match request(
        RouteNetlinkMessage::DelAddress(address_message(index, old)),
        NLM_F_REQUEST | NLM_F_ACK,
    ) {
        Err(err) if err.raw_os_error() != Some(nix::libc::EADDRNOTAVAIL) => {
            Err(fail("remove old address")(err))
        }
        _ => Ok(()),
    }
}

fn address_message(index: u32, address: IpNet) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.family = match address {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    message.header.prefix_len = address.prefix_len();
    message.header.index = index;
    message
        .attributes
        .push(AddressAttribute::Local(address.addr()));
    message
        .attributes
        .push(AddressAttribute::Address(address.addr()));
    message
}

fn add_address(index: u32, address: IpNet) -> io::Result<()> {
    request(
        RouteNetlinkMessage::NewAddress(address_message(index, address)),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
    )
}

fn set_link(index: u32, mtu: Option<u32>, up: bool) -> io::Result<()> {
    let mut message = LinkMessage::default();
    message.header.index = index;
    if up {
        message.header.flags = LinkFlags::Up;
        message.header.change_mask = LinkFlags::Up;
    }
    if let Some(mtu) = mtu {
        message.attributes.push(LinkAttribute::Mtu(mtu));
    }
    request(
        RouteNetlinkMessage::SetLink(message),
        NLM_F_REQUEST | NLM_F_ACK,
    )
}

fn request(message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
    netlink_request_rtnl(message, Some(flags)).map(drop)
}
