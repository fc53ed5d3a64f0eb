//! One lab host: a network namespace with its own address, sshd and, optionally, dockerd; and the ways tests reach into it.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use crate::plan::{self, HostAddresses, NETNS_DIR};
use crate::process::{self, PATH};
use crate::sshd::{HostKeyType, Sshd};
use crate::tools::Tools;
use crate::{disk, docker, network, LabError};

/// One host of a lab: a network namespace reachable from the root namespace (and
/// from the other hosts) at [`Host::address`], with an sshd on port 22 that lets
/// `root` in with the lab's authorized key.
pub struct Host {
    /// The host's name: also its network namespace, its root-side interface and its directory.
    pub name: String,
    /// The host's address (on `eth0` inside its namespace).
    pub address: Ipv4Addr,
    /// The root namespace's side of the host's veth pair: its default gateway.
    pub gateway: Ipv4Addr,
    /// The port sshd listens on at [`Host::address`].
    pub ssh_port: u16,
    /// The user the authorized key logs in as: `root`.
    pub user: String,
    /// An address of the host's network that nothing answers: connections to it fail or time out.
    pub unreachable_address: Ipv4Addr,
    /// The host's Docker socket (`DOCKER_HOST=unix://<it>` in its SSH sessions), when it runs Docker.
    pub docker_socket: Option<PathBuf>,
    /// The host's directory: sshd's and Docker's configuration, keys, state and logs.
    pub dir: PathBuf,
    /// The handle of the host's network namespace (`/run/netns/<name>`).
    netns: PathBuf,
    /// The cgroup its containers run below.
    cgroup_parent: String,
    /// The host's sshd.
    sshd: Sshd,
    /// containerd and dockerd, when the host runs Docker.
    daemons: Mutex<Vec<Child>>,
    /// The programs the host's commands use.
    tools: Arc<Tools>,
}

impl Host {
    /// The host `index` of the lab in `slot`, not started yet. Its namespace and veth
    /// pair must exist (see [`network::create_links`]).
    pub(crate) fn new(slot: u16, index: usize, docker: bool, tools: &Arc<Tools>) -> Self {
        let name = plan::host_name(slot, index);
        let addresses = plan::host_addresses(slot, index);
        let dir = plan::lab_dir(slot).join(&name);
        let netns = Path::new(NETNS_DIR).join(&name);
        let docker_socket = docker.then(|| docker::socket(&dir));
        let sshd = Sshd::new(
            &name,
            &dir,
            &netns,
            addresses.address,
            22,
            docker_socket.clone(),
            tools,
        );
        Self {
            address: addresses.address,
            gateway: addresses.gateway,
            ssh_port: 22,
            user: "root".to_owned(),
            unreachable_address: addresses.unreachable,
            docker_socket,
            dir,
            netns,
            cgroup_parent: format!("{}/{name}", plan::cgroup_parent(slot)),
            sshd,
            daemons: Mutex::new(Vec::new()),
            tools: Arc::clone(tools),
            name,
        }
    }

    /// The addresses this host was given.
    pub(crate) fn addresses(&self) -> HostAddresses {
        HostAddresses {
            gateway: self.gateway,
            address: self.address,
            unreachable: self.unreachable_address,
        }
    }

