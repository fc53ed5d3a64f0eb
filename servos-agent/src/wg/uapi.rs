//! The WireGuard configuration protocol (`get=1` / `set=1` text lines) as boringtun speaks it.
//!
//! Requests are built one peer at a time; answers of `get=1` are parsed
//! into a [`DeviceState`]. boringtun reports `last_handshake_time_sec` as the
//! time *since* the handshake, not as a Unix time as the kernel does.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ipnet::IpNet;
use servos_common::protocol::{WgPublicKey, WG_KEY_LEN};
use zeroize::Zeroizing;

use super::{DeviceState, PeerSpec, PeerState, WgError};
use crate::keys::PrivateKey;

/// How long the device may take to answer one request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// `set=1` of the device's private key and port. Zeroizing: it holds the key.
pub fn set_identity_request(key: &PrivateKey, listen_port: u16) -> Zeroizing<String> {
    let hex = hex_of(key.expose_bytes().as_ref());
    Zeroizing::new(format!(
        "set=1\nprivate_key={}\nlisten_port={listen_port}\n\n",
        hex.as_str()
    ))
}

/// `set=1` adding one peer.
pub fn add_peer_request(peer: &PeerSpec) -> String {
    let mut request = format!(
        "set=1\npublic_key={}\n",
        hex_of(peer.public_key.as_bytes()).as_str()
    );
    if let Some(endpoint) = peer.endpoint {
        request.push_str(&format!("endpoint={endpoint}\n"));
    }
    if let Some(secs) = peer.persistent_keepalive {
        request.push_str(&format!("persistent_keepalive_interval={secs}\n"));
    }
    for net in &peer.allowed_ips {
        request.push_str(&format!("allowed_ip={net}\n"));
    }
    request.push('\n');
    request
}

/// `set=1` removing one peer.
pub fn remove_peer_request(public_key: &WgPublicKey) -> String {
    format!(
        "set=1\npublic_key={}\nremove=true\n\n",
        hex_of(public_key.as_bytes()).as_str()
    )
}

/// The request that reads the device. (No blank line: boringtun answers a
/// stray one as a second, invalid request.)
pub const GET_REQUEST: &str = "get=1\n";

/// Parses the lines of a `get=1` answer (up to and including `errno=`).
pub fn parse_get(lines: &[String]) -> Result<DeviceState, WgError> {
    let mut state = DeviceState::default();
    let mut peer: Option<PeerBuilder> = None;
    for line in lines {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| WgError::Protocol(format!("line without '=': {line:?}")))?;
        match key {
            "errno" => break,
            "own_public_key" => state.public_key = Some(parse_key(value)?),
            "listen_port" => state.listen_port = Some(parse_number(key, value)?),
            "public_key" => {
                if let Some(done) = peer.take() {
                    state.peers.push(done.finish());
                }
                peer = Some(PeerBuilder::new(parse_key(value)?));
            }
            _ => {
                if let Some(peer) = peer.as_mut() {
                    peer.set(key, value)?;
                }
            }
        }
    }
    if let Some(done) = peer {
        state.peers.push(done.finish());
    }
    Ok(state)
}

/// The errno of an answer's last line.
pub fn parse_errno(lines: &[String]) -> Result<i32, WgError> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix("errno="))
        .ok_or_else(|| WgError::Protocol("answer without errno".to_owned()))
        .and_then(|value| parse_number("errno", value))
}

struct PeerBuilder {
    public_key: WgPublicKey,
    endpoint: Option<SocketAddr>,
    allowed_ips: Vec<IpNet>,
    keepalive: Option<u16>,
    handshake_secs: u64,
    handshake_nanos: u32,
    rx_bytes: u64,
    tx_bytes: u64,
}

impl PeerBuilder {
    fn new(public_key: WgPublicKey) -> Self {
        Self {
            public_key,
            endpoint: None,
            allowed_ips: Vec::new(),
            keepalive: None,
            handshake_secs: 0,
            handshake_nanos: 0,
            rx_bytes: 0,
            tx_bytes: 0,
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), WgError> {
        match key {
            "endpoint" => self.endpoint = Some(parse_number(key, value)?),
            "allowed_ip" => self.allowed_ips.push(parse_number(key, value)?),
            "persistent_keepalive_interval" => self.keepalive = Some(parse_number(key, value)?),
            "last_handshake_time_sec" => self.handshake_secs = parse_number(key, value)?,
            "last_handshake_time_nsec" => self.handshake_nanos = parse_number(key, value)?,
            "rx_bytes" => self.rx_bytes = parse_number(key, value)?,
            "tx_bytes" => self.tx_bytes = parse_number(key, value)?,
            // preshared_key, protocol_version and anything newer: not used.
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> PeerState {
        let handshake = Duration::new(self.handshake_secs, self.handshake_nanos);
        PeerState {
            spec: PeerSpec::new(
                self.public_key,
                self.endpoint,
                self.allowed_ips,
                self.keepalive,
            ),
            last_handshake: (!handshake.is_zero()).then_some(handshake),
            rx_bytes: self.rx_bytes,
            tx_bytes: self.tx_bytes,
        }
    }
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, WgError> {
    value
        .parse()
        .map_err(|_| WgError::Protocol(format!("{key}={value:?} cannot be read")))
}

fn parse_key(hex: &str) -> Result<WgPublicKey, WgError> {
    let bad = || WgError::Protocol("a key is not 64 lowercase hex digits".to_owned());
    let bytes: [u8; WG_KEY_LEN] = servos_common::hex::parse_lower(hex)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(bad)?;
    WgPublicKey::from_bytes(bytes).map_err(|_| bad())
}

fn hex_of(bytes: &[u8]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(bytes.len() * 2));
    for byte in bytes {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    text
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One end of the socket pair boringtun reads its configuration from.
pub struct UapiConnection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl UapiConnection {
    /// Wraps our end of the pair; answers must come within a few seconds.
    pub fn new(stream: UnixStream) -> Result<Self, WgError> {
        stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        let writer = stream.try_clone()?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends one request and returns its answer's lines (through `errno=`).
    pub fn exchange(&mut self, request: &str) -> Result<Vec<String>, WgError> {
        self.writer.write_all(request.as_bytes())?;
        self.writer.flush()?;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(WgError::Protocol(
                    "the device closed its configuration socket".to_owned(),
                ));
            }
            let line = line.trim_end_matches('\n').to_owned();
            let last = line.starts_with("errno=");
            lines.push(line);
            if last {
                // The answer ends with one blank line after errno.
                let mut blank = String::new();
                self.reader.read_line(&mut blank)?;
                return Ok(lines);
            }
        }
    }

    /// Sends a `set=1` request and checks its errno.
    pub fn set(&mut self, request: &str) -> Result<(), WgError> {
        let answer = self.exchange(request)?;
        match parse_errno(&answer)? {
            0 => Ok(()),
            errno => Err(WgError::Refused(errno)),
        }
    }
}

#[cfg(test)]
#[path = "uapi_tests.rs"]
mod tests;
