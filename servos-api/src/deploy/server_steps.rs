//! The steps of a deployment on one server, over one SSH session: proxy
//! ready, registry login and pull, digest, env file and file secrets,
//! `docker run` on a free loopback port (`ports.rs`), env file deleted,
//! health check, proxy switched, old container drained and removed. An
//! application on the mesh runs on the mesh network, at a free address of
//! its block (`mesh_net.rs`). A
//! failure before the switch removes what this attempt made (new
//! container, env file, secrets) and leaves the old container serving; the
//! env file is removed on every path. Where the share's time went
//! (`timings.rs`) is logged and recorded with its end.

use std::net::Ipv4Addr;

use crate::error::ServiceError;
use crate::mesh::addressing::container_address;
use crate::proxy::caddy;
use crate::servers;
use crate::ssh::Session;
use crate::state::AppState;
use crate::store::deployment_targets::{self as targets, TargetChange, TargetRow, TargetTimings};
use crate::store::ids::ServerId;
use crate::store::states::TargetState;
use crate::store::{self, deployments};

use super::docker::{self, RunSpec};
use super::events::LogWriter;
use super::flags::JobFlags;
use super::health::health_check;
use super::mesh_net::{self, MeshPlan};
use super::plan::Plan;
use super::ports;
use super::remote::{self, TargetPaths, SECRETS_DIR};
use super::retire::{remove_container, retire_old};
use super::timings::{self, Phase, Spent};
use super::StepError;
use crate::config::DeploySettings;

/// How one server ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOutcome {
    /// The new container serves.
    Succeeded,
    /// Failed; the old container (if any) still serves.
    Failed(String),
    /// Stopped by a cancel before the switch.
    Cancelled,
    /// Another worker owns the job now; nothing was recorded.
    LeaseLost,
}

/// One server's share of a job.
#[derive(Debug, Clone, Copy)]
pub struct TargetJob<'a> {
    /// Application state (database, vault, settings).
    pub state: &'a AppState,
    /// The job's plan.
    pub plan: &'a Plan,
    /// This server's target row.
    pub target: &'a TargetRow,
    /// The job's log.
    pub log: &'a LogWriter,
    /// Cancel and lease flags.
    pub flags: &'a JobFlags,
    /// Engine settings.
    pub settings: &'a DeploySettings,
}

/// What this attempt has made on the server so far.
#[derive(Debug, Default)]
struct Progress {
    /// The new container, once `docker run` was sent.
    container: Option<String>,
    /// True once the proxy sends requests to it.
    switched: bool,
}

impl TargetJob<'_> {
    fn server(&self) -> Option<&ServerId> {
        Some(&self.target.server_id)
    }

    /// Appends a line about this server to the job's log.
    pub async fn say(&self, text: impl Into<String>) {
        self.log.line(self.server(), text).await;
    }

    async fn update(&self, change: TargetChange) -> Result<(), StepError> {
        let id = self.target.id.clone();
        self.state
            .db(move |conn| Ok(targets::update(conn, &id, &change, store::now())?))
            .await?;
        Ok(())
    }

    async fn step(&self, state: TargetState) -> Result<(), StepError> {
        self.flags.check()?;
        self.update(TargetChange {
            state: Some(state),
            ..TargetChange::default()
        })
        .await
    }
}

/// Runs the steps on the target's server and records how it ended and
/// where its time went.
pub async fn deploy(job: TargetJob<'_>) -> TargetOutcome {
    let (outcome, spent) = timings::measure(share(job)).await;
    record(job, &outcome, spent).await;
    outcome
}

