//! `cargo xtask bench ssh`: the wall time to run `true` on 1, 10 and 50 lab
//! hosts through ServOS's SSH layer (`servos-api/examples/bench_ssh.rs`), side
//! by side in the same run with an OpenSSH client loop (without and with
//! ControlMaster) and Ansible's ad-hoc `command` module, against the same hosts
//! and the same pinned host keys.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use servos_lab::{Host, Lab, LabOptions};

use crate::{cmd, debian, target_dir};

/// Host counts measured.
const SIZES: [usize; 3] = [1, 10, 50];
/// Rounds per measurement; the median is reported.
const ROUNDS: usize = 5;
/// Ansible is slow to start; fewer rounds keep the run short.
const ANSIBLE_ROUNDS: usize = 3;

/// Runs the SSH benchmark.
pub fn run() -> Result<()> {
    debian::ensure(&[debian::OPENSSH_CLIENT, debian::OPENSSH_SERVER])?;
    let work = target_dir().join("servos-bench").join("ssh");
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let ansible = ansible(&work)?;
    cmd::build_release(&["-p", "servos-api", "--example", "bench_ssh"])?;
    let example = target_dir()
        .join("release")
        .join("examples")
        .join("bench_ssh");

    let (private_key, public_key) = servos_lab::client_key(&work.join("keys"));
    let key_file = work.join("id_ed25519");
    fs::write(&key_file, &private_key).context("write the client key")?;
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600))?;
    let largest = SIZES.iter().copied().max().unwrap_or(1);
    eprintln!("xtask: starting {largest} lab hosts (sshd only)");
    let started = Instant::now();
    let lab = Lab::up(
        &LabOptions {
            hosts: largest,
            docker: false,
        },
        &public_key,
    )?;
    eprintln!("xtask: lab up in {:.1} s", started.elapsed().as_secs_f64());

    let mut table = Vec::new();
    for size in SIZES {
        let hosts = &lab.hosts()[..size];
        let files = HostFiles::write(&work, size, hosts)?;
        let mut row = vec![size.to_string()];
        let servos = cmd::read_stdout(
            Command::new(&example)
                .env("SERVOS_BENCH_SSH_HOSTS", &files.list)
                .env("SERVOS_BENCH_SSH_KEY", &key_file),
        )?;
        for mode in ["cold-sequential", "cold-parallel", "warm-parallel"] {
            row.push(servos_millis(&servos, mode)?);
        }
        let ssh = OpenSsh {
            key: &key_file,
            known_hosts: &files.known_hosts,
        };
        row.push(format_ms(median(ROUNDS, || ssh.loop_true(hosts, None))?));
        let sockets = ssh.start_masters(&work, hosts)?;
        let warm = median(ROUNDS, || ssh.loop_true(hosts, Some(&sockets)));
        ssh.stop_masters(hosts, &sockets);
        row.push(format_ms(warm?));
        row.push(format_ms(median(ANSIBLE_ROUNDS, || {
            ansible.command_true(&files, &key_file, size, false)
        })?));
        // Ansible's default: ControlPersist connections, opened by a first run.
        ansible.command_true(&files, &key_file, size, true)?;
        row.push(format_ms(median(ANSIBLE_ROUNDS, || {
            ansible.command_true(&files, &key_file, size, true)
        })?));
        table.push(row);
    }
    drop(lab);
    print_table(&table);
    Ok(())
}

/// The per-size files: the host list for ServOS, an inventory for Ansible,
/// and a known_hosts file holding each host's key for OpenSSH and Ansible.
struct HostFiles {
    list: PathBuf,
    inventory: PathBuf,
    known_hosts: PathBuf,
}

impl HostFiles {
    fn write(dir: &Path, size: usize, hosts: &[Host]) -> Result<Self> {
        let files = Self {
            list: dir.join(format!("hosts-{size}.txt")),
            inventory: dir.join(format!("inventory-{size}.ini")),
            known_hosts: dir.join(format!("known_hosts-{size}")),
        };
        let mut list = String::new();
        let mut inventory = String::from("[lab]\n");
        let mut known = String::new();
        for host in hosts {
            let fingerprint = host.host_key_fingerprint();
            list += &format!(
                "{} {} {} {fingerprint}\n",
                host.address, host.ssh_port, host.user
            );
            inventory += &format!(
                "{} ansible_port={} ansible_user={}\n",
                host.address, host.ssh_port, host.user
            );
            known += &format!("{}\n", host.known_hosts_line());
        }
        fs::write(&files.list, list)?;
        fs::write(&files.inventory, inventory)?;
        fs::write(&files.known_hosts, known)?;
        Ok(files)
    }
}

/// The OpenSSH client, pinned to the lab's host keys.
struct OpenSsh<'a> {
    key: &'a Path,
    known_hosts: &'a Path,
}

