//! Unit tests of applying configurations, on an in-memory device that records every call.

use servos_common::protocol::{
    Backend, MeshConfig, NodeSettings, Peer, Policy, PolicyAction, ProtocolTag, WgPublicKey,
};
use uuid::Uuid;

use super::*;
use crate::wg::{DeviceState, PeerState};

/// A device that behaves like boringtun: panics (as boringtun's worker does)
/// when a peer is added over an existing one.
#[derive(Default)]
struct RecordingDevice {
    state: DeviceState,
    calls: Vec<String>,
}

impl WgDevice for RecordingDevice {
    fn backend(&self) -> Backend {
        Backend::Boringtun
    }

    fn read(&mut self) -> Result<DeviceState, WgError> {
        Ok(self.state.clone())
    }

    fn set_identity(&mut self, key: &PrivateKey, listen_port: u16) -> Result<(), WgError> {
        self.state.public_key = Some(key.public_key().expect("pk"));
        self.state.listen_port = Some(listen_port);
        self.calls.push(format!("identity {listen_port}"));
        Ok(())
    }

    fn add_peer(&mut self, peer: &PeerSpec) -> Result<(), WgError> {
        assert!(
            self.state
                .peers
                .iter()
                .all(|p| p.spec.public_key != peer.public_key),
            "a peer was added over an existing one"
        );
        self.state.peers.push(PeerState {
            spec: peer.clone(),
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
        });
        self.calls.push(format!("add {}", peer.public_key));
        Ok(())
    }

    fn remove_peer(&mut self, public_key: &WgPublicKey) -> Result<(), WgError> {
        self.state
            .peers
            .retain(|p| p.spec.public_key != *public_key);
        self.calls.push(format!("remove {public_key}"));
        Ok(())
    }
}

fn peer(byte: u8) -> Peer {
    Peer {
        node_id: Uuid::nil(),
        name: format!("node-{byte}"),
        public_key: WgPublicKey::from_bytes([byte; 32]).expect("key"),
        endpoint: Some(format!("10.231.1.{byte}:51820").parse().expect("addr")),
        allowed_ips: vec![format!("10.210.0.{byte}/32").parse().expect("net")],
        persistent_keepalive: Some(25),
    }
}

fn config(key: &PrivateKey, peers: Vec<Peer>) -> MeshConfig {
    MeshConfig {
        protocol: ProtocolTag,
        version: 1,
        node: NodeSettings {
            id: Uuid::nil(),
            name: "self".to_owned(),
            address: "10.210.0.9/16".parse().expect("net"),
            public_key: key.public_key().expect("pk"),
            container_subnet: "10.210.137.0/24".parse().expect("net"),
            listen_port: 51820,
        },
        peers,
        identities: vec![],
        policy: Policy {
            default_action: PolicyAction::Allow,
            rules: vec![],
        },
    }
}

#[test]
fn applying_the_same_config_twice_changes_nothing_the_second_time() {
    let key = PrivateKey::generate().expect("rng");
    let mut device = RecordingDevice::default();
    let wanted = config(&key, vec![peer(1), peer(2)]);
    let first = apply(&mut device, &key, &wanted).expect("first");
    assert_eq!(
        first,
        Applied {
            identity: true,
            removed: 0,
            added: 2
        }
    );
    device.calls.clear();
    let second = apply(&mut device, &key, &wanted).expect("second");
    assert_eq!(second, Applied::default());
    assert!(device.calls.is_empty(), "{:?}", device.calls);
}

#[test]
fn one_changed_peer_is_removed_and_added_and_the_others_are_left_alone() {
    let key = PrivateKey::generate().expect("rng");
    let mut device = RecordingDevice::default();
    apply(&mut device, &key, &config(&key, vec![peer(1), peer(2)])).expect("first");
    device.calls.clear();

    let mut changed = peer(2);
    changed
        .allowed_ips
        .push("10.210.130.0/24".parse().expect("net"));
    let applied = apply(
        &mut device,
        &key,
        &config(&key, vec![peer(1), changed.clone()]),
    )
    .expect("second");
    assert_eq!(
        (applied.removed, applied.added, applied.identity),
        (1, 1, false)
    );
    assert_eq!(
        device.calls,
        vec![
            format!("remove {}", changed.public_key),
            format!("add {}", changed.public_key)
        ]
    );
}

#[test]
fn a_new_key_or_port_resets_the_identity_only() {
    let key = PrivateKey::generate().expect("rng");
    let mut device = RecordingDevice::default();
    apply(&mut device, &key, &config(&key, vec![peer(1)])).expect("first");
    device.calls.clear();
    let mut moved = config(&key, vec![peer(1)]);
    moved.node.listen_port = 51821;
    apply(&mut device, &key, &moved).expect("port");
    assert_eq!(device.calls, vec!["identity 51821".to_owned()]);
}
