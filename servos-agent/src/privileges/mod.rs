//! Dropping root: to the `servos` user and group with only CAP_NET_ADMIN, CAP_BPF and CAP_IPC_LOCK.
//!
//! Capabilities, the keep-caps flag, no_new_privs and the bounding set are
//! per thread, so the drop happens while the process has exactly one
//! thread, and [`self_check`] then proves every thread carries the result.

mod failpoint;
mod proc_status;
mod self_check;

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User};

pub use failpoint::FAILPOINT_VAR;
pub use proc_status::{ProcStatus, ProcStatusError};
pub use self_check::{self_check, SelfCheckError};

/// The user the agent runs as after the drop.
pub const AGENT_USER: &str = "servos";

/// The capabilities kept: WireGuard and link changes, classifier maps, locked map memory.
pub const KEPT_CAPABILITIES: [Capability; 3] = [
    Capability::CAP_NET_ADMIN,
    Capability::CAP_BPF,
    Capability::CAP_IPC_LOCK,
];

/// The kept capabilities as a set.
pub fn kept() -> CapsHashSet {
    KEPT_CAPABILITIES.into_iter().collect()
}

/// The kept capabilities as the bit mask `/proc/<pid>/status` shows.
pub fn kept_mask() -> u64 {
    KEPT_CAPABILITIES
        .iter()
        .fold(0, |mask, cap| mask | cap.bitmask())
}

/// A step of the drop failed.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    /// The `servos` user does not exist.
    #[error("user {0:?} does not exist; create it first (useradd --system {0})")]
    NoUser(String),
    /// More than one thread exists: some would keep root's credentials.
    #[error("the process has {0} threads; privileges can only be dropped with exactly one")]
    Threads(usize),
    /// A system call failed.
    #[error("{step}: {reason}")]
    Step {
        /// Which step.
        step: &'static str,
        /// Why.
        reason: String,
    },
}

fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> DropError {
    move |err| DropError::Step {
        step,
        reason: err.to_string(),
    }
}

/// The user and group ids to drop to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentIds {
    /// The user id.
    pub uid: Uid,
    /// The user's primary group id.
    pub gid: Gid,
}

/// Looks up the `servos` user (reads the user database; no thread is started).
pub fn agent_ids() -> Result<AgentIds, DropError> {
    let user = User::from_name(AGENT_USER)
        .map_err(step("look up the agent user"))?
        .ok_or_else(|| DropError::NoUser(AGENT_USER.to_owned()))?;
    Ok(AgentIds {
        uid: user.uid,
        gid: user.gid,
    })
}

/// The number of threads of this process (entries of `/proc/self/task`).
pub fn thread_count() -> Result<usize, DropError> {
    Ok(std::fs::read_dir("/proc/self/task")
        .map_err(step("list /proc/self/task"))?
        .count())
}

/// Drops to `ids` keeping only [`KEPT_CAPABILITIES`], in the order that
/// works: bounding set, keep-caps on, groups, gid, uid, permitted and
/// effective sets, inheritable and ambient cleared, keep-caps off,
/// no_new_privs.
pub fn drop_privileges(ids: AgentIds) -> Result<(), DropError> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(DropError::Threads(threads));
    }
    let kept = kept();
    if !failpoint::skip_bounding_set() {
        for cap in caps::all().difference(&kept) {
            if caps::has_cap(None, CapSet::Bounding, *cap).map_err(step("read the bounding set"))? {
                caps::drop(None, CapSet::Bounding, *cap).map_err(step("clear the bounding set"))?;
            }
        }
    }
    nix::sys::prctl::set_keepcaps(true).map_err(step("keep capabilities across the uid change"))?;
    nix::unistd::setgroups(&[]).map_err(step("clear supplementary groups"))?;
    nix::unistd::setresgid(ids.gid, ids.gid, ids.gid).map_err(step("set the group ids"))?;
    nix::unistd::setresuid(ids.uid, ids.uid, ids.uid).map_err(step("set the user ids"))?;
    caps::set(None, CapSet::Permitted, &kept).map_err(step("set the permitted capabilities"))?;
    caps::set(None, CapSet::Effective, &kept).map_err(step("set the effective capabilities"))?;
    caps::clear(None, CapSet::Inheritable).map_err(step("clear the inheritable capabilities"))?;
    caps::clear(None, CapSet::Ambient).map_err(step("clear the ambient capabilities"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(step("reset keep-capabilities"))?;
    nix::sys::prctl::set_no_new_privs().map_err(step("set no_new_privs"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_mask_has_exactly_the_three_bits() {
        assert_eq!(kept_mask(), (1 << 12) | (1 << 14) | (1 << 39));
        assert_eq!(kept().len(), 3);
    }
}
