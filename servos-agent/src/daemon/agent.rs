//! The running agent's shared state: the device, the classifier, the key,
//! the applied configuration, and how each changes.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use servos_common::protocol::{Backend, Heartbeat, MeshConfig, PeerStatus};
use tokio::sync::Notify;

use crate::api::ApiClient;
use crate::classifier::{self, ClassifierError, MeshClassifier};
use crate::keys::PrivateKey;
use crate::netlink::{self, LinkError};
use crate::state::{AgentStatus, ClassifierStatus, PeerLine, StateDir, StateError};
use crate::wg::apply::{self, Applied};
use crate::wg::{DeviceState, WgDevice, WgError};

/// Applying or reading the mesh failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration breaks an invariant.
    #[error("configuration {version} refused: {reason}")]
    Invalid {
        /// Its version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// The device refused a change.
    #[error(transparent)]
    Device(#[from] WgError),
    /// The classifier refused a change or a read.
    #[error(transparent)]
    Classifier(#[from] ClassifierError),
    /// The interface's address could not be changed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// What applying one configuration version changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedConfig {
    /// The classifier's policy was written (it differed from the one in force).
    pub policy_written: bool,
    /// What changed on the WireGuard device.
    pub wireguard: Applied,
}

/// The device and the classifier, read together for a heartbeat and `status.json`.
#[derive(Debug)]
pub struct Observed {
    /// The WireGuard device.
    pub device: DeviceState,
    /// The classifier, with its counters.
    pub classifier: ClassifierStatus,
}

/// The agent after the drop: what its tasks share.
pub struct Agent {
    /// Its state directory.
    pub state: StateDir,
    /// The API.
    pub api: ApiClient,
    /// The mesh interface's name.
    pub interface: String,
    /// Which WireGuard implementation runs the interface.
    pub backend: Backend,
    /// Set by the heartbeat when the API holds a newer config.
    pub fetch_now: Notify,
    started: Instant,
    device: Mutex<Box<dyn WgDevice>>,
    classifier: Mutex<MeshClassifier>,
    key: Mutex<PrivateKey>,
    applied: Mutex<MeshConfig>,
    api_problem: Mutex<Option<String>>,
    // One application at a time (the config loop and a SIGHUP reload may race).
    applying: Mutex<()>,
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind; carry on with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Agent {
    /// The agent on a started device and an attached classifier, with
    /// `config` already applied.
    pub fn new(
        state: StateDir,
        api: ApiClient,
        interface: String,
        device: Box<dyn WgDevice>,
        classifier: MeshClassifier,
        key: PrivateKey,
        config: MeshConfig,
    ) -> Self {
        Self {
            state,
            api,
            interface,
            backend: device.backend(),
            fetch_now: Notify::new(),
            started: Instant::now(),
            device: Mutex::new(device),
            classifier: Mutex::new(classifier),
            key: Mutex::new(key),
            applied: Mutex::new(config),
            api_problem: Mutex::new(None),
            applying: Mutex::new(()),
        }
    }

    /// The version of the configuration in force.
    pub fn applied_version(&self) -> u64 {
        lock(&self.applied).version
    }

    /// Records whether the last API call worked (shown by `status`).
    pub fn record_api(&self, problem: Option<String>) {
        *lock(&self.api_problem) = problem;
    }

    /// Applies `config` as one unit (blocking). Everything is checked
    /// before anything changes: a configuration whose peers or policy are
    /// invalid is refused whole, and the one in force stays. Then the
    /// classifier's policy (so that a peer this version adds meets the
    /// policy that knows it from its first packet), a pending key the API
    /// now holds, the address if it moved, and the peers that differ; last,
    /// the config is stored. Each step changes nothing when it is already
    /// done, so applying the same version again, or again after a failure,
    /// is safe.
    pub fn apply(&self, config: MeshConfig) -> Result<AppliedConfig, AgentError> {
        let _one_at_a_time = lock(&self.applying);
        config.validate().map_err(|err| AgentError::Invalid {
            version: config.version,
            reason: err.to_string(),
        })?;
        let policy =
            classifier::compile_policy(&config.identities, &config.policy).map_err(|err| {
                AgentError::Invalid {
                    version: config.version,
                    reason: format!("policy: {err}"),
                }
            })?;
        let policy_written = lock(&self.classifier).apply(config.version, policy)?;
        let keys = self.state.keys();
        if keys.promote_if_confirmed(&config.node.public_key)? {
            tracing::info!("the API confirmed the new key; it replaces the old one");
            *lock(&self.key) = keys.current()?;
        }
        let old_address = lock(&self.applied).node.address;
        if old_address != config.node.address {
            netlink::move_address(&self.interface, old_address, config.node.address)?;
        }
        let wireguard = {
            let key = lock(&self.key);
            let mut device = lock(&self.device);
            apply::apply(device.as_mut(), &key, &config)?
        };
        self.state.save_config(&config)?;
        *lock(&self.applied) = config;
        Ok(AppliedConfig {
            policy_written,
            wireguard,
        })
    }

    /// Re-reads the key and config files (after `rotate-key`, or a config
    /// written by hand) and applies them.
    pub fn reload(&self) -> Result<AppliedConfig, AgentError> {
        let config = self.state.config()?;
        *lock(&self.key) = self.state.keys().current()?;
        self.apply(config)
    }

    /// Reads the device and the classifier.
    pub fn observe(&self) -> Result<Observed, AgentError> {
        let device = lock(&self.device).read()?;
        let classifier = lock(&self.classifier).status();
        Ok(Observed { device, classifier })
    }

    /// The heartbeat for what was `observed`.
    pub fn heartbeat(&self, observed: &Observed) -> Heartbeat {
        let device = &observed.device;
        Heartbeat {
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: self.backend,
            config_version: self.applied_version(),
            uptime_secs: self.started.elapsed().as_secs(),
            peers: device
                .peers
                .iter()
                .map(|peer| PeerStatus {
                    public_key: peer.spec.public_key,
                    endpoint: peer.spec.endpoint,
                    last_handshake_secs: peer.last_handshake.map(|age| age.as_secs()),
                    rx_bytes: peer.rx_bytes,
                    tx_bytes: peer.tx_bytes,
                })
                .collect(),
            counters: observed.classifier.counters.clone(),
        }
    }

    /// Writes `status.json` from what was `observed`.
    pub fn write_status(&self, observed: &Observed) -> Result<(), AgentError> {
        let device = &observed.device;
        let applied = lock(&self.applied);
        let api_problem = lock(&self.api_problem).clone();
        let status = AgentStatus {
            updated_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|since| since.as_secs())
                .unwrap_or_default(),
            pid: std::process::id(),
            backend: self.backend,
            config_version: applied.version,
            api_reachable: api_problem.is_none(),
            api_problem,
            peers: device
                .peers
                .iter()
                .map(|peer| PeerLine {
                    name: applied
                        .peers
                        .iter()
                        .find(|known| known.public_key == peer.spec.public_key)
                        .map(|known| known.name.clone())
                        .unwrap_or_default(),
                    public_key: peer.spec.public_key,
                    endpoint: peer.spec.endpoint,
                    last_handshake_secs: peer.last_handshake.map(|age| age.as_secs()),
                    rx_bytes: peer.rx_bytes,
                    tx_bytes: peer.tx_bytes,
                })
                .collect(),
            classifier: observed.classifier.clone(),
        };
        drop(applied);
        Ok(self.state.save_status(&status)?)
    }
}

/// Runs a blocking agent operation off the async threads.
pub async fn blocking<T: Send + 'static>(
    agent: &Arc<Agent>,
    work: impl FnOnce(&Agent) -> Result<T, AgentError> + Send + 'static,
) -> Result<T, AgentError> {
    let agent = Arc::clone(agent);
    tokio::task::spawn_blocking(move || work(&agent))
        .await
        .map_err(|err| AgentError::Task(err.to_string()))?
}
