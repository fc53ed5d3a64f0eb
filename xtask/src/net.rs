//! Loopback ports for the servers the tasks start.

use std::net::{Ipv4Addr, TcpListener};

use anyhow::{Context, Result};

/// A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks it,
/// and the listener is closed again so that the server can bind it.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("could not bind a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}