    /// Configures the namespace, starts sshd and, when the host runs Docker, containerd
    /// and dockerd with the test image from `image_tar`; returns when all answer.
    pub(crate) fn start(
        &mut self,
        authorized_key: &str,
        image_tar: Option<&Path>,
    ) -> Result<(), LabError> {
        // Others may pass through, not list: the node agent ServOS installs
        // drops to the `servos` user and must reach its state directory
        // below (its own files keep their modes).
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&self.dir)
            .map_err(|error| LabError::io(format!("create {}", self.dir.display()), error))?;
        network::configure_host(&self.tools, &self.name, self.addresses())?;
        self.sshd.start(authorized_key)?;
        if let Some(image_tar) = image_tar {
            docker::start(
                &self.tools,
                &self.dir,
                &self.netns,
                &self.cgroup_parent,
                image_tar,
                self.daemons
                    .get_mut()
                    .unwrap_or_else(PoisonError::into_inner),
            )?;
        }
        Ok(())
    }

    /// Reaps the host's daemons after the teardown killed them (or kills them now).
    pub(crate) fn reap(&mut self) {
        self.sshd.stop();
        let daemons = self
            .daemons
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for mut daemon in daemons.drain(..) {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }

    /// Lets the host's daemons run on after this process ends.
    pub(crate) fn detach(&mut self) {
        self.sshd.detach();
        self.daemons
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The fingerprint of the host key sshd presents, as `ssh-keygen -lf` prints it
    /// (`SHA256:<base64>`).
    ///
    /// # Panics
    /// When the key cannot be read or `ssh-keygen` fails.
    pub fn host_key_fingerprint(&self) -> String {
        self.sshd
            .host_key_fingerprint()
            .unwrap_or_else(|error| panic!("host key fingerprint of {}: {error}", self.name))
    }

    /// The host public key sshd presents, as one `<type> <base64> <comment>` line.
    ///
    /// # Panics
    /// When the key cannot be read.
    pub fn host_public_key(&self) -> String {
        self.sshd
            .host_public_key()
            .unwrap_or_else(|error| panic!("host public key of {}: {error}", self.name))
    }

    /// A `known_hosts` line that pins this host's current host key.
    pub fn known_hosts_line(&self) -> String {
        let host = if self.ssh_port == 22 {
            self.address.to_string()
        } else {
            format!("[{}]:{}", self.address, self.ssh_port)
        };
        format!("{host} {}", self.host_public_key())
    }

    /// Stops sshd (closing its open connections), gives it a new host key of type
    /// `key`, and starts it again on the same address and port; returns once it
    /// answers. The log is kept and continues.
    ///
    /// # Panics
    /// When sshd does not come back, with its log in the message.
    pub fn replace_host_key(&self, key: HostKeyType) {
        if let Err(error) = self.sshd.replace_host_key(key) {
            panic!("replacing the host key of {}: {error}", self.name);
        }
    }

    /// Restarts the host's dockerd as a server's reboot or an upgrade of Docker does:
    /// its containers stop with it, and those whose restart policy says so start again
    /// when it is back; returns once it answers.
    ///
    /// # Panics
    /// When the host runs no Docker or dockerd does not come back, with its log in the
    /// message.
    pub fn restart_dockerd(&self) {
        // A panic elsewhere leaves the handles as they were; keep using them.
        let mut daemons = self.daemons.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = docker::restart_dockerd(
            &self.tools,
            &self.dir,
            &self.netns,
            &self.cgroup_parent,
            &mut daemons,
            || Ok(()),
        ) {
            panic!("restarting dockerd of {}: {error}", self.name);
        }
    }

    /// Puts the host's Docker data root on a small disk, as a server with little room
    /// has: stops dockerd, moves the data root (images, containers) onto a tmpfs of
    /// its own that leaves `free` bytes free, and starts dockerd again on it; returns
    /// the tmpfs size. The teardown unmounts it.
    ///
    /// # Panics
    /// When the host runs no Docker, its data root is on a small disk already, or
    /// dockerd does not come back, with the reason in the message.
    pub fn limit_docker_disk(&self, free: u64) -> u64 {
        let mut daemons = self.daemons.lock().unwrap_or_else(PoisonError::into_inner);
        let data_root = docker::data_root(&self.dir);
        let mut size = 0;
        let moved = docker::restart_dockerd(
            &self.tools,
            &self.dir,
            &self.netns,
            &self.cgroup_parent,
            &mut daemons,
            || {
                size = disk::move_onto_tmpfs(&data_root, free)?;
                Ok(())
            },
        );
        if let Err(error) = moved {
            panic!(
                "putting the Docker data of {} on a small disk: {error}",
                self.name
            );
        }
        size
    }

    /// The bytes still free on the file system of the host's Docker data root.
    ///
    /// # Panics
    /// When the data root cannot be examined.
    pub fn docker_disk_free(&self) -> u64 {
        disk::free_bytes(&docker::data_root(&self.dir)).unwrap_or_else(|error| {
            panic!("free space of the Docker data of {}: {error}", self.name)
        })
    }

    /// The host's Docker data root (dockerd's `--data-root`).
    pub fn docker_data_root(&self) -> PathBuf {
        docker::data_root(&self.dir)
    }

    /// sshd's log so far (DEBUG1: it shows every public key a client offers).
    pub fn sshd_log(&self) -> String {
        self.sshd.log()
    }

    /// How many public key authentication requests clients sent so far; see the log's
    /// `userauth-request ... method publickey` lines. The OpenSSH client sends two for
    /// a good key (a query, then the signed request); one that refuses the host key, none.
    pub fn publickey_attempts(&self) -> usize {
        self.sshd.publickey_attempts()
    }

    /// Where the ServOS agent keeps its state on this host
    /// (`SERVOS_AGENT_STATE_DIR` of its SSH sessions).
    pub fn agent_state_dir(&self) -> PathBuf {
        self.dir.join("agent/state")
    }

    /// Where the ServOS agent's binary is installed on this host
    /// (`SERVOS_AGENT_BIN` of its SSH sessions).
    pub fn agent_bin(&self) -> PathBuf {
        self.dir.join("agent/servos-agent")
    }

    /// Runs `argv` inside the host's network namespace (`nsenter --net=/run/netns/<name>`),
    /// with `DOCKER_HOST` set to the host's daemon when it has one. A command that
    /// cannot start gives exit code 127 and the reason on stderr.
    pub fn exec(&self, argv: &[&str]) -> Output {
        self.command(argv)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| {
                process::failed_output(&format!("cannot run {argv:?} in {}: {error}", self.name))
            })
    }

    /// `argv` ready to run inside the host's network namespace, as [`Host::exec`]
    /// runs it, for a caller that spawns it (a server left running, its output
    /// in a file).
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut command = Command::new(&self.tools.nsenter);
        command
            .arg(format!("--net={}", self.netns.display()))
            .arg("--")
            .args(argv)
            .env("PATH", PATH)
            .env_remove("DOCKER_CONTEXT");
        if let Some(socket) = &self.docker_socket {
            command.env("DOCKER_HOST", format!("unix://{}", socket.display()));
        }
        command
    }

    /// The live `servos-agent run` processes in this host's network namespace
    /// (not their supervisor).
    pub fn agent_pids(&self) -> Vec<u32> {
        let Some(namespace) = process::namespace_id(&self.netns) else {
            return Vec::new();
        };
        process::processes()
            .into_iter()
            .filter(|entry| !entry.zombie)
            .map(|entry| entry.pid)
            .filter(|pid| {
                let line = process::command_line(*pid);
                let mut args = line.split(' ');
                args.next()
                    .is_some_and(|program| program.ends_with("servos-agent"))
                    && args.next() == Some("run")
                    && process::namespace_id(Path::new(&format!("/proc/{pid}/ns/net")))
                        == Some(namespace)
            })
            .collect()
    }

    /// Runs the `docker` client with `args` against this host's daemon. On a host
    /// without Docker it gives exit code 127 and says so on stderr.
    pub fn docker(&self, args: &[&str]) -> Output {
        let (Some(socket), Ok(docker)) = (&self.docker_socket, self.tools.docker()) else {
            return process::failed_output(&format!(
                "{} runs no Docker daemon (LabOptions::docker was false)",
                self.name
            ));
        };
        docker::cli(docker, socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| process::failed_output(&format!("cannot run docker: {error}")))
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("ssh_port", &self.ssh_port)
            .field("docker_socket", &self.docker_socket)
            .finish_non_exhaustive()
    }
}
