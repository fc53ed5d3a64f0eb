//! One install, from connecting to the agent's first heartbeat: every step
//! a line of the install's log, the end recorded and audited.

use std::path::PathBuf;
use std::time::Duration;

use ring::digest;
use tokio::sync::Mutex;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::mesh::enrollment;
use crate::servers;
use crate::ssh::Session;
use crate::state::AppState;
use crate::store::agent_installs::{self, InstallLogRow, InstallRow};
use crate::store::{self, mesh_nodes};

use super::remote::{self, ServerFacts};
use super::ApiAnchor;

/// How long the installer waits for the started agent's first heartbeat.
const HEARTBEAT_WITHIN: Duration = Duration::from_secs(60);
/// How often it looks for it.
const HEARTBEAT_POLL: Duration = Duration::from_millis(250);

/// What one install needs.
#[derive(Debug)]
pub(super) struct InstallJob {
    /// Application state.
    pub state: AppState,
    /// The request that asked for it.
    pub origin: Origin,
    /// Who asked.
    pub caller: Principal,
    /// Its row.
    pub install: InstallRow,
    /// Where agents reach the API.
    pub anchor: ApiAnchor,
    /// The agent binary to ship.
    pub binary: PathBuf,
}

/// Appends lines to the install's log.
struct InstallLog<'a> {
    job: &'a InstallJob,
    next_seq: Mutex<i64>,
}

impl InstallLog<'_> {
    /// Appends `text` and wakes readers; a line that cannot be stored is logged.
    async fn line(&self, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(install_id = %self.job.install.id, "{text}");
        let mut next = self.next_seq.lock().await;
        let row = InstallLogRow {
            install_id: self.job.install.id.clone(),
            seq: *next,
            at: store::now(),
            text,
        };
        let stored = self
            .job
            .state
            .db(move |conn| Ok(agent_installs::append(conn, &row)?))
            .await;
        match stored {
            Ok(()) => {
                *next += 1;
                self.job.state.deploy_signals.log_written();
            }
            Err(e) => tracing::warn!(error = %e, "cannot store an install log line"),
        }
    }
}

/// Runs the install to its end and records it.
pub(super) async fn run(job: InstallJob) {
    let log = InstallLog {
        job: &job,
        next_seq: Mutex::new(1),
    };
    let outcome = steps(&job, &log).await;
    let (state, reason, action) = match &outcome {
        Ok(()) => ("succeeded", None, "agent.installed"),
        Err(e) => ("failed", Some(e.to_string()), "agent.install_failed"),
    };
    log.line(match &reason {
        Some(reason) => format!("install failed: {reason}"),
        None => "install succeeded".to_owned(),
    })
    .await;
    let (id, server_id) = (job.install.id.clone(), job.install.server_id.clone());
    let recorded = job
        .state
        .audited(Origin::default(), move |conn| {
            agent_installs::finish(conn, &id, state, reason.as_deref(), store::now())?;
            let event = AuditEvent::on(Actor::System, action, TargetType::Server, &server_id)
                .with_fields(vec!["agent"]);
            Ok(((), event))
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "cannot record the end of an install");
    }
    job.state.deploy_signals.log_written();
}

async fn steps(job: &InstallJob, log: &InstallLog<'_>) -> Result<(), ServiceError> {
    let server_id = &job.install.server_id;
    log.line("connecting over the pinned SSH session").await;
    let session = servers::jobs::connect(&job.state, server_id).await?;
    let result = on_server(job, log, &session).await;
    session.close().await;
    result
}

