//! Each host's Docker: its own containerd and dockerd inside the host's namespace, with their state in the host's directory, and the test image loaded.
//!
//! The lab starts containerd itself instead of letting dockerd start one: dockerd
//! 20.10 uses `/run/containerd/containerd.sock` whenever that socket exists, and a
//! containerd outside the host's namespace would run `--network host` containers in
//! the wrong namespace. Containers run below their own cgroup parent so that a
//! teardown finds them even when they have a network namespace of their own.

use std::fs::{self, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::process::{self, PATH};
use crate::tools::{DockerTools, Tools};
use crate::{LabError, TEST_IMAGE};

/// How long containerd and dockerd together may take to answer (ten hosts start
/// at once on a two-core machine).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// The pause between two readiness checks.
const POLL: Duration = Duration::from_millis(20);
/// How many log lines an error message shows.
const LOG_LINES: usize = 30;

/// The socket a host's dockerd listens on, in the host's directory.
pub(crate) fn socket(dir: &Path) -> PathBuf {
    dir.join("docker.sock")
}

/// The data root of a host's dockerd (`--data-root`), in the host's directory.
pub(crate) fn data_root(dir: &Path) -> PathBuf {
    dir.join("docker")
}

/// A `docker` command against the daemon at `socket`; variables that would point it
/// elsewhere are removed.
pub(crate) fn cli(docker: &DockerTools, socket: &Path) -> Command {
    let mut command = Command::new(&docker.cli);
    command
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH");
    command
}

/// Starts containerd and dockerd for the host whose directory is `dir` and whose
/// namespace handle is `netns`, waits until `docker version` answers, and imports
/// the test image from `image_tar`. Started processes are pushed to `children` as
/// they start, so that the caller reaps them also when this fails.
pub(crate) fn start(
    tools: &Tools,
    dir: &Path,
    netns: &Path,
    cgroup_parent: &str,
    image_tar: &Path,
    children: &mut Vec<Child>,
) -> Result<(), LabError> {
    let docker = tools.docker()?;
    let deadline = Instant::now() + READY_WITHIN;
    let d = dir.display();

    let containerd_socket = dir.join("containerd.sock");
    write(
        &dir.join("containerd.toml"),
        &format!(
            "version = 2\n\
             root = \"{d}/containerd\"\n\
             state = \"{d}/containerd-state\"\n\
             # Kubernetes' plugin is not needed and would start a stream server.\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{}\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/containerd-opt\"\n",
            containerd_socket.display()
        ),
    )?;
    let containerd_log = dir.join("containerd.log");
    let mut containerd = Command::new(&docker.containerd);
    containerd.arg("--config").arg(dir.join("containerd.toml"));
    children.push(spawn_in(tools, netns, containerd, &containerd_log)?);
    wait_until(
        "containerd",
        dir,
        &containerd_log,
        children,
        deadline,
        || UnixStream::connect(&containerd_socket).is_ok(),
    )?;

    start_dockerd(tools, dir, netns, cgroup_parent, children, deadline)?;
    let socket = socket(dir);
    process::run(
        cli(docker, &socket)
            .args([
                "import",
                "--change",
                "ENV PATH=/bin",
                "--change",
                "CMD [\"sh\"]",
            ])
            .arg(image_tar)
            .arg(TEST_IMAGE),
    )?;
    Ok(())
}

/// Starts the dockerd of the host whose directory is `dir` (its containerd runs
/// already) and returns once its client answers, at the latest by `deadline`. The
/// process is pushed to `children` as it starts.
fn start_dockerd(
    tools: &Tools,
    dir: &Path,
    netns: &Path,
    cgroup_parent: &str,
    children: &mut Vec<Child>,
    deadline: Instant,
) -> Result<(), LabError> {
    let docker = tools.docker()?;
    let d = dir.display();
    let containerd_socket = dir.join("containerd.sock");
    // dockerd reads /etc/docker/daemon.json unless told otherwise; the lab's daemons
    // must not pick up the machine's settings. dockerd 20.10 writes a trust key to
    // /etc/docker/key.json, a race when several start at once; later ones have none.
    let config = if docker.has_trust_key {
        format!("{{\"deprecated-key-path\": \"{d}/key.json\"}}\n")
    } else {
        "{}\n".to_owned()
    };
    write(&dir.join("daemon.json"), &config)?;
    let socket = socket(dir);
    let dockerd_log = dir.join("dockerd.log");
    let mut dockerd = Command::new(&docker.dockerd);
    dockerd
        .arg("--config-file")
        .arg(dir.join("daemon.json"))
        .arg("--data-root")
        .arg(data_root(dir))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .arg("--containerd")
        .arg(&containerd_socket)
        .args(["--cgroup-parent", cgroup_parent]);
    children.push(spawn_in(tools, netns, dockerd, &dockerd_log)?);
    wait_until("dockerd", dir, &dockerd_log, children, deadline, || {
        pings(&socket)
    })?;
    // The real condition: the client talks to this daemon.
    wait_until("dockerd", dir, &dockerd_log, children, deadline, || {
        cli(docker, &socket)
            .arg("version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })?;
    Ok(())
}

/// Stops the host's dockerd (the last of `children`), which stops its containers as
/// a shutdown does, runs `while_stopped`, and starts dockerd again with its state
/// (where `while_stopped` left it); returns once it answers. Containers come back as
/// their restart policies say. dockerd is started again also when `while_stopped`
/// fails, whose error is then returned.
pub(crate) fn restart_dockerd(
    tools: &Tools,
    dir: &Path,
    netns: &Path,
    cgroup_parent: &str,
    children: &mut Vec<Child>,
    while_stopped: impl FnOnce() -> Result<(), LabError>,
) -> Result<(), LabError> {
    let Some(mut dockerd) = children.pop() else {
        return Err(LabError::InvalidRequest(format!(
            "{} runs no Docker daemon",
            dir.display()
        )));
    };
    process::signal(dockerd.id(), Signal::SIGTERM);
    dockerd
        .wait()
        .map_err(|error| LabError::io(format!("wait for dockerd of {}", dir.display()), error))?;
    let changed = while_stopped();
    let deadline = Instant::now() + READY_WITHIN;
    start_dockerd(tools, dir, netns, cgroup_parent, children, deadline)?;
    changed
}

/// Starts `command` inside the namespace `netns`, with a clean environment and its
/// output appended to `log`.
fn spawn_in(tools: &Tools, netns: &Path, command: Command, log: &Path) -> Result<Child, LabError> {
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| LabError::io(format!("open {}", log.display()), error))?;
    let stderr = log_file
        .try_clone()
        .map_err(|error| LabError::io(format!("open {}", log.display()), error))?;
    let mut inside = Command::new(&tools.nsenter);
    inside
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/root")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr)
        // Not in the caller's process group: a kept lab outlives the terminal's ^C.
        .process_group(0);
    inside
        .spawn()
        .map_err(|error| LabError::io(format!("start `{}`", process::display(&inside)), error))
}

/// Polls `ready` until it holds; fails when the last started child exits or the
/// deadline passes, with the end of `log`.
fn wait_until(
    name: &str,
    dir: &Path,
    log: &Path,
    children: &mut [Child],
    deadline: Instant,
    mut ready: impl FnMut() -> bool,
) -> Result<(), LabError> {
    let what = format!("{name} of {}", dir.display());
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(child) = children.last_mut() {
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    return Err(LabError::Exited {
                        what,
                        status: status.to_string(),
                        log: process::log_tail(log, LOG_LINES),
                    })
                }
                Err(error) => return Err(LabError::io(format!("wait for {what}"), error)),
            }
        }
        if Instant::now() >= deadline {
            return Err(LabError::NotReady {
                what,
                within: READY_WITHIN,
                log: process::log_tail(log, LOG_LINES),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Whether the Docker API at `socket` answers `GET /_ping` with 200.
fn pings(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .is_err()
        || stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .is_err()
    {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    response
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        == Some("200")
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    fs::write(path, text).map_err(|error| LabError::io(format!("write {}", path.display()), error))
}
