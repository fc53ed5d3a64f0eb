//! Debian packages the tasks need, installed with apt only when they are missing.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use anyhow::{bail, Result};

use crate::cmd;

/// How to tell that a package's part we need is already on the machine.
#[derive(Clone, Copy)]
enum Probe {
    /// A program of that name is on `PATH`.
    Program(&'static str),
    /// An executable file at that absolute path (for programs outside a user's
    /// `PATH`, such as those in `/usr/sbin`).
    Executable(&'static str),
    /// A PostgreSQL server is under `/usr/lib/postgresql/*/bin`.
    PostgresServer,
    /// dpkg lists the package as installed (libraries and headers have no program).
    Installed,
}

/// A Debian package and how to see that it is not needed.
#[derive(Clone, Copy)]
pub struct Requirement {
    package: &'static str,
    probe: Probe,
}

/// The PostgreSQL server the tests start privately.
pub const POSTGRESQL: Requirement = Requirement {
    package: "postgresql",
    probe: Probe::PostgresServer,
};
/// The `openssl` command the tests make TLS certificates with.
pub const OPENSSL: Requirement = Requirement {
    package: "openssl",
    probe: Probe::Program("openssl"),
};
/// `ssh-keygen`, which the tests make SSH keys with.
pub const OPENSSH_CLIENT: Requirement = Requirement {
    package: "openssh-client",
    probe: Probe::Program("ssh-keygen"),
};
/// `sshd`, which the tests run privately on loopback as the servers to reach.
pub const OPENSSH_SERVER: Requirement = Requirement {
    package: "openssh-server",
    probe: Probe::Executable("/usr/sbin/sshd"),
};
/// `curl`, the benchmark's HTTP client for setup calls.
pub const CURL: Requirement = Requirement {
    package: "curl",
    probe: Probe::Program("curl"),
};
/// `wrk`, the benchmark's load generator.
pub const WRK: Requirement = Requirement {
    package: "wrk",
    probe: Probe::Program("wrk"),
};
/// libpq to link diesel's PostgreSQL backend against.
pub const LIBPQ_DEV: Requirement = Requirement {
    package: "libpq-dev",
    probe: Probe::Installed,
};
/// libsqlite3 to link diesel's SQLite backend against.
pub const LIBSQLITE3_DEV: Requirement = Requirement {
    package: "libsqlite3-dev",
    probe: Probe::Installed,
};
/// `pkg-config`, which the `-sys` crates ask where those libraries are.
pub const PKG_CONFIG: Requirement = Requirement {
    package: "pkg-config",
    probe: Probe::Program("pkg-config"),
};

/// The C++ compiler that builds libFuzzer for the fuzz targets.
pub const CXX: Requirement = Requirement {
    package: "g++",
    probe: Probe::Program("c++"),
};

/// `ip`, which makes the lab's network namespaces, veth pairs and routes.
pub const IPROUTE2: Requirement = Requirement {
    package: "iproute2",
    probe: Probe::Executable("/usr/sbin/ip"),
};
/// `iptables`, for the FORWARD rules between the lab's hosts.
pub const IPTABLES: Requirement = Requirement {
    package: "iptables",
    probe: Probe::Executable("/usr/sbin/iptables"),
};
/// `nsenter`, which starts each lab host's daemons inside its namespace.
pub const UTIL_LINUX: Requirement = Requirement {
    package: "util-linux",
    probe: Probe::Executable("/usr/bin/nsenter"),
};
/// dockerd, containerd, runc and the `docker` client, one daemon per lab host.
pub const DOCKER_IO: Requirement = Requirement {
    package: "docker.io",
    probe: Probe::Executable("/usr/sbin/dockerd"),
};
/// The static busybox the lab's test image is made of (no image can be pulled).
pub const BUSYBOX_STATIC: Requirement = Requirement {
    package: "busybox-static",
    probe: Probe::Installed,
};

/// `ping`, with which the mesh tests check that hosts reach each other.
pub const IPUTILS_PING: Requirement = Requirement {
    package: "iputils-ping",
    probe: Probe::Program("ping"),
};

/// What every lab needs: hosts with sshd in network namespaces, and `ping`
/// between them.
pub const LAB_BASE: [Requirement; 6] = [
    IPROUTE2,
    IPTABLES,
    UTIL_LINUX,
    OPENSSH_SERVER,
    OPENSSH_CLIENT,
    IPUTILS_PING,
];
/// What a lab with Docker hosts needs on top.
pub const LAB_DOCKER: [Requirement; 5] = [
    DOCKER_IO,
    BUSYBOX_STATIC,
    CADDY,
    DOCKER_REGISTRY,
    APACHE2_UTILS,
];

/// A private registry the deploy tests pull from with a login.
pub const DOCKER_REGISTRY: Requirement = Requirement {
    package: "docker-registry",
    probe: Probe::Program("docker-registry"),
};
/// `htpasswd`, which makes that registry's user.
pub const APACHE2_UTILS: Requirement = Requirement {
    package: "apache2-utils",
    probe: Probe::Program("htpasswd"),
};
/// Caddy, the reverse proxy ServOS runs on each run server (the lab's hosts
/// share this machine's programs, so the deploy tests find it here).
pub const CADDY: Requirement = Requirement {
    package: "caddy",
    probe: Probe::Program("caddy"),
};

/// Headless Chromium, which the web UI's browser tests drive.
pub const CHROMIUM: Requirement = Requirement {
    package: "chromium",
    probe: Probe::Executable("/usr/bin/chromium"),
};
/// ChromeDriver, the WebDriver server the browser tests talk to.
pub const CHROMIUM_DRIVER: Requirement = Requirement {
    package: "chromium-driver",
    probe: Probe::Executable("/usr/bin/chromedriver"),
};
/// What the browser tests of the web UI need.
pub const BROWSER: [Requirement; 2] = [CHROMIUM, CHROMIUM_DRIVER];

/// LLVM 22, which `bpf-linker` is built against (it links the classifier).
pub const LLVM_22_DEV: Requirement = Requirement {
    package: "llvm-22-dev",
    probe: Probe::Installed,
};
/// Polly, a library LLVM 22's link line names.
pub const LIBPOLLY_22_DEV: Requirement = Requirement {
    package: "libpolly-22-dev",
    probe: Probe::Installed,
};
/// zstd, which LLVM links.
pub const LIBZSTD_DEV: Requirement = Requirement {
    package: "libzstd-dev",
    probe: Probe::Installed,
};
/// zlib, which LLVM links.
pub const ZLIB1G_DEV: Requirement = Requirement {
    package: "zlib1g-dev",
    probe: Probe::Installed,
};
/// What `cargo install bpf-linker` (LLVM 22 flavour) needs.
pub const BPF_LINKER_BUILD: [Requirement; 4] =
    [LLVM_22_DEV, LIBPOLLY_22_DEV, LIBZSTD_DEV, ZLIB1G_DEV];

/// `iperf3`, the throughput benchmark's traffic.
pub const IPERF3: Requirement = Requirement {
    package: "iperf3",
    probe: Probe::Program("iperf3"),
};
/// `wireguard-go`, the userspace WireGuard the mesh benchmark compares with.
pub const WIREGUARD_GO: Requirement = Requirement {
    package: "wireguard-go",
    probe: Probe::Program("wireguard-go"),
};
/// `wg`, which configures wireguard-go and boringtun-cli through their UAPI sockets.
pub const WIREGUARD_TOOLS: Requirement = Requirement {
    package: "wireguard-tools",
    probe: Probe::Program("wg"),
};
/// `nft`, to compare the classifier with the same policy in nftables.
pub const NFTABLES: Requirement = Requirement {
    package: "nftables",
    probe: Probe::Executable("/usr/sbin/nft"),
};

/// `python3 -m venv`, which the API schema check installs schemathesis with.
pub const PYTHON3_VENV: Requirement = Requirement {
    package: "python3-venv",
    probe: Probe::Installed,
};

/// What building the workspace needs beyond the Rust toolchain.
pub const BUILD: [Requirement; 3] = [LIBPQ_DEV, LIBSQLITE3_DEV, PKG_CONFIG];

impl Requirement {
    fn is_met(self) -> bool {
        match self.probe {
            Probe::Program(name) => cmd::find_on_path(name).is_some(),
            Probe::Executable(path) => std::fs::metadata(path)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0),
            Probe::PostgresServer => servos_lab::postgres::Binaries::find().is_ok(),
            Probe::Installed => cmd::read_stdout(
                Command::new("dpkg-query")
                    .args(["--show", "--showformat=${db:Status-Status}"])
                    .arg(self.package),
            )
            .is_ok_and(|status| status.trim() == "installed"),
        }
    }
}

/// Installs, in one apt run, every package whose probe fails; does nothing
/// (not even `apt-get update`) when all are there.
pub fn ensure(requirements: &[Requirement]) -> Result<()> {
    let mut missing: Vec<&str> = Vec::new();
    for requirement in requirements {
        if !missing.contains(&requirement.package) && !requirement.is_met() {
            missing.push(requirement.package);
        }
    }
    if missing.is_empty() {
        eprintln!("xtask: Debian packages present, nothing to install");
        return Ok(());
    }
    let list = missing.join(" ");
    if !cmd::is_root() {
        bail!("missing Debian packages: {list}; install them with `sudo apt-get install --no-install-recommends {list}`");
    }
    eprintln!("xtask: installing missing Debian packages: {list}");
    cmd::run(apt().arg("update"))?;
    cmd::run(
        apt()
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )?;
    if let Some(still) = requirements.iter().find(|r| !r.is_met()) {
        bail!(
            "installed {list}, but {} is still not usable",
            still.package
        );
    }
    Ok(())
}

fn apt() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}
