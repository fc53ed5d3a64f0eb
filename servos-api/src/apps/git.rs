//! An application built from git: its repository, branch, Dockerfile,
//! build context, build arguments (secret ones sealed, never shown),
//! builder server and git credential, as a client sends them
//! (`GitSourceSpec`) and once validated (`GitSource`). The checks name the
//! field at fault (`git.url`, ...) and never echo a value.

use std::collections::BTreeMap;

use serde::Deserialize;
use servos_common::secret::SecretText;

use crate::store::ids::ServerId;

use super::validate::{self, Invalid};

/// Longest repository URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest branch name, in bytes.
pub const MAX_BRANCH_LEN: usize = 200;
/// Longest Dockerfile or context path, in bytes.
pub const MAX_PATH_LEN: usize = 1024;
/// Most build arguments of one application.
pub const MAX_BUILD_ARGS: usize = 100;
/// Longest build argument value, in bytes.
pub const MAX_BUILD_ARG_VALUE: usize = 4096;

/// One build argument as a client sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildArgSpec {
    /// The value: at most 4096 bytes, no NUL. Required, except for a secret
    /// argument the application already has: left out, it keeps its value.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 4096, pattern = r"^[^\x00]*$")]
    pub value: Option<SecretText>,
    /// Stored encrypted and never shown (`********`) when true.
    #[serde(default)]
    pub secret: bool,
}

/// Where an application is built from, as a client sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GitSourceSpec {
    /// Repository: `https://host/path`, `ssh://[user@]host[:port]/path` or
    /// `user@host:path`; no credentials in it (use `git_credential_id`), no
    /// whitespace, at most 2048 bytes.
    #[schema(
        pattern = r"^(https://[A-Za-z0-9][A-Za-z0-9.-]*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/[^\s\x00-\x1f\x7f-\x9f@-][^\s\x00-\x1f\x7f-\x9f@]*|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/[^\s\x00-\x1f\x7f-\x9f-][^\s\x00-\x1f\x7f-\x9f]*|[A-Za-z0-9._-]+@[A-Za-z0-9][A-Za-z0-9.-]*:[^\s\x00-\x1f\x7f-\x9f-][^\s\x00-\x1f\x7f-\x9f]*)$",
        max_length = 2048
    )]
    pub url: String,
    /// Branch to build (`main`, not `refs/heads/main`).
    #[schema(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9._/-]+$")]
    pub branch: String,
    /// Path of the Dockerfile in the repository (default `Dockerfile`):
    /// relative, no `..` component.
    #[serde(default = "default_dockerfile")]
    #[schema(
        default = "Dockerfile",
        max_length = 1024,
        pattern = r"^(\.|\.\.[^/\\\x00-\x1f\x7f-\x9f]+|\.?[^/\\\x00-\x1f\x7f-\x9f.][^/\\\x00-\x1f\x7f-\x9f]*)(/(\.|\.\.[^/\\\x00-\x1f\x7f-\x9f]+|\.?[^/\\\x00-\x1f\x7f-\x9f.][^/\\\x00-\x1f\x7f-\x9f]*))*$"
    )]
    pub dockerfile: String,
    /// Build context in the repository (default `.`): relative, no `..`
    /// component.
    #[serde(default = "default_context")]
    #[schema(
        default = ".",
        max_length = 1024,
        pattern = r"^(\.|\.\.[^/\\\x00-\x1f\x7f-\x9f]+|\.?[^/\\\x00-\x1f\x7f-\x9f.][^/\\\x00-\x1f\x7f-\x9f]*)(/(\.|\.\.[^/\\\x00-\x1f\x7f-\x9f]+|\.?[^/\\\x00-\x1f\x7f-\x9f.][^/\\\x00-\x1f\x7f-\x9f]*))*$"
    )]
    pub context: String,
    /// Build arguments by name (names like environment variables, at most 100).
    #[serde(default)]
    pub build_args: BTreeMap<String, BuildArgSpec>,
    /// The server that builds: it must have the `build` role.
    #[schema(format = Uuid)]
    pub builder_server_id: String,
    /// Git credential to clone with (none for a public repository).
    #[serde(default)]
    #[schema(format = Uuid)]
    pub git_credential_id: Option<String>,
}