fn failed(step: &str, output: &crate::ssh::Output) -> ServiceError {
    ServiceError::Upstream(format!(
        "{step} failed (exit status {:?}): {}",
        output.exit_status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

async fn run_checked(
    session: &Session,
    step: &str,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<String, ServiceError> {
    let output = session.run(command, stdin).await.map_err(ssh_error)?;
    if output.exit_status != Some(0) {
        return Err(failed(step, &output));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn ssh_error(e: crate::ssh::SshError) -> ServiceError {
    ServiceError::Upstream(e.to_string())
}

async fn on_server(
    job: &InstallJob,
    log: &InstallLog<'_>,
    session: &Session,
) -> Result<(), ServiceError> {
    let text = run_checked(
        session,
        "reading the server's facts",
        &remote::facts_command(),
        None,
    )
    .await?;
    let facts = ServerFacts::parse(&text).ok_or_else(|| {
        ServiceError::Upstream(format!("unexpected facts from the server: {text}"))
    })?;
    log.line(format!(
        "server: {}, {}, {}; agent at {}, state in {}",
        facts.machine,
        if facts.systemd {
            "systemd"
        } else {
            "no systemd"
        },
        if facts.root { "root" } else { "sudo" },
        facts.bin,
        facts.state_dir
    ))
    .await;
    if facts.machine != std::env::consts::ARCH {
        return Err(ServiceError::conflict(format!(
            "the shipped agent is built for {}; the server is {}",
            std::env::consts::ARCH,
            facts.machine
        )));
    }
    run_checked(
        session,
        "making the servos user and the state directory",
        &facts.privileged(&remote::prepare_command(&facts.state_dir)),
        None,
    )
    .await?;
    log.line("the servos user and the state directory are ready")
        .await;
    copy_binary(job, log, session, &facts).await?;
    enroll(job, log, session, &facts).await?;
    start(log, session, &facts).await?;
    if let Err(e) = wait_for_heartbeat(job, log).await {
        let tail = facts.privileged(&remote::log_tail_command(&facts, 20));
        if let Ok(output) = session.run(&tail, None).await {
            log.line(format!(
                "the agent's last log lines:\n{}",
                String::from_utf8_lossy(&output.stdout).trim_end()
            ))
            .await;
        }
        return Err(e);
    }
    Ok(())
}

/// Copies the binary through the channel and checks its SHA-256 there.
async fn copy_binary(
    job: &InstallJob,
    log: &InstallLog<'_>,
    session: &Session,
    facts: &ServerFacts,
) -> Result<(), ServiceError> {
    let bytes = tokio::fs::read(&job.binary).await.map_err(|e| {
        ServiceError::internal(format_args!("reading {}: {e}", job.binary.display()))
    })?;
    let expected = servos_common::hex::lower(digest::digest(&digest::SHA256, &bytes).as_ref());
    let staged = if facts.root {
        facts.bin.clone()
    } else {
        format!("/tmp/servos-agent-{}", job.install.id)
    };
    session
        .write_file(&staged, 0o755, &bytes)
        .await
        .map_err(ssh_error)?;
    if !facts.root {
        let install = format!(
            "install -m 0755 {} {} && rm -f {}",
            crate::ssh::shell::quote(&staged),
            crate::ssh::shell::quote(&facts.bin),
            crate::ssh::shell::quote(&staged)
        );
        run_checked(
            session,
            "installing the binary",
            &facts.privileged(&install),
            None,
        )
        .await?;
    }
    let found = run_checked(
        session,
        "checking the binary",
        &remote::checksum_command(&facts.bin),
        None,
    )
    .await?;
    if found != expected {
        return Err(ServiceError::Upstream(format!(
            "the binary on the server has SHA-256 {found}, not {expected}"
        )));
    }
    log.line(format!(
        "copied the agent ({:.1} MB) to {}; SHA-256 {expected} checked on the server",
        bytes.len() as f64 / 1_000_000.0,
        facts.bin
    ))
    .await;
    Ok(())
}

/// Enrolls the server unless it is already: a fresh token on standard input.
async fn enroll(
    job: &InstallJob,
    log: &InstallLog<'_>,
    session: &Session,
    facts: &ServerFacts,
) -> Result<(), ServiceError> {
    let check = facts.privileged(&remote::enrolled_command(&facts.bin, &facts.state_dir));
    let enrolled = session.run(&check, None).await.map_err(ssh_error)?;
    if enrolled.exit_status == Some(0) {
        log.line("already enrolled: the node keeps its key, address and token")
            .await;
        return Ok(());
    }
    let token = enrollment::issue_token(
        &job.state,
        job.origin.clone(),
        job.caller.actor(),
        job.install.server_id.clone(),
    )
    .await?;
    log.line("made a one-time enrollment token; joining").await;
    let mut stdin = token.token.expose().as_bytes().to_vec();
    stdin.push(b'\n');
    let join = remote::join_command(
        &facts.bin,
        &facts.state_dir,
        &job.anchor.url,
        &job.anchor.pin,
    );
    let joined = session.run(&facts.privileged(&join), Some(&stdin)).await;
    zeroize::Zeroize::zeroize(&mut stdin);
    let output = joined.map_err(ssh_error)?;
    if output.exit_status != Some(0) {
        return Err(failed("joining the mesh", &output));
    }
    log.line(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .await;
    Ok(())
}

/// Starts (or restarts) the agent: systemd where it runs, else the agent's
/// own supervisor, detached.
async fn start(
    log: &InstallLog<'_>,
    session: &Session,
    facts: &ServerFacts,
) -> Result<(), ServiceError> {
    if facts.systemd {
        let unit = remote::unit(&facts.bin, &facts.state_dir);
        let staged = if facts.root {
            remote::UNIT_PATH.to_owned()
        } else {
            "/tmp/servos-agent.service".to_owned()
        };
        session
            .write_file(&staged, 0o644, unit.as_bytes())
            .await
            .map_err(ssh_error)?;
        if !facts.root {
            let install = format!(
                "install -m 0644 {staged} {} && rm -f {staged}",
                remote::UNIT_PATH
            );
            run_checked(
                session,
                "installing the unit",
                &facts.privileged(&install),
                None,
            )
            .await?;
        }
        run_checked(
            session,
            "starting the systemd unit",
            &facts.privileged(remote::start_systemd_command()),
            None,
        )
        .await?;
        log.line("started the servos-agent systemd unit").await;
    } else {
        run_checked(
            session,
            "starting the agent",
            &facts.privileged(&remote::start_supervised_command(
                &facts.bin,
                &facts.state_dir,
            )),
            None,
        )
        .await?;
        log.line("started the agent under its supervisor (no systemd on this server)")
            .await;
    }
    Ok(())
}

/// Waits for the agent's first heartbeat after the start.
async fn wait_for_heartbeat(job: &InstallJob, log: &InstallLog<'_>) -> Result<(), ServiceError> {
    let since = job.install.created_at;
    let deadline = tokio::time::Instant::now() + HEARTBEAT_WITHIN;
    loop {
        let server_id = job.install.server_id.clone();
        let node = job
            .state
            .db(move |conn| Ok(mesh_nodes::of_server(conn, &server_id)?))
            .await?;
        if let Some(node) = node.filter(|n| n.last_heartbeat_at.is_some_and(|at| at >= since)) {
            let address = job
                .state
                .config
                .mesh
                .cidr
                .place(node.address_index)
                .map_or_else(String::new, |p| p.address.addr().to_string());
            log.line(format!("the agent runs: heartbeat received from {address}"))
                .await;
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ServiceError::Upstream(format!(
                "no heartbeat from the agent within {} s",
                HEARTBEAT_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(HEARTBEAT_POLL).await;
    }
}
