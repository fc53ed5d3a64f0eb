//! Integration tests of the lab: real namespaces, sshd, dockerd, the OpenSSH client and a private PostgreSQL; they need root.

mod docker_hosts;
mod postgres;
mod slots;
mod sshd;

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use servos_lab::{client_key, Host, Lab, LabOptions};
use tempfile::TempDir;

/// A client key written where `ssh -i` can use it.
struct ClientKey {
    /// Holds the key files and known_hosts files of one test.
    dir: TempDir,
    /// The private key file.
    path: PathBuf,
    /// The public key line.
    public: String,
}

impl ClientKey {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the client key");
        let (private, public) = client_key(dir.path());
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 "), "{public}");
        let path = dir.path().join("id_for_ssh");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| file.write_all(private.as_bytes()))
            .expect("write the key file");
        Self { dir, path, public }
    }

    /// `ssh` options that accept only `host`'s current host key.
    fn pinned(&self, host: &Host) -> Vec<String> {
        let known_hosts = self.dir.path().join(format!("known_hosts_{}", host.name));
        fs::write(&known_hosts, format!("{}\n", host.known_hosts_line()))
            .expect("write known_hosts");
        vec![
            "StrictHostKeyChecking=yes".to_owned(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".to_owned(),
        ]
    }
}

/// `ssh` options that accept any host key.
fn trust_any_host() -> Vec<String> {
    vec![
        "StrictHostKeyChecking=no".to_owned(),
        "UserKnownHostsFile=/dev/null".to_owned(),
    ]
}

/// Brings a lab up, failing the test with the reason (root or a package missing, ...).
fn lab(hosts: usize, docker: bool, key: &ClientKey) -> Lab {
    Lab::up(&LabOptions { hosts, docker }, &key.public)
        .unwrap_or_else(|error| panic!("the lab did not come up: {error}"))
}

/// Runs `ssh -i <key> root@<host> <command>` with `options`.
fn ssh(host: &Host, key: &ClientKey, options: &[String], command: &str) -> Output {
    servos_lab::ssh_client(&key.path)
        .args(options.iter().flat_map(|option| ["-o", option]))
        .args(["-p", &host.ssh_port.to_string()])
        .arg(format!("{}@{}", host.user, host.address))
        .arg(command)
        .output()
        .expect("ssh (Debian package openssh-client) runs")
}

/// Fails the test with everything a command printed unless it succeeded; returns its stdout.
fn succeeded(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The processes whose command line names `dir` (the lab's daemons).
fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = format!("{}/", dir.display());
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            let command_line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !zombie
                && String::from_utf8_lossy(&command_line)
                    .replace('\0', " ")
                    .contains(&needle)
        })
        .collect()
}