/// The steps on the target's server, from connecting to closing.
async fn share(job: TargetJob<'_>) -> TargetOutcome {
    let name = job.plan.server_name(&job.target.server_id).to_owned();
    job.say(format!("connecting to {name}")).await;
    let started = TargetChange {
        state: Some(TargetState::Pulling),
        started_at: Some(store::now()),
        ..TargetChange::default()
    };
    match job.update(started).await {
        Err(e) => outcome_of(e),
        Ok(()) => match servers::jobs::connect(job.state, &job.target.server_id).await {
            Err(e) => TargetOutcome::Failed(format!("cannot connect: {e}")),
            Ok(session) => {
                let mut progress = Progress::default();
                let result = steps(job, &session, &mut progress).await;
                let outcome = match result {
                    Ok(()) => TargetOutcome::Succeeded,
                    Err(e) => {
                        let outcome = outcome_of(e);
                        if !progress.switched {
                            clean_up(job, &session, &progress).await;
                        }
                        outcome
                    }
                };
                session.close().await;
                outcome
            }
        },
    }
}

fn outcome_of(error: StepError) -> TargetOutcome {
    match error {
        StepError::Cancelled => TargetOutcome::Cancelled,
        StepError::LeaseLost => TargetOutcome::LeaseLost,
        StepError::Api(ServiceError::Internal(cause)) => {
            // The reason says "internal error"; the cause goes to the log only.
            tracing::error!(error = %cause, "a deployment step failed");
            TargetOutcome::Failed(ServiceError::Internal(cause).to_string())
        }
        other => TargetOutcome::Failed(other.to_string()),
    }
}

async fn record(job: TargetJob<'_>, outcome: &TargetOutcome, spent: Spent) {
    let (state, reason, line) = match outcome {
        TargetOutcome::Succeeded => (
            TargetState::Succeeded,
            None,
            "done: the new container serves".to_owned(),
        ),
        TargetOutcome::Failed(reason) => (
            TargetState::Failed,
            Some(reason.clone()),
            format!("failed: {reason}"),
        ),
        TargetOutcome::Cancelled => (
            TargetState::Cancelled,
            Some("cancelled".to_owned()),
            "cancelled; the previous container keeps serving".to_owned(),
        ),
        TargetOutcome::LeaseLost => return,
    };
    job.say(line).await;
    job.say(spent.to_string()).await;
    let change = TargetChange {
        state: Some(state.to_owned()),
        reason,
        finished_at: Some(store::now()),
        timings: TargetTimings::from(spent),
        ..TargetChange::default()
    };
    if let Err(e) = job.update(change).await {
        tracing::warn!(target_id = %job.target.id, error = %e, "cannot record a deployment target's end");
    }
}

async fn steps(
    job: TargetJob<'_>,
    session: &Session,
    progress: &mut Progress,
) -> Result<(), StepError> {
    let plan = job.plan;
    let paths = TargetPaths::of(job.target.id.as_str())
        .ok_or_else(|| StepError::failed("the target id cannot name files"))?;
    job.flags.check()?;
    if let Some(caveat) = caddy::ensure(session).await? {
        job.say(format!("warning: {caveat}")).await;
    }

    let image = pull(job, session, &paths).await?;
    job.update(TargetChange {
        image_digest: Some(image.clone()),
        ..TargetChange::default()
    })
    .await?;
    let (id, digest) = (plan.deployment.id.clone(), image.clone());
    job.state
        .db(move |conn| Ok(deployments::set_image_digest(conn, &id, &digest)?))
        .await?;

    job.step(TargetState::Starting).await?;
    let container = container_name(plan);
    progress.container = Some(container.clone());
    job.update(TargetChange {
        container: Some(container.clone()),
        ..TargetChange::default()
    })
    .await?;
    let port = start(job, session, &paths, &container, &image).await?;
    job.update(TargetChange {
        host_port: Some(i32::from(port)),
        ..TargetChange::default()
    })
    .await?;
    job.state.failpoints.pass("deploy.container_started");

    job.step(TargetState::Checking).await?;
    timings::timed(
        Phase::HealthWait,
        health_check(job, session, &container, port),
    )
    .await?;

    job.step(TargetState::Switching).await?;
    let old_port = caddy::live_port(session, plan.app.id.as_str()).await?;
    if let Err(e) = caddy::point(session, &plan.route, port).await {
        // A lost answer may still have switched: ask before giving up.
        if caddy::live_port(session, plan.app.id.as_str())
            .await
            .ok()
            .flatten()
            != Some(port)
        {
            return Err(e.into());
        }
    }
    progress.switched = true;
    // From here on the new container serves: no cancel, no rollback of it.
    let change = TargetChange {
        state: Some(TargetState::Draining),
        ..TargetChange::default()
    };
    if let Err(e) = job.update(change).await {
        tracing::warn!(error = %e, "cannot record the switch");
    }
    job.say(match old_port {
        Some(old) => format!(
            "{} now sends requests to port {port} (was {old})",
            plan.route.host
        ),
        None => format!("{} now sends requests to port {port}", plan.route.host),
    })
    .await;
    retire_old(
        session,
        plan,
        job.log,
        job.settings,
        &job.target.server_id,
        &container,
    )
    .await;
    Ok(())
}

