//! Why a lab could not be brought up or torn down.

use std::time::Duration;

/// What went wrong while bringing a lab up or tearing one down. The messages name
/// the Debian package to install or say that root is needed where that is the cause.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The process is not root; the lab changes the machine's network setup.
    #[error(
        "the lab needs root: it creates network namespaces, veth pairs and iptables \
         rules and runs sshd and dockerd in them (run the tests or `cargo xtask lab` as root)"
    )]
    NotRoot,
    /// A program the lab runs is not installed.
    #[error(
        "`{program}` is missing: install the Debian package {package} \
         (`cargo xtask test` installs it)"
    )]
    MissingProgram {
        /// The program looked for.
        program: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A system user the lab runs a program as does not exist.
    #[error("the `{user}` system user is missing: reinstall the Debian package {package}")]
    MissingUser {
        /// The user looked for.
        user: &'static str,
        /// The Debian package that creates it.
        package: &'static str,
    },
    /// The options or the authorized key cannot make a lab.
    #[error("invalid lab request: {0}")]
    InvalidRequest(String),
    /// Every lab slot of this machine is taken by a running process or a kept lab.
    #[error(
        "all {0} lab slots are taken by running tests or kept labs \
         (`cargo xtask lab down` removes kept ones)"
    )]
    NoFreeSlot(u16),
    /// No lab of that name exists here.
    #[error("there is no lab named {0:?} on this machine")]
    UnknownLab(String),
    /// The lab belongs to a process that is still running and tears it down itself.
    #[error("lab {name} belongs to the running process {pid}, which tears it down itself")]
    InUse {
        /// The lab's name.
        name: String,
        /// The owning process.
        pid: u32,
    },
    /// A command exited with an error.
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// What it printed.
        output: String,
    },
    /// A file operation failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A daemon did not answer in time.
    #[error("{what} did not answer within {within:?}; its log:\n{log}")]
    NotReady {
        /// The daemon and where it runs.
        what: String,
        /// How long it was given.
        within: Duration,
        /// The end of its log.
        log: String,
    },
    /// A daemon exited while starting.
    #[error("{what} exited while starting ({status}); its log:\n{log}")]
    Exited {
        /// The daemon and where it runs.
        what: String,
        /// How it ended.
        status: String,
        /// The end of its log.
        log: String,
    },
    /// Starting a host panicked.
    #[error("starting host {0} panicked")]
    StartPanicked(String),
    /// The test image could not be built.
    #[error("cannot build the test image: {0}")]
    Image(String),
    /// Tearing down left something behind.
    #[error("tearing down {name} left {what}")]
    Leftover {
        /// The lab's name.
        name: String,
        /// What is still there.
        what: String,
    },
}

impl LabError {
    /// An [`LabError::Io`] saying what was being done.
    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            error,
        }
    }
}
