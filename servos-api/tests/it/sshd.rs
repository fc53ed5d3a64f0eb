//! A private OpenSSH server on loopback for one test, with its own host key, port and log.
//!
//! [`Sshd::start`] runs `/usr/sbin/sshd -D` (Debian package `openssh-server`) from a
//! fresh temporary directory: one host key, one authorized client key, the current
//! user only, public key authentication only, and a DEBUG1 log that shows every
//! public key the clients offered. [`Sshd::replace_host_key`] restarts it on the same
//! port with a new host key, as a rebuilt server or a man in the middle would present.
//! The server and its open connections end when the fixture is dropped, also when
//! the test panics.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The OpenSSH server the fixture runs.
const SSHD: &str = "/usr/sbin/sshd";
/// How long a start may take before the fixture gives up, with the log in the message.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How many free ports a start tries when another process takes the chosen one first.
const PORT_TRIES: usize = 20;
/// The pause between two readiness checks.
const POLL: Duration = Duration::from_millis(20);

/// The algorithm of the host key the server presents.
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

/// A running private `sshd` on `127.0.0.1:port`, stopped when dropped.
pub struct Sshd {
    /// The loopback port the server listens on; kept by [`Sshd::replace_host_key`].
    pub port: u16,
    /// The server's directory: host key, `authorized_keys`, `sshd_config`, pid file and `sshd.log`.
    pub dir: TempDir,
    /// The only user the server lets in: the user the tests run as.
    pub user: String,
    /// The `sshd -D` listener; `None` only while it is being replaced.
    child: Option<Child>,
}

impl Sshd {
    /// Starts a server that presents a new `host_key` of that type and accepts the
    /// client key `authorized_public_key` (an `authorized_keys` line) for [`Sshd::user`];
    /// returns once it answers with its SSH banner. Panics with the server's log when
    /// it does not start.
    pub fn start(host_key: HostKeyType, authorized_public_key: &str) -> Sshd {
        assert!(
            Path::new(SSHD).is_file(),
            "{SSHD} is missing: install the Debian package openssh-server \
             (`cargo xtask test` installs it)"
        );
        ensure_privilege_separation_dir();
        let dir = tempfile::Builder::new()
            .prefix("servos-sshd-")
            .tempdir()
            .expect("a temporary directory for sshd");
        let mut sshd = Sshd {
            port: 0,
            dir,
            user: current_user(),
            child: None,
        };
        sshd.generate_host_key(host_key);
        let mut authorized = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(sshd.path("authorized_keys"))
            .expect("create authorized_keys");
        writeln!(authorized, "{}", authorized_public_key.trim()).expect("write authorized_keys");
        for _ in 0..PORT_TRIES {
            if sshd.launch(free_port(), Instant::now() + READY_WITHIN) {
                return sshd;
            }
        }
        panic!(
            "sshd found no free port in {PORT_TRIES} tries; its log:\n{}",
            sshd.log()
        );
    }

