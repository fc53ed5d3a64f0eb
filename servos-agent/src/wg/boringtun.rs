//! Embedded boringtun: the TUN device made as root, the WireGuard threads started after the drop.
//!
//! boringtun's `DeviceHandle::new` makes the TUN device and starts its
//! worker threads in one call, which cannot happen before the privilege
//! drop (the threads must not keep root's credentials). But it accepts an
//! already open TUN file descriptor in place of a name. So the TUN device
//! is made as root ([`TunDevice::create`], where the interface also gets
//! its address and is brought up), and after the drop [`start`] hands its
//! descriptor to boringtun, which then needs no privilege at all. Its
//! configuration comes through one end of a socket pair (`uapi_fd`), never a
//! socket file: the file mode swallows SIGINT/SIGTERM and stops when the
//! file is deleted. boringtun's own privilege drop is never used.

use std::os::fd::{AsRawFd as _, IntoRawFd as _, RawFd};
use std::os::unix::net::UnixStream;

use boringtun::device::tun::TunSocket;
use boringtun::device::{DeviceConfig, DeviceHandle};
use servos_common::protocol::{Backend, WgPublicKey};

use super::uapi::{self, UapiConnection};
use super::{DeviceState, PeerSpec, WgDevice, WgError};
use crate::keys::PrivateKey;

/// Worker threads of the device (the machines are small; two keep up with the link).
const WORKER_THREADS: usize = 2;

/// A TUN device opened as root, waiting for boringtun.
#[derive(Debug)]
pub struct TunDevice {
    fd: RawFd,
}

impl TunDevice {
    /// Creates (or attaches to) the TUN interface `name`. Needs CAP_NET_ADMIN.
    pub fn create(name: &str) -> Result<Self, WgError> {
        let tun = TunSocket::new(name)
            .map_err(|err| WgError::Start(format!("TUN device {name}: {err}")))?;
        let fd = tun.as_raw_fd();
        // The descriptor now belongs to this value and then to boringtun,
        // which closes it when the device stops; TunSocket would close it on drop.
        std::mem::forget(tun);
        Ok(Self { fd })
    }
}

/// The running embedded device and our end of its configuration socket.
pub struct BoringtunDevice {
    uapi: UapiConnection,
    // Stops the worker threads when dropped.
    _handle: DeviceHandle,
}

/// Starts boringtun on `tun`. Called after the privilege drop: the threads it
/// starts inherit the dropped credentials.
pub fn start(tun: TunDevice) -> Result<BoringtunDevice, WgError> {
    let (ours, theirs) = UnixStream::pair()?;
    let config = DeviceConfig {
        n_threads: WORKER_THREADS,
        use_connected_socket: true,
        // Every thread serves the one descriptor made as root; a second queue
        // would be a new TUNSETIFF, which is what the drop gave up.
        use_multi_queue: false,
        uapi_fd: theirs.into_raw_fd(),
    };
    let handle = DeviceHandle::new(&tun.fd.to_string(), config)
        .map_err(|err| WgError::Start(err.to_string()))?;
    Ok(BoringtunDevice {
        uapi: UapiConnection::new(ours)?,
        _handle: handle,
    })
}

impl WgDevice for BoringtunDevice {
    fn backend(&self) -> Backend {
        Backend::Boringtun
    }

    fn read(&mut self) -> Result<DeviceState, WgError> {
        let answer = self.uapi.exchange(uapi::GET_REQUEST)?;
        match uapi::parse_errno(&answer)? {
            0 => uapi::parse_get(&answer),
            errno => Err(WgError::Refused(errno)),
        }
    }

    fn set_identity(&mut self, key: &PrivateKey, listen_port: u16) -> Result<(), WgError> {
        self.uapi.set(&uapi::set_identity_request(key, listen_port))
    }

    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), WgError> {
        self.uapi.set(&uapi::add_peer_request(peer))
    }

    fn remove_peer(&mut self, public_key: &WgPublicKey) -> Result<(), WgError> {
        self.uapi.set(&uapi::remove_peer_request(public_key))
    }
}
