//! Every default setting, in one place: the flags' defaults and
//! `Config::new` both read them from here.

use super::{PortRange, Rate};
use crate::mesh::addressing::MeshCidr;

/// `SERVOS_DATA_DIR`.
pub const DATA_DIR: &str = "/var/lib/servos";
/// `SERVOS_LISTEN`.
pub const LISTEN: &str = "127.0.0.1:8080";
/// `SERVOS_RATE_LIMIT`.
pub const RATE_LIMIT: Rate = Rate {
    requests: 200,
    seconds: 30,
};
/// `SERVOS_AUTH_FAILURE_LIMIT`.
pub const AUTH_FAILURE_LIMIT: Rate = Rate {
    requests: 30,
    seconds: 300,
};
/// `SERVOS_REQUEST_TIMEOUT_SECS`: ample for headers, or for a 64 KiB body
/// over a slow mobile link, and short enough that a stalled client lets go
/// of its connection soon.
pub const REQUEST_TIMEOUT_SECS: u64 = 10;
/// `SERVOS_CONNECTIONS_PER_IP`: a browser opens at most six connections to a
/// site, so this leaves room for a small office behind one address.
pub const CONNECTIONS_PER_IP: u32 = 64;
/// Seconds an idle connection is kept open for a next request.
pub const KEEP_ALIVE_SECS: u64 = 5;
/// Seconds a connection being closed may take to read what the client still
/// sends (so that it sees the answer, not a reset) before it is shut.
pub const CLIENT_DISCONNECT_SECS: u64 = 1;
/// `SERVOS_SESSION_IDLE_MINUTES`.
pub const SESSION_IDLE_MINUTES: u32 = 720;
/// `SERVOS_SESSION_MAX_HOURS`.
pub const SESSION_MAX_HOURS: u32 = 168;
/// `SERVOS_SSH_CONNECT_TIMEOUT`.
pub const SSH_CONNECT_TIMEOUT: u64 = 10;
/// `SERVOS_SSH_COMMAND_TIMEOUT`.
pub const SSH_COMMAND_TIMEOUT: u64 = 120;
/// `SERVOS_DB_POOL_SIZE`.
pub const DB_POOL_SIZE: u32 = 16;
/// `SERVOS_DEPLOY_WORKERS`.
pub const DEPLOY_WORKERS: usize = 4;
/// `SERVOS_DEPLOY_SERVER_PARALLELISM`.
pub const DEPLOY_SERVER_PARALLELISM: usize = 10;
/// `SERVOS_BUILD_TIMEOUT_SECS`: half an hour.
pub const BUILD_TIMEOUT_SECS: u64 = 1800;

/// `SERVOS_DEPLOY_LEASE_SECS`.
pub const DEPLOY_LEASE_SECS: u64 = 30;
/// `SERVOS_DEPLOY_DRAIN_SECS`.
pub const DEPLOY_DRAIN_SECS: u64 = 30;
/// `SERVOS_DEPLOY_STOP_GRACE_SECS`.
pub const DEPLOY_STOP_GRACE_SECS: u64 = 60;
/// `SERVOS_DEPLOY_PORTS`: below Linux's ephemeral range (32768–60999),
/// which Docker and outgoing connections draw from.
pub const DEPLOY_PORTS: PortRange = PortRange {
    first: 20000,
    last: 29999,
};
/// How often idle deploy workers look for jobs other processes queued.
pub const DEPLOY_POLL_MILLIS: u64 = 1000;
/// Attempts (first run and take-overs) before a deployment is failed.
pub const DEPLOY_MAX_ATTEMPTS: i32 = 3;

/// `SERVOS_MESH_CIDR`.
pub const MESH_CIDR: &str = "10.210.0.0/16";
/// How long an enrollment token works.
pub const ENROLLMENT_TOKEN_MINUTES: i64 = 15;

/// The mesh CIDR at its default.
pub fn mesh_cidr() -> MeshCidr {
    match MESH_CIDR.parse() {
        Ok(cidr) => cidr,
        // A constant: `defaults_are_valid_and_print_as_they_parse` tests it.
        Err(e) => unreachable!("invalid default mesh CIDR: {e}"),
    }
}

/// The SSH time limits at their defaults.
pub fn ssh_timeouts() -> crate::ssh::Timeouts {
    crate::ssh::Timeouts {
        connect: std::time::Duration::from_secs(SSH_CONNECT_TIMEOUT),
        command: std::time::Duration::from_secs(SSH_COMMAND_TIMEOUT),
    }
}
/// `SERVOS_WEBHOOK_MAX_BYTES`: 1 MiB, above any push a provider sends for
/// an ordinary commit range.
pub const WEBHOOK_MAX_BYTES: usize = 1 << 20;
/// `SERVOS_WEBHOOK_ROTATION_GRACE_HOURS`.
pub const WEBHOOK_ROTATION_GRACE_HOURS: u32 = 24;
