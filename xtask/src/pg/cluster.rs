//! Starting and always stopping one throwaway PostgreSQL cluster, whatever way xtask ends.
//!
//! The cluster itself is `servos_lab::postgres::Cluster`; this file adds
//! where it lives and the cleanup. Each cluster lives in `<base>/<xtask pid>/`.
//! Cleanup is done by a watchdog: a second xtask process in its own process
//! group that waits for its stdin to close and then stops the cluster and
//! removes the folder. The pipe closes when the `Cluster` is dropped, but
//! also when xtask dies of Ctrl-C or is killed, so no path leaves a server
//! behind.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use servos_lab::postgres;

use super::WATCHDOG_TASK;
use crate::target_dir;

/// The folder all clusters live under; the watchdog removes nothing else.
const BASE_NAME: &str = "servos-test-pg";
/// A Unix socket path must fit in 108 bytes; leave room for `/<pid>/run/.s.PGSQL.<port>`.
const MAX_BASE_LEN: usize = 76;

/// A running private cluster; dropping it stops the server and removes its folder.
pub struct Cluster {
    server: Option<postgres::Cluster>,
    watchdog: Option<Child>,
}

impl Cluster {
    /// Creates, starts and waits for a fresh cluster on a free loopback port.
    pub fn start() -> Result<Self> {
        let base = base_dir()?;
        remove_leftovers(&base);
        let dir = base.join(std::process::id().to_string());
        if dir.exists() {
            stop_and_remove(&dir)?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let mut cluster = Self {
            server: None,
            watchdog: Some(spawn_watchdog(&dir)?),
        };
        let server = postgres::Cluster::start(&dir)?;
        eprintln!(
            "xtask: PostgreSQL test cluster ready at {} (from {}, in {})",
            server.url(),
            server.binaries().dir().display(),
            dir.display()
        );
        cluster.server = Some(server);
        Ok(cluster)
    }

    /// `postgres://servos@127.0.0.1:<port>/postgres`, superuser with trust auth.
    pub fn url(&self) -> &str {
        self.server.as_ref().map_or("", postgres::Cluster::url)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The server stops first; the watchdog then finds only the folder.
        drop(self.server.take());
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

/// The watchdog task: waits until stdin closes, then cleans the cluster up.
pub fn watchdog_main(args: &[String]) -> Result<()> {
    let [dir] = args else {
        bail!("usage: cargo xtask {WATCHDOG_TASK} <cluster folder>");
    };
    // Whatever ends the read (end of input or an error), the owner is gone.
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    stop_and_remove(Path::new(dir))?;
    eprintln!("xtask: stopped the PostgreSQL test cluster and removed {dir}");
    Ok(())
}

fn spawn_watchdog(dir: &Path) -> Result<Child> {
    // Not `current_exe()`: `cargo build --workspace` may have replaced the
    // xtask file since it started, and `/proc/self/exe` still opens this one.
    Command::new("/proc/self/exe")
        .arg0("xtask")
        .arg(WATCHDOG_TASK)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        // Its own process group, so that Ctrl-C does not stop the cleanup too.
        .process_group(0)
        .spawn()
        .context("could not start the cluster watchdog")
}

/// Stops a cluster immediately (if it runs) and deletes its folder. Refuses
/// any folder that is not `<...>/servos-test-pg/<pid>`, since it deletes.
fn stop_and_remove(dir: &Path) -> Result<()> {
    let is_cluster_dir = dir.is_absolute()
        && dir.parent().and_then(Path::file_name) == Some(OsStr::new(BASE_NAME))
        && dir
            .file_name()
            .is_some_and(|name| name.to_string_lossy().parse::<u32>().is_ok());
    if !is_cluster_dir {
        bail!(
            "refusing to remove {}: not a test cluster folder",
            dir.display()
        );
    }
    if let Err(err) = postgres::stop_in(dir) {
        eprintln!(
            "xtask: warning: could not stop the cluster in {}: {err}",
            dir.display()
        );
    }
    match std::fs::remove_dir_all(dir) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("could not remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Removes clusters whose xtask process is gone (a crash, a reboot, `kill -9`
/// of the whole process group), so that they do not pile up.
fn remove_leftovers(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(|entry| entry.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_ok() && !xtask_runs_as(&name) {
            eprintln!(
                "xtask: removing a leftover test cluster in {}",
                entry.path().display()
            );
            if let Err(err) = stop_and_remove(&entry.path()) {
                eprintln!("xtask: warning: {err:#}");
            }
        }
    }
}

/// Whether process `pid` is a live xtask (a zombie has no command line, and
/// a reused pid most likely belongs to something else).
fn xtask_runs_as(pid: &str) -> bool {
    std::fs::read(Path::new("/proc").join(pid).join("cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("xtask"))
}

/// `target/servos-test-pg`, or the same under the temp folder when the
/// cluster's owner could not reach it or the socket path would be too long.
fn base_dir() -> Result<PathBuf> {
    let preferred = target_dir().join(BASE_NAME);
    let fallback = std::env::temp_dir().join(BASE_NAME);
    let base = if preferred.as_os_str().len() > MAX_BASE_LEN {
        fallback
    } else {
        std::fs::create_dir_all(&preferred)
            .with_context(|| format!("could not create {}", preferred.display()))?;
        if postgres::owner_can_reach(&preferred.join("cluster")) {
            preferred
        } else {
            eprintln!(
                "xtask: {} is not reachable by the cluster's owner; using {} instead",
                preferred.display(),
                fallback.display()
            );
            fallback
        }
    };
    std::fs::create_dir_all(&base)
        .with_context(|| format!("could not create {}", base.display()))?;
    Ok(base)
}
