//! Facts about the host the agent reports when it enrolls: host name, kernel, WireGuard backend.

use std::io;

use servos_common::protocol::Backend;
use wireguard_control::{Backend as WgBackend, Device, DeviceUpdate, InterfaceName};

/// The host's name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|uts| uts.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The backend `run` will use: the kernel module when a WireGuard interface
/// can be made (tried with a short-lived probe interface, which loads the
/// module if it exists), embedded boringtun otherwise.
pub fn probe_backend() -> Backend {
    match probe_kernel_wireguard() {
        Ok(()) => Backend::Kernel,
        Err(_) => Backend::Boringtun,
    }
}

fn probe_kernel_wireguard() -> io::Result<()> {
    let name: InterfaceName = format!("svsprobe{}", std::process::id() % 10_000)
        .parse()
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    DeviceUpdate::new().apply(&name, WgBackend::Kernel)?;
    Device::get(&name, WgBackend::Kernel)?.delete()
}