/// `servos-<app>-<deployment>-<attempt>`: unique per attempt, so a retry
/// never collides with what an interrupted attempt left.
fn container_name(plan: &Plan) -> String {
    let deployment: String = plan
        .deployment
        .id
        .as_str()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    format!(
        "servos-{}-{deployment}-{}",
        crate::proxy::slug(&plan.app.spec.name),
        plan.deployment.attempt
    )
}

/// Logs in (when the application has a registry credential), pulls as
/// needed, logs out, and returns the image to run: its digest.
async fn pull(
    job: TargetJob<'_>,
    session: &Session,
    paths: &TargetPaths,
) -> Result<String, StepError> {
    let image = job.plan.image_for(&job.target.server_id);
    if !docker::is_plain_image(image) {
        return Err(StepError::failed("the image reference is not usable"));
    }
    let pulled = match &job.plan.registry {
        Some(login) => {
            job.say(format!("logging in to {} and pulling {image}", login.host))
                .await;
            let config = &paths.docker_config;
            let result = async {
                docker::login(session, login, config).await?;
                docker::run(
                    session,
                    &format!("DOCKER_CONFIG={config} docker pull -q {image}"),
                    None,
                )
                .await?
                .success("docker pull")
                .map_err(docker::pull_failure)?;
                Ok::<(), StepError>(())
            }
            .await;
            docker::logout(session, login, config).await?;
            result
        }
        None => {
            job.say(format!("pulling {image} unless present")).await;
            docker::run(
                session,
                &format!("docker image inspect {image} >/dev/null 2>&1 || docker pull -q {image}"),
                None,
            )
            .await?
            .success("docker pull")
            .map(drop)
            .map_err(docker::pull_failure)
        }
    };
    pulled?;
    let inspected = docker::run(session, &docker::inspect_image_command(image), None)
        .await?
        .success("docker image inspect")?;
    let resolved = docker::resolved_image(image, &String::from_utf8_lossy(&inspected.stdout))
        .ok_or_else(|| StepError::failed(format!("cannot tell which image {image} is")))?;
    job.say(format!("image {image} is {resolved}")).await;
    Ok(resolved)
}

