//! Processes: running the lab's commands, and finding and signalling its daemons through `/proc`.

use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::LabError;

/// The `PATH` the lab's daemons and commands run with: `runc` and `ip` live in `/usr/sbin`,
/// which a user's `PATH` may lack.
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The command line as a person would type it.
pub(crate) fn display(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` with its output captured; fails with that output unless it exits 0.
pub(crate) fn run(command: &mut Command) -> Result<Output, LabError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| LabError::io(format!("cannot run `{}`", display(command)), error))?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: display(command),
            status: output.status.to_string(),
            output: printed(&output),
        });
    }
    Ok(output)
}

/// Runs `command` with `input` on its standard input; fails unless it exits 0.
pub(crate) fn run_with_input(command: &mut Command, input: &str) -> Result<Output, LabError> {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| LabError::io(format!("cannot run `{}`", display(command)), error))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that fails early closes its input; its exit status tells why.
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|error| LabError::io(format!("cannot wait for `{}`", display(command)), error))?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: format!("{} <<< {input:?}", display(command)),
            status: output.status.to_string(),
            output: printed(&output),
        });
    }
    Ok(output)
}

/// Standard output and error together, trimmed.
pub(crate) fn printed(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text.trim_end().to_owned()
}

/// The [`Output`] of a command that could not run: exit code 127 and `message` on stderr.
pub(crate) fn failed_output(message: &str) -> Output {
    Output {
        status: ExitStatus::from_raw(127 << 8),
        stdout: Vec::new(),
        stderr: format!("{message}\n").into_bytes(),
    }
}

/// One entry of `/proc`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessEntry {
    /// Its process id.
    pub pid: u32,
    /// Its parent's process id.
    pub parent: u32,
    /// Whether it has exited and only waits to be reaped.
    pub zombie: bool,
    /// When it started, in clock ticks after boot (tells a reused pid apart).
    pub start_time: u64,
}

/// Every process of the machine, as `/proc/<pid>/stat` describes it.
pub(crate) fn processes() -> Vec<ProcessEntry> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(process)
        .collect()
}

/// What `/proc/<pid>/stat` says about one process, if it exists.
pub(crate) fn process(pid: u32) -> Option<ProcessEntry> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; the name may hold spaces and parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(ProcessEntry {
        pid,
        parent: fields.get(1)?.parse().ok()?,
        zombie: matches!(fields.first(), Some(&"Z" | &"X")),
        // Field 22 of stat; the state is field 3.
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Whether `pid` runs (not a zombie) and started at `start_time`.
pub(crate) fn is_running(pid: u32, start_time: u64) -> bool {
    process(pid).is_some_and(|entry| !entry.zombie && entry.start_time == start_time)
}

/// The live processes below `root` (children, their children, ...), from `processes`.
pub(crate) fn descendants(root: u32, processes: &[ProcessEntry]) -> Vec<u32> {
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            processes
                .iter()
                .filter(|entry| entry.parent == parent && !entry.zombie)
                .map(|entry| entry.pid),
        );
        next += 1;
    }
    found.remove(0);
    found
}

/// The network namespace a file names (`/run/netns/<name>` or `/proc/<pid>/ns/net`),
/// as the (device, inode) pair that identifies it.
pub(crate) fn namespace_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|meta| (meta.dev(), meta.ino()))
}

/// A process's command line with its arguments separated by spaces.
pub(crate) fn command_line(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

/// A process's cgroup memberships (`/proc/<pid>/cgroup`).
pub(crate) fn cgroups(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

/// Sends `signal` to `pid`, ignoring errors (it may be gone already).
pub(crate) fn signal(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// The text of the file at `path` from byte `start` on (empty when unreadable).
pub(crate) fn read_from(path: &Path, start: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(start).map_or(bytes.len(), |start| start.min(bytes.len()));
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) if error.kind() == ErrorKind::NotFound => "(no log)".to_owned(),
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_and_running() {
        let me = process(std::process::id()).expect("/proc/self/stat");
        assert!(!me.zombie);
        assert!(is_running(me.pid, me.start_time));
        assert!(!is_running(me.pid, me.start_time + 1));
        let all = processes();
        assert!(all.iter().any(|entry| entry.pid == me.pid));
        assert!(descendants(me.parent, &all).contains(&me.pid));
    }

    #[test]
    fn a_command_that_fails_reports_its_output() {
        let error = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"]))
            .expect_err("exit 3 fails");
        let message = error.to_string();
        assert!(
            message.contains("oops") && message.contains("exit status: 3"),
            "{message}"
        );
        let output = run_with_input(&mut Command::new("cat"), "hello").expect("cat");
        assert_eq!(output.stdout, b"hello");
        assert_eq!(failed_output("nope").status.code(), Some(127));
    }
}
