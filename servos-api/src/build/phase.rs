//! The build phase of a deployment job of an application built from git:
//! on the builder, over its pinned session, fetch the commit, build it
//! (unless the builder has that commit's image already), deliver the
//! image, and remove the work tree whatever happened. A cancel stops the
//! running command (its process group is killed) and nothing is
//! delivered after it.

use std::future::Future;
use std::time::Duration;

use crate::deploy::docker;
use crate::deploy::events::{clip, LogWriter};
use crate::deploy::flags::JobFlags;
use crate::deploy::plan::Plan;
use crate::deploy::remote;
use crate::deploy::StepError;
use crate::servers;
use crate::ssh::{Session, Stream};
use crate::state::AppState;

use super::{deliver, git, image, BuildPlan, BUILDS_DIR};

/// How often a running command looks for a cancel.
const CANCEL_POLL: Duration = Duration::from_millis(250);
/// Longest line of a build's output kept in the job's log.
const MAX_LINE: usize = 500;

/// One build phase.
#[derive(Clone, Copy)]
pub struct BuildJob<'a> {
    /// Application state.
    pub state: &'a AppState,
    /// The deployment's plan.
    pub plan: &'a Plan,
    /// The build.
    pub build: &'a BuildPlan,
    /// The job's log.
    pub log: &'a LogWriter,
    /// The job's cancel and lease flags.
    pub flags: &'a JobFlags,
    /// How long building may take, and again delivering.
    pub limit: Duration,
}

impl BuildJob<'_> {
    async fn say(&self, text: impl Into<String>) {
        self.log.line(Some(&self.build.builder.id), text).await;
    }
}

/// Builds and delivers the image of the job's commit.
pub async fn run(job: BuildJob<'_>) -> Result<(), StepError> {
    let build = job.build;
    job.flags.check()?;
    if !docker::is_plain_image(&build.image) || !git::is_commit(&build.commit) {
        return Err(StepError::failed("the image or commit cannot be built"));
    }
    job.say(format!(
        "build of commit {} of {} (branch {}) on {}",
        build.commit, build.source.url, build.source.branch, build.builder.name
    ))
    .await;
    let builder = servers::jobs::connect(job.state, &build.builder.id).await?;
    let dir = format!("{BUILDS_DIR}/{}", job.plan.deployment.id);
    let result = async {
        builder.ensure_private_dir(BUILDS_DIR).await?;
        remote::remove_dir(&builder, &dir).await?;
        if deliver::has_image(&builder, &build.image).await? {
            job.say(format!(
                "commit {} was built before: reusing {}",
                build.commit, build.image
            ))
            .await;
        } else {
            fetch(job, &builder, &dir).await?;
            docker_build(job, &builder, &dir).await?;
        }
        job.flags.check()?;
        deliver(job, &builder).await
    }
    .await;
    if result.is_err() {
        // A command a cancel or failure left running goes with its group.
        let _ = builder
            .run(
                &format!("kill -TERM -- -\"$(cat {dir}/step.pid)\" 2>/dev/null"),
                None,
            )
            .await;
    }
    if let Err(e) = remote::remove_dir(&builder, &dir).await {
        job.say(format!("warning: cannot remove the build folder: {e}"))
            .await;
    }
    builder.close().await;
    result
}

/// Runs `script` on the builder as a process group it records in
/// `{dir}/step.pid`, writing `stdin` to it, until it ends, the limit
/// passes or a cancel comes; hands each line of output to the log.
async fn run_step(
    job: BuildJob<'_>,
    builder: &Session,
    dir: &str,
    script: &str,
    stdin: &[u8],
    what: &str,
) -> Result<(), StepError> {
    let script = format!(
        "mkdir -p {dir} && echo $$ > {dir}/step.pid\ntrap 'rm -f {dir}/step.pid' EXIT\n{script}"
    );
    let (lines, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let command = async move {
        let mut pending = Vec::new();
        let status = builder
            .run_streaming_within(job.limit, &script, Some(stdin), |_: Stream, bytes| {
                pending.extend_from_slice(bytes);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let _ = lines.send(String::from_utf8_lossy(&line).trim_end().to_owned());
                }
            })
            .await;
        if !pending.is_empty() {
            let _ = lines.send(String::from_utf8_lossy(&pending).trim_end().to_owned());
        }
        status
    };
    let mut last = Vec::new();
    let log = async {
        while let Some(line) = received.recv().await {
            if line.is_empty() {
                continue;
            }
            let mut line = line;
            clip(&mut line, MAX_LINE);
            job.say(line.clone()).await;
            last.push(line);
            if last.len() > 5 {
                last.remove(0);
            }
        }
    };
    let (status, ()) = tokio::join!(cancellable(job.flags, async { Ok(command.await?) }), log);
    match status? {
        Some(0) => Ok(()),
        status => Err(StepError::failed(format!(
            "{what} failed on the builder (exit status {status:?}): {}",
            last.join(" / ")
        ))),
    }
}

