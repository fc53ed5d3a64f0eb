//! The reverse proxy on each run server, which ServOS installs and drives:
//! one route per application (its domain, or `<app>.servos.internal`),
//! whose upstream a deploy switches to the new container in one change.
//! `caddy.rs` speaks Caddy's admin API through the SSH session;
//! `handover.rs` keeps its reloads from resetting arriving connections.

pub mod caddy;
pub mod handover;

use crate::ssh::SshError;

/// Where application domains get their certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// Public names from an ACME CA (Let's Encrypt); names under a private
    /// or reserved suffix from the proxy's internal CA.
    #[default]
    Acme,
    /// Every name from the proxy's internal CA (private networks, tests).
    Internal,
}

/// Suffixes no public CA issues for: their names always use the internal CA.
const PRIVATE_SUFFIXES: [&str; 8] = [
    ".internal",
    ".test",
    ".localhost",
    ".local",
    ".lan",
    ".example",
    ".invalid",
    ".home.arpa",
];

/// The suffix of the host names of applications without a domain.
pub const DEFAULT_SUFFIX: &str = "servos.internal";

/// One application's route on a server's proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The application id (names the route and its TLS policy).
    pub app_id: String,
    /// The host name it answers.
    pub host: String,
    /// True when its certificate comes from the internal CA.
    pub internal_tls: bool,
}

impl Route {
    /// The route of an application with `domain` (or none) and `name`.
    pub fn new(app_id: &str, name: &str, domain: Option<&str>, tls: TlsMode) -> Self {
        let host = domain.map_or_else(|| format!("{}.{DEFAULT_SUFFIX}", slug(name)), str::to_owned);
        let internal_tls = tls == TlsMode::Internal
            || PRIVATE_SUFFIXES.iter().any(|suffix| host.ends_with(suffix));
        Self {
            app_id: app_id.to_owned(),
            host,
            internal_tls,
        }
    }
}

/// `name` as one DNS label and container-name part: lowercase ASCII letters,
/// digits and single dashes, at most 40 characters (`app` when nothing is left).
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "app".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Why driving the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The SSH session failed.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// The admin API refused a change.
    #[error("the proxy's admin API answered {status} to {what}: {body}")]
    Refused {
        /// What was asked.
        what: &'static str,
        /// HTTP status.
        status: u16,
        /// The start of its answer.
        body: String,
    },
    /// The proxy is missing and could not be installed, or does not start.
    #[error("the proxy is not available: {0}")]
    Unavailable(String),
    /// Something else answers on the admin port.
    #[error("{0}")]
    Foreign(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_pick_their_host_and_issuer() {
        let internal = Route::new("a1", "My Web App!", None, TlsMode::Acme);
        assert_eq!(internal.host, "my-web-app.servos.internal");
        assert!(internal.internal_tls);
        let public = Route::new("a1", "web", Some("shop.example.com"), TlsMode::Acme);
        assert!(!public.internal_tls);
        assert!(Route::new("a1", "web", Some("shop.example.com"), TlsMode::Internal).internal_tls);
        assert!(Route::new("a1", "web", Some("web.lab.test"), TlsMode::Acme).internal_tls);
        assert_eq!(slug("---"), "app");
        assert_eq!(slug(&"x".repeat(80)).len(), 40);
    }
}
