//! The mesh classifier as the agent drives it: attached to the mesh
//! interface (or adopted from the previous run) as root before the
//! privilege drop, then given each configuration's identities and policy
//! and read for counters through the map handles it keeps, which need only
//! CAP_BPF after the drop.

mod convert;
mod pin_dir;

use std::path::{Path, PathBuf};

use servos_common::protocol::PolicyCounters;
use servos_ebpf_loader::{Classifier, CompiledPolicy, LinkLayer};

pub use convert::compile_policy;
pub use pin_dir::pin_dir_for;

use crate::error_text::with_causes;
use crate::state::{ClassifierStatus, PolicyLine};

/// The classifier could not be attached, updated or read.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// The state directory, which names the pin folder, has no canonical path.
    #[error("cannot name the classifier's pin folder after {state_dir}: {reason}")]
    PinDir {
        /// The state directory.
        state_dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// Loading, attaching or adopting failed.
    #[error("cannot attach the mesh classifier to {interface} (pins in {pin_dir}): {reason}")]
    Attach {
        /// The mesh interface.
        interface: String,
        /// The pin folder.
        pin_dir: PathBuf,
        /// What the loader and the kernel said.
        reason: String,
    },
    /// A map refused a policy update or a read.
    #[error("mesh classifier maps: {0}")]
    Maps(String),
}

/// The policy this run put in force.
#[derive(Debug)]
struct PolicyInForce {
    /// The latest configuration version with this policy.
    config_version: u64,
    policy: CompiledPolicy,
}

/// The classifier on the mesh interface: handles on its maps and links only
/// (the program lives as long as its attachment), and the policy in force.
#[derive(Debug)]
pub struct MeshClassifier {
    classifier: Classifier,
    pin_dir: PathBuf,
    in_force: Option<PolicyInForce>,
}

impl MeshClassifier {
    /// Attaches the classifier to `interface` at ingress and egress with its
    /// maps and links pinned in the folder of the node whose state is in
    /// `state_dir`, or adopts what the previous run pinned there: its
    /// policy, flows and counters stay, and its program is replaced in
    /// place (never a second attachment, never a moment without one). As
    /// root, before the privilege drop. A classifier attached for the first
    /// time drops every IP packet until its first policy.
    pub fn attach(interface: &str, state_dir: &Path) -> Result<Self, ClassifierError> {
        let pin_dir = pin_dir_for(state_dir).map_err(|err| ClassifierError::PinDir {
            state_dir: state_dir.to_owned(),
            reason: err.to_string(),
        })?;
        // Both mesh interfaces carry bare IP packets: boringtun's TUN device
        // (no packet-information header) and kernel WireGuard (no link layer).
        let classifier = Classifier::attach_or_adopt(interface, &pin_dir, LinkLayer::RawIp)
            .map_err(|err| ClassifierError::Attach {
                interface: interface.to_owned(),
                pin_dir: pin_dir.clone(),
                reason: with_causes(&err),
            })?;
        Ok(Self {
            classifier,
            pin_dir,
            in_force: None,
        })
    }

    /// The folder its maps and links are pinned in.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Puts `policy`, from configuration `config_version`, in force: written
    /// whole into the generation packets do not use, which then becomes the
    /// active one. Writes nothing when it is the policy in force already;
    /// true when it wrote.
    pub fn apply(
        &mut self,
        config_version: u64,
        policy: CompiledPolicy,
    ) -> Result<bool, ClassifierError> {
        if let Some(in_force) = &mut self.in_force {
            if in_force.policy == policy {
                in_force.config_version = config_version;
                return Ok(false);
            }
        }
        // An update cut short may or may not have switched generations: the
        // next one is written whatever it holds.
        self.in_force = None;
        self.classifier
            .apply(&policy)
            .map_err(|err| ClassifierError::Maps(with_causes(&err)))?;
        self.in_force = Some(PolicyInForce {
            config_version,
            policy,
        });
        Ok(true)
    }

    /// The counters of every rule in force and of the default action, since
    /// the classifier was first attached on this node.
    pub fn counters(&self) -> Result<PolicyCounters, ClassifierError> {
        self.classifier
            .counters()
            .map(|counters| convert::policy_counters(&counters))
            .map_err(|err| ClassifierError::Maps(with_causes(&err)))
    }

    /// What `status.json` shows of the classifier; counters that cannot be
    /// read are logged and left out.
    pub fn status(&self) -> ClassifierStatus {
        let counters = self
            .counters()
            .inspect_err(
                |err| tracing::warn!(error = %err, "cannot read the classifier's counters"),
            )
            .ok();
        ClassifierStatus {
            pin_dir: self.pin_dir.clone(),
            policy: self.in_force.as_ref().map(|in_force| PolicyLine {
                config_version: in_force.config_version,
                default_action: convert::default_action(&in_force.policy),
                rules: in_force.policy.rule_ids.len(),
            }),
            counters,
        }
    }
}
