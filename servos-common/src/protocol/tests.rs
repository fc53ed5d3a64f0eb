//! Round trips of every message through JSON, and the refusals the protocol promises.

use serde_json::{json, Value};

use super::*;
use crate::secret::SecretText;

const KEY_A: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
const KEY_B: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

fn mesh_config_json() -> Value {
    json!({
        "protocol": 1,
        "version": 42,
        "node": {
            "id": "0190f5d2-6c1a-7000-8000-000000000001", "name": "web-1",
            "address": "10.210.0.2/16",
            "public_key": KEY_A,
            "container_subnet": "10.210.129.0/24",
            "listen_port": 51820
        },
        "peers": [{
            "node_id": "0190f5d2-6c1a-7000-8000-000000000002", "name": "web-2",
            "public_key": KEY_B,
            "endpoint": "10.231.1.3:51820",
            "allowed_ips": ["10.210.0.3/32", "10.210.130.0/24"],
            "persistent_keepalive": 25
        }],
        "identities": [{
            "id": 1, "kind": "node", "name": "web-2",
            "ref_id": "0190f5d2-6c1a-7000-8000-000000000002",
            "prefixes": ["10.210.0.3/32"]
        }],
        "policy": {
            "default_action": "deny",
            "rules": [{ "id": 7, "src": 1, "dst": 0, "protocol": "tcp", "ports": [8080, 8080] }]
        }
    })
}

/// Parses `value` as `T`, serializes it again and checks nothing changed.
fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: Value) -> T {
    let parsed: T = serde_json::from_value(value.clone()).expect("parses");
    assert_eq!(serde_json::to_value(&parsed).expect("serializes"), value);
    parsed
}

#[test]
fn mesh_config_round_trips_and_validates() {
    let config: MeshConfig = round_trip(mesh_config_json());
    assert_eq!(config.version, 42);
    assert_eq!(config.node.address.to_string(), "10.210.0.2/16");
    assert_eq!(config.peers[0].allowed_ips.len(), 2);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn enrollment_carries_the_token_and_redacts_it_in_debug() {
    let token = "agt_secretvalue";
    let value = json!({
        "protocol": 1,
        "node_id": "0190f5d2-6c1a-7000-8000-000000000001",
        "agent_token": token,
        "config": mesh_config_json(),
    });
    let enrollment: Enrollment = round_trip(value);
    assert_eq!(enrollment.agent_token, SecretText::new(token.to_owned()));
    assert!(!format!("{enrollment:?}").contains(token));
}

#[test]
fn enroll_request_heartbeat_and_key_rotation_round_trip() {
    let request: EnrollRequest = round_trip(json!({
        "public_key": KEY_A, "hostname": "web-1", "kernel": "6.1.0-18-amd64",
        "backend": "wireguard-go", "listen_port": 51820, "endpoint": null,
        "agent_version": "0.1.0"
    }));
    assert_eq!(request.backend, Backend::WireguardGo);
    round_trip::<Heartbeat>(json!({
        "agent_version": "0.1.0", "backend": "boringtun", "config_version": 42,
        "uptime_secs": 3600,
        "peers": [{ "public_key": KEY_B, "endpoint": "10.231.1.3:51820",
                    "last_handshake_secs": 12, "rx_bytes": 1234, "tx_bytes": 5678 }],
        "counters": {
            "rules": [{ "rule_id": 7, "packets": 10, "bytes": 840 }],
            "default_allowed": { "packets": 0, "bytes": 0 },
            "default_denied": { "packets": 3, "bytes": 180 }
        }
    }));
    round_trip::<Heartbeat>(json!({
        "agent_version": "0.1.0", "backend": "kernel", "config_version": 0,
        "uptime_secs": 1, "peers": [], "counters": null
    }));
    let answer: HeartbeatAnswer = round_trip(json!({ "protocol": 1, "config_version": 43 }));
    assert_eq!(answer.config_version, 43);
    round_trip::<KeyRotation>(json!({ "public_key": KEY_B }));
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let mut top = mesh_config_json();
    top["surprise"] = json!(true);
    let mut node = mesh_config_json();
    node["node"]["surprise"] = json!(true);
    let mut peer = mesh_config_json();
    peer["peers"][0]["surprise"] = json!(true);
    let mut rule = mesh_config_json();
    rule["policy"]["rules"][0]["surprise"] = json!(true);
    for value in [top, node, peer, rule] {
        let err = serde_json::from_value::<MeshConfig>(value).expect_err("refused");
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
    let rotation = json!({ "public_key": KEY_A, "private_key": KEY_B });
    assert!(serde_json::from_value::<KeyRotation>(rotation).is_err());
}

#[test]
fn bad_values_are_refused() {
    let mut bad_key = mesh_config_json();
    bad_key["peers"][0]["public_key"] = json!("c2hvcnQ=");
    let mut reversed_ports = mesh_config_json();
    reversed_ports["policy"]["rules"][0]["ports"] = json!([9000, 8000]);
    let mut bad_net = mesh_config_json();
    bad_net["peers"][0]["allowed_ips"] = json!(["10.210.0.3"]);
    let mut other_version = mesh_config_json();
    other_version["protocol"] = json!(2);
    let mut bad_backend = json!({ "public_key": KEY_A });
    bad_backend["public_key"] = json!("not a key");
    for value in [bad_key, reversed_ports, bad_net, other_version] {
        assert!(serde_json::from_value::<MeshConfig>(value).is_err());
    }
    assert!(serde_json::from_value::<KeyRotation>(bad_backend).is_err());
}

#[test]
fn validation_refuses_duplicate_and_self_peers_and_host_addresses() {
    let config: MeshConfig = serde_json::from_value(mesh_config_json()).expect("parses");

    let mut twice = config.clone();
    twice.peers.push(config.peers[0].clone());
    assert!(matches!(
        twice.validate(),
        Err(MeshConfigError::DuplicatePeer(_))
    ));

    let mut itself = config.clone();
    itself.peers[0].public_key = config.node.public_key;
    assert!(matches!(
        itself.validate(),
        Err(MeshConfigError::PeerIsSelf(_))
    ));

    let mut host = config;
    host.node.address = "10.210.0.2/32".parse().expect("net");
    assert!(matches!(
        host.validate(),
        Err(MeshConfigError::AddressWithoutMeshPrefix(_))
    ));
}
