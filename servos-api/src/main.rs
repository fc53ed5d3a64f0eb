//! `servos-api`: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser as _;
use servos_api::cli::{AuditCommand, Cli, Command};
use servos_api::serve;

fn main() -> ExitCode {
    let cli = Cli::parse();
    serve::init_logging(cli.settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::serve(&cli.settings),
        Command::Audit {
            command: AuditCommand::Verify,
        } => serve::audit_verify(&cli.settings),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("servos-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}
