//! The health check of a new container: an HTTP GET through the SSH tunnel
//! to its published loopback port (2xx and 3xx are healthy), or a command
//! run in it, repeated every interval until it passes or fails the
//! application's retries in a row; a container that stops fails at once.

use std::time::Duration;

use crate::apps::health::Probe;
use crate::ssh::Session;

use super::docker;
use super::server_steps::TargetJob;
use super::StepError;
use crate::ssh::shell::quote;

/// Probes the new container until it is healthy, or fails after the
/// application's retries in a row (or when the container stops).
pub async fn health_check(
    job: TargetJob<'_>,
    session: &Session,
    container: &str,
    port: u16,
) -> Result<(), StepError> {
    let check = &job.plan.app.spec.health_check;
    let limit = Duration::from_secs(u64::from(check.timeout_secs));
    let mut failures = 0;
    let mut probes = 0;
    loop {
        job.flags.check()?;
        let inspected = docker::run(
            session,
            &format!(
                "docker inspect --format '{{{{.State.Running}}}} {{{{.State.ExitCode}}}}' {}",
                quote(container)
            ),
            None,
        )
        .await?
        .success("docker inspect")?;
        let status = String::from_utf8_lossy(&inspected.stdout).trim().to_owned();
        if let Some(code) = status.strip_prefix("false ") {
            return Err(StepError::failed(format!(
                "the container stopped (exit code {code}) before it became healthy"
            )));
        }
        probes += 1;
        let verdict = match &check.probe {
            Probe::Http { path } => {
                match tokio::time::timeout(
                    limit,
                    session.http(port, "GET", path, &job.plan.route.host, None),
                )
                .await
                {
                    Ok(Ok(response)) if (200..400).contains(&response.status) => Ok(()),
                    Ok(Ok(response)) => Err(format!("GET {path} answered {}", response.status)),
                    Ok(Err(e)) => Err(format!("GET {path} failed: {e}")),
                    Err(_) => Err(format!("GET {path} took longer than {limit:?}")),
                }
            }
            Probe::Command(args) => {
                let command = docker::exec_command(container, args, check.timeout_secs);
                match docker::run(session, &command, None).await {
                    Ok(output) if output.exit_status == Some(0) => Ok(()),
                    Ok(output) => Err(format!("the command exited with {:?}", output.exit_status)),
                    Err(e) => Err(format!("the command failed: {e}")),
                }
            }
        };
        match verdict {
            Ok(()) => {
                job.say(format!("healthy after {probes} probe(s)")).await;
                return Ok(());
            }
            Err(why) => {
                failures += 1;
                if failures >= check.retries {
                    return Err(StepError::failed(format!(
                        "health check failed {failures} times in a row: {why}"
                    )));
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(u64::from(check.interval_secs))).await;
    }
}
