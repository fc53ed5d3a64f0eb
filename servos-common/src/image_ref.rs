//! Docker image references, `[registry[:port]/]repository[:tag][@sha256:digest]`,
//! checked by the grammar of Docker's `distribution/reference` package so
//! that what is stored is what `docker pull` accepts, and nothing else.

use std::fmt;

/// Longest accepted reference, in bytes.
pub const MAX_LEN: usize = 512;
/// Longest name (registry and repository), in bytes, as Docker limits it.
const MAX_NAME_LEN: usize = 255;
/// Longest tag, in bytes.
const MAX_TAG_LEN: usize = 128;

/// Why a text is not an image reference. Carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// Nothing given.
    #[error("is empty")]
    Empty,
    /// Longer than [`MAX_LEN`] bytes, or a name longer than Docker allows.
    #[error("is too long (at most {MAX_LEN} bytes, {MAX_NAME_LEN} for the name)")]
    TooLong,
    /// Whitespace, a control character or a non-ASCII character.
    #[error("contains whitespace, a control character or a non-ASCII character")]
    BadCharacter,
    /// The registry part is not `host[:port]`.
    #[error("has an invalid registry host or port")]
    BadRegistry,
    /// The repository path breaks Docker's rules.
    #[error(
        "has an invalid repository: lowercase letters and digits, separated by '.', '_', '__' or dashes, in '/'-separated parts"
    )]
    BadRepository,
    /// The tag breaks Docker's rules.
    #[error("has an invalid tag: up to {MAX_TAG_LEN} letters, digits, '_', '.' or '-', not starting with '.' or '-'")]
    BadTag,
    /// The digest is not `sha256:` and 64 lowercase hex digits.
    #[error("has an invalid digest: it must be sha256: followed by 64 lowercase hex digits")]
    BadDigest,
}

/// A valid image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    text: String,
    registry: Option<String>,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Parses `raw` (surrounding whitespace is not trimmed: it is refused).
    pub fn parse(raw: &str) -> Result<Self, ImageRefError> {
        if raw.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(ImageRefError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ImageRefError::BadCharacter);
        }
        let (rest, digest) = match raw.split_once('@') {
            Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
            None => (raw, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => {
                let at = last_slash + colon;
                (&rest[..at], Some(check_tag(&rest[at + 1..])?))
            }
            None => (rest, None),
        };
        if name.len() > MAX_NAME_LEN {
            return Err(ImageRefError::TooLong);
        }
        let (registry, repository) = split_registry(name);
        if let Some(registry) = registry {
            check_registry(registry)?;
        }
        check_repository(repository)?;
        Ok(Self {
            text: raw.to_owned(),
            registry: registry.map(str::to_owned),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The reference as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The registry, `host[:port]`, when the reference names one (else Docker Hub).
    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// The repository path (`library/nginx`, `team/app`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, `sha256:...`, if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Docker takes the first part as a registry when it looks like a host:
/// it has a dot or a port, or is `localhost`, or has an uppercase letter.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_digest(digest: &str) -> Result<&str, ImageRefError> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or(ImageRefError::BadDigest)?;
    let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if valid {
        Ok(digest)
    } else {
        Err(ImageRefError::BadDigest)
    }
}

fn check_tag(tag: &str) -> Result<&str, ImageRefError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = tag.len() <= MAX_TAG_LEN
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(tag)
    } else {
        Err(ImageRefError::BadTag)
    }
}

fn check_registry(registry: &str) -> Result<(), ImageRefError> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !registry.ends_with(']') => {
            (host, Some(port))
        }
        _ => (registry, None),
    };
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(ImageRefError::BadRegistry);
        }
    }
    let valid = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ipv6) => ipv6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && host.split('.').all(host_label),
    };
    if valid {
        Ok(())
    } else {
        Err(ImageRefError::BadRegistry)
    }
}

/// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn host_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

fn check_repository(repository: &str) -> Result<(), ImageRefError> {
    if repository.split('/').all(path_component) {
        Ok(())
    } else {
        Err(ImageRefError::BadRepository)
    }
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn path_component(component: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let run = bytes[i..].iter().take_while(|b| alnum(b)).count();
        if run == 0 {
            return false;
        }
        i += run;
        if i == bytes.len() {
            return true;
        }
        let sep = &bytes[i..bytes[i..]
            .iter()
            .position(alnum)
            .map_or(bytes.len(), |p| i + p)];
        let valid = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|b| *b == b'-');
        if !valid {
            return false;
        }
        i += sep.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_what_docker_pulls() {
        for ok in [
            "nginx",
            "nginx:1.27-alpine",
            "library/nginx:latest",
            "ghcr.io/acme/web:v1.2.3",
            "registry.example.com:5000/team/app",
            "localhost/app:dev",
            "localhost:5000/a__b/c-d/e.f_g:TAG_1",
            "127.0.0.1:5000/app",
            "[::1]:5000/app:1",
            "a---b/c",
        ] {
            assert!(ImageRef::parse(ok).is_ok(), "{ok}");
        }
        let pinned = format!("ghcr.io/acme/web:1@{DIGEST}");
        let image = ImageRef::parse(&pinned).expect("pinned");
        assert_eq!(image.registry(), Some("ghcr.io"));
        assert_eq!(image.repository(), "acme/web");
        assert_eq!(image.tag(), Some("1"));
        assert_eq!(image.digest(), Some(DIGEST));
        assert_eq!(image.as_str(), pinned);
        let hub = ImageRef::parse("team/app").expect("hub");
        assert_eq!(
            (hub.registry(), hub.repository(), hub.tag()),
            (None, "team/app", None)
        );
        let port = ImageRef::parse("localhost:5000/app").expect("port");
        assert_eq!(
            (port.registry(), port.tag()),
            (Some("localhost:5000"), None)
        );
    }

    #[test]
    fn refuses_everything_else() {
        use ImageRefError::*;
        let long_name = format!("{}/app", "a".repeat(300));
        for (bad, why) in [
            ("", Empty),
            (" nginx", BadCharacter),
            ("nginx ", BadCharacter),
            ("ngi nx", BadCharacter),
            ("nginx\n", BadCharacter),
            ("nginx\t:1", BadCharacter),
            ("nginé", BadCharacter),
            ("Nginx", BadRepository),
            ("app/", BadRepository),
            ("/app", BadRepository),
            ("a//b", BadRepository),
            ("a..b", BadRepository),
            ("a___b", BadRepository),
            ("-a", BadRepository),
            ("a-", BadRepository),
            ("nginx:", BadTag),
            ("nginx:.x", BadTag),
            ("nginx:a:b", BadRepository),
            ("registry.example.com:0/app", BadRegistry),
            ("registry.example.com:70000/app", BadRegistry),
            ("registry.example.com:x/app", BadRegistry),
            ("-bad.example.com/app", BadRegistry),
            ("[zz]:5000/app", BadRegistry),
            ("app@sha256:abc", BadDigest),
            ("app@md5:0123", BadDigest),
            (long_name.as_str(), TooLong),
        ] {
            assert_eq!(ImageRef::parse(bad).err(), Some(why), "{bad:?}");
        }
        let tag = format!("app:{}", "t".repeat(129));
        assert_eq!(ImageRef::parse(&tag).err(), Some(BadTag));
        assert_eq!(ImageRef::parse(&"a".repeat(600)).err(), Some(TooLong));
    }
}
