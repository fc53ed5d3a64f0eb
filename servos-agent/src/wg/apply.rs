//! Applying a mesh configuration to a device: the key and port when they differ, then only the peers that changed.

use servos_common::protocol::MeshConfig;

use super::diff::{self, PeerChange};
use super::{PeerSpec, WgDevice, WgError};
use crate::keys::PrivateKey;

/// What applying a configuration changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// The device's key or port was set.
    pub identity: bool,
    /// Peers removed (a changed peer counts once here and once in `added`).
    pub removed: usize,
    /// Peers added.
    pub added: usize,
}

/// Brings `device` to `config` with `key`: applying the same configuration
/// twice changes nothing the second time.
pub fn apply(
    device: &mut dyn WgDevice,
    key: &PrivateKey,
    config: &MeshConfig,
) -> Result<Applied, WgError> {
    let state = device.read()?;
    let mut applied = Applied::default();
    let public_key = key
        .public_key()
        .map_err(|err| WgError::Start(err.to_string()))?;
    if state.public_key != Some(public_key) || state.listen_port != Some(config.node.listen_port) {
        device.set_identity(key, config.node.listen_port)?;
        applied.identity = true;
    }
    let wanted: Vec<PeerSpec> = config.peers.iter().map(PeerSpec::from).collect();
    let current: Vec<PeerSpec> = state.peers.into_iter().map(|peer| peer.spec).collect();
    for change in diff::plan(&wanted, &current) {
        match change {
            PeerChange::Remove(public_key) => {
                device.remove_peer(&public_key)?;
                applied.removed += 1;
            }
            PeerChange::Add(peer) => {
                device.add_peer(&peer)?;
                applied.added += 1;
            }
        }
    }
    Ok(applied)
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