    /// The fingerprint of the host key the server presents, as `ssh-keygen -lf`
    /// prints it (`SHA256:<base64>`).
    pub fn host_key_fingerprint(&self) -> String {
        let listed = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.path("host_key.pub"))
            .output()
            .expect("ssh-keygen (Debian package openssh-client) lists the host key");
        assert!(
            listed.status.success(),
            "ssh-keygen -lf failed: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -lf prints the fingerprint as its second field")
            .to_owned()
    }

    /// The host public key the server presents, as one `<type> <base64> <comment>` line.
    pub fn host_public_key(&self) -> String {
        fs::read_to_string(self.path("host_key.pub"))
            .expect("read the host public key")
            .trim()
            .to_owned()
    }

    /// Stops the server (closing its open connections), generates a new host key of
    /// type `host_key` in place of the old one, and starts the server again on the
    /// same port; returns once the new server answers. The log is kept and continues.
    pub fn replace_host_key(&mut self, host_key: HostKeyType) {
        self.stop();
        for name in ["host_key", "host_key.pub"] {
            fs::remove_file(self.path(name)).expect("remove the old host key");
        }
        self.generate_host_key(host_key);
        // The old listener is gone, but give the kernel a moment to free the port.
        let deadline = Instant::now() + READY_WITHIN;
        while !self.launch(self.port, deadline) {
            assert!(
                Instant::now() < deadline,
                "port {} stayed busy after sshd stopped; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// The server's log so far (all its starts, DEBUG1).
    pub fn log(&self) -> String {
        match fs::read(self.path("sshd.log")) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) if error.kind() == ErrorKind::NotFound => String::new(),
            Err(error) => panic!("cannot read the sshd log: {error}"),
        }
    }

    /// How many public key authentication requests clients sent so far: the log's
    /// `userauth-request for user <u> service ssh-connection method publickey` lines
    /// (the method `publickey-hostbound-v00@openssh.com` included), one per offered
    /// key or signature, whether the key was accepted or not. The OpenSSH client
    /// sends two for a good key (a query, then the signed request); a client that
    /// refuses the host key sends none.
    pub fn publickey_attempts(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| {
                line.contains("userauth-request for user ") && line.contains(" method publickey")
            })
            .count()
    }

    /// A file of the server's directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Generates `host_key` and `host_key.pub` (neither may exist).
    fn generate_host_key(&self, host_key: HostKeyType) {
        keygen(
            &self.path("host_key"),
            host_key.keygen_args(),
            "servos-test-host",
        );
    }

    /// Writes the configuration for `port`, starts `sshd -D` and waits until it
    /// serves. Returns false when it could not bind the port (the caller tries again),
    /// panics with the log on any other failure or after `deadline`.
    fn launch(&mut self, port: u16, deadline: Instant) -> bool {
        let dir = self.dir.path().display().to_string();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {dir}/host_key\n\
             PidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             UsePAM no\n\
             PermitRootLogin yes\n\
             AllowUsers {user}\n\
             LogLevel DEBUG1\n",
            user = self.user,
        );
        fs::write(self.path("sshd_config"), config).expect("write sshd_config");
        let log_path = self.path("sshd.log");
        // Only what this start writes counts: the log may hold earlier starts.
        let log_start = fs::metadata(&log_path).map_or(0, |meta| meta.len());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open the sshd log");
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {SSHD} (openssh-server): {error}"));
        let listening = format!("Server listening on 127.0.0.1 port {port}.");
        loop {
            let new_log = read_from(&log_path, log_start);
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    if new_log.contains("Address already in use")
                        || new_log.contains("Cannot bind any address")
                    {
                        return false;
                    }
                    panic!("sshd exited ({status}) while starting; its log:\n{new_log}");
                }
                Err(error) => panic!("cannot wait for sshd: {error}"),
            }
            // Its own log line first, so that no other server on the port is taken for it.
            if new_log.contains(&listening) && answers_ssh(port) {
                self.port = port;
                self.child = Some(child);
                return true;
            }
            if Instant::now() >= deadline {
                end(child);
                panic!(
                    "sshd did not answer on port {port} within {READY_WITHIN:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the listener and the processes serving its open connections.
    fn stop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        // Frozen, the listener forks no new connection while they are collected.
        signal("STOP", &[pid]);
        let connections = children_of(pid);
        end(child);
        if !connections.is_empty() {
            signal("TERM", &connections);
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Nothing here may panic: the drop may run while a failed test unwinds.
        self.stop();
    }
}

/// Makes an Ed25519 client key with `ssh-keygen` in `dir` (created if missing);
/// returns (the private key in OpenSSH format, the public key line).
pub fn client_key(dir: &Path) -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    fs::create_dir_all(dir).expect("create the client key's directory");
    let path = loop {
        let candidate = dir.join(format!(
            "client_ed25519_{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        if !candidate.exists() {
            break candidate;
        }
    };
    keygen(&path, &["-t", "ed25519"], "servos-test-client");
    let private = fs::read_to_string(&path).expect("read the client private key");
    let public =
        fs::read_to_string(format!("{}.pub", path.display())).expect("read the client public key");
    (private, public.trim().to_owned())
}

/// Runs `ssh-keygen` to write a key without passphrase to `path` and `path.pub`.
fn keygen(path: &Path, type_args: &[&str], comment: &str) {
    let made = Command::new("ssh-keygen")
        .args(type_args)
        .args(["-q", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen is missing: install the Debian package openssh-client");
    assert!(
        made.status.success(),
        "ssh-keygen {type_args:?} -f {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&made.stderr)
    );
}

/// Creates `/run/sshd`, the empty directory sshd's unprivileged half chroots to
/// (the Debian service makes it at boot; tests do not run the service).
fn ensure_privilege_separation_dir() {
    let dir = Path::new("/run/sshd");
    if let Err(error) = fs::DirBuilder::new().mode(0o755).create(dir) {
        assert!(
            error.kind() == ErrorKind::AlreadyExists || dir.is_dir(),
            "sshd needs {}: {error}",
            dir.display()
        );
    }
}

/// The name of the user the tests run as.
fn current_user() -> String {
    let id = Command::new("id")
        .arg("-un")
        .output()
        .expect("`id -un` names the current user");
    let user = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    assert!(
        id.status.success() && !user.is_empty(),
        "`id -un` failed: {}",
        String::from_utf8_lossy(&id.stderr)
    );
    user
}

/// A loopback port that was free a moment ago (sshd may still lose it to another
/// process; [`Sshd::start`] then tries another).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// Whether `127.0.0.1:port` accepts a connection and sends an SSH-2.0 banner.
fn answers_ssh(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
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

/// The text of the file at `path` from byte `start` on (empty when unreadable).
fn read_from(path: &Path, start: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(start).map_or(bytes.len(), |start| start.min(bytes.len()));
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Kills and reaps a child, ignoring errors (it may be gone already).
fn end(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends signal `name` (as `kill -s` spells it) to processes that are not our
/// children, ignoring errors (they may be gone already).
fn signal(name: &str, pids: &[u32]) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(r#"sig=$1; shift; kill -s "$sig" "$@""#)
        .arg("sh")
        .arg(name)
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The processes whose parent is `pid`, from `/proc/<pid>/stat`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let candidate: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(format!("/proc/{candidate}/stat")).ok()?;
            // `pid (comm) state ppid ...`; the name may hold spaces and parentheses.
            let after_name = &stat[stat.rfind(')')? + 1..];
            let parent: u32 = after_name.split_whitespace().nth(1)?.parse().ok()?;
            (parent == pid).then_some(candidate)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `ssh -i <key> user@127.0.0.1 true` against `sshd` with `options`;
    /// returns whether it succeeded, and its error output.
    fn ssh_true(sshd: &Sshd, key: &Path, options: &[&str]) -> (bool, String) {
        let out = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .args(["-o", "ConnectTimeout=10", "-i"])
            .arg(key)
            .args(options.iter().flat_map(|option| ["-o", option]))
            .args(["-p", &sshd.port.to_string()])
            .arg(format!("{}@127.0.0.1", sshd.user))
            .arg("true")
            .stdin(Stdio::null())
            .output()
            .expect("ssh (Debian package openssh-client) runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A client key written where `ssh -i` can use it.
    fn client_key_file(dir: &Path) -> (PathBuf, String) {
        let (private, public) = client_key(dir);
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 "), "{public}");
        let path = dir.join("id_for_ssh");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create the key file");
        file.write_all(private.as_bytes())
            .expect("write the key file");
        (path, public)
    }

    const TRUST_ANY_HOST: [&str; 2] = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"];

    #[test]
    fn sshd_accepts_the_client_key_with_each_host_key_type() {
        let client = tempfile::tempdir().expect("client dir");
        let (key, public) = client_key_file(client.path());
        for (host_key, prefix) in [
            (HostKeyType::Ed25519, "ssh-ed25519 "),
            (HostKeyType::Rsa, "ssh-rsa "),
        ] {
            let sshd = Sshd::start(host_key, &public);
            assert!(sshd.host_public_key().starts_with(prefix));
            assert!(sshd.host_key_fingerprint().starts_with("SHA256:"));
            assert!(sshd.dir.path().join("sshd.pid").is_file());
            assert_eq!(sshd.publickey_attempts(), 0, "{}", sshd.log());
            let (ok, stderr) = ssh_true(&sshd, &key, &TRUST_ANY_HOST);
            assert!(ok, "ssh failed: {stderr}\nsshd log:\n{}", sshd.log());
            assert!(sshd.publickey_attempts() >= 1, "{}", sshd.log());
            assert!(sshd.log().contains("Accepted publickey for "));
        }
    }

    #[test]
    fn sshd_with_a_replaced_host_key_gets_no_client_key() {
        let client = tempfile::tempdir().expect("client dir");
        let (key, public) = client_key_file(client.path());
        let mut sshd = Sshd::start(HostKeyType::Ed25519, &public);
        let port = sshd.port;
        let known_hosts = client.path().join("known_hosts");
        fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", sshd.host_public_key()),
        )
        .expect("write known_hosts");
        let pinned = [
            "StrictHostKeyChecking=yes".to_owned(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
        ];
        let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
        let (ok, stderr) = ssh_true(&sshd, &key, &pinned);
        assert!(ok, "pinned ssh failed: {stderr}\nsshd log:\n{}", sshd.log());
        let old = sshd.host_key_fingerprint();

        for replacement in [HostKeyType::Ed25519, HostKeyType::Rsa] {
            sshd.replace_host_key(replacement);
            assert_eq!(sshd.port, port);
            assert_ne!(sshd.host_key_fingerprint(), old);
            let before = sshd.publickey_attempts();
            let (ok, stderr) = ssh_true(&sshd, &key, &pinned);
            assert!(!ok, "ssh trusted a replaced host key");
            assert!(stderr.contains("Host key verification failed"), "{stderr}");
            assert_eq!(sshd.publickey_attempts(), before, "{}", sshd.log());
            let (ok, stderr) = ssh_true(&sshd, &key, &TRUST_ANY_HOST);
            assert!(ok, "ssh failed: {stderr}\nsshd log:\n{}", sshd.log());
            assert!(sshd.publickey_attempts() > before);
        }
    }
}
