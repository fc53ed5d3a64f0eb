//! The network namespace's sysctls the mesh needs, written as root before the privilege drop.

use std::path::Path;

/// IPv4 forwarding: container subnets are routed across the mesh.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// A sysctl could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot set {path}: {source}")]
pub struct SysctlError {
    path: &'static str,
    source: std::io::Error,
}

/// Turns on IPv4 forwarding in this network namespace (each namespace has its own).
pub fn enable_forwarding() -> Result<(), SysctlError> {
    write(IP_FORWARD, "1")
}

fn write(path: &'static str, value: &str) -> Result<(), SysctlError> {
    if std::fs::read_to_string(Path::new(path)).is_ok_and(|current| current.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|source| SysctlError { path, source })
}
