//! Each host's OpenSSH server: its own host key, one authorized key for root, public key authentication only, and a log that shows every key a client offers.
//!
//! The server runs as `nsenter --net=/run/netns/<host> sshd -D -e -f <config>` and
//! listens on the host's address only. It counts as started once its own log says it
//! listens and the address answers with an SSH banner.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::plan;
use crate::process::{self, PATH};
use crate::tools::{self, Tools};
use crate::LabError;

/// How long a start may take (many hosts start at once on a small machine).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// The pause between two readiness checks.
const POLL: Duration = Duration::from_millis(20);

/// The algorithm of the host key a server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyType {
    /// An Ed25519 key (`ssh-ed25519`).
    Ed25519,
    /// An RSA key (`ssh-rsa`, signed as `rsa-sha2-256/512`), 3072 bits.
    Rsa,
}

impl HostKeyType {
    /// The arguments that make `ssh-keygen` generate this kind of key.
    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            Self::Ed25519 => &["-t", "ed25519"],
            Self::Rsa => &["-t", "rsa", "-b", "3072"],
        }
    }
}

/// One host's sshd: its files live in the host's directory.
pub(crate) struct Sshd {
    /// The host's name, for messages.
    host: String,
    /// The host's directory: host key, `authorized_keys`, `sshd_config`, pid file, `sshd.log`.
    dir: PathBuf,
    /// The host's network namespace handle.
    netns: PathBuf,
    /// The address it listens on.
    address: SocketAddr,
    /// The host's Docker socket, exported to sessions as `DOCKER_HOST`.
    docker_socket: Option<PathBuf>,
    /// The programs it is started with.
    tools: Tools,
    /// The `sshd -D` listener; `None` before the start and while it is replaced.
    child: Mutex<Option<Child>>,
}

impl Sshd {
    /// A server not started yet.
    pub fn new(
        host: &str,
        dir: &Path,
        netns: &Path,
        address: Ipv4Addr,
        port: u16,
        docker_socket: Option<PathBuf>,
        tools: &Tools,
    ) -> Self {
        Self {
            host: host.to_owned(),
            dir: dir.to_owned(),
            netns: netns.to_owned(),
            address: SocketAddr::from((address, port)),
            docker_socket,
            tools: tools.clone(),
            child: Mutex::new(None),
        }
    }

