//! The mesh interface behind one trait, with two implementations: embedded
//! boringtun (over its configuration protocol) and kernel WireGuard (over
//! netlink, through `wireguard-control`).
//!
//! The trait's operations are the ones both implementations do reliably:
//! the device's key and port, one peer added, one peer removed. Changing a
//! peer is removing and adding it again ([`diff`]), which boringtun 0.7
//! needs (it cannot update a peer in place, and mixes up several peers in
//! one request).

pub mod apply;
pub mod boringtun;
pub mod diff;
pub mod kernel;
pub mod uapi;

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use servos_common::protocol::{Backend, Peer, WgPublicKey};

use crate::keys::PrivateKey;

/// A WireGuard operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WgError {
    /// Talking to the device failed.
    #[error("WireGuard device: {0}")]
    Io(#[from] std::io::Error),
    /// The device refused a request with this errno.
    #[error("WireGuard device refused the request (errno {0})")]
    Refused(i32),
    /// The device's answer cannot be read.
    #[error("WireGuard device answer: {0}")]
    Protocol(String),
    /// The device could not be created or started.
    #[error("WireGuard device start: {0}")]
    Start(String),
}

/// What a peer is configured as; two specs are equal when nothing needs changing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// The peer's public key.
    pub public_key: WgPublicKey,
    /// Where to reach it.
    pub endpoint: Option<SocketAddr>,
    /// Its allowed IPs, as networks (host bits cleared), sorted.
    pub allowed_ips: Vec<IpNet>,
    /// Keepalive interval in seconds.
    pub persistent_keepalive: Option<u16>,
}

impl PeerSpec {
    /// A spec with its allowed IPs normalised (host bits cleared, sorted, unique).
    pub fn new(
        public_key: WgPublicKey,
        endpoint: Option<SocketAddr>,
        allowed_ips: impl IntoIterator<Item = IpNet>,
        persistent_keepalive: Option<u16>,
    ) -> Self {
        let mut allowed_ips: Vec<IpNet> = allowed_ips.into_iter().map(|net| net.trunc()).collect();
        allowed_ips.sort();
        allowed_ips.dedup();
        Self {
            public_key,
            endpoint,
            allowed_ips,
            persistent_keepalive: persistent_keepalive.filter(|&secs| secs != 0),
        }
    }
}

impl From<&Peer> for PeerSpec {
    fn from(peer: &Peer) -> Self {
        Self::new(
            peer.public_key,
            peer.endpoint,
            peer.allowed_ips.iter().copied(),
            peer.persistent_keepalive,
        )
    }
}

/// A peer as the device reports it: its configuration and its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    /// Its configuration.
    pub spec: PeerSpec,
    /// Time since the last handshake; `None` before the first.
    pub last_handshake: Option<Duration>,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// The device as it reports itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceState {
    /// The public key of the device's private key, once set.
    pub public_key: Option<WgPublicKey>,
    /// The UDP port, once set.
    pub listen_port: Option<u16>,
    /// Every peer.
    pub peers: Vec<PeerState>,
}

/// A WireGuard device the agent configures.
pub trait WgDevice: Send {
    /// Which implementation this is.
    fn backend(&self) -> Backend;
    /// Reads the device's key, port and peers.
    fn read(&mut self) -> Result<DeviceState, WgError>;
    /// Sets the device's private key and UDP port.
    fn set_identity(&mut self, key: &PrivateKey, listen_port: u16) -> Result<(), WgError>;
    /// Adds one peer that is not on the device.
    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), WgError>;
    /// Removes one peer.
    fn remove_peer(&mut self, public_key: &WgPublicKey) -> Result<(), WgError>;
}
