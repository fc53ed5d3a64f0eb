//! What can go wrong loading, attaching or feeding the classifier.

use std::path::PathBuf;

use crate::policy::PolicyError;

/// A failure of the loader. Kernel refusals keep their source (boxed: aya's
/// errors are large), which names the system call; most of them mean the
/// process lacks root (CAP_BPF and CAP_NET_ADMIN).
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The embedded object could not be parsed or its maps created.
    #[error("could not load the classifier object (needs root: CAP_BPF, CAP_NET_ADMIN)")]
    Object(#[source] Box<aya::EbpfError>),
    /// The kernel refused the program (the verifier's log is in the source).
    #[error("the kernel refused the classifier program")]
    Verifier(#[source] Box<aya::programs::ProgramError>),
    /// The object lacks something the loader expects: a build mismatch.
    #[error("the classifier object has no {0}")]
    Missing(&'static str),
    /// A map could not be opened, read or written.
    #[error("classifier map {name}")]
    Map {
        /// The map's name.
        name: &'static str,
        /// What the kernel or aya said.
        #[source]
        source: Box<aya::maps::MapError>,
    },
    /// A pinned map from an earlier run does not have the layout this
    /// build expects; removing the pin folder starts afresh.
    #[error("pinned map {name} in {dir} has another layout than this build's; remove {dir} (this detaches the classifier) and start again")]
    PinnedLayout {
        /// The map's name.
        name: &'static str,
        /// The pin folder.
        dir: PathBuf,
        /// What aya found.
        #[source]
        source: Box<aya::maps::MapError>,
    },
    /// Attaching, replacing or detaching the program on the interface failed.
    #[error("could not {action} the classifier on {interface}")]
    Attach {
        /// What was being done.
        action: &'static str,
        /// The interface.
        interface: String,
        /// What the kernel or aya said.
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    /// A link could not be pinned, opened or unpinned.
    #[error("classifier link {path}")]
    Link {
        /// The link's pin path.
        path: PathBuf,
        /// What the kernel or aya said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The BPF file system is missing and could not be mounted, or the pin
    /// folder is not on it.
    #[error("BPF file system at {path}")]
    BpfFs {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file operation on the pin folder failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The policy does not fit this classifier.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A test run failed.
    #[error("BPF_PROG_TEST_RUN failed")]
    TestRun(#[source] Box<aya::programs::ProgramError>),
}
