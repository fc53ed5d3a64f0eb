//! Where the classifier's maps and links are pinned: one folder per node on
//! the BPF file system, named after the node's state directory.
//!
//! Lab hosts (network namespaces on one machine) share the BPF file system
//! as they share every other file system, so the folder must differ per
//! node just as the state directory does. Its name is a hash of the state
//! directory's canonical path: every start of a node finds the pins of the
//! previous one, whichever spelling of the path it was given, and nothing
//! needs to be written at `join`. A node whose state directory moves
//! starts a new folder; the old one (`servos-agent status` names it) is
//! removed by hand, which also detaches what it holds. `SERVOS_AGENT_BPF_ROOT`
//! moves the folder of all nodes (test labs keep theirs apart to remove it).

use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use ring::digest::{digest, SHA256};

/// The folder holding every node's pin folder, by default.
const PIN_ROOT: &str = "/sys/fs/bpf/servos";
/// The variable that names another folder for them.
pub const PIN_ROOT_VAR: &str = "SERVOS_AGENT_BPF_ROOT";

/// The folder holding every node's pin folder.
fn pin_root() -> PathBuf {
    std::env::var_os(PIN_ROOT_VAR)
        .filter(|root| !root.is_empty())
        .map_or_else(|| PathBuf::from(PIN_ROOT), PathBuf::from)
}

/// Bytes of the path's SHA-256 that name the folder (16 hexadecimal digits).
const NAME_BYTES: usize = 8;

/// The pin folder of the node whose state lives in `state_dir` (which must exist).
pub fn pin_dir_for(state_dir: &Path) -> io::Result<PathBuf> {
    let canonical = std::fs::canonicalize(state_dir)?;
    let hash = digest(&SHA256, canonical.as_os_str().as_bytes());
    let name = servos_common::hex::lower(&hash.as_ref()[..NAME_BYTES]);
    Ok(pin_root().join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_one_folder_whatever_the_spelling_of_its_path() {
        let parent = tempfile::tempdir().expect("tempdir");
        let one = parent.path().join("one");
        let two = parent.path().join("two");
        std::fs::create_dir(&one).expect("mkdir one");
        std::fs::create_dir(&two).expect("mkdir two");
        let folder = pin_dir_for(&one).expect("pin folder");
        assert_eq!(folder.parent(), Some(pin_root().as_path()));
        assert_eq!(
            folder.file_name().map(|name| name.len()),
            Some(2 * NAME_BYTES)
        );
        let roundabout = two.join("..").join("one");
        assert_eq!(pin_dir_for(&roundabout).expect("pin folder"), folder);
        assert_ne!(pin_dir_for(&two).expect("pin folder"), folder);
    }

    #[test]
    fn a_missing_state_directory_names_no_folder() {
        let parent = tempfile::tempdir().expect("tempdir");
        assert!(pin_dir_for(&parent.path().join("missing")).is_err());
    }
}
