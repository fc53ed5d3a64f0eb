//! The `servos-agent` binary: parses the command line and runs one subcommand.
//!
//! `run` is ordered by the privilege drop: in plain `main`, with one thread,
//! as root, the interface is made and the classifier attached to it; then
//! privileges are dropped and checked; only then do logging, boringtun's
//! threads and the tokio runtime start.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use servos_agent::cli::{Cli, Command, JoinArgs, StateArgs};
use servos_agent::daemon::{self, DaemonSetup};
use servos_agent::state::StateDir;
use servos_agent::{api, join, privileges, rotate_key, startup, status, supervise};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Join(args) => with_runtime(|| join_command(args)),
        Command::Status(args) => status::report(&StateDir::new(args.state_dir))
            .map(|text| print!("{text}"))
            .map_err(Into::into),
        Command::RotateKey(args) => with_runtime(|| rotate_command(args)),
        Command::Supervise(args) => with_runtime(|| async move {
            supervise::supervise(&args.state_dir)
                .await
                .context("supervise")
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("servos-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `run`: root phase, drop, self-check, then the daemon.
fn run(args: StateArgs) -> anyhow::Result<()> {
    let state = StateDir::new(args.state_dir);
    let prepared = startup::as_root(&state)?;
    privileges::drop_privileges(prepared.ids).context("dropping privileges")?;
    privileges::self_check(prepared.ids)?;

    init_logging();
    if let Some(reason) = &prepared.kernel_unavailable {
        tracing::info!(%reason, "kernel WireGuard unavailable; using embedded boringtun");
    }
    tracing::info!(
        interface = %prepared.settings.interface,
        backend = prepared.interface.backend().as_str(),
        "privileges dropped to {} with CAP_NET_ADMIN, CAP_BPF and CAP_IPC_LOCK",
        privileges::AGENT_USER
    );
    tracing::info!(
        pin_dir = %prepared.classifier.pin_dir().display(),
        "mesh classifier attached at ingress and egress"
    );
    let api = api::ApiClient::new(
        &prepared.settings.api_url,
        &prepared.settings.trust,
        &prepared.token,
    )?;
    let device = prepared.interface.start()?;
    daemon::run(DaemonSetup {
        state,
        api,
        interface: prepared.settings.interface,
        device,
        classifier: prepared.classifier,
        key: prepared.key,
        config: prepared.config,
    })?;
    Ok(())
}

async fn join_command(args: JoinArgs) -> anyhow::Result<()> {
    let state_dir = args.state.state_dir.clone();
    let enrollment = join::join(args).await?;
    println!(
        "joined the mesh as node {} with address {}; state in {}",
        enrollment.node_id,
        enrollment.config.node.address,
        state_dir.display()
    );
    Ok(())
}

async fn rotate_command(args: StateArgs) -> anyhow::Result<()> {
    let rotated = rotate_key::rotate(&StateDir::new(args.state_dir)).await?;
    println!("new public key {}", rotated.public_key);
    if !rotated.agent_signalled {
        println!("no running agent was found; the next start uses the new key");
    }
    Ok(())
}

/// Commands other than `run` log from the start and use a small runtime.
fn with_runtime<F: std::future::Future<Output = anyhow::Result<()>>>(
    command: impl FnOnce() -> F,
) -> anyhow::Result<()> {
    init_logging();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(command())
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SERVOS_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
