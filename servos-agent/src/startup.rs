//! `run`'s first phase, as root and with one thread: everything that needs
//! privileges is done here, before [`crate::privileges::drop_privileges`].

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use nix::unistd::Uid;
use servos_common::protocol::{Backend, MeshConfig};
use servos_common::secret::SecretText;

use crate::classifier::{ClassifierError, MeshClassifier};
use crate::keys::PrivateKey;
use crate::netlink::{self, LinkError};
use crate::privileges::{self, AgentIds, DropError};
use crate::state::{self, AgentSettings, StateDir, StateError};
use crate::sysctl::{self, SysctlError};
use crate::wg::boringtun::{self, TunDevice};
use crate::wg::kernel::KernelDevice;
use crate::wg::{WgDevice, WgError};

/// Why the agent could not get ready to drop privileges.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Not started as root.
    #[error("`servos-agent run` must start as root: it sets up the interface, then drops to the {} user itself", privileges::AGENT_USER)]
    NotRoot,
    /// The state directory could not be read or prepared.
    #[error(transparent)]
    State(#[from] StateError),
    /// The cached configuration cannot be applied.
    #[error("the stored configuration is unusable: {0}")]
    Config(String),
    /// The agent user is missing.
    #[error(transparent)]
    User(#[from] DropError),
    /// A resource limit could not be raised.
    #[error("cannot raise RLIMIT_MEMLOCK: {0}")]
    MemLock(nix::Error),
    /// A sysctl could not be set.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// The WireGuard interface could not be made.
    #[error(transparent)]
    Interface(#[from] WgError),
    /// The interface's address or state could not be set.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The mesh classifier could not be attached: the agent does not run the
    /// mesh without its policy.
    #[error(transparent)]
    Classifier(#[from] ClassifierError),
}

/// The mesh interface made as root, not yet serving.
#[derive(Debug)]
pub enum PreparedInterface {
    /// A kernel WireGuard interface, configured over netlink.
    Kernel(KernelDevice),
    /// A TUN device waiting for embedded boringtun.
    Tun(TunDevice),
}

impl PreparedInterface {
    /// The backend this interface runs on.
    pub fn backend(&self) -> Backend {
        match self {
            PreparedInterface::Kernel(_) => Backend::Kernel,
            PreparedInterface::Tun(_) => Backend::Boringtun,
        }
    }

    /// Starts the device (boringtun's threads). Called after the drop.
    pub fn start(self) -> Result<Box<dyn WgDevice>, WgError> {
        Ok(match self {
            PreparedInterface::Kernel(device) => Box::new(device),
            PreparedInterface::Tun(tun) => Box::new(boringtun::start(tun)?),
        })
    }
}

/// Everything the root phase read and made.
#[derive(Debug)]
pub struct Prepared {
    /// Who to drop to.
    pub ids: AgentIds,
    /// The enrollment.
    pub settings: AgentSettings,
    /// The last configuration, applied first.
    pub config: MeshConfig,
    /// The node's private key.
    pub key: PrivateKey,
    /// The agent token.
    pub token: SecretText,
    /// The interface, addressed and up.
    pub interface: PreparedInterface,
    /// The classifier on the interface, attached or adopted.
    pub classifier: MeshClassifier,
    /// Why kernel WireGuard was not used, when it was not (logged once logging starts).
    pub kernel_unavailable: Option<String>,
}

/// Reads the state, prepares the state directory for the agent user, raises
/// the locked-memory limit, enables forwarding, makes the interface with its
/// address, and attaches the classifier to it (or adopts the one a previous
/// run left). Starts no thread.
pub fn as_root(state: &StateDir) -> Result<Prepared, StartupError> {
    if !Uid::effective().is_root() {
        return Err(StartupError::NotRoot);
    }
    let settings = state.settings()?;
    let config = state.config()?;
    config
        .validate()
        .map_err(|err| StartupError::Config(err.to_string()))?;
    let keys = state.keys();
    keys.promote_if_confirmed(&config.node.public_key)?;
    let key = keys.current()?;
    let token = state.token()?;
    let ids = privileges::agent_ids()?;
    state::chown_tree(state.root(), ids.uid, ids.gid)?;

    raise_memlock()?;
    sysctl::enable_forwarding()?;

    let (interface, kernel_unavailable) = match KernelDevice::create(&settings.interface) {
        Ok(device) => (PreparedInterface::Kernel(device), None),
        Err(err) => (
            PreparedInterface::Tun(TunDevice::create(&settings.interface)?),
            Some(err.to_string()),
        ),
    };
    netlink::configure(&settings.interface, config.node.address)?;
    // Loading and attaching need root; the map and link handles it keeps
    // need only CAP_BPF once privileges are dropped.
    let classifier = MeshClassifier::attach(&settings.interface, state.root())?;

    Ok(Prepared {
        ids,
        settings,
        config,
        key,
        token,
        interface,
        classifier,
        kernel_unavailable,
    })
}

/// Raises the locked-memory limit (BPF maps count against it on kernels
/// before 5.11): to unlimited, or, where root lacks CAP_SYS_RESOURCE (some
/// containers), as far as the hard limit allows.
fn raise_memlock() -> Result<(), StartupError> {
    if setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY).is_ok() {
        return Ok(());
    }
    let (_, hard) = getrlimit(Resource::RLIMIT_MEMLOCK).map_err(StartupError::MemLock)?;
    setrlimit(Resource::RLIMIT_MEMLOCK, hard, hard).map_err(StartupError::MemLock)
}
