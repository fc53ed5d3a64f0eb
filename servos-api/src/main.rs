//! `servos-api`: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser as _;
use servos_api::cli::{AuditCommand, Cli, Command};
use servos_api::{maintenance, serve};

fn main() -> ExitCode {
    let cli = Cli::parse();
    serve::init_logging(cli.settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::serve(&cli.settings),
        Command::RotateMasterKey => maintenance::rotate_master_key(&cli.settings),
        Command::RotateDataKey => maintenance::rotate_data_key(&cli.settings),
        Command::Audit {
            command: AuditCommand::Verify,
        } => maintenance::audit_verify(&cli.settings),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("servos-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}
