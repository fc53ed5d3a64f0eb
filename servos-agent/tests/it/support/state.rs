//! State directories as `join` leaves them, written through the agent's own
//! state code, and the classifier pins named after them, removed when the
//! test ends.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use servos_agent::classifier::pin_dir_for;
use servos_agent::keys::PrivateKey;
use servos_agent::state::{write_private, AgentSettings, StateDir};
use servos_agent::tls::TrustAnchor;
use servos_common::protocol::{
    Identity, MeshConfig, NodeSettings, Peer, Policy, PolicyAction, ProtocolTag, WgPublicKey,
};
use servos_common::token::{self, AGENT_TOKEN_PREFIX};
use uuid::Uuid;

/// An API address where nothing listens: the agent must run on its stored config.
const AWAY_API: &str = "https://127.0.0.1:9/";

/// A temporary folder the agent's user can traverse (state folders go inside).
pub fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    dir
}

/// One node: its key and where its state lives. Dropping it removes the
/// classifier pins its agents left (drop the agents first).
pub struct Node {
    /// The state folder.
    pub dir: PathBuf,
    /// The node's key.
    pub key: PrivateKey,
    /// Its mesh address with the mesh prefix.
    pub address: &'static str,
}

impl Node {
    /// A node with a fresh key whose state will live in `parent/name`.
    pub fn new(parent: &Path, name: &str, address: &'static str) -> Self {
        Self {
            dir: parent.join(name),
            key: PrivateKey::generate().expect("rng"),
            address,
        }
    }

    /// Its public key.
    pub fn public_key(&self) -> WgPublicKey {
        self.key.public_key().expect("public key")
    }

    /// This node as `other`'s peer, reached at `endpoint`.
    pub fn as_peer(&self, endpoint: SocketAddr) -> Peer {
        let host: ipnet::IpNet = self.address.parse().expect("address");
        Peer {
            node_id: Uuid::new_v4(),
            name: self
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            public_key: self.public_key(),
            endpoint: Some(endpoint),
            allowed_ips: vec![ipnet::IpNet::new(host.addr(), 32).expect("host route")],
            persistent_keepalive: Some(5),
        }
    }

    /// Its state directory.
    pub fn state(&self) -> StateDir {
        StateDir::new(&self.dir)
    }

    /// The folder its agent pins the classifier in (once the state exists).
    pub fn pin_dir(&self) -> PathBuf {
        pin_dir_for(&self.dir).expect("the state directory names the pin folder")
    }

    /// Writes the state `join` would have left, with `peers` in the stored
    /// config and a policy that allows everything.
    pub fn write_state(&self, peers: Vec<Peer>) {
        let allow_all = Policy {
            default_action: PolicyAction::Allow,
            rules: vec![],
        };
        self.write_state_with_policy(peers, vec![], allow_all);
    }

    /// Writes the state `join` would have left, with `peers`, `identities`
    /// and `policy` in the stored config (version 1).
    pub fn write_state_with_policy(
        &self,
        peers: Vec<Peer>,
        identities: Vec<Identity>,
        policy: Policy,
    ) {
        let state = self.state();
        state.create().expect("state dir");
        state
            .save_settings(&AgentSettings {
                api_url: AWAY_API.to_owned(),
                trust: TrustAnchor::Pin {
                    pin: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
                        .parse()
                        .expect("pin"),
                },
                node_id: Uuid::new_v4(),
                interface: "servos0".to_owned(),
            })
            .expect("settings");
        state
            .save_token(&token::generate(AGENT_TOKEN_PREFIX).expect("rng"))
            .expect("token");
        write_private(&self.dir.join("wg.key"), self.key.to_base64().as_bytes()).expect("key");
        self.write_config(1, peers, identities, policy);
    }

    /// Stores a config of `version`, as the agent does once it applied one.
    pub fn write_config(
        &self,
        version: u64,
        peers: Vec<Peer>,
        identities: Vec<Identity>,
        policy: Policy,
    ) {
        self.state()
            .save_config(&MeshConfig {
                protocol: ProtocolTag,
                version,
                node: NodeSettings {
                    id: Uuid::new_v4(),
                    name: "test".to_owned(),
                    address: self.address.parse().expect("address"),
                    public_key: self.public_key(),
                    container_subnet: "10.210.200.0/24".parse().expect("subnet"),
                    listen_port: 51820,
                },
                peers,
                identities,
                policy,
            })
            .expect("config");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let Ok(pin_dir) = pin_dir_for(&self.dir) else {
            return;
        };
        // Unpinning the links detaches the classifier; the maps go with it.
        if let Ok(pins) = std::fs::read_dir(&pin_dir) {
            for pin in pins.flatten() {
                let _ = std::fs::remove_file(pin.path());
            }
            let _ = std::fs::remove_dir(&pin_dir);
        }
    }
}
