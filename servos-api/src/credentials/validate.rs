//! Validation of credential fields (names, hosts); messages never echo secrets.

use crate::error::ServiceError;

/// Longest accepted name.
const MAX_NAME_CHARS: usize = 100;

/// A resource name: 1 to 100 printable characters, trimmed.
pub fn name(raw: &str) -> Result<String, ServiceError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A registry host, `host[:port]`, without scheme or path.
pub fn registry_host(raw: &str) -> Result<String, ServiceError> {
    let host = raw.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if valid {
        Ok(host)
    } else {
        Err(ServiceError::invalid(
            "host",
            "must be a registry host like registry.example.com or 127.0.0.1:5000, without scheme or path",
        ))
    }
}

/// A short plain value (user names): 1 to 256 printable characters.
pub fn plain(field: &'static str, raw: &str) -> Result<String, ServiceError> {
    let value = raw.trim();
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            "must be 1 to 256 printable characters",
        ));
    }
    Ok(value.to_owned())
}

/// A secret value: non-empty, at most 64 KiB; the message never echoes it.
pub fn secret(field: &'static str, value: &str) -> Result<(), ServiceError> {
    if value.is_empty() || value.len() > 64 * 1024 {
        return Err(ServiceError::invalid(field, "must be 1 byte to 64 KiB"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_names() {
        assert_eq!(
            registry_host(" Registry.Example.com:5000 ").ok(),
            Some("registry.example.com:5000".into())
        );
        for bad in ["", "https://x", "x/y", "a b"] {
            assert!(registry_host(bad).is_err(), "{bad}");
        }
        assert!(name("  ").is_err() && name("ok").is_ok());
        assert!(plain("username", "a\nb").is_err());
    }
}
