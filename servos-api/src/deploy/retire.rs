//! Retiring old containers once the proxy serves the new one: wait until
//! the proxy has no request in flight to the old one (bounded), stop it,
//! remove it and its file secrets. The drain's wait is charged to the
//! share's drain time (`timings.rs`).

use std::time::{Duration, Instant};

use crate::proxy::caddy;
use crate::ssh::Session;
use crate::store::ids::ServerId;

use super::docker;
use super::events::LogWriter;
use super::plan::Plan;
use super::remote::{self, TargetPaths};
use super::timings::{self, Phase};
use super::StepError;
use crate::config::DeploySettings;
use crate::ssh::shell::quote;

/// Seconds `docker stop` gives an old container before it is killed.
const STOP_TIMEOUT_SECS: u32 = 10;
/// Pause between two looks at an old upstream's requests in flight.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Removes a container (running or not) and verifies it is gone.
pub async fn remove_container(session: &Session, name: &str) -> Result<(), StepError> {
    let name = quote(name);
    let command = format!(
        "docker rm -f {name} >/dev/null 2>&1; ! docker container inspect {name} >/dev/null 2>&1"
    );
    docker::run(session, &command, None)
        .await?
        .success("removing a container")?;
    Ok(())
}

/// Drains and removes every container of the application on this server
/// except `keep` (the one the proxy serves), with their file secrets.
/// Problems are logged: the new container already serves.
pub async fn retire_old(
    session: &Session,
    plan: &Plan,
    log: &LogWriter,
    settings: &DeploySettings,
    server_id: &ServerId,
    keep: &str,
) {
    let say = |text: String| log.line(Some(server_id), text);
    let listed = match docker::run(session, &docker::list_command(plan.app.id.as_str()), None).await
    {
        Ok(output) if output.exit_status == Some(0) => {
            docker::parse_list(&String::from_utf8_lossy(&output.stdout))
        }
        Ok(output) => {
            say(format!(
                "cannot list old containers: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
            .await;
            return;
        }
        Err(e) => {
            say(format!("cannot list old containers: {e}")).await;
            return;
        }
    };
    for old in listed.into_iter().filter(|c| c.name != keep) {
        let port = docker::run(
            session,
            &format!(
                "docker port {} {}/tcp 2>/dev/null",
                quote(&old.name),
                plan.app.spec.container_port
            ),
            None,
        )
        .await
        .ok()
        .and_then(|o| docker::parse_port(&String::from_utf8_lossy(&o.stdout)));
        if let Some(port) = port {
            if !timings::timed(Phase::Drain, drained(session, port, settings.drain)).await {
                say(format!(
                    "{} still had requests after {:?}; stopping it anyway",
                    old.name, settings.drain
                ))
                .await;
            }
        }
        let stopped = docker::run(
            session,
            &format!(
                "docker stop -t {STOP_TIMEOUT_SECS} {} >/dev/null",
                quote(&old.name)
            ),
            None,
        )
        .await;
        if !matches!(&stopped, Ok(o) if o.exit_status == Some(0)) {
            say(format!("{} did not stop cleanly; removing it", old.name)).await;
        }
        let removed = remove_container(session, &old.name).await;
        let secrets = match TargetPaths::of(&old.target) {
            Some(paths) => remote::remove_dir(session, &paths.file_secrets)
                .await
                .map_err(StepError::from),
            None => Ok(()),
        };
        match removed.and(secrets) {
            Ok(()) => say(format!("removed old container {}", old.name)).await,
            Err(e) => say(format!("cannot remove old container {}: {e}", old.name)).await,
        }
    }
}

/// Waits until the proxy has no request in flight to `port`, at most `limit`.
async fn drained(session: &Session, port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match caddy::in_flight(session, port).await {
            Ok(None | Some(0)) => return true,
            Ok(Some(_)) | Err(_) if Instant::now() >= deadline => return false,
            _ => tokio::time::sleep(DRAIN_POLL).await,
        }
    }
}
