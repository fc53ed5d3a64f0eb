//! A private PostgreSQL cluster: made with `initdb` in a folder the caller
//! gives, started on a free loopback port, restarted on demand (as an
//! operator's `pg_ctl restart` would), and stopped when dropped.
//!
//! The folder holds `data/`, `run/` (the Unix socket) and `postgres.log`.
//! Run as root, the programs run as the `postgres` system user (initdb
//! refuses root), which then owns the folder and must be able to reach it.
//! The server needs the Debian package `postgresql`.

mod binaries;

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use binaries::Binaries;

use crate::process::{self, run};
use crate::tools::require;
use crate::LabError;

/// The superuser `initdb` creates; it logs in without a password on loopback.
pub const SUPERUSER: &str = "servos";
/// The system user that owns the cluster when the caller is root.
const OWNER: &str = "postgres";
/// How long a start or a restart may take until connections are accepted.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Starts tried on another port when a parallel process took the chosen one.
const START_ATTEMPTS: usize = 3;
/// The longest Unix socket path (`sun_path` holds 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A running private cluster; dropping it stops the server at once (the
/// folder is the caller's to remove).
#[derive(Debug)]
pub struct Cluster {
    binaries: Binaries,
    dir: PathBuf,
    port: u16,
    url: String,
    running: bool,
}

