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
//! removed by hand, which also detaches what it holds.

use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use ring::digest::{digest, SHA256};

/// The folder holding every node's pin folder.
const PIN_ROOT: &str = "/sys/fs/bpf/servos";

/// Bytes of the path's SHA-256 that name the folder (16 hexadecimal digits).
const NAME_BYTES: usize = 8;

/// The pin folder of the node whose state lives in `state_dir` (which must exist).
pub fn pin_dir_for(state_dir: &Path) -> io::Result<PathBuf> {
    let canonical = std::fs::canonicalize(state_dir)?;
    let hash = digest(&SHA256, canonical.as_os_str().as_bytes());
    let name: String = hash.as_ref()[..NAME_BYTES]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(Path::new(PIN_ROOT).join(name))
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
        assert_eq!(folder.parent(), Some(Path::new(PIN_ROOT)));
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
