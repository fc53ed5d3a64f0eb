//! A host's Docker data root on a small disk: a tmpfs of limited size mounted over it, for tests of a server whose disk fills up.
//!
//! The tmpfs is mounted below the lab's directory, so the teardown unmounts it with
//! Docker's own mounts there; a lab left by a dead process loses it the same way.

use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::Path;
use std::process::Command;

use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::statvfs;

use crate::process::{self, PATH};
use crate::LabError;

/// The source name of the tmpfs, as `mount` and `df` show it.
const SOURCE: &str = "servos-lab-disk";
/// The unit tmpfs sizes are counted in.
const PAGE: u64 = 4096;

/// Moves the directory `data_root`, whose daemon is stopped, onto a tmpfs of its
/// own that leaves `free` bytes free beside what it holds; returns the tmpfs size.
pub(crate) fn move_onto_tmpfs(data_root: &Path, free: u64) -> Result<u64, LabError> {
    let shown = data_root.display();
    if is_mount_point(data_root)? {
        return Err(LabError::InvalidRequest(format!(
            "{shown} is on a file system of its own already"
        )));
    }
    let staging = data_root.with_extension("moving");
    fs::rename(data_root, &staging)
        .map_err(|error| LabError::io(format!("move {shown} aside"), error))?;
    fs::DirBuilder::new()
        .mode(0o711)
        .create(data_root)
        .map_err(|error| LabError::io(format!("create {shown}"), error))?;
    mount(
        Some(SOURCE),
        data_root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0711"),
    )
    .map_err(|error| LabError::io(format!("mount a tmpfs on {shown}"), error.into()))?;
    // `cp -a` keeps what Docker's layers hold: owners, modes, links, the character
    // devices of whiteouts and extended attributes.
    process::run(
        Command::new("cp")
            .env("PATH", PATH)
            .arg("-a")
            .arg("--")
            .arg(staging.join("."))
            .arg(data_root),
    )?;
    fs::remove_dir_all(&staging)
        .map_err(|error| LabError::io(format!("remove {}", staging.display()), error))?;
    let size = (used_bytes(data_root)? + free).div_ceil(PAGE) * PAGE;
    mount(
        Some(SOURCE),
        data_root,
        Some("tmpfs"),
        MsFlags::MS_REMOUNT,
        Some(format!("mode=0711,size={size}").as_str()),
    )
    .map_err(|error| LabError::io(format!("limit the tmpfs on {shown}"), error.into()))?;
    Ok(size)
}

/// The bytes an unprivileged writer may still use on the file system of `path`.
pub(crate) fn free_bytes(path: &Path) -> Result<u64, LabError> {
    let stats = statvfs(path)
        .map_err(|error| LabError::io(format!("statvfs {}", path.display()), error.into()))?;
    Ok(stats.blocks_available() * stats.fragment_size())
}

/// The bytes in use on the file system of `path`.
fn used_bytes(path: &Path) -> Result<u64, LabError> {
    let stats = statvfs(path)
        .map_err(|error| LabError::io(format!("statvfs {}", path.display()), error.into()))?;
    Ok((stats.blocks() - stats.blocks_free()) * stats.fragment_size())
}

/// Whether `path` is the root of a file system (on another device than its parent).
fn is_mount_point(path: &Path) -> Result<bool, LabError> {
    let device = |path: &Path| {
        fs::metadata(path)
            .map(|metadata| metadata.dev())
            .map_err(|error| LabError::io(format!("stat {}", path.display()), error))
    };
    let parent = path.parent().unwrap_or(path);
    Ok(device(path)? != device(parent)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_no_mount_point_and_has_room() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert!(!is_mount_point(dir.path()).expect("stat"));
        assert!(free_bytes(dir.path()).expect("statvfs") > 0);
        assert!(used_bytes(dir.path()).expect("statvfs") > 0);
    }
}