impl OpenSsh<'_> {
    fn command(&self) -> Command {
        let mut ssh = servos_lab::ssh_client(self.key);
        ssh.args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()));
        ssh
    }

    /// `ssh host true` for each host in turn, over its master socket if given.
    fn loop_true(&self, hosts: &[Host], sockets: Option<&[PathBuf]>) -> Result<()> {
        for (i, host) in hosts.iter().enumerate() {
            let mut ssh = self.command();
            if let Some(sockets) = sockets {
                ssh.arg("-S").arg(&sockets[i]);
            }
            ssh.args(["-p", &host.ssh_port.to_string()])
                .arg(format!("{}@{}", host.user, host.address))
                .arg("true");
            cmd::run_quiet(&mut ssh)?;
        }
        Ok(())
    }

    /// Opens one ControlMaster connection per host.
    fn start_masters(&self, dir: &Path, hosts: &[Host]) -> Result<Vec<PathBuf>> {
        let mut sockets = Vec::with_capacity(hosts.len());
        for (i, host) in hosts.iter().enumerate() {
            let socket = dir.join(format!("cm-{i}.sock"));
            let _ = fs::remove_file(&socket);
            let mut ssh = self.command();
            ssh.args(["-M", "-f", "-N", "-o", "ControlPersist=yes", "-S"])
                .arg(&socket)
                .args(["-p", &host.ssh_port.to_string()])
                .arg(format!("{}@{}", host.user, host.address));
            cmd::run_quiet(&mut ssh)?;
            sockets.push(socket);
        }
        Ok(sockets)
    }

    /// Ends the ControlMaster connections.
    fn stop_masters(&self, hosts: &[Host], sockets: &[PathBuf]) {
        for (host, socket) in hosts.iter().zip(sockets) {
            let mut ssh = self.command();
            ssh.arg("-S")
                .arg(socket)
                .args(["-O", "exit"])
                .arg(format!("{}@{}", host.user, host.address))
                .stderr(Stdio::null());
            let _ = ssh.status();
        }
    }
}

/// ansible-core in a virtual environment under the target folder.
pub(super) struct Ansible {
    bin: PathBuf,
    /// Its home (temporary files, ControlPersist sockets), also under the target folder.
    home: PathBuf,
}

/// Installs ansible-core (`pip install ansible-core`) into a virtual
/// environment under `dir` when it is not there yet.
pub(super) fn ansible(dir: &Path) -> Result<Ansible> {
    let venv = dir.join("ansible-venv");
    let bin = venv.join("bin").join("ansible");
    if !bin.is_file() {
        eprintln!("xtask: installing ansible-core into {}", venv.display());
        cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        cmd::run(Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "ansible-core",
        ]))?;
    }
    if !bin.is_file() {
        bail!(
            "pip installed ansible-core but {} is missing",
            bin.display()
        );
    }
    Ok(Ansible {
        bin,
        home: dir.join("ansible-home"),
    })
}

impl Ansible {
    /// `ansible-playbook` with this home, pipelining and Ansible's default
    /// ControlPersist connections.
    pub(super) fn playbook(&self) -> Command {
        let mut command = Command::new(self.bin.with_file_name("ansible-playbook"));
        command
            .env("ANSIBLE_HOST_KEY_CHECKING", "True")
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
            .env("ANSIBLE_HOME", &self.home)
            .env("ANSIBLE_LOCAL_TEMP", self.home.join("tmp"))
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", self.home.join("cp"))
            .env(
                "ANSIBLE_SSH_ARGS",
                "-o ControlMaster=auto -o ControlPersist=60s",
            )
            .stdin(Stdio::null());
        command
    }

    /// `ansible all -m command -a true`, with as many forks as hosts; over
    /// Ansible's default ControlPersist connections, or a new connection per host.
    fn command_true(
        &self,
        files: &HostFiles,
        key: &Path,
        forks: usize,
        control_master: bool,
    ) -> Result<()> {
        let ssh_args = format!(
            "-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o IdentitiesOnly=yes",
            files.known_hosts.display()
        );
        let connection_args = if control_master {
            "-o ControlMaster=auto -o ControlPersist=60s"
        } else {
            "-o ControlMaster=no"
        };
        cmd::run_quiet(
            Command::new(&self.bin)
                .arg("all")
                .arg("-i")
                .arg(&files.inventory)
                .args(["-m", "command", "-a", "true", "-f", &forks.to_string()])
                .arg("--private-key")
                .arg(key)
                .arg(format!("--ssh-common-args={ssh_args}"))
                .env("ANSIBLE_HOST_KEY_CHECKING", "True")
                .env("ANSIBLE_PIPELINING", "True")
                .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
                .env("ANSIBLE_HOME", &self.home)
                .env("ANSIBLE_LOCAL_TEMP", self.home.join("tmp"))
                .env("ANSIBLE_SSH_CONTROL_PATH_DIR", self.home.join("cp"))
                .env("ANSIBLE_SSH_ARGS", connection_args)
                .stdin(Stdio::null()),
        )
    }
}

/// The median wall time of `rounds` runs of `f`.
fn median(rounds: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        f()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[rounds / 2])
}

fn format_ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The milliseconds the ServOS example printed for `mode`.
fn servos_millis(output: &str, mode: &str) -> Result<String> {
    output
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next() == Some("servos") && fields.next() == Some(mode))
                .then(|| fields.nth(1).map(str::to_owned))
                .flatten()
        })
        .with_context(|| format!("the SSH benchmark printed no {mode} line:\n{output}"))
}

fn print_table(rows: &[Vec<String>]) {
    println!("\nwall time to run `true` on every host, ms (median; pinned host keys everywhere)");
    let header = [
        "hosts",
        "servos cold seq",
        "servos cold par",
        "servos warm par",
        "openssh loop",
        "openssh loop CM",
        "ansible -f N",
        "ansible -f N CM",
    ];
    let line = |cells: &[&str]| {
        println!(
            "{}",
            cells
                .iter()
                .map(|c| format!("{c:>16}"))
                .collect::<Vec<_>>()
                .join("")
        )
    };
    line(&header);
    for row in rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
