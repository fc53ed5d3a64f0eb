//! `servos-agent supervise`: keeps `run` going on hosts without systemd.
//!
//! Starts `servos-agent run` as a child and restarts it when it fails, with
//! a delay that doubles from 1 s up to 60 s and starts over once a run has
//! lasted a minute. SIGTERM and SIGINT are passed on to the child, and the
//! supervisor ends when the child does. A child that exits with success
//! (it was stopped by a signal) is not restarted.

use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

/// The first restart delay.
const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest restart delay.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run that lasted this long resets the delay.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Runs `run` for `state_dir` until told to stop.
pub async fn supervise(state_dir: &Path) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut delay = FIRST_DELAY;
    loop {
        let started = Instant::now();
        let mut child = Command::new(&exe)
            .arg("run")
            .arg("--state-dir")
            .arg(state_dir)
            .kill_on_drop(true)
            .spawn()?;
        let status: ExitStatus = tokio::select! {
            status = child.wait() => status?,
            _ = terminate.recv() => return stop(child, Signal::SIGTERM).await,
            _ = interrupt.recv() => return stop(child, Signal::SIGINT).await,
        };
        if status.success() {
            tracing::info!("the agent stopped; supervision ends");
            return Ok(());
        }
        if started.elapsed() >= STABLE_AFTER {
            delay = FIRST_DELAY;
        }
        tracing::warn!(%status, restart_in_secs = delay.as_secs(), "the agent exited; restarting it");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}

async fn stop(mut child: Child, with: Signal) -> std::io::Result<()> {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = kill(Pid::from_raw(pid), with);
    }
    child.wait().await.map(drop)
}
