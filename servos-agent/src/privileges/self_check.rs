//! The proof that the drop worked: every thread's credentials, and two things root could do that must now fail.

use std::fs::{self, OpenOptions};
use std::path::Path;

use super::proc_status::ProcStatus;
use super::{kept_mask, AgentIds};

/// The drop did not leave the process as it must be.
#[derive(Debug, thiserror::Error)]
#[error("privilege self-check failed: {}", .0.join("; "))]
pub struct SelfCheckError(pub Vec<String>);

/// Checks every `/proc/self/task/*/status` against `ids` and the kept
/// capabilities, then that `/etc/shadow` cannot be opened and `/root`
/// cannot be written.
pub fn self_check(ids: AgentIds) -> Result<(), SelfCheckError> {
    let mut problems = Vec::new();
    match fs::read_dir("/proc/self/task") {
        Ok(tasks) => {
            for task in tasks.filter_map(Result::ok) {
                let path = task.path().join("status");
                let tid = task.file_name().to_string_lossy().into_owned();
                match fs::read_to_string(&path)
                    .map_err(|err| err.to_string())
                    .and_then(|text| ProcStatus::parse(&text).map_err(|err| err.to_string()))
                {
                    Ok(status) => problems.extend(
                        status
                            .violations(ids.uid.as_raw(), ids.gid.as_raw(), kept_mask())
                            .into_iter()
                            .map(|problem| format!("thread {tid}: {problem}")),
                    ),
                    Err(err) => problems.push(format!("thread {tid}: {err}")),
                }
            }
        }
        Err(err) => problems.push(format!("cannot list /proc/self/task: {err}")),
    }
    if fs::File::open("/etc/shadow").is_ok() {
        problems.push("/etc/shadow can still be opened".to_owned());
    }
    let probe = Path::new("/root").join(format!(".servos-agent-probe-{}", std::process::id()));
    if OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .is_ok()
    {
        let _ = fs::remove_file(&probe);
        problems.push("a file can still be created in /root".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SelfCheckError(problems))
    }
}
