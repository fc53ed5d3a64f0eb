//! Taking over a job whose worker stopped (its lease ran out): before the
//! job resumes, every server it had not finished is brought back to a
//! known state. Where the proxy already serves the interrupted attempt's
//! container, that server is finished (old containers drained and
//! removed); elsewhere the attempt's containers, env file, registry login
//! and file secrets are removed and the server starts over.

use crate::error::ServiceError;
use crate::proxy::{caddy, ProxyError};
use crate::servers;
use crate::ssh::{Session, SshError};
use crate::state::AppState;
use crate::store::deployment_targets::{self as targets, TargetChange, TargetRow};
use crate::store::states::TargetState;
use crate::store::{self};

use super::docker;
use super::events::LogWriter;
use super::plan::Plan;
use super::remote::{self, TargetPaths};
use super::retire::{remove_container, retire_old};
use super::StepError;
use crate::config::DeploySettings;

/// Where a server stands after the clean-up.
#[derive(Debug, PartialEq, Eq)]
enum Recovered {
    /// The proxy serves the interrupted attempt's container: done.
    Switched,
    /// Cleaned; the server starts over.
    Reset,
}

/// Cleans every unfinished server of `plan` and records where each stands,
/// updating `plan.targets` to match.
pub async fn recover(
    state: &AppState,
    plan: &mut Plan,
    log: &LogWriter,
    settings: &DeploySettings,
) -> Result<(), ServiceError> {
    log.line(
        None,
        "the previous attempt was interrupted; cleaning up its servers",
    )
    .await;
    let unfinished: Vec<TargetRow> = plan
        .targets
        .iter()
        .filter(|t| !t.is_finished())
        .cloned()
        .collect();
    for target in &unfinished {
        let server = Some(&target.server_id);
        let (change, line) = match recover_target(state, plan, log, settings, target).await {
            Ok(Recovered::Switched) => (
                TargetChange {
                    state: Some(TargetState::Succeeded),
                    finished_at: Some(store::now()),
                    ..TargetChange::default()
                },
                "the interrupted attempt had switched the proxy: finished".to_owned(),
            ),
            Ok(Recovered::Reset) => {
                let id = target.id.clone();
                state
                    .db(move |conn| Ok(targets::reset(conn, &id, store::now())?))
                    .await?;
                log.line(server, "cleaned up the interrupted attempt; starting over")
                    .await;
                continue;
            }
            Err(e) => {
                let reason = format!("interrupted, and the clean-up failed: {e}");
                (
                    TargetChange {
                        state: Some(TargetState::Failed),
                        reason: Some(reason.clone()),
                        finished_at: Some(store::now()),
                        ..TargetChange::default()
                    },
                    reason,
                )
            }
        };
        let id = target.id.clone();
        state
            .db(move |conn| Ok(targets::update(conn, &id, &change, store::now())?))
            .await?;
        log.line(server, line).await;
    }
    let id = plan.deployment.id.clone();
    plan.targets = state
        .db(move |conn| Ok(targets::of_deployment(conn, &id)?))
        .await?;
    Ok(())
}

async fn recover_target(
    state: &AppState,
    plan: &Plan,
    log: &LogWriter,
    settings: &DeploySettings,
    target: &TargetRow,
) -> Result<Recovered, StepError> {
    let session = servers::jobs::connect(state, &target.server_id).await?;
    let result = clean(&session, plan, log, settings, target).await;
    session.close().await;
    result
}

async fn clean(
    session: &Session,
    plan: &Plan,
    log: &LogWriter,
    settings: &DeploySettings,
    target: &TargetRow,
) -> Result<Recovered, StepError> {
    let paths = TargetPaths::of(target.id.as_str())
        .ok_or_else(|| StepError::failed("the target id cannot name files"))?;
    session.remove_file(&paths.env_file).await?;
    remote::remove_dir(session, &paths.docker_config).await?;
    let live = match caddy::live_port(session, plan.app.id.as_str()).await {
        Ok(port) => port,
        // No proxy answering: nothing was switched.
        Err(ProxyError::Ssh(SshError::Protocol(_))) => None,
        Err(e) => return Err(e.into()),
    };
    let switched = live.is_some() && live == target.host_port.and_then(|p| u16::try_from(p).ok());
    if let (true, Some(container)) = (switched, &target.container) {
        retire_old(session, plan, log, settings, &target.server_id, container).await;
        return Ok(Recovered::Switched);
    }
    let listed = session
        .run(&docker::list_command(plan.app.id.as_str()), None)
        .await?
        .success("docker ps")?;
    for old in docker::parse_list(&String::from_utf8_lossy(&listed.stdout)) {
        if old.deployment != plan.deployment.id.as_str() {
            continue;
        }
        remove_container(session, &old.name).await?;
        if let Some(old_paths) = TargetPaths::of(&old.target) {
            remote::remove_dir(session, &old_paths.file_secrets).await?;
        }
    }
    remote::remove_dir(session, &paths.file_secrets).await?;
    Ok(Recovered::Reset)
}
