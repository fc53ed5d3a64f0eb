//! Starting and always stopping one throwaway PostgreSQL cluster, whatever way xtask ends.
//!
//! Each cluster lives in `<base>/<xtask pid>/` (`data/`, `run/` for the socket,
//! `postgres.log`). Cleanup is done by a watchdog: a second xtask process in its
//! own process group that waits for its stdin to close and then stops the
//! cluster and removes the folder. The pipe closes when the `Cluster` is
//! dropped, but also when xtask dies of Ctrl-C or is killed, so no path leaves
//! a server behind.

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{Binaries, SUPERUSER, WATCHDOG_TASK};
use crate::{cmd, net, target_dir};

/// The system user that owns the cluster when xtask runs as root (initdb refuses root).
const OWNER: &str = "postgres";
/// The folder all clusters live under; the watchdog removes nothing else.
const BASE_NAME: &str = "servos-test-pg";
/// A Unix socket path must fit in 108 bytes; leave room for `/<pid>/run/.s.PGSQL.<port>`.
const MAX_BASE_LEN: usize = 76;
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running private cluster; dropping it stops the server and removes its folder.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    url: String,
    watchdog: Option<Child>,
}

impl Cluster {
    /// Creates, starts and waits for a fresh cluster on a free loopback port.
    pub fn start() -> Result<Self> {
        let binaries = Binaries::find()?;
        let as_owner = cmd::is_root();
        if as_owner && !cmd::succeeds(Command::new("id").args(["-u", OWNER])) {
            bail!(
                "the `{OWNER}` system user is missing; reinstall the Debian package `postgresql`"
            );
        }
        let base = base_dir(as_owner)?;
        remove_leftovers(&base);
        let dir = base.join(std::process::id().to_string());
        if dir.exists() {
            stop_and_remove(&dir)?;
        }
        std::fs::create_dir_all(dir.join("run"))
            .with_context(|| format!("could not create {}", dir.display()))?;
        if as_owner {
            cmd::run_quiet(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{OWNER}:{OWNER}"))
                    .arg(&dir),
            )?;
        }
        let port = net::free_port()?;
        let mut cluster = Self {
            url: format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres"),
            watchdog: None,
            dir,
            port,
        };
        cluster.watchdog = Some(spawn_watchdog(&cluster.dir)?);
        cluster.init(&binaries)?;
        cluster.launch(&binaries)?;
        cluster.wait_ready(&binaries)?;
        eprintln!(
            "xtask: PostgreSQL test cluster ready at {} (from {}, in {})",
            cluster.url,
            binaries.dir().display(),
            cluster.dir.display()
        );
        Ok(cluster)
    }

    /// `postgres://servos@127.0.0.1:<port>/postgres`, superuser with trust auth.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn init(&self, binaries: &Binaries) -> Result<()> {
        cmd::run_quiet(
            owner_command(&self.dir, &binaries.tool("initdb"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-A", "trust", "-U", SUPERUSER, "--encoding=UTF8"])
                .args(["--no-locale", "--no-sync"]),
        )
        .context("initdb failed")
    }

    fn launch(&self, binaries: &Binaries) -> Result<()> {
        let socket_dir = self.dir.join("run");
        let socket_dir = socket_dir.to_string_lossy();
        if socket_dir.contains('\'') {
            bail!("the cluster path {socket_dir} contains a quote, which pg_ctl cannot pass on");
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k '{socket_dir}' -c max_connections=400 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port
        );
        let log = self.dir.join("postgres.log");
        let started = cmd::run_quiet(
            owner_command(&self.dir, &binaries.tool("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options, "start"])
                // Keep the server out of the terminal's process group: Ctrl-C
                // reaches xtask, and the watchdog then stops the server itself.
                .process_group(0),
        );
        started.with_context(|| format!("pg_ctl start failed; server log:\n{}", tail(&log)))
    }

    fn wait_ready(&self, binaries: &Binaries) -> Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        let port = self.port.to_string();
        loop {
            let ready = cmd::succeeds(
                Command::new(binaries.tool("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port])
                    .args(["-U", SUPERUSER, "-d", "postgres"]),
            );
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self.dir.join("postgres.log");
                bail!(
                    "PostgreSQL did not accept connections within {READY_WITHIN:?}; server log:\n{}",
                    tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
        // Normally the watchdog has cleaned up; this covers a watchdog that died.
        if self.dir.exists() {
            if let Err(err) = stop_and_remove(&self.dir) {
                eprintln!("xtask: warning: {err:#}");
            }
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
    let data = dir.join("data");
    if data.join("postmaster.pid").exists() {
        let stopped = Binaries::find().and_then(|binaries| {
            cmd::run_quiet(
                owner_command(dir, &binaries.tool("pg_ctl"))
                    .arg("-D")
                    .arg(&data)
                    .args(["stop", "-m", "immediate", "-s"]),
            )
        });
        if let Err(err) = stopped {
            eprintln!(
                "xtask: warning: could not stop the cluster in {}: {err:#}",
                dir.display()
            );
        }
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
/// `postgres` user could not reach it or the socket path would be too long.
fn base_dir(as_owner: bool) -> Result<PathBuf> {
    let preferred = target_dir().join(BASE_NAME);
    let fallback = std::env::temp_dir().join(BASE_NAME);
    let base = if preferred.as_os_str().len() > MAX_BASE_LEN {
        fallback
    } else {
        std::fs::create_dir_all(&preferred)
            .with_context(|| format!("could not create {}", preferred.display()))?;
        if as_owner && !reachable_by_others(&preferred) {
            eprintln!(
                "xtask: {} is not reachable by the `{OWNER}` user; using {} instead",
                preferred.display(),
                fallback.display()
            );
            fallback
        } else {
            preferred
        }
    };
    std::fs::create_dir_all(&base)
        .with_context(|| format!("could not create {}", base.display()))?;
    Ok(base)
}

/// Whether every folder from `/` down to `dir` lets other users pass through.
fn reachable_by_others(dir: &Path) -> bool {
    dir.ancestors().all(|folder| {
        folder
            .metadata()
            .is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0)
    })
}

/// A command run as the cluster's owner, from inside the cluster folder (the
/// PostgreSQL programs fail when they cannot read the current folder).
fn owner_command(dir: &Path, program: &Path) -> Command {
    let mut command = if cmd::is_root() {
        let mut runuser = Command::new("runuser");
        runuser.args(["-u", OWNER, "--"]).arg(program);
        runuser
    } else {
        Command::new(program)
    };
    command.current_dir(dir);
    command
}

/// The last lines of a log file, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    lines[start..]
        .iter()
        .map(|line| format!("  {line}\n"))
        .collect()
}
