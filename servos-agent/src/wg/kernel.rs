//! Kernel WireGuard through `wireguard-control`'s netlink backend.
//!
//! `wireguard_control::Key` prints private keys in `Debug` and is not
//! zeroized, so one is built only for the moment of a call and never logged.

use std::time::SystemTime;

use servos_common::protocol::{Backend, WgPublicKey};
use wireguard_control::{
    Backend as WgBackend, Device, DeviceUpdate, InterfaceName, Key, PeerConfigBuilder,
};

use super::{DeviceState, PeerSpec, PeerState, WgDevice, WgError};
use crate::keys::PrivateKey;

/// A kernel WireGuard interface.
#[derive(Debug)]
pub struct KernelDevice {
    name: InterfaceName,
}

impl KernelDevice {
    /// Creates the interface `name` (or takes the existing one). Fails where
    /// the kernel has no WireGuard module, which is how the agent tells.
    pub fn create(name: &str) -> Result<Self, WgError> {
        let name: InterfaceName = name
            .parse()
            .map_err(|err| WgError::Start(format!("interface name {name}: {err}")))?;
        DeviceUpdate::new().apply(&name, WgBackend::Kernel)?;
        Ok(Self { name })
    }

    fn apply(&self, update: DeviceUpdate) -> Result<(), WgError> {
        update.apply(&self.name, WgBackend::Kernel)?;
        Ok(())
    }
}

impl WgDevice for KernelDevice {
    fn backend(&self) -> Backend {
        Backend::Kernel
    }

    fn read(&mut self) -> Result<DeviceState, WgError> {
        let device = Device::get(&self.name, WgBackend::Kernel)?;
        let now = SystemTime::now();
        let peers = device
            .peers
            .iter()
            .filter_map(|info| {
                let public_key = WgPublicKey::from_bytes(info.config.public_key.0).ok()?;
                let allowed_ips = info
                    .config
                    .allowed_ips
                    .iter()
                    .filter_map(|ip| ipnet::IpNet::new(ip.address, ip.cidr).ok());
                Some(PeerState {
                    spec: PeerSpec::new(
                        public_key,
                        info.config.endpoint,
                        allowed_ips,
                        info.config.persistent_keepalive_interval,
                    ),
                    last_handshake: info
                        .stats
                        .last_handshake_time
                        .and_then(|time| now.duration_since(time).ok()),
                    rx_bytes: info.stats.rx_bytes,
                    tx_bytes: info.stats.tx_bytes,
                })
            })
            .collect();
        Ok(DeviceState {
            public_key: device
                .public_key
                .and_then(|key| WgPublicKey::from_bytes(key.0).ok()),
            listen_port: device.listen_port,
            peers,
        })
    }

    fn set_identity(&mut self, key: &PrivateKey, listen_port: u16) -> Result<(), WgError> {
        let bytes = key.expose_bytes();
        self.apply(
            DeviceUpdate::new()
                .set_private_key(Key(*bytes))
                .set_listen_port(listen_port),
        )
    }

    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), WgError> {
        let mut builder = PeerConfigBuilder::new(&Key(*peer.public_key.as_bytes()));
        if let Some(endpoint) = peer.endpoint {
            builder = builder.set_endpoint(endpoint);
        }
        if let Some(secs) = peer.persistent_keepalive {
            builder = builder.set_persistent_keepalive_interval(secs);
        }
        for net in &peer.allowed_ips {
            builder = builder.add_allowed_ip(net.addr(), net.prefix_len());
        }
        self.apply(DeviceUpdate::new().add_peer(builder))
    }

    fn remove_peer(&mut self, public_key: &WgPublicKey) -> Result<(), WgError> {
        self.apply(DeviceUpdate::new().remove_peer_by_key(&Key(*public_key.as_bytes())))
    }
}
