//! The test image's root filesystem: Debian's static busybox with a link per applet, packed as a tar once per checkout under the cargo target directory.
//!
//! No image can be pulled where the tests run, so each host's daemon imports this
//! tar (`docker import`) as [`crate::TEST_IMAGE`].

use std::fs::{self, File};
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{self, PATH};
use crate::tools::{self, DockerTools};
use crate::LabError;

/// The Debian package whose binary the image holds.
const PACKAGE: &str = "busybox-static";
/// The file name of the packed root filesystem in the cache directory.
const TAR_NAME: &str = "busybox-rootfs.tar";

/// The directory the lab caches files in: `servos-lab` under the cargo target directory.
pub(crate) fn cache_dir() -> PathBuf {
    target_dir().join("servos-lab")
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else the one the running binary
/// was built in (it holds `CACHEDIR.TAG`), else `target` in the workspace.
fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // This crate is at `xtask/lab` in the workspace.
    let workspace = manifest.ancestors().nth(2).unwrap_or(manifest);
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return workspace.join(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_owned)
        })
        .unwrap_or_else(|| workspace.join("target"))
}

/// The packed root filesystem, built first if the cache does not hold it yet.
/// Concurrent callers build it once: the build holds a lock and renames into place.
pub(crate) fn rootfs_tar(docker: &DockerTools) -> Result<PathBuf, LabError> {
    let dir = cache_dir();
    let tar = dir.join(TAR_NAME);
    if tar.is_file() {
        return Ok(tar);
    }
    fs::create_dir_all(&dir)
        .map_err(|error| LabError::io(format!("create {}", dir.display()), error))?;
    let lock_path = dir.join(".image.lock");
    let lock = File::create(&lock_path)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|error| LabError::io(format!("lock {}", lock_path.display()), error))?;
    if !tar.is_file() {
        build(docker, &dir, &tar)?;
    }
    drop(lock);
    Ok(tar)
}

/// Lays out the root filesystem in a scratch directory and packs it to `tar`.
fn build(docker: &DockerTools, dir: &Path, tar: &Path) -> Result<(), LabError> {
    let work = tempfile::Builder::new()
        .prefix(".busybox-")
        .tempdir_in(dir)
        .map_err(|error| {
            LabError::io(
                format!("create a scratch directory in {}", dir.display()),
                error,
            )
        })?;
    let busybox = busybox_binary(work.path())?;
    let rootfs = work.path().join("rootfs");
    for sub in ["bin", "etc", "root", "proc", "sys", "dev", "var", "tmp"] {
        create_dir(&rootfs.join(sub))?;
    }
    let tmp = rootfs.join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
        .map_err(|error| LabError::io(format!("chmod {}", tmp.display()), error))?;
    let target = rootfs.join("bin/busybox");
    fs::copy(&busybox, &target)
        .and_then(|_| fs::set_permissions(&target, fs::Permissions::from_mode(0o755)))
        .map_err(|error| {
            LabError::io(format!("copy {} into the image", busybox.display()), error)
        })?;
    // Every applet (sh, env, cat, ls, sleep, httpd, wget, nc, ps, id, ...) as a link.
    let listed = process::run(Command::new(&target).arg("--list"))?;
    for applet in String::from_utf8_lossy(&listed.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = rootfs.join("bin").join(applet);
        symlink("busybox", &link)
            .map_err(|error| LabError::io(format!("link {}", link.display()), error))?;
    }
    write(
        &rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    write(&rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    let packed = work.path().join(TAR_NAME);
    process::run(
        Command::new(&docker.tar)
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&packed)
            .arg("."),
    )?;
    fs::rename(&packed, tar)
        .map_err(|error| LabError::io(format!("move the image to {}", tar.display()), error))
}

/// The static busybox binary: the installed package's, else one extracted from the
/// package downloaded with `apt-get download` into `work`.
fn busybox_binary(work: &Path) -> Result<PathBuf, LabError> {
    if let Some(installed) = installed_binary() {
        return Ok(installed);
    }
    let missing = |why: String| {
        LabError::Image(format!(
            "the Debian package {PACKAGE} is not installed and could not be downloaded \
             ({why}); install it: apt-get install {PACKAGE}"
        ))
    };
    let apt = tools::require("apt-get", "apt")?;
    let dpkg_deb = tools::require("dpkg-deb", "dpkg")?;
    process::run(
        Command::new(apt)
            .args(["download", PACKAGE])
            .current_dir(work)
            .env("PATH", PATH),
    )
    .map_err(|error| missing(error.to_string()))?;
    let deb = fs::read_dir(work)
        .map_err(|error| LabError::io(format!("list {}", work.display()), error))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "deb"))
        .ok_or_else(|| missing("apt-get download left no .deb".to_owned()))?;
    let extracted = work.join("deb");
    process::run(Command::new(dpkg_deb).arg("-x").arg(&deb).arg(&extracted))?;
    ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .map(|path| extracted.join(path))
        .find(|path| path.is_file())
        .ok_or_else(|| missing(format!("{} holds no bin/busybox", deb.display())))
}

/// The busybox binary of the installed `busybox-static` package, if it is installed.
fn installed_binary() -> Option<PathBuf> {
    let status = Command::new("dpkg-query")
        .args(["--show", "--showformat=${db:Status-Status}", PACKAGE])
        .output()
        .ok()?;
    if String::from_utf8_lossy(&status.stdout).trim() != "installed" {
        return None;
    }
    let files = Command::new("dpkg-query")
        .args(["--listfiles", PACKAGE])
        .output()
        .ok()?;
    String::from_utf8_lossy(&files.stdout)
        .lines()
        .map(PathBuf::from)
        .find(|path| path.ends_with("bin/busybox") && path.is_file())
}

fn create_dir(path: &Path) -> Result<(), LabError> {
    fs::create_dir_all(path)
        .map_err(|error| LabError::io(format!("create {}", path.display()), error))
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    fs::write(path, text).map_err(|error| LabError::io(format!("write {}", path.display()), error))
}
