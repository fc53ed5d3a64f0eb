//! What to change on a device to make its peers the wanted ones: nothing for an unchanged peer.

use std::collections::HashMap;

use servos_common::protocol::WgPublicKey;

use super::PeerSpec;

/// One step of bringing a device's peers to the wanted set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerChange {
    /// Remove the peer with this key.
    Remove(WgPublicKey),
    /// Add this peer (absent from the device at that point).
    Add(PeerSpec),
}

/// The steps from `current` to `wanted`: removals first (including the
/// removal half of a changed peer), then additions, each ordered by key so
/// the plan is the same every time.
///
/// A wanted peer without an endpoint matches whatever endpoint the device
/// learnt for it (it calls us); one with an endpoint must have that one.
pub fn plan(wanted: &[PeerSpec], current: &[PeerSpec]) -> Vec<PeerChange> {
    let current_by_key: HashMap<&WgPublicKey, &PeerSpec> = current
        .iter()
        .map(|peer| (&peer.public_key, peer))
        .collect();
    let wanted_by_key: HashMap<&WgPublicKey, &PeerSpec> =
        wanted.iter().map(|peer| (&peer.public_key, peer)).collect();

    let mut removals: Vec<WgPublicKey> = current
        .iter()
        .filter(|peer| !wanted_by_key.contains_key(&peer.public_key))
        .map(|peer| peer.public_key)
        .collect();
    let mut additions: Vec<PeerSpec> = Vec::new();
    for peer in wanted {
        match current_by_key.get(&peer.public_key) {
            None => additions.push(peer.clone()),
            Some(existing) if !same(peer, existing) => {
                removals.push(peer.public_key);
                additions.push(peer.clone());
            }
            Some(_) => {}
        }
    }
    removals.sort();
    removals.dedup();
    additions.sort_by_key(|peer| peer.public_key);
    additions.dedup_by_key(|peer| peer.public_key);
    removals
        .into_iter()
        .map(PeerChange::Remove)
        .chain(additions.into_iter().map(PeerChange::Add))
        .collect()
}

fn same(wanted: &PeerSpec, current: &PeerSpec) -> bool {
    let endpoint_matches = wanted.endpoint.is_none() || wanted.endpoint == current.endpoint;
    endpoint_matches
        && wanted.allowed_ips == current.allowed_ips
        && wanted.persistent_keepalive == current.persistent_keepalive
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> WgPublicKey {
        WgPublicKey::from_bytes([byte; 32]).expect("non-zero key")
    }

    fn peer(byte: u8, ips: &[&str]) -> PeerSpec {
        PeerSpec::new(
            key(byte),
            Some(format!("10.231.1.{byte}:51820").parse().expect("endpoint")),
            ips.iter().map(|ip| ip.parse().expect("net")),
            Some(25),
        )
    }

    #[test]
    fn unchanged_peers_need_nothing() {
        let peers = vec![peer(1, &["10.210.0.1/32"]), peer(2, &["10.210.0.2/32"])];
        assert_eq!(plan(&peers, &peers), vec![]);
    }

    #[test]
    fn new_peers_are_added_and_gone_peers_removed() {
        let current = vec![peer(1, &["10.210.0.1/32"]), peer(2, &["10.210.0.2/32"])];
        let wanted = vec![peer(2, &["10.210.0.2/32"]), peer(3, &["10.210.0.3/32"])];
        assert_eq!(
            plan(&wanted, &current),
            vec![
                PeerChange::Remove(key(1)),
                PeerChange::Add(peer(3, &["10.210.0.3/32"]))
            ]
        );
    }

    #[test]
    fn a_changed_peer_is_removed_then_added() {
        let current = vec![peer(1, &["10.210.0.1/32"])];
        let wanted = vec![peer(1, &["10.210.0.1/32", "10.210.129.0/24"])];
        assert_eq!(
            plan(&wanted, &current),
            vec![
                PeerChange::Remove(key(1)),
                PeerChange::Add(wanted[0].clone())
            ]
        );
        let mut moved = current[0].clone();
        moved.endpoint = Some("10.231.9.9:51820".parse().expect("endpoint"));
        assert_eq!(plan(&[moved.clone()], &current).len(), 2);
        let mut no_keepalive = current[0].clone();
        no_keepalive.persistent_keepalive = None;
        assert_eq!(plan(&[no_keepalive], &current).len(), 2);
    }

    #[test]
    fn a_peer_without_endpoint_accepts_the_one_the_device_learnt() {
        let current = vec![peer(1, &["10.210.0.1/32"])];
        let mut wanted = current[0].clone();
        wanted.endpoint = None;
        assert_eq!(plan(&[wanted], &current), vec![]);
    }

    #[test]
    fn allowed_ips_compare_as_normalised_sets() {
        let a = peer(1, &["10.210.129.7/24", "10.210.0.1/32"]);
        let b = peer(1, &["10.210.0.1/32", "10.210.129.0/24", "10.210.0.1/32"]);
        assert_eq!(a, b);
        assert_eq!(plan(&[a], &[b]), vec![]);
    }
}