    /// Writes a new Ed25519 host key, `authorized_keys` holding `authorized_key`, and
    /// the configuration; starts the server and returns once it answers.
    pub fn start(&self, authorized_key: &str) -> Result<(), LabError> {
        ensure_privilege_separation_dir()?;
        self.generate_host_key(HostKeyType::Ed25519)?;
        let path = self.path("authorized_keys");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| writeln!(file, "{}", authorized_key.trim()))
            .map_err(|error| LabError::io(format!("write {}", path.display()), error))?;
        self.write_config()?;
        self.launch(Instant::now() + READY_WITHIN)
    }

    /// Stops the server (and its open connections), replaces the host key with a new
    /// one of type `key`, and starts the server again on the same address; returns
    /// once it answers. The log is kept and continues.
    pub fn replace_host_key(&self, key: HostKeyType) -> Result<(), LabError> {
        self.stop();
        for name in ["host_key", "host_key.pub"] {
            let path = self.path(name);
            fs::remove_file(&path)
                .or_else(|error| match error.kind() {
                    ErrorKind::NotFound => Ok(()),
                    _ => Err(error),
                })
                .map_err(|error| LabError::io(format!("remove {}", path.display()), error))?;
        }
        self.generate_host_key(key)?;
        self.launch(Instant::now() + READY_WITHIN)
    }

    /// The server's log so far (all its starts, DEBUG1).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.path("sshd.log")).unwrap_or_default()).into_owned()
    }

    /// How many public key authentication requests clients sent so far: the log's
    /// `userauth-request for user <u> service ssh-connection method publickey` lines
    /// (`publickey-hostbound-v00@openssh.com` included), one per offered key or
    /// signature, accepted or not. The OpenSSH client sends two for a good key (a
    /// query, then the signed request); a client that refuses the host key sends none.
    pub fn publickey_attempts(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| {
                line.contains("userauth-request for user ") && line.contains(" method publickey")
            })
            .count()
    }

    /// The host public key the server presents, as one `<type> <base64> <comment>` line.
    pub fn host_public_key(&self) -> Result<String, LabError> {
        let path = self.path("host_key.pub");
        fs::read_to_string(&path)
            .map(|key| key.trim().to_owned())
            .map_err(|error| LabError::io(format!("read {}", path.display()), error))
    }

    /// The fingerprint of the host key, as `ssh-keygen -lf` prints it (`SHA256:<base64>`).
    pub fn host_key_fingerprint(&self) -> Result<String, LabError> {
        let listed = process::run(
            Command::new(&self.tools.ssh_keygen)
                .arg("-lf")
                .arg(self.path("host_key.pub")),
        )?;
        let text = String::from_utf8_lossy(&listed.stdout);
        text.split_whitespace()
            .nth(1)
            .map(str::to_owned)
            .ok_or_else(|| LabError::Command {
                command: "ssh-keygen -lf host_key.pub".to_owned(),
                status: "success".to_owned(),
                output: format!("no fingerprint in {text:?}"),
            })
    }

    /// Stops the listener and the processes serving its open connections; reaps it.
    pub fn stop(&self) {
        let Some(mut child) = self.child().take() else {
            return;
        };
        let pid = child.id();
        // Frozen, the listener forks no new connection while they are collected.
        process::signal(pid, Signal::SIGSTOP);
        let sessions = process::descendants(pid, &process::processes());
        let _ = child.kill();
        let _ = child.wait();
        for session in sessions {
            process::signal(session, Signal::SIGKILL);
        }
    }

    /// Forgets the listener without stopping it (the lab is kept running).
    pub fn detach(&self) {
        drop(self.child().take());
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        // A panic elsewhere leaves the handle as it was; keep using it.
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A file of the server's directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Generates `host_key` and `host_key.pub` (neither may exist).
    fn generate_host_key(&self, key: HostKeyType) -> Result<(), LabError> {
        keygen(
            &self.tools.ssh_keygen,
            &self.path("host_key"),
            key.keygen_args(),
            &format!("{}-host", self.host),
        )
    }

    /// Writes `sshd_config`.
    fn write_config(&self) -> Result<(), LabError> {
        let dir = self.dir.display();
        let mut config = format!(
            "ListenAddress {address}\n\
             Port {port}\n\
             HostKey {dir}/host_key\n\
             PidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             UsePAM no\n\
             PermitRootLogin prohibit-password\n\
             AllowUsers root\n\
             Subsystem sftp internal-sftp\n\
             # Benchmarks open many connections at once and many channels on each.\n\
             MaxStartups 200\n\
             MaxSessions 200\n\
             LogLevel DEBUG1\n",
            address = self.address.ip(),
            port = self.address.port(),
        );
        // One `SetEnv` line: sshd keeps only the first. Hosts share the machine's
        // file system, so programs that keep state under the XDG directories (the
        // reverse proxy's configuration and certificates) get a pair per host, and
        // each host its own empty HOME: the shell sshd starts then reads none of
        // this machine's root dot files (which may run slow things such as
        // `pyenv init` before every command) and `docker login` keeps no state
        // shared between hosts.
        let home = format!("{dir}/home");
        fs::create_dir_all(&home).map_err(|error| LabError::io(format!("create {home}"), error))?;
        let mut set_env = format!(
            "SetEnv HOME={home} XDG_CONFIG_HOME={dir}/xdg/config XDG_DATA_HOME={dir}/xdg/data"
        );
        if let Some(socket) = &self.docker_socket {
            set_env.push_str(&format!(" DOCKER_HOST=unix://{}", socket.display()));
        }
        // The node agent ServOS installs: its binary and state per host, and
        // the folder of its pinned classifier on the shared BPF file system.
        set_env.push_str(&format!(
            " SERVOS_AGENT_BIN={dir}/agent/servos-agent SERVOS_AGENT_STATE_DIR={dir}/agent/state \
             SERVOS_AGENT_BPF_ROOT={}",
            plan::bpf_dir(&self.host).display()
        ));
        config.push_str(&set_env);
        config.push('\n');
        let path = self.path("sshd_config");
        fs::write(&path, config)
            .map_err(|error| LabError::io(format!("write {}", path.display()), error))
    }

    /// Starts `sshd -D` in the host's namespace and waits until it serves. Retries
    /// while the address is still held by the previous server, until `deadline`.
    fn launch(&self, deadline: Instant) -> Result<(), LabError> {
        let what = format!("sshd on {} ({})", self.address, self.host);
        let log_path = self.path("sshd.log");
        let listening = format!(
            "Server listening on {} port {}.",
            self.address.ip(),
            self.address.port()
        );
        loop {
            // Only what this start writes counts: the log may hold earlier starts.
            let log_start = fs::metadata(&log_path).map_or(0, |meta| meta.len());
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|error| LabError::io(format!("open {}", log_path.display()), error))?;
            let mut child = Command::new(&self.tools.nsenter)
                .arg(format!("--net={}", self.netns.display()))
                .arg("--")
                .arg(&self.tools.sshd)
                // `-E <log>`, not `-e`: with `-e` each session's early debug lines go to
                // the session's stderr, which the client would receive.
                .arg("-D")
                .arg("-E")
                .arg(&log_path)
                .arg("-f")
                .arg(self.path("sshd_config"))
                .env_clear()
                .env("PATH", PATH)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                // Not in the caller's process group: a kept lab outlives the terminal's ^C.
                .process_group(0)
                .spawn()
                .map_err(|error| LabError::io(format!("start {what}"), error))?;
            loop {
                let new_log = process::read_from(&log_path, log_start);
                match child.try_wait() {
                    Ok(None) => {}
                    Ok(Some(status)) => {
                        let busy = new_log.contains("Address already in use")
                            || new_log.contains("Cannot bind any address");
                        if busy && Instant::now() < deadline {
                            std::thread::sleep(POLL);
                            break;
                        }
                        return Err(LabError::Exited {
                            what,
                            status: status.to_string(),
                            log: new_log,
                        });
                    }
                    Err(error) => return Err(LabError::io(format!("wait for {what}"), error)),
                }
                // Its own log line first, so that no other server is taken for it.
                if new_log.contains(&listening) && answers_ssh(self.address) {
                    *self.child() = Some(child);
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(LabError::NotReady {
                        what,
                        within: READY_WITHIN,
                        log: new_log,
                    });
                }
                std::thread::sleep(POLL);
            }
        }
    }
}