/// Writes the env file and file secrets, runs the container on a free
/// loopback port (another one when that port was taken meanwhile), deletes
/// the env file after each `docker run` (whatever it did), and returns the
/// port.
async fn start(
    job: TargetJob<'_>,
    session: &Session,
    paths: &TargetPaths,
    container: &str,
    image: &str,
) -> Result<u16, StepError> {
    let plan = job.plan;
    let spec = &plan.app.spec;
    session.ensure_private_dir(SECRETS_DIR).await?;
    let secrets_dir = if plan.file_secrets.is_empty() {
        None
    } else {
        remote::ensure_tmpfs(session).await?;
        session.ensure_private_dir(&paths.file_secrets).await?;
        for (name, value) in &plan.file_secrets {
            let path = format!("{}/{name}", paths.file_secrets);
            session
                .write_file(&path, 0o400, value.expose().as_bytes())
                .await?;
        }
        Some(paths.file_secrets.as_str())
    };
    let mesh_ip = match &plan.mesh {
        Some(mesh) => Some(mesh_address(job, session, mesh).await?),
        None => None,
    };
    let range = &job.settings.host_ports;
    let listed = docker::run(session, &ports::used_command(), None).await?;
    let mut used = ports::parse_used(&String::from_utf8_lossy(&listed.stdout));
    let mut attempt = 1;
    loop {
        let port = ports::pick(range, &used).ok_or_else(|| {
            StepError::failed(format!(
                "no free loopback port in {}-{}",
                range.start(),
                range.end()
            ))
        })?;
        session
            .write_file(&paths.env_file, 0o600, plan.env_file.expose().as_bytes())
            .await?;
        let command = docker::run_command(&RunSpec {
            name: container,
            env_file: &paths.env_file,
            ids: (
                plan.app.id.as_str(),
                plan.deployment.id.as_str(),
                job.target.id.as_str(),
            ),
            labels: &spec.labels,
            restart: &spec.restart_policy,
            limits: &spec.limits,
            container_port: spec.container_port,
            host_port: port,
            secrets_dir,
            mesh_ip,
            image,
        });
        job.say(format!("starting container {container} on port {port}"))
            .await;
        let ran = docker::run(session, &command, None).await;
        // Deleted as soon as docker run returns, started or not.
        let removed = session.remove_file(&paths.env_file).await;
        let ran = ran?;
        let taken =
            ran.exit_status != Some(0) && ports::is_taken(&String::from_utf8_lossy(&ran.stderr));
        if taken && attempt < ports::ATTEMPTS {
            removed?;
            job.say(format!("port {port} was taken meanwhile; trying another"))
                .await;
            remove_container(session, container).await?;
            used.insert(port);
            attempt += 1;
            continue;
        }
        ran.success("docker run")?;
        removed?;
        job.say("container started; env file deleted").await;
        return Ok(port);
    }
}

/// Prepares the mesh network on the server and returns the address the
/// new container takes: the first of the application's block its running
/// containers do not hold.
async fn mesh_address(
    job: TargetJob<'_>,
    session: &Session,
    mesh: &MeshPlan,
) -> Result<Ipv4Addr, StepError> {
    let spot = mesh
        .spots
        .get(&job.target.server_id)
        .ok_or_else(|| StepError::failed("the server has no place on the mesh"))?;
    docker::run(
        session,
        &mesh_net::ensure_command(spot.subnet, mesh.mesh),
        None,
    )
    .await?
    .success("preparing the mesh network (as root)")?;
    let listed = docker::run(
        session,
        &mesh_net::taken_command(job.plan.app.id.as_str()),
        None,
    )
    .await?
    .success("listing the application's mesh addresses")?;
    let taken = mesh_net::parse_taken(&String::from_utf8_lossy(&listed.stdout));
    let address = container_address(spot.subnet, spot.block, &taken).ok_or_else(|| {
        StepError::failed(format!(
            "every address of the application's mesh block {} is held by a running container",
            spot.block
        ))
    })?;
    job.say(format!("the container joins the mesh at {address}"))
        .await;
    Ok(address)
}

/// After a failure before the switch: removes the new container, the file
/// secrets, the env file and the registry login; the old container keeps
/// serving. Problems are logged (the failure is already the job's reason).
async fn clean_up(job: TargetJob<'_>, session: &Session, progress: &Progress) {
    let Some(paths) = TargetPaths::of(job.target.id.as_str()) else {
        return;
    };
    let mut problems = Vec::new();
    if let Some(container) = &progress.container {
        if let Err(e) = remove_container(session, container).await {
            problems.push(format!("container {container}: {e}"));
        }
    }
    if let Err(e) = remote::remove_dir(session, &paths.file_secrets).await {
        problems.push(format!("file secrets: {e}"));
    }
    if let Err(e) = session.remove_file(&paths.env_file).await {
        problems.push(format!("env file: {e}"));
    }
    if let Err(e) = remote::remove_dir(session, &paths.docker_config).await {
        problems.push(format!("registry login: {e}"));
    }
    if problems.is_empty() {
        job.say("cleaned up: no new container, env file or secret left")
            .await;
    } else {
        job.say(format!("clean-up incomplete: {}", problems.join("; ")))
            .await;
    }
}
