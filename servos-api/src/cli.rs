//! Command line: `serve` (default), key rotation and `audit verify`.

use clap::{Parser, Subcommand};

use crate::config::Settings;

/// ServOS control plane.
#[derive(Debug, Parser)]
#[command(name = "servos-api", version, about)]
pub struct Cli {
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings (environment variables or flags).
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API (the default).
    Serve,
    /// Re-wrap the keyring from SERVOS_MASTER_KEY to SERVOS_NEW_MASTER_KEY (one transaction).
    RotateMasterKey,
    /// Add a data key and re-encrypt every stored secret under it (resumable).
    RotateDataKey,
    /// Audit trail tools.
    Audit {
        /// What to do with the audit trail.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; names the first edited or missing entry.
    Verify,
}
