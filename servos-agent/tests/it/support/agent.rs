//! The real `servos-agent run`, started in a namespace and stopped when the test ends.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use servos_agent::state::StateDir;

use super::netns::NetNs;
use super::wait_for;

/// Makes sure the `servos` user exists (creating it, as the installer would).
pub fn ensure_agent_user() -> nix::unistd::User {
    if let Ok(Some(user)) = nix::unistd::User::from_name("servos") {
        return user;
    }
    // A parallel test may create it first; both outcomes end with the user there.
    let _ = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "servos",
        ])
        .status()
        .expect("cannot run useradd (Debian package passwd)");
    nix::unistd::User::from_name("servos")
        .ok()
        .flatten()
        .expect("the servos user could not be created")
}

/// A running agent; killed on drop if still running.
pub struct AgentProcess {
    child: Child,
    stderr: PathBuf,
    state_dir: PathBuf,
}

impl AgentProcess {
    /// Starts `servos-agent run --state-dir <state_dir>` inside `netns`, with extra environment.
    pub fn start(netns: &NetNs, state_dir: &Path, env: &[(&str, &str)]) -> Self {
        let stderr = state_dir.with_extension("stderr");
        let log = File::create(&stderr).expect("stderr file");
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.path()))
            .arg(env!("CARGO_BIN_EXE_servos-agent"))
            .arg("run")
            .arg("--state-dir")
            .arg(state_dir)
            .envs(env.iter().copied())
            .env("SERVOS_AGENT_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot run nsenter (Debian package util-linux)");
        Self {
            child,
            stderr,
            state_dir: state_dir.to_owned(),
        }
    }

    /// The agent's process id (nsenter execs it, keeping its own).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the agent wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until this agent wrote its first status (it runs after the
    /// drop, once the stored config is applied), failing if it exits first.
    pub fn wait_ready(&mut self) {
        let state = StateDir::new(&self.state_dir);
        let pid = self.child.id();
        let stderr = self.stderr.clone();
        let child = &mut self.child;
        wait_for(
            "the agent's first status.json",
            Duration::from_secs(30),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "the agent exited with {status} before it was ready:\n{}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    );
                }
                state
                    .status()
                    .ok()
                    .is_some_and(|status| status.pid == pid)
                    .then_some(())
            },
        );
    }

    /// Waits for the agent to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        wait_for("the agent to exit", timeout, || {
            child.try_wait().ok().flatten()
        })
    }

    /// Sends `signal` to the agent.
    pub fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        kill(Pid::from_raw(pid), signal).unwrap_or_else(|err| panic!("{signal}: {err}"));
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(15))
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
