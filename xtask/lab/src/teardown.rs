//! Tearing a lab down from its slot number alone, so that it also clears what a dead process left: processes, mounts, cgroups, namespaces, veth pairs, FORWARD rules (and any rule naming its interfaces) and files.
//!
//! A lab's processes are found three ways, since any one may be gone: their network
//! namespace is one of the lab's, their cgroup is below the lab's cgroup parent
//! (containers with a namespace of their own), or they are a daemon whose command
//! line names the lab's directory. They are killed outright: dockerd's graceful stop
//! waits ten seconds for each container that ignores SIGTERM, and nothing the lab
//! holds needs saving.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::Signal;

use crate::plan::{self, NETNS_DIR};
use crate::tools::Tools;
use crate::{network, process, LabError};

/// How long the lab's processes may take to die after SIGKILL.
const KILL_WITHIN: Duration = Duration::from_secs(10);
/// The pause between two scans for the lab's processes.
const POLL: Duration = Duration::from_millis(20);
/// Where containerd's shims put their sockets (not configurable in containerd 1.6).
const SHIM_SOCKETS: &str = "/run/containerd/s/";
/// The daemons the lab starts, recognised by command line when their namespace is gone.
const DAEMONS: [&str; 4] = ["sshd", "dockerd", "containerd", "nsenter"];
/// The cgroup file system.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Removes everything of the lab in `slot` but its slot file. Idempotent; fails,
/// after trying every step, naming what is left.
pub(crate) fn teardown(tools: &Tools, slot: u16) -> Result<(), LabError> {
    let dir = plan::lab_dir(slot);
    let mut hosts = network::hosts_with_links(Some(slot));
    if let Ok(entries) = fs::read_dir(&dir) {
        hosts.extend(
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| plan::parse_host_name(name).is_some_and(|(owner, _)| owner == slot)),
        );
    }
    let mut leftovers = Vec::new();

    let marks = ProcessMarks {
        namespaces: hosts
            .iter()
            .filter_map(|host| process::namespace_id(&Path::new(NETNS_DIR).join(host)))
            .collect(),
        dir: format!("{}/", dir.display()),
        cgroup: format!("{}/", plan::cgroup_parent(slot)),
    };
    let mut shim_sockets = BTreeSet::new();
    let deadline = Instant::now() + KILL_WITHIN;
    loop {
        let members = marks.processes();
        if members.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            leftovers.push(format!("processes {members:?}"));
            break;
        }
        for &pid in &members {
            shim_sockets.extend(shim_sockets_of(pid));
            process::signal(pid, Signal::SIGKILL);
        }
        std::thread::sleep(POLL);
    }
    for socket in shim_sockets {
        let _ = fs::remove_file(socket);
    }

    for host in &hosts {
        let pins = plan::bpf_dir(host);
        if let Err(error) = fs::remove_dir_all(&pins) {
            if error.kind() != ErrorKind::NotFound {
                leftovers.push(format!("{} ({error})", pins.display()));
            }
        }
    }
    unmount_below(&dir);
    remove_cgroups(&plan::cgroup_parent(slot));
    network::delete_links(tools, &hosts);
    network::remove_rules_naming_interfaces(tools, slot);
    if let Err(error) = network::remove_forward_rules(tools, slot) {
        leftovers.push(format!("FORWARD rules: {error}"));
    }
    let mounts = mounts_below(&dir);
    if !mounts.is_empty() {
        // Never delete through a mount: it may reach files outside the lab.
        leftovers.push(format!("mounts {mounts:?}"));
    } else if let Err(error) = fs::remove_dir_all(&dir) {
        if error.kind() != ErrorKind::NotFound {
            leftovers.push(format!("{} ({error})", dir.display()));
        }
    }
    let links = network::hosts_with_links(Some(slot));
    if !links.is_empty() {
        leftovers.push(format!("namespaces or interfaces {links:?}"));
    }
    if leftovers.is_empty() {
        Ok(())
    } else {
        Err(LabError::Leftover {
            name: plan::lab_name(slot),
            what: leftovers.join(", "),
        })
    }
}