/// An OpenSSH client command (`ssh`, Debian package openssh-client) that reads no
/// user configuration, never prompts, offers only `key` and gives up connecting
/// after 10 s; callers add host key options, `-p`, the destination and the command.
pub fn ssh_client(key: &Path) -> Command {
    let mut ssh = Command::new("ssh");
    ssh.args([
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ])
    .args(["-o", "ConnectTimeout=10", "-i"])
    .arg(key)
    .stdin(Stdio::null());
    ssh
}

/// Makes an Ed25519 client key with `ssh-keygen` in `dir` (created if missing);
/// returns (the private key in OpenSSH format, the public key line).
///
/// # Panics
/// When `ssh-keygen` (Debian package openssh-client) is missing or fails, or `dir`
/// cannot be written.
pub fn client_key(dir: &Path) -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let keygen_path =
        tools::require("ssh-keygen", "openssh-client").unwrap_or_else(|error| panic!("{error}"));
    fs::create_dir_all(dir).unwrap_or_else(|error| panic!("create {}: {error}", dir.display()));
    let path = loop {
        let candidate = dir.join(format!(
            "client_ed25519_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        if !candidate.exists() {
            break candidate;
        }
    };
    keygen(
        &keygen_path,
        &path,
        &["-t", "ed25519"],
        "servos-test-client",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let private = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let public = fs::read_to_string(format!("{}.pub", path.display()))
        .unwrap_or_else(|error| panic!("read {}.pub: {error}", path.display()));
    (private, public.trim().to_owned())
}

/// Runs `ssh-keygen` to write a key without passphrase to `path` and `path.pub`.
fn keygen(
    ssh_keygen: &Path,
    path: &Path,
    type_args: &[&str],
    comment: &str,
) -> Result<(), LabError> {
    process::run(
        Command::new(ssh_keygen)
            .args(type_args)
            .args(["-q", "-N", "", "-C", comment, "-f"])
            .arg(path),
    )?;
    Ok(())
}

/// Creates `/run/sshd`, the empty directory sshd's unprivileged half chroots to
/// (the Debian service makes it at boot; the lab does not run the service).
fn ensure_privilege_separation_dir() -> Result<(), LabError> {
    let dir = Path::new("/run/sshd");
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.is_dir() => Ok(()),
        Err(error) => Err(LabError::io(format!("create {}", dir.display()), error)),
    }
}

/// Whether `address` accepts a connection and sends an SSH-2.0 banner.
pub(crate) fn answers_ssh(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .is_err()
    {
        return false;
    }
    let mut banner = Vec::new();
    let mut buf = [0_u8; 256];
    while banner.len() < 8 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => banner.extend_from_slice(&buf[..n]),
        }
    }
    banner.starts_with(b"SSH-2.0-")
}
