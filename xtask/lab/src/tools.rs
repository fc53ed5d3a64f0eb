//! The programs the lab runs, found once, each tied to the Debian package that provides it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::PATH;
use crate::LabError;

/// Absolute paths of the programs a lab needs.
#[derive(Clone, Debug)]
pub(crate) struct Tools {
    /// `ip` (iproute2): namespaces, veth pairs, addresses, routes.
    pub ip: PathBuf,
    /// `iptables`: the FORWARD rules between the lab's hosts.
    pub iptables: PathBuf,
    /// `nsenter` (util-linux): starts the daemons inside a host's namespace.
    pub nsenter: PathBuf,
    /// `sshd` (openssh-server).
    pub sshd: PathBuf,
    /// `ssh-keygen` (openssh-client): host and client keys.
    pub ssh_keygen: PathBuf,
    /// The Docker programs, when the lab runs Docker.
    pub docker: Option<DockerTools>,
}

/// Absolute paths of the Docker programs (Debian package docker.io).
#[derive(Clone, Debug)]
pub(crate) struct DockerTools {
    /// `dockerd`.
    pub dockerd: PathBuf,
    /// `containerd`, one per host, started by the lab itself.
    pub containerd: PathBuf,
    /// The `docker` command line client.
    pub cli: PathBuf,
    /// `tar`, which packs the test image.
    pub tar: PathBuf,
    /// Whether dockerd is older than 23 and writes a trust key (`/etc/docker/key.json`
    /// unless its configuration names another file).
    pub has_trust_key: bool,
}

impl Tools {
    /// Checks that the process is root and finds every program; `docker` adds the
    /// Docker ones. Fails naming the first missing program's Debian package.
    pub fn find(docker: bool) -> Result<Self, LabError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(LabError::NotRoot);
        }
        let docker = if docker {
            // runc and the shim are found by containerd through PATH; check them here
            // so that a half-installed Docker fails with a package name, not at `docker run`.
            require("runc", "runc")?;
            require("containerd-shim-runc-v2", "containerd")?;
            let dockerd = require("dockerd", "docker.io")?;
            let has_trust_key = major_version(&dockerd).is_some_and(|major| major < 23);
            Some(DockerTools {
                dockerd,
                containerd: require("containerd", "containerd")?,
                cli: require("docker", "docker.io")?,
                tar: require("tar", "tar")?,
                has_trust_key,
            })
        } else {
            None
        };
        Ok(Self {
            ip: require("ip", "iproute2")?,
            iptables: require("iptables", "iptables")?,
            nsenter: require("nsenter", "util-linux")?,
            sshd: require("sshd", "openssh-server")?,
            ssh_keygen: require("ssh-keygen", "openssh-client")?,
            docker,
        })
    }

    /// The Docker programs, or the error a host without them reports.
    pub fn docker(&self) -> Result<&DockerTools, LabError> {
        self.docker
            .as_ref()
            .ok_or_else(|| LabError::InvalidRequest("this lab runs no Docker".to_owned()))
    }
}

/// Finds `program` or fails naming `package`.
pub(crate) fn require(program: &str, package: &'static str) -> Result<PathBuf, LabError> {
    find_program(program).ok_or_else(|| LabError::MissingProgram {
        program: program.to_owned(),
        package,
    })
}

/// The first executable `name` on the caller's `PATH`, then on the system one
/// (tests may run with a `PATH` without `/usr/sbin`).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let caller = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&caller)
        .chain(std::env::split_paths(PATH))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// The major version `program --version` prints (`Docker version 20.10.24+dfsg1, build ...`).
fn major_version(program: &Path) -> Option<u32> {
    let output = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    version.split('.').next()?.parse().ok()
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_package() {
        assert!(find_program("sh").is_some());
        let error = require("servos-no-such-program", "servos-package").expect_err("missing");
        assert_eq!(
            error.to_string(),
            "`servos-no-such-program` is missing: install the Debian package servos-package \
             (`cargo xtask test` installs it)"
        );
    }
}
