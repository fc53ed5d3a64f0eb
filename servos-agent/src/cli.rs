//! The command line: `join`, `run`, `status`, `rotate-key`, `supervise`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::state::DEFAULT_STATE_DIR;
use crate::tls::SpkiPin;

/// The ServOS node agent.
#[derive(Debug, Parser)]
#[command(name = "servos-agent", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll this server in the mesh (run once, as root, by the installer).
    Join(JoinArgs),
    /// Run the agent: start as root, set up the interface, drop privileges, serve.
    Run(StateArgs),
    /// Show the node, its interface's peers and the agent's view of the API.
    Status(StateArgs),
    /// Replace the node's WireGuard key (the API is told before the old key is dropped).
    RotateKey(StateArgs),
    /// Keep `run` running on hosts without systemd: restart it with backoff when it fails.
    Supervise(StateArgs),
}

/// Where the node's state lives.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The node's state directory (one per node; lab hosts on one machine need their own).
    #[arg(long, env = "SERVOS_AGENT_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

/// `join`'s options.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The API's base URL; only https:// is accepted.
    #[arg(long)]
    pub api: String,
    /// Read the enrollment token from standard input (what the installer does).
    #[arg(long, conflicts_with = "token", required_unless_present = "token")]
    pub token_stdin: bool,
    /// The enrollment token (visible to other users in the process list: prefer --token-stdin).
    #[arg(long)]
    pub token: Option<String>,
    /// Trust the API certificate whose public key has this pin: SHA256:<base64 of the SHA-256 of its SubjectPublicKeyInfo>.
    #[arg(long, conflicts_with = "ca", required_unless_present = "ca")]
    pub pin: Option<SpkiPin>,
    /// Trust API certificates issued by the CA certificates in this PEM file (the name is checked).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Where other nodes reach this one (host:port); by default the API uses the server's address.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The UDP port WireGuard listens on.
    #[arg(long, default_value_t = 51820)]
    pub listen_port: u16,
    /// The mesh interface's name.
    #[arg(long, default_value = crate::state::DEFAULT_INTERFACE)]
    pub interface: String,
    /// Where the node's state lives.
    #[command(flatten)]
    pub state: StateArgs,
}
