//! Writing state files: 0600, atomically (temporary file, fsync, rename), owned like their folder.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use nix::unistd::{Gid, Uid};
use zeroize::Zeroizing;

use super::StateError;

/// Writes `content` to `path` with mode 0600, replacing it atomically. When
/// run as root the file gets its folder's owner, so the agent can still read
/// what root wrote after it dropped to its own user.
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = write_new(&temp, content, dir).and_then(|()| {
        fs::rename(&temp, path).map_err(|err| StateError::io(path, err))?;
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|err| StateError::io(dir, err))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_new(temp: &Path, content: &[u8], dir: &Path) -> Result<(), StateError> {
    let _ = fs::remove_file(temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|err| StateError::io(temp, err))?;
    if Uid::effective().is_root() {
        let owner = fs::metadata(dir).map_err(|err| StateError::io(dir, err))?;
        nix::unistd::fchown(
            &file,
            Some(Uid::from_raw(owner.uid())),
            Some(Gid::from_raw(owner.gid())),
        )
        .map_err(|err| StateError::io(temp, err.into()))?;
    }
    file.write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(|err| StateError::io(temp, err))
}

/// Reads a file holding a secret into zeroizing memory.
pub(super) fn read_secret(path: &Path) -> Result<Zeroizing<String>, StateError> {
    let mut text = Zeroizing::new(String::new());
    File::open(path)
        .and_then(|mut file| file.read_to_string(&mut text))
        .map_err(|err| StateError::io(path, err))?;
    Ok(text)
}

/// Gives `dir` and everything directly in it to `uid`/`gid` (the state folder is flat).
pub fn chown_tree(dir: &Path, uid: Uid, gid: Gid) -> Result<(), StateError> {
    nix::unistd::chown(dir, Some(uid), Some(gid)).map_err(|err| StateError::io(dir, err.into()))?;
    for entry in fs::read_dir(dir).map_err(|err| StateError::io(dir, err))? {
        let path = entry.map_err(|err| StateError::io(dir, err))?.path();
        nix::unistd::chown(&path, Some(uid), Some(gid))
            .map_err(|err| StateError::io(&path, err.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn files_are_0600_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.token");
        write_private(&path, b"first").expect("write");
        write_private(&path, b"second").expect("rewrite");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).expect("read"), b"second");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn a_file_in_a_missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing").join("wg.key");
        let err = write_private(&path, b"x").expect_err("no folder");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