/// What marks a process as the lab's.
struct ProcessMarks {
    /// The (device, inode) of each host's network namespace.
    namespaces: BTreeSet<(u64, u64)>,
    /// The lab's directory with a trailing slash, as the daemons' arguments name it.
    dir: String,
    /// The lab's cgroup parent with a trailing slash.
    cgroup: String,
}

impl ProcessMarks {
    /// The lab's live processes, never this one.
    fn processes(&self) -> Vec<u32> {
        let me = std::process::id();
        process::processes()
            .into_iter()
            .filter(|entry| !entry.zombie && entry.pid != me)
            .map(|entry| entry.pid)
            .filter(|&pid| self.marks(pid))
            .collect()
    }

    fn marks(&self, pid: u32) -> bool {
        let namespace = process::namespace_id(Path::new(&format!("/proc/{pid}/ns/net")));
        if namespace.is_some_and(|id| self.namespaces.contains(&id)) {
            return true;
        }
        if process::cgroups(pid).contains(&self.cgroup) {
            return true;
        }
        let command_line = process::command_line(pid);
        let program = command_line.split(' ').next().unwrap_or_default();
        let program = program.rsplit('/').next().unwrap_or_default();
        DAEMONS.contains(&program) && command_line.contains(&self.dir)
    }
}

/// The sockets a containerd shim listens on under `/run/containerd/s/`, which it
/// removes only when it exits cleanly.
fn shim_sockets_of(pid: u32) -> Vec<PathBuf> {
    let is_shim = fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.starts_with("containerd-shim"));
    if !is_shim {
        return Vec::new();
    }
    // The unix sockets of the shim's network namespace, the path last on each line.
    fs::read_to_string(format!("/proc/{pid}/net/unix"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .filter(|path| path.starts_with(SHIM_SOCKETS))
        .map(PathBuf::from)
        .collect()
}

/// The mount points at or below `dir`, deepest first.
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape(point)))
        .filter(|point| point.starts_with(dir))
        .collect();
    mounts.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    mounts.dedup();
    mounts
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Detaches every mount below `dir` (Docker's overlay, shm and namespace mounts, and
/// the tmpfs of a host's small disk), deepest first, until none is left or nothing
/// changes.
fn unmount_below(dir: &Path) {
    for _ in 0..5 {
        let mounts = mounts_below(dir);
        if mounts.is_empty() {
            return;
        }
        for point in mounts {
            let _ = umount2(&point, MntFlags::MNT_DETACH);
        }
    }
}

/// Removes the cgroup `parent` (and the cgroups below it) in every hierarchy.
/// A cgroup of processes that just died can stay busy for a moment.
fn remove_cgroups(parent: &str) {
    let relative = parent.trim_start_matches('/');
    let mut roots = vec![PathBuf::from(CGROUP_ROOT)];
    if let Ok(entries) = fs::read_dir(CGROUP_ROOT) {
        roots.extend(entries.filter_map(|entry| Some(entry.ok()?.path())));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for root in roots {
        let group = root.join(relative);
        while group.is_dir() && !remove_cgroup_tree(&group) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
}

/// Removes a cgroup directory after its children; whether it is gone.
fn remove_cgroup_tree(group: &Path) -> bool {
    if let Ok(entries) = fs::read_dir(group) {
        for entry in entries.filter_map(Result::ok) {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    // cgroup directories hold only the kernel's files and are removed with rmdir.
    fs::remove_dir(group).is_ok() || !group.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/run/a\040b"), "/run/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/odd\x"), r"/odd\x");
    }

    #[test]
    fn no_mounts_below_a_fresh_directory() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert!(mounts_below(dir.path()).is_empty());
        assert!(!mounts_below(Path::new("/")).is_empty());
    }
}
