//! Network namespaces made by a test and removed when it ends, even by a failed assertion.

use std::fs::File;
use std::process::Command;

use nix::sched::{setns, CloneFlags};

/// Runs a command, failing the test with its output (and the package it needs) when it fails.
pub fn run(program: &str, args: &[&str], package: &str) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program} (Debian package {package}): {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A network namespace with loopback up, deleted on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates the namespace `name` (make it unique with `unique_name`).
    pub fn new(name: String) -> Self {
        run("ip", &["netns", "add", &name], "iproute2");
        let netns = Self { name };
        netns.exec("ip", &["link", "set", "lo", "up"]);
        netns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path `nsenter --net=` takes.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs a command inside the namespace, failing the test if it fails.
    pub fn exec(&self, program: &str, args: &[&str]) {
        let mut all = vec![format!("--net={}", self.path()), program.to_owned()];
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run("nsenter", &all, "util-linux");
    }

    /// What a command inside the namespace printed, failing the test if it fails.
    pub fn output(&self, program: &str, args: &[&str], package: &str) -> String {
        let output = Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .arg(program)
            .args(args)
            .output()
            .unwrap_or_else(|err| panic!("cannot run nsenter (Debian package util-linux): {err}"));
        assert!(
            output.status.success(),
            "{program} {args:?} in {} failed (Debian package {package}): {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `work` on a thread inside the namespace: sockets it makes stay
    /// in the namespace, and this thread's own namespace is left alone.
    pub fn run_inside<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let path = self.path();
        std::thread::spawn(move || {
            let handle = File::open(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
            setns(handle, CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|err| panic!("entering {path}: {err}"));
            work()
        })
        .join()
        .unwrap_or_else(|_| panic!("the thread inside {} panicked", self.name))
    }

    /// Whether a command inside the namespace succeeds.
    pub fn succeeds(&self, program: &str, args: &[&str]) -> bool {
        Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .arg(program)
            .args(args)
            .output()
            .is_ok_and(|output| output.status.success())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// Joins two namespaces with a veth pair and gives each end an address of a /30.
pub fn link(a: &NetNs, a_addr: &str, b: &NetNs, b_addr: &str) {
    let a_end = format!("{}a", a.name());
    let b_end = format!("{}b", a.name());
    run(
        "ip",
        &[
            "link",
            "add",
            &a_end,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            &b_end,
            "netns",
            b.name(),
        ],
        "iproute2",
    );
    a.exec(
        "ip",
        &["addr", "add", &format!("{a_addr}/30"), "dev", &a_end],
    );
    a.exec("ip", &["link", "set", &a_end, "up"]);
    b.exec(
        "ip",
        &["addr", "add", &format!("{b_addr}/30"), "dev", &b_end],
    );
    b.exec("ip", &["link", "set", &b_end, "up"]);
}