impl Cluster {
    /// Creates a cluster in `dir` (absolute; made if missing), starts it on
    /// a free loopback port and returns once it accepts connections.
    pub fn start(dir: &Path) -> Result<Self, LabError> {
        let binaries = Binaries::find()?;
        if !dir.is_absolute() {
            return Err(LabError::InvalidRequest(format!(
                "the cluster folder {} is not an absolute path",
                dir.display()
            )));
        }
        // `run/.s.PGSQL.<port>` must fit in a socket address.
        if dir.as_os_str().len() + "/run/.s.PGSQL.65535".len() > MAX_SOCKET_PATH {
            return Err(LabError::InvalidRequest(format!(
                "the cluster folder {} is too long for a Unix socket path",
                dir.display()
            )));
        }
        let run_dir = dir.join("run");
        std::fs::create_dir_all(&run_dir)
            .map_err(|error| LabError::io(format!("create {}", run_dir.display()), error))?;
        if is_root() {
            if !matches!(nix::unistd::User::from_name(OWNER), Ok(Some(_))) {
                return Err(LabError::MissingUser {
                    user: OWNER,
                    package: "postgresql",
                });
            }
            run(Command::new(require("chown", "coreutils")?)
                .arg("-R")
                .arg(format!("{OWNER}:{OWNER}"))
                .arg(dir))?;
            if !owner_can_reach(dir) {
                return Err(LabError::InvalidRequest(format!(
                    "the `{OWNER}` user cannot reach {}: a folder above it is closed to others",
                    dir.display()
                )));
            }
        }
        let mut cluster = Self {
            binaries,
            dir: dir.to_owned(),
            port: 0,
            url: String::new(),
            running: false,
        };
        cluster.init()?;
        for attempt in 1..=START_ATTEMPTS {
            cluster.port = free_port()?;
            cluster.url = format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", cluster.port);
            let log_start = std::fs::metadata(cluster.log()).map_or(0, |meta| meta.len());
            match cluster.launch() {
                Ok(()) => break,
                Err(_)
                    if attempt < START_ATTEMPTS
                        && process::read_from(&cluster.log(), log_start)
                            .contains("could not bind") => {}
                Err(error) => return Err(error),
            }
        }
        cluster.running = true;
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// `postgres://servos@127.0.0.1:<port>/postgres`: the superuser, with
    /// trust authentication, on the `postgres` database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder of the cluster's programs.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// Restarts the server as `pg_ctl restart -m fast` does (sessions are
    /// ended, transactions rolled back) and returns once it accepts
    /// connections again, on the same port.
    pub fn restart(&self) -> Result<(), LabError> {
        run(self
            .pg_ctl()?
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "60", "-m", "fast", "restart"])
            .process_group(0))
        .map_err(|error| self.with_log(error))?;
        self.wait_ready()
    }

    /// Whether the server accepts connections now (`pg_isready`).
    pub fn accepts_connections(&self) -> bool {
        let port = self.port.to_string();
        Command::new(self.binaries.tool("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port])
            .args(["-U", SUPERUSER, "-d", "postgres"])
            .stdin(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Stops the server at once (`-m immediate`); dropping does the same.
    pub fn stop(mut self) -> Result<(), LabError> {
        self.running = false;
        stop_in(&self.dir)
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn pg_ctl(&self) -> Result<Command, LabError> {
        let mut command = owner_command(&self.dir, &self.binaries.tool("pg_ctl"))?;
        command.arg("-D").arg(self.dir.join("data"));
        Ok(command)
    }

    fn init(&self) -> Result<(), LabError> {
        run(owner_command(&self.dir, &self.binaries.tool("initdb"))?
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-A", "trust", "-U", SUPERUSER, "--encoding=UTF8"])
            .args(["--no-locale", "--no-sync"]))
        .map(drop)
    }

    fn launch(&self) -> Result<(), LabError> {
        let socket_dir = self.dir.join("run");
        let socket_dir = socket_dir.to_string_lossy();
        if socket_dir.contains('\'') {
            return Err(LabError::InvalidRequest(format!(
                "the cluster path {socket_dir} contains a quote, which pg_ctl cannot pass on"
            )));
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k '{socket_dir}' -c max_connections=400 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port
        );
        run(self
            .pg_ctl()?
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "60", "-o", &options, "start"])
            // Keep the server out of the terminal's process group: Ctrl-C
            // reaches the caller, which then stops the server itself.
            .process_group(0))
        .map(drop)
        .map_err(|error| self.with_log(error))
    }

    fn wait_ready(&self) -> Result<(), LabError> {
        let deadline = Instant::now() + READY_WITHIN;
        while !self.accepts_connections() {
            if Instant::now() > deadline {
                return Err(LabError::NotReady {
                    what: format!("PostgreSQL on port {}", self.port),
                    within: READY_WITHIN,
                    log: process::log_tail(&self.log(), 30),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// `error` with the end of the server's log added.
    fn with_log(&self, error: LabError) -> LabError {
        match error {
            LabError::Command {
                command,
                status,
                output,
            } => LabError::Command {
                command,
                status,
                output: format!(
                    "{output}\nserver log:\n{}",
                    process::log_tail(&self.log(), 30)
                ),
            },
            other => other,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Nothing here may panic: the drop may run while a failed test unwinds.
        if self.running {
            if let Err(error) = stop_in(&self.dir) {
                crate::warn(&error);
            }
        }
    }
}

/// Stops the cluster in `dir` at once (`pg_ctl stop -m immediate`) if its
/// server runs; for a cluster whose [`Cluster`] is gone (a folder a dead
/// process left).
pub fn stop_in(dir: &Path) -> Result<(), LabError> {
    let data = dir.join("data");
    if !data.join("postmaster.pid").exists() {
        return Ok(());
    }
    run(owner_command(dir, &Binaries::find()?.tool("pg_ctl"))?
        .arg("-D")
        .arg(&data)
        .args(["stop", "-m", "immediate", "-s"]))
    .map(drop)
}

/// Whether the cluster's owner can pass through every folder from `/` down
/// to `dir` (always, when the caller is not root and owns the cluster itself).
pub fn owner_can_reach(dir: &Path) -> bool {
    !is_root()
        || dir.ancestors().skip(1).all(|folder| {
            folder
                .metadata()
                .is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0)
        })
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A command run as the cluster's owner, from inside the cluster folder (the
/// PostgreSQL programs fail when they cannot read the current folder).
fn owner_command(dir: &Path, program: &Path) -> Result<Command, LabError> {
    let mut command = if is_root() {
        let mut runuser = Command::new(require("runuser", "util-linux")?);
        runuser.args(["-u", OWNER, "--"]).arg(program);
        runuser
    } else {
        Command::new(program)
    };
    command.current_dir(dir);
    Ok(command)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, LabError> {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| LabError::io("bind a free port on 127.0.0.1", error))
}