fn default_dockerfile() -> String {
    "Dockerfile".into()
}

fn default_context() -> String {
    ".".into()
}

/// A build argument's value once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildArgValue {
    /// Stored and shown in clear.
    Clear(String),
    /// A new secret value, to be sealed.
    NewSecret(SecretText),
    /// The secret value the application has (sealed in the database).
    KeptSecret,
}

impl BuildArgValue {
    /// True for a secret value, new or kept.
    pub fn is_secret(&self) -> bool {
        !matches!(self, Self::Clear(_))
    }
}

/// A validated git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// Repository URL.
    pub url: String,
    /// Branch.
    pub branch: String,
    /// Dockerfile path.
    pub dockerfile: String,
    /// Build context.
    pub context: String,
    /// Build arguments by name.
    pub build_args: BTreeMap<String, BuildArgValue>,
    /// The builder server.
    pub builder_server_id: ServerId,
    /// Git credential to clone with.
    pub git_credential_id: Option<String>,
}

/// The audited names of a git source's fields.
pub const GIT_FIELDS: [&str; 7] = [
    "git.url",
    "git.branch",
    "git.dockerfile",
    "git.context",
    "git.build_args",
    "git.builder_server_id",
    "git.git_credential_id",
];

impl GitSource {
    /// Validates every field (references are checked later, inside the
    /// transaction that stores them).
    pub fn from_spec(spec: GitSourceSpec) -> Result<Self, Invalid> {
        Ok(Self {
            url: url(&spec.url)?,
            branch: branch("git.branch", &spec.branch)?,
            dockerfile: relative_path("git.dockerfile", &spec.dockerfile)?,
            context: relative_path("git.context", &spec.context)?,
            build_args: build_args(spec.build_args)?,
            builder_server_id: ServerId::from(validate::id(
                "git.builder_server_id",
                &spec.builder_server_id,
            )?),
            git_credential_id: spec
                .git_credential_id
                .map(|id| validate::id("git.git_credential_id", &id))
                .transpose()?,
        })
    }

    /// The names of the fields that differ from `old` (all of them when
    /// there was no git source); a new secret value counts as a change.
    pub fn changed_fields(&self, old: Option<&GitSource>) -> Vec<&'static str> {
        let Some(old) = old else {
            return GIT_FIELDS.to_vec();
        };
        let args_changed = self.build_args.len() != old.build_args.len()
            || self.build_args.iter().any(|(name, value)| {
                matches!(value, BuildArgValue::NewSecret(_))
                    || old.build_args.get(name).is_none_or(|was| was != value)
            });
        let changed = [
            self.url != old.url,
            self.branch != old.branch,
            self.dockerfile != old.dockerfile,
            self.context != old.context,
            args_changed,
            self.builder_server_id != old.builder_server_id,
            self.git_credential_id != old.git_credential_id,
        ];
        GIT_FIELDS
            .into_iter()
            .zip(changed)
            .filter_map(|(field, changed)| changed.then_some(field))
            .collect()
    }
}

