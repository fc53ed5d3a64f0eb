//! The agent's state directory: one folder per node (lab hosts share a filesystem), every file 0600.
//!
//! | file | what |
//! |---|---|
//! | `settings.json` | API URL, trust anchor, node id, interface name |
//! | `agent.token` | the agent token |
//! | `wg.key` | the WireGuard private key |
//! | `wg.key.next` | a new key not yet confirmed by the API (join, `rotate-key`) |
//! | `config.json` | the last mesh configuration applied |
//! | `status.json` | what the running agent last saw, for `status` |
//! | `agent.pid` | the running agent's process id |
//!
//! The classifier's maps and links are pinned outside it, on the BPF file
//! system, in a folder named after it ([`crate::classifier::pin_dir_for`]).

mod files;
mod pending_key;
mod settings;
mod status_file;

use std::path::{Path, PathBuf};

use servos_common::protocol::MeshConfig;
use servos_common::secret::SecretText;

pub use files::{chown_tree, write_private};
pub use pending_key::KeyFiles;
pub use settings::{AgentSettings, DEFAULT_INTERFACE};
pub use status_file::{AgentStatus, ClassifierStatus, PeerLine, PolicyLine};

/// Where the agent keeps its state unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/servos-agent";

/// Why state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A file's content is not what the agent wrote.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the content).
        reason: String,
    },
    /// The node has not joined yet.
    #[error("{0} holds no enrollment: run `servos-agent join` first")]
    NotJoined(PathBuf),
}

impl StateError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The state directory of one node.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The directory at `root` (not created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory (0700) if missing.
    pub fn create(&self) -> Result<(), StateError> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|err| StateError::io(&self.root, err))
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The private key files (current and pending).
    pub fn keys(&self) -> KeyFiles {
        KeyFiles::new(self.path("wg.key"), self.path("wg.key.next"))
    }

    /// The file holding the running agent's process id.
    pub fn pid_path(&self) -> PathBuf {
        self.path("agent.pid")
    }

    /// Reads `settings.json`; [`StateError::NotJoined`] when it is missing.
    pub fn settings(&self) -> Result<AgentSettings, StateError> {
        let path = self.path("settings.json");
        if !path.exists() {
            return Err(StateError::NotJoined(self.root.clone()));
        }
        read_json(&path)
    }

    /// Writes `settings.json`.
    pub fn save_settings(&self, settings: &AgentSettings) -> Result<(), StateError> {
        write_json(&self.path("settings.json"), settings)
    }

    /// Reads the agent token.
    pub fn token(&self) -> Result<SecretText, StateError> {
        let path = self.path("agent.token");
        let text = files::read_secret(&path)?;
        Ok(SecretText::new(text.trim().to_owned()))
    }

    /// Writes the agent token (0600).
    pub fn save_token(&self, token: &SecretText) -> Result<(), StateError> {
        write_private(&self.path("agent.token"), token.expose().as_bytes())
    }

    /// Reads the last applied mesh configuration.
    pub fn config(&self) -> Result<MeshConfig, StateError> {
        read_json(&self.path("config.json"))
    }

    /// Writes the last applied mesh configuration.
    pub fn save_config(&self, config: &MeshConfig) -> Result<(), StateError> {
        write_json(&self.path("config.json"), config)
    }

    /// Reads what the running agent last wrote for `status`.
    pub fn status(&self) -> Result<AgentStatus, StateError> {
        read_json(&self.path("status.json"))
    }

    /// Writes what `status` shows.
    pub fn save_status(&self, status: &AgentStatus) -> Result<(), StateError> {
        write_json(&self.path("status.json"), status)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StateError> {
    let text = std::fs::read_to_string(path).map_err(|err| StateError::io(path, err))?;
    serde_json::from_str(&text).map_err(|err| StateError::Damaged {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|err| StateError::Damaged {
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    text.push(b'\n');
    write_private(path, &text)
}
