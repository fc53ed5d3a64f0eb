//! Files on a server, written and removed through a [`Session`]: the content
//! travels over the channel to the remote command's standard input, never in
//! its argv, so no process list or shell history on the server shows it.

use super::{Session, SshError};

/// The longest remote path accepted.
const MAX_PATH: usize = 1024;

/// `path` when it is safe to put into a remote command unquoted: absolute,
/// only letters, digits, `.`, `_`, `-` and `/`, and no `..` component.
fn checked(path: &str) -> Result<&str, SshError> {
    let safe = path.starts_with('/')
        && path.len() <= MAX_PATH
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && !path.split('/').any(|part| part == "..");
    if safe {
        Ok(path)
    } else {
        Err(SshError::InvalidPath(path.to_owned()))
    }
}

impl Session {
    /// Creates `dir` (and its parents) if missing and makes it private to the
    /// SSH user: mode 0700, owned by them.
    pub async fn ensure_private_dir(&self, dir: &str) -> Result<(), SshError> {
        let dir = checked(dir)?;
        let command = format!(
            "umask 077 && mkdir -p -- {dir} && chmod 0700 -- {dir} && test -O {dir} && test ! -L {dir}"
        );
        self.run(&command, None)
            .await?
            .success("creating a private directory")?;
        Ok(())
    }

    /// Writes `content` to `path` with `mode` (e.g. `0o600`), replacing it
    /// atomically. The bytes go over the channel; a transfer cut short leaves
    /// no file (its length is checked before the rename, and the temporary
    /// file is removed on every failure).
    pub async fn write_file(&self, path: &str, mode: u32, content: &[u8]) -> Result<(), SshError> {
        let path = checked(path)?;
        let length = content.len();
        let command = format!(
            "umask 077 && t=$(mktemp -- {path}.XXXXXX) || exit 1; \
             trap 'rm -f -- \"$t\"' EXIT; \
             cat > \"$t\" && [ \"$(wc -c < \"$t\")\" -eq {length} ] \
             && chmod {mode:o} -- \"$t\" && mv -f -- \"$t\" {path} && trap - EXIT"
        );
        self.run(&command, Some(content))
            .await?
            .success("writing a file")?;
        Ok(())
    }

    /// Removes `path` if present, and verifies it is gone.
    pub async fn remove_file(&self, path: &str) -> Result<(), SshError> {
        let path = checked(path)?;
        let command = format!("rm -f -- {path} && test ! -e {path}");
        self.run(&command, None).await?.success("removing a file")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::checked;

    #[test]
    fn only_plain_absolute_paths_are_accepted() {
        for good in ["/var/lib/servos/secrets/0b1c.env", "/tmp/a_b-c.d"] {
            assert_eq!(checked(good).ok(), Some(good));
        }
        for bad in [
            "relative/path",
            "/tmp/with space",
            "/tmp/$(id)",
            "/tmp/a;rm",
            "/tmp/'q'",
            "/tmp/../etc/passwd",
            "/tmp/new\nline",
            "",
        ] {
            assert!(checked(bad).is_err(), "{bad:?} accepted");
        }
    }
}