/// A repository URL git can clone without a secret in it: `https://`,
/// `ssh://` or scp-like `user@host:path`.
pub fn url(raw: &str) -> Result<String, Invalid> {
    let invalid = |problem: &str| Err(Invalid::new("git.url", problem));
    if raw.is_empty() || raw.len() > MAX_URL_LEN {
        return invalid(&format!("must be 1 to {MAX_URL_LEN} bytes"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain whitespace or control characters");
    }
    let (authority, path, user_allowed) = if let Some(rest) = raw.strip_prefix("https://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        (authority, path, false)
    } else if let Some(rest) = raw.strip_prefix("ssh://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        (authority, path, true)
    } else if !raw.contains("://") && raw.contains('@') {
        // scp-like: user@host:path, where the host has no port.
        let Some((authority, path)) = raw.split_once(':') else {
            return invalid("a scp-like URL is user@host:path");
        };
        if authority.contains(':') {
            return invalid("a scp-like URL is user@host:path");
        }
        (authority, path, true)
    } else {
        return invalid("must be https://host/path, ssh://[user@]host/path or user@host:path");
    };
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    if let Some(user) = user {
        if !user_allowed || user.contains(':') || user.contains('@') {
            return invalid("must not contain credentials; use git_credential_id");
        }
        if user.is_empty()
            || !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return invalid("the user name must be letters, digits, '.', '_' or '-'");
        }
    }
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    let host_ok = !host.is_empty()
        && !host.starts_with(['-', '.'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !host_ok {
        return invalid("the host must be letters, digits, '.' and '-'");
    }
    if let Some(port) = port {
        if port.parse::<u16>().ok().filter(|p| *p > 0).is_none() || port.starts_with('0') {
            return invalid("the port must be 1 to 65535");
        }
    }
    if path.is_empty() || path.starts_with('-') {
        return invalid("must name a repository path");
    }
    if !user_allowed && path.contains('@') {
        return invalid("must not contain credentials; use git_credential_id");
    }
    Ok(raw.to_owned())
}

/// A branch name git would take (`main`, `release/1.2`), for `field`.
pub fn branch(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    let plain = !name.is_empty()
        && name.len() <= MAX_BRANCH_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.starts_with("refs/");
    if plain {
        Ok(name.to_owned())
    } else {
        Err(Invalid::new(
            field,
            "must be a branch name such as main or release/1.2 (letters, digits, . _ / -; \
             no .., no refs/ prefix)",
        ))
    }
}

/// A path inside the repository: relative, no `..` component, no control
/// character or backslash, at most [`MAX_PATH_LEN`] bytes.
pub fn relative_path(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let valid = !raw.is_empty()
        && raw.len() <= MAX_PATH_LEN
        && !raw.starts_with('/')
        && !raw.chars().any(|c| c.is_control() || c == '\\')
        && raw.split('/').all(|part| part != "..");
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(Invalid::new(
            field,
            format!(
                "must be a relative path in the repository (no leading /, no .. component, \
                 no control character or backslash), 1 to {MAX_PATH_LEN} bytes"
            ),
        ))
    }
}

/// Build arguments: names like environment variables, values of at most
/// [`MAX_BUILD_ARG_VALUE`] bytes without NUL; a secret argument without a
/// value keeps the one stored (checked when it is stored).
pub fn build_args(
    raw: BTreeMap<String, BuildArgSpec>,
) -> Result<BTreeMap<String, BuildArgValue>, Invalid> {
    const FIELD: &str = "git.build_args";
    if raw.len() > MAX_BUILD_ARGS {
        return Err(Invalid::new(
            FIELD,
            format!("at most {MAX_BUILD_ARGS} arguments"),
        ));
    }
    let mut args = BTreeMap::new();
    for (name, arg) in raw {
        if servos_common::env_file::validate_name(&name).is_err() {
            return Err(Invalid::new(
                FIELD,
                "names must be a letter or _ then letters, digits and _",
            ));
        }
        let value = match (arg.value, arg.secret) {
            (None, true) => BuildArgValue::KeptSecret,
            (None, false) => {
                return Err(Invalid::new(FIELD, format!("{name}: needs a value")));
            }
            (Some(value), secret) => {
                let text = value.expose();
                if text.len() > MAX_BUILD_ARG_VALUE || text.contains('\0') {
                    return Err(Invalid::new(
                        FIELD,
                        format!("{name}: values must be at most {MAX_BUILD_ARG_VALUE} bytes without NUL"),
                    ));
                }
                if secret {
                    BuildArgValue::NewSecret(value)
                } else {
                    BuildArgValue::Clear(text.to_owned())
                }
            }
        };
        args.insert(name, value);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_secrets() {
        for good in [
            "https://github.com/org/repo.git",
            "https://git.example.com:8443/org/repo",
            "ssh://git@github.com/org/repo.git",
            "ssh://git.example.com:2222/srv/repo.git",
            "git@github.com:org/repo.git",
            "git@host:/srv/repo.git",
        ] {
            assert_eq!(url(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "http://github.com/org/repo",
            "file:///srv/repo",
            "git://github.com/org/repo",
            "https://user:token@github.com/org/repo",
            "https://token@github.com/org/repo",
            "ssh://git:pw@github.com/org/repo",
            "https://github.com",
            "https://github.com/",
            "https://github.com/org repo",
            "https://github.com/org/repo\n",
            "ssh://-oProxyCommand=x/repo",
            "git@-oProxyCommand=x:repo",
            "git@host:-repo",
            "github.com:org/repo",
            "https://host:0/repo",
            "https://host:99999/repo",
        ] {
            assert_eq!(url(bad).map_err(|e| e.field), Err("git.url"), "{bad}");
        }
        let long = format!("https://h.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(url(&long).is_err());
        let canary = "https://u:CANARY@h.com/r";
        let error = url(canary).expect_err("credentials");
        assert!(!error.to_string().contains("CANARY"));
    }

    #[test]
    fn branches_git_would_take() {
        for good in ["main", "release/1.2", "feature_x-1"] {
            assert_eq!(branch("branch", good).ok().as_deref(), Some(good));
        }
        for bad in [
            "",
            "refs/heads/main",
            "a..b",
            "-x",
            "x/",
            "x.lock",
            "a b",
            "a//b",
            ".x",
            "ü",
        ] {
            assert_eq!(
                branch("git.branch", bad).map_err(|e| e.field),
                Err("git.branch"),
                "{bad}"
            );
        }
    }

    #[test]
    fn relative_paths() {
        for good in [
            "Dockerfile",
            ".",
            "docker/Dockerfile.prod",
            "a/./b",
            "..a/b..",
        ] {
            assert!(relative_path("git.context", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "..",
            "a/../b",
            "a/..",
            "a\\b",
            "a\nb",
            "a\0b",
        ] {
            assert!(relative_path("git.context", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn build_args_checked() {
        let arg = |value: Option<&str>, secret| BuildArgSpec {
            value: value.map(|v| SecretText::new(v.to_owned())),
            secret,
        };
        let ok = BTreeMap::from([
            ("VERSION".to_owned(), arg(Some("1.2"), false)),
            ("TOKEN".to_owned(), arg(Some("s3cret"), true)),
            ("KEPT".to_owned(), arg(None, true)),
        ]);
        let args = build_args(ok).expect("valid");
        assert_eq!(args["VERSION"], BuildArgValue::Clear("1.2".into()));
        assert_eq!(args["KEPT"], BuildArgValue::KeptSecret);
        assert!(args["TOKEN"].is_secret());
        for (name, value, secret) in [
            ("1X", Some("v"), false),
            ("A-B", Some("v"), false),
            ("", Some("v"), false),
            ("A", None, false),
            ("A", Some("a\0b"), true),
        ] {
            let raw = BTreeMap::from([(name.to_owned(), arg(value, secret))]);
            assert_eq!(build_args(raw).map_err(|e| e.field), Err("git.build_args"));
        }
        let long = "x".repeat(MAX_BUILD_ARG_VALUE + 1);
        let raw = BTreeMap::from([("A".to_owned(), arg(Some(&long), true))]);
        let error = build_args(raw).expect_err("too long");
        assert!(!error.to_string().contains(&long));
        let many = (0..=MAX_BUILD_ARGS)
            .map(|i| (format!("A{i}"), arg(Some("v"), false)))
            .collect();
        assert!(build_args(many).is_err());
    }
}
