//! Running external programs: show what runs, and fail with a message that names it.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

use crate::project_root;

/// A `cargo` command run from the workspace root, with the same cargo that runs xtask.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(project_root());
    // Cargo sets these for xtask itself; passed on, they differ from a plain
    // `cargo` run and make build scripts that watch them (ring's) rebuild.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*name,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(&*name);
        }
    }
    cmd
}

/// `cargo build --release` with `args` (packages, examples), `--locked` when
/// the workspace has a lock file; echoed, with the terminal attached.
pub fn build_release(args: &[&str]) -> Result<()> {
    run(cargo()
        .args(["build", "--release"])
        .args(args)
        .args(locked_flag()))
}

/// `--locked` when the workspace has a `Cargo.lock` to hold cargo to, else nothing.
pub fn locked_flag() -> Option<&'static str> {
    project_root()
        .join("Cargo.lock")
        .is_file()
        .then_some("--locked")
}

/// The command line as a person would type it. Environment values are left
/// out on purpose: some of them are secrets.
pub fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let program = match program.file_name() {
        // The toolchain's full path to cargo says nothing useful.
        Some(name) if name == "cargo" => name,
        _ => program.as_os_str(),
    };
    let mut words = vec![shown(program)];
    words.extend(cmd.get_args().map(shown));
    words.join(" ")
}

fn shown(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '"') {
        format!("{text:?}")
    } else {
        text.into_owned()
    }
}

/// Runs with the terminal attached, echoing the command first.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Runs without echo and returns its stdout; its stderr goes to the terminal.
pub fn read_stdout(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{}`", display(cmd)))?;
    if !output.status.success() {
        bail!("`{}` failed ({})", display(cmd), output.status);
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("`{}` printed something that is not UTF-8", display(cmd)))
}

/// Runs with its output captured, and shows that output only if it fails.
pub fn run_quiet(cmd: &mut Command) -> Result<()> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{}`", display(cmd)))?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}):\n{}",
            display(cmd),
            output.status,
            printed(&output)
        );
    }
    Ok(())
}

fn printed(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text.trim_end().to_owned()
}

/// Whether the command runs and exits 0, with all its output thrown away.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The first executable file called `name` in a `PATH` folder.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
        })
}

/// Whether xtask runs as root (the owner of `/proc/self` is the process's user).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}
