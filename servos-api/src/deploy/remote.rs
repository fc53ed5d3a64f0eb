//! Where a deployment puts files on a server, and how it removes them.
//! Every path is named after the deployment target's id (a UUID), so
//! recovery finds them from the database alone and two servers that share
//! a file system never collide.

use crate::ssh::{Session, SshError};

/// The private directory of env files (and temporary registry logins).
pub const SECRETS_DIR: &str = "/var/lib/servos/secrets";
/// The parent of the per-container file-secret directories; kept on a tmpfs.
pub const FILE_SECRETS_ROOT: &str = "/run/servos";

/// Files of one deployment target on its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPaths {
    /// The env file `docker run` reads (0600, deleted right after).
    pub env_file: String,
    /// The temporary `DOCKER_CONFIG` of a registry login (0700).
    pub docker_config: String,
    /// The file secrets of the container (0700; files 0400), mounted at `/run/secrets`.
    pub file_secrets: String,
}

/// True for a target id that can name files: a UUID's characters only.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

impl TargetPaths {
    /// The paths of target `target_id`; `None` for an id that is not plain.
    pub fn of(target_id: &str) -> Option<Self> {
        plain_id(target_id).then(|| Self {
            env_file: format!("{SECRETS_DIR}/{target_id}.env"),
            docker_config: format!("{SECRETS_DIR}/{target_id}.docker"),
            file_secrets: format!("{FILE_SECRETS_ROOT}/secrets/{target_id}"),
        })
    }
}

/// Removes a directory tree if present and verifies it is gone. Only for
/// the paths of [`TargetPaths`] (plain by construction).
pub async fn remove_dir(session: &Session, dir: &str) -> Result<(), SshError> {
    if !dir.starts_with('/')
        || dir.contains(|c: char| !(c.is_ascii_alphanumeric() || "/._-".contains(c)))
        || dir.contains("..")
    {
        return Err(SshError::InvalidPath(dir.to_owned()));
    }
    session
        .run(&format!("rm -rf -- {dir} && test ! -e {dir}"), None)
        .await?
        .success("removing a directory")?;
    Ok(())
}

/// Makes sure file secrets land on a tmpfs (never on a disk): when the
/// directory's file system is not one, mounts a private tmpfs there (as
/// root; under a lock, so parallel deployments mount it once).
pub async fn ensure_tmpfs(session: &Session) -> Result<(), SshError> {
    let root = FILE_SECRETS_ROOT;
    let script = format!(
        "umask 077 && mkdir -p {root} && \
         case \"$(stat -f -c %T {root})\" in tmpfs|ramfs) exit 0;; esac; \
         if [ \"$(id -u)\" != 0 ]; then echo '{root} is not on a tmpfs and only root can mount one' >&2; exit 3; fi; \
         flock {root}.lock sh -c 'mountpoint -q {root} || mount -t tmpfs -o mode=0700,size=64m servos-secrets {root}'"
    );
    session
        .run(&script, None)
        .await?
        .success("preparing the file-secret tmpfs")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_named_after_the_target() {
        let id = "0b1c2d3e-0000-4000-8000-000000000001";
        let paths = TargetPaths::of(id).expect("plain");
        assert_eq!(paths.env_file, format!("/var/lib/servos/secrets/{id}.env"));
        assert_eq!(paths.file_secrets, format!("/run/servos/secrets/{id}"));
        assert!(TargetPaths::of("../x").is_none());
        assert!(TargetPaths::of("a b").is_none());
    }
}
