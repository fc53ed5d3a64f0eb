//! `servos-agent rotate-key`: a new WireGuard key, confirmed by the API before it replaces the old one.
//!
//! 1. The new key is written beside the old one (`wg.key.next`, 0600); if
//!    one is already there (an earlier attempt stopped), it is reused.
//! 2. Its public key goes to the API, which answers the node's config.
//! 3. Only then the config is stored, the new key renamed over the old one,
//!    and the running agent told (SIGHUP) to re-read both.
//!
//! A crash before 3 leaves the old key in use; running `rotate-key` again
//! finishes with the same new key, and `run` also promotes it as soon as
//! the API's config names it.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use servos_common::protocol::KeyRotation;

use crate::api::{ApiClient, ApiError};
use crate::state::{StateDir, StateError};

/// Why the rotation did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The API refused or could not be reached; the old key stays in use.
    #[error("{0} (the old key stays in use; run rotate-key again to finish)")]
    Api(#[from] ApiError),
    /// The client could not be made.
    #[error("{0}")]
    Client(String),
}

/// What the rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The new public key.
    pub public_key: String,
    /// Whether a running agent was told to switch.
    pub agent_signalled: bool,
}

/// Rotates the node's key.
pub async fn rotate(state: &StateDir) -> Result<Rotated, RotateError> {
    let settings = state.settings()?;
    let token = state.token()?;
    let keys = state.keys();
    let key = keys.pending_or_new()?;
    let public_key = key
        .public_key()
        .map_err(|err| RotateError::Client(err.to_string()))?;
    let client = ApiClient::new(&settings.api_url, &settings.trust, &token)
        .map_err(|err| RotateError::Client(err.to_string()))?;
    let config = client.rotate_key(&KeyRotation { public_key }).await?;
    if config.node.public_key != public_key {
        return Err(ApiError::BadAnswer(
            "the API's answer names another key than the one sent".to_owned(),
        )
        .into());
    }
    state.save_config(&config)?;
    keys.promote()?;
    Ok(Rotated {
        public_key: public_key.to_string(),
        agent_signalled: signal_agent(state),
    })
}

/// Sends SIGHUP to the running agent, if its pid file names a live process.
fn signal_agent(state: &StateDir) -> bool {
    std::fs::read_to_string(state.pid_path())
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .is_some_and(|pid| kill(Pid::from_raw(pid), Signal::SIGHUP).is_ok())
}
