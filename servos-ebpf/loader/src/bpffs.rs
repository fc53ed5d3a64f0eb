//! Making sure the pin folder is on a BPF file system, mounting the usual
//! one when it is missing.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::statfs::{statfs, BPF_FS_MAGIC};

use crate::error::LoaderError;

/// Where the BPF file system is mounted on a standard system.
const DEFAULT_MOUNT: &str = "/sys/fs/bpf";

/// Fails unless `pin_dir` (or the part of it that exists) is on a BPF file
/// system; mounts one at `/sys/fs/bpf` first when `pin_dir` is below it and
/// nothing is mounted there.
pub(crate) fn ensure_bpffs(pin_dir: &Path) -> Result<(), LoaderError> {
    if is_on_bpffs(pin_dir)? {
        return Ok(());
    }
    let default_mount = Path::new(DEFAULT_MOUNT);
    if pin_dir.starts_with(default_mount) && !is_on_bpffs(default_mount)? {
        mount(
            Some("bpf"),
            default_mount,
            Some("bpf"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|errno| bpffs_error(default_mount, errno.into()))?;
        if is_on_bpffs(pin_dir)? {
            return Ok(());
        }
    }
    Err(bpffs_error(
        pin_dir,
        std::io::Error::other("the pin folder is not on a BPF file system (mount -t bpf)"),
    ))
}

fn bpffs_error(path: &Path, source: std::io::Error) -> LoaderError {
    LoaderError::BpfFs {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether the deepest existing folder of `path` is on a BPF file system.
fn is_on_bpffs(path: &Path) -> Result<bool, LoaderError> {
    let mut existing: PathBuf = path.to_path_buf();
    while !existing.exists() {
        if !existing.pop() {
            return Ok(false);
        }
    }
    let stats = statfs(&existing).map_err(|errno| bpffs_error(&existing, errno.into()))?;
    Ok(stats.filesystem_type() == BPF_FS_MAGIC)
}
