//! Lab slots: which process owns which slot, so that parallel tests (threads or processes) never share names or addresses.
//!
//! A slot is claimed by creating `/run/servos-lab/svl<S>.slot` with `O_EXCL`; the
//! file records the owner's pid and start time, or `kept` for a lab left running.
//! Claims, reclaims and teardowns by name happen under an exclusive lock on
//! `/run/servos-lab/.lock`, so two processes never reclaim the same stale slot.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use crate::plan::{self, LAB_ROOT, SLOTS};
use crate::{process, LabError};

/// Who a slot belongs to, as its file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A process, identified by pid and start time (pids are reused).
    Process {
        /// Its pid.
        pid: u32,
        /// Its start time in clock ticks after boot.
        start_time: u64,
    },
    /// A lab left running on purpose (`Lab::keep`).
    Kept,
    /// A file that says neither: its writer died before writing it.
    Unknown,
}

impl Owner {
    /// The current process.
    fn me() -> Result<Self, LabError> {
        let pid = std::process::id();
        let entry = process::process(pid).ok_or_else(|| {
            LabError::io(
                "read /proc/self/stat",
                std::io::Error::other("no entry for this process"),
            )
        })?;
        Ok(Self::Process {
            pid,
            start_time: entry.start_time,
        })
    }

    /// The owner a slot file's text records.
    fn parse(text: &str) -> Self {
        let mut words = text.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("kept"), None, None) => Self::Kept,
            (Some("pid"), Some(pid), Some(start)) => match (pid.parse(), start.parse()) {
                (Ok(pid), Ok(start_time)) => Self::Process { pid, start_time },
                _ => Self::Unknown,
            },
            _ => Self::Unknown,
        }
    }

    /// The slot file's text for this owner.
    fn render(self) -> String {
        match self {
            Self::Process { pid, start_time } => format!("pid {pid} {start_time}\n"),
            Self::Kept => "kept\n".to_owned(),
            Self::Unknown => String::new(),
        }
    }

    /// The pid of a running owner process; `None` for kept labs and dead owners.
    pub fn running_pid(self) -> Option<u32> {
        match self {
            Self::Process { pid, start_time } if process::is_running(pid, start_time) => Some(pid),
            _ => None,
        }
    }
}

/// The exclusive lock on the lab root, held until dropped.
pub(crate) struct SlotLock {
    _file: File,
}

impl SlotLock {
    /// Waits for the lock, creating the lab root if needed.
    pub fn acquire() -> Result<Self, LabError> {
        ensure_root()?;
        let path = Path::new(LAB_ROOT).join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| LabError::io(format!("open {}", path.display()), error))?;
        file.lock()
            .map_err(|error| LabError::io(format!("lock {}", path.display()), error))?;
        Ok(Self { _file: file })
    }
}

/// Creates `/run/servos-lab` (root only).
fn ensure_root() -> Result<(), LabError> {
    match fs::DirBuilder::new()
        .mode(0o755)
        .recursive(true)
        .create(LAB_ROOT)
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == ErrorKind::PermissionDenied => Err(LabError::NotRoot),
        Err(error) => Err(LabError::io(format!("create {LAB_ROOT}"), error)),
    }
}

/// The owner recorded for `slot`, or `None` when the slot is free.
pub(crate) fn owner(slot: u16) -> Result<Option<Owner>, LabError> {
    let path = plan::slot_file(slot);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Owner::parse(&text))),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(LabError::io(format!("read {}", path.display()), error)),
    }
}

/// Claims the first slot that is free or whose owner died, for this process. A dead
/// owner's leftovers are torn down first with `teardown`. Holds `lock` throughout.
pub(crate) fn claim(
    _lock: &SlotLock,
    teardown: impl Fn(u16) -> Result<(), LabError>,
) -> Result<u16, LabError> {
    let me = Owner::me()?;
    for slot in 0..SLOTS {
        if let Some(owner) = owner(slot)? {
            if owner == Owner::Kept || owner.running_pid().is_some() {
                continue;
            }
            // The owner died without tearing down: finish its work, then take over.
            if let Err(error) = teardown(slot).and_then(|()| release(slot)) {
                // Its names and addresses stay taken; another slot will do.
                crate::warn(&error);
                continue;
            }
        }
        let path = plan::slot_file(slot);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(me.render().as_bytes())
                    .map_err(|error| LabError::io(format!("write {}", path.display()), error))?;
                // A lab whose slot file was deleted by hand may still hold the names.
                if has_traces(slot) {
                    if let Err(error) = teardown(slot) {
                        crate::warn(&error);
                        release(slot)?;
                        continue;
                    }
                }
                return Ok(slot);
            }
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(LabError::io(format!("create {}", path.display()), error)),
        }
    }
    Err(LabError::NoFreeSlot(SLOTS))
}

/// Records that the lab in `slot` is left running: no dead owner makes it reclaimable.
pub(crate) fn mark_kept(slot: u16) -> Result<(), LabError> {
    let path = plan::slot_file(slot);
    let temporary = path.with_extension("kept");
    fs::write(&temporary, Owner::Kept.render())
        .and_then(|()| fs::rename(&temporary, &path))
        .map_err(|error| LabError::io(format!("mark {} as kept", path.display()), error))
}

/// Frees `slot` (its lab must be torn down); fine when it is free already.
pub(crate) fn release(slot: u16) -> Result<(), LabError> {
    let path = plan::slot_file(slot);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(LabError::io(format!("remove {}", path.display()), error)),
    }
}

/// Whether anything of the lab in `slot` exists besides its slot file.
fn has_traces(slot: u16) -> bool {
    plan::lab_dir(slot).exists() || !crate::network::hosts_with_links(Some(slot)).is_empty()
}

/// Every slot with a slot file, a lab directory, or a host namespace or interface.
pub(crate) fn slots_in_use() -> BTreeSet<u16> {
    let mut slots = BTreeSet::new();
    if let Ok(entries) = fs::read_dir(LAB_ROOT) {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let name = name.strip_suffix(".slot").unwrap_or(&name);
            slots.extend(plan::parse_lab_name(name));
        }
    }
    slots.extend(
        crate::network::hosts_with_links(None)
            .iter()
            .filter_map(|name| plan::parse_host_name(name))
            .map(|(slot, _)| slot),
    );
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_records_round_trip() {
        let me = Owner::me().expect("this process");
        assert_eq!(Owner::parse(&me.render()), me);
        assert_eq!(me.running_pid(), Some(std::process::id()));
        assert_eq!(Owner::parse(&Owner::Kept.render()), Owner::Kept);
        assert_eq!(Owner::parse(""), Owner::Unknown);
        assert_eq!(Owner::parse("pid x 3"), Owner::Unknown);
        let dead = Owner::Process {
            pid: std::process::id(),
            start_time: 0,
        };
        assert_eq!(dead.running_pid(), None, "a reused pid is not the owner");
        assert_eq!(Owner::Kept.running_pid(), None);
    }
}
