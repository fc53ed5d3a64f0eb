//! What a server check runs over SSH: Docker's version and the free disk.

use crate::ssh::{Session, SshError};

/// The outcome of one check.
#[derive(Debug)]
pub struct Check {
    /// `ready`, `docker_unavailable`, `unreachable` or `host_key_changed`.
    pub status: &'static str,
    /// Host key presented (when the handshake got that far).
    pub fingerprint: Option<String>,
    /// Docker server version.
    pub docker_version: Option<String>,
    /// Free bytes on the Docker data disk.
    pub disk_free_bytes: Option<i64>,
}

/// Runs the checks over an authenticated session.
pub async fn run(session: &Session) -> Check {
    let docker = session
        .run("docker version --format '{{.Server.Version}}'", None)
        .await
        .ok()
        .filter(|o| o.exit_status == Some(0))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty());
    let disk = session
        .run("df -P -B1 /var/lib/docker 2>/dev/null || df -P -B1 /", None)
        .await
        .ok()
        .and_then(|o| parse_df(&String::from_utf8_lossy(&o.stdout)));
    Check {
        status: if docker.is_some() {
            "ready"
        } else {
            "docker_unavailable"
        },
        fingerprint: Some(session.fingerprint().to_owned()),
        docker_version: docker,
        disk_free_bytes: disk,
    }
}

/// A check that could not connect.
pub fn failed(error: &SshError) -> Check {
    let (status, fingerprint) = match error {
        SshError::HostKeyMismatch { presented, .. } => {
            ("host_key_changed", Some(presented.clone()))
        }
        _ => ("unreachable", None),
    };
    Check {
        status,
        fingerprint,
        docker_version: None,
        disk_free_bytes: None,
    }
}

/// Available bytes from `df -P -B1` output (second line, fourth column).
fn parse_df(text: &str) -> Option<i64> {
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_df() {
        let out =
            "Filesystem 1B-blocks Used Available Capacity Mounted on\n/dev/vda 100 40 60 40% /\n";
        assert_eq!(super::parse_df(out), Some(60));
        assert_eq!(super::parse_df("garbage"), None);
    }
}
