//! Validation of account input: emails and new passwords.

use servos_common::secret::SecretText;

use crate::error::ServiceError;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Trims and lowercases an email and checks its shape.
pub fn email(raw: &str) -> Result<String, ServiceError> {
    let email = raw.trim().to_lowercase();
    let valid = (3..=254).contains(&email.len())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(ServiceError::invalid(
            "email",
            "must be an email address like ops@example.com",
        ))
    }
}

/// Checks a new password's length; the message never echoes it.
pub fn new_password(password: &SecretText) -> Result<(), ServiceError> {
    let text = password.expose();
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServiceError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(ServiceError::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email(" Ops@Example.COM ").ok(),
            Some("ops@example.com".into())
        );
        for bad in ["", "a", "no-at-sign", "@x", "x@", "a b@c", "a@b@c"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(new_password(&SecretText::new("short".into())).is_err());
        assert!(new_password(&SecretText::new("long enough pass".into())).is_ok());
        assert!(new_password(&SecretText::new("x".repeat(2000))).is_err());
    }
}
