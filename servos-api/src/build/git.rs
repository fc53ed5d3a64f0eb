//! The shell scripts that run git on a builder. A token never appears in
//! a script (scripts are command lines, visible in the process list): each
//! script reads the user name and token as the first two lines of its
//! standard input, which the API writes into the SSH channel, exports them
//! to git's environment only, and points `GIT_ASKPASS` at a small program
//! that prints them when git asks. Credential helpers are switched off, so
//! no helper configured on the builder stores the token; the askpass
//! program holds no secret and goes with the step's folder.

use servos_common::secret::SecretText;

use crate::ssh::shell::quote;

/// The user name sent with a token when the credential names none (the
/// forges take any name with a token; GitHub documents this one).
pub const TOKEN_USER: &str = "x-access-token";

/// A git credential as a build uses it.
#[derive(Debug)]
pub struct GitLogin {
    /// User name.
    pub username: String,
    /// Token or password.
    pub token: SecretText,
}

/// Why a credential cannot be fed to git.
#[derive(Debug, thiserror::Error)]
#[error("the git credential's {0} holds a line break, which git cannot be given")]
pub struct UnfeedableLogin(&'static str);

/// The standard input of a script made by [`script`]: the user name and
/// the token, a line each (empty lines without a credential).
pub fn stdin_of(login: Option<&GitLogin>) -> Result<SecretText, UnfeedableLogin> {
    let Some(login) = login else {
        return Ok(SecretText::new("\n\n".into()));
    };
    if login.username.contains(['\n', '\r']) {
        return Err(UnfeedableLogin("user name"));
    }
    if login.token.expose().contains(['\n', '\r']) {
        return Err(UnfeedableLogin("token"));
    }
    Ok(SecretText::new(format!(
        "{}\n{}\n",
        login.username,
        login.token.expose()
    )))
}

/// A script that runs `body` in folder `dir` (made, 0700) with git able to
/// authenticate: reads the login from its input (see [`stdin_of`]), writes
/// the askpass program, and removes `dir` when it ends if `remove_dir`.
pub fn script(dir: &str, remove_dir: bool, body: &str) -> String {
    let dir = quote(dir);
    let cleanup = if remove_dir {
        format!("trap 'rm -rf -- {dir}' EXIT\n")
    } else {
        String::new()
    };
    format!(
        "set -eu\n\
         umask 077\n\
         IFS= read -r SERVOS_GIT_USER || true\n\
         IFS= read -r SERVOS_GIT_TOKEN || true\n\
         export SERVOS_GIT_USER SERVOS_GIT_TOKEN\n\
         mkdir -p {dir}\n\
         {cleanup}\
         cat > {dir}/askpass <<'ASKPASS'\n\
         #!/bin/sh\n\
         case \"$1\" in Username*) printf '%s\\n' \"$SERVOS_GIT_USER\" ;; *) printf '%s\\n' \"$SERVOS_GIT_TOKEN\" ;; esac\n\
         ASKPASS\n\
         chmod 700 {dir}/askpass\n\
         export GIT_ASKPASS={dir}/askpass GIT_TERMINAL_PROMPT=0\n\
         {body}\n"
    )
}

/// `git` with credential helpers off (none may store the token).
const GIT: &str = "git -c credential.helper=";

/// The body that prints the head commit of `branch` of `url`.
pub fn ls_remote(url: &str, branch: &str) -> String {
    format!(
        "{GIT} ls-remote -- {} {}",
        quote(url),
        quote(&format!("refs/heads/{branch}"))
    )
}

/// The body that fetches exactly `commit` of `url` (shallow) and checks it
/// out in `{dir}/src`.
pub fn fetch(dir: &str, url: &str, commit: &str) -> String {
    let src = quote_path(dir, "src");
    format!(
        "rm -rf -- {src}\n\
         git init -q {src}\n\
         {GIT} -C {src} fetch -q --depth 1 --no-tags -- {} {}\n\
         git -C {src} -c advice.detachedHead=false checkout -q FETCH_HEAD\n\
         rm -f -- {}/askpass",
        quote(url),
        quote(commit),
        quote(dir)
    )
}

/// `dir/name`, quoted.
fn quote_path(dir: &str, name: &str) -> String {
    quote(&format!("{dir}/{name}")).into_owned()
}

/// The commit `git ls-remote` printed for the branch: 40 (or 64) hex
/// digits, lower-case.
pub fn head_of(output: &str) -> Option<String> {
    let line = output.lines().next()?;
    let commit = line.split_whitespace().next()?;
    is_commit(commit).then(|| commit.to_owned())
}

/// True for a full commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex.
pub fn is_commit(text: &str) -> bool {
    matches!(text.len(), 40 | 64)
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_only_in_the_input() {
        let login = GitLogin {
            username: "bot".into(),
            token: SecretText::new("t0ken-value".into()),
        };
        let input = stdin_of(Some(&login)).expect("feedable");
        assert_eq!(input.expose(), "bot\nt0ken-value\n");
        let text = script(
            "/var/lib/servos/builds/x",
            true,
            &fetch("/d", "https://h/r.git", "a"),
        );
        assert!(!text.contains("t0ken-value"));
        assert!(text.contains("credential.helper="));
        assert_eq!(stdin_of(None).expect("none").expose(), "\n\n");
        let broken = GitLogin {
            username: "bot".into(),
            token: SecretText::new("a\nb".into()),
        };
        assert!(stdin_of(Some(&broken)).is_err());
    }

    #[test]
    fn heads_are_full_commit_ids() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            head_of(&format!("{sha}\trefs/heads/main\n")),
            Some(sha.into())
        );
        assert_eq!(head_of(""), None);
        assert_eq!(head_of("ABC\trefs/heads/main"), None);
        assert!(!is_commit("0123"));
    }
}