/// `work`, or the job's stop (a cancel, a lost lease) if that comes first.
async fn cancellable<T>(
    flags: &JobFlags,
    work: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let stopped = async {
        loop {
            if let Err(e) = flags.check() {
                return e;
            }
            tokio::time::sleep(CANCEL_POLL).await;
        }
    };
    tokio::select! {
        done = work => done,
        stop = stopped => Err(stop),
    }
}

async fn fetch(job: BuildJob<'_>, builder: &Session, dir: &str) -> Result<(), StepError> {
    let build = job.build;
    job.say(format!("fetching commit {}", build.commit)).await;
    let stdin =
        git::stdin_of(build.login.as_ref()).map_err(|e| StepError::failed(e.to_string()))?;
    let script = git::script(
        dir,
        false,
        &git::fetch(dir, &build.source.url, &build.commit),
    );
    run_step(
        job,
        builder,
        dir,
        &script,
        stdin.expose().as_bytes(),
        "fetching the commit",
    )
    .await
}

async fn docker_build(job: BuildJob<'_>, builder: &Session, dir: &str) -> Result<(), StepError> {
    let build = job.build;
    job.flags.check()?;
    job.say(format!("docker build of {}", build.image)).await;
    let src = format!("{dir}/src");
    let spec = image::BuildSpec {
        src: &src,
        dockerfile: &build.source.dockerfile,
        context: &build.source.context,
        image: &build.image,
        app_id: job.plan.app.id.as_str(),
        commit: &build.commit,
        clear_args: &build.clear_args,
        secret_args: &build.secret_args,
    };
    let stdin = image::stdin_of(&build.secret_args);
    run_step(
        job,
        builder,
        dir,
        &image::script(&spec),
        stdin.expose().as_bytes(),
        "docker build",
    )
    .await?;
    job.say(format!("built {}", build.image)).await;
    Ok(())
}

async fn deliver(job: BuildJob<'_>, builder: &Session) -> Result<(), StepError> {
    let build = job.build;
    let plan = job.plan;
    if let Some(login) = &plan.registry {
        job.say(format!("pushing {} to {}", build.image, login.host))
            .await;
        let id = plan.deployment.id.as_str();
        cancellable(
            job.flags,
            deliver::push(builder, login, id, &build.image, job.limit),
        )
        .await?;
        job.say("pushed").await;
        return Ok(());
    }
    let mut sessions = Vec::new();
    for target in plan.targets.iter().filter(|t| !t.is_finished()) {
        let name = plan.server_name(&target.server_id);
        let session = servers::jobs::connect(job.state, &target.server_id).await?;
        if deliver::has_image(&session, &build.image).await? {
            job.log
                .line(
                    Some(&target.server_id),
                    format!("{name} has {} already", build.image),
                )
                .await;
            session.close().await;
        } else {
            sessions.push((name, session));
        }
    }
    if sessions.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = sessions.iter().map(|(name, _)| *name).collect();
    job.say(format!(
        "streaming {} from the builder to {}",
        build.image,
        names.join(", ")
    ))
    .await;
    let receivers: Vec<(&str, &Session)> = sessions.iter().map(|(n, s)| (*n, s)).collect();
    let streamed = cancellable(
        job.flags,
        deliver::save_load(builder, &receivers, &build.image, job.limit),
    )
    .await;
    for (_, session) in sessions {
        session.close().await;
    }
    let bytes = streamed?;
    job.say(format!(
        "{} ({:.1} MiB) loaded on {}",
        build.image,
        bytes as f64 / (1024.0 * 1024.0),
        names.join(", ")
    ))
    .await;
    Ok(())
}
