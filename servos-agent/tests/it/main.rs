//! Integration tests of the `servos-agent` binary, in one test binary so it links once.
//!
//! Most need root (network namespaces, the privilege drop, the eBPF
//! classifier) and the Debian packages iproute2, iputils-ping, util-linux
//! (nsenter), passwd (useradd) and openssl; each says so when it cannot run.

mod mesh_ping;
mod mesh_policy;
mod privilege_drop;
mod support;
mod tls_pin;
