//! Configuration, read once at start from the environment (or flags).
//! Each setting is documented where it is declared.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::store::DatabaseTarget;

/// Settings of `servos-api serve` and the other subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Data directory: the SQLite database and the first-run setup token.
    #[arg(long, env = "SERVOS_DATA_DIR", default_value = "/var/lib/servos")]
    pub data_dir: PathBuf,
    /// `postgres://...` selects PostgreSQL; unset means SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address to listen on, host:port.
    #[arg(long, env = "SERVOS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// PEM certificate chain; with `--tls-key`, the API serves HTTPS itself.
    #[arg(long, env = "SERVOS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "SERVOS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The URL users reach the API at (e.g. behind a reverse proxy); its
    /// origin is the only one accepted for state-changing requests, and
    /// `https://` makes cookies `Secure`.
    #[arg(long, env = "SERVOS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed, comma-separated IPs.
    #[arg(long, env = "SERVOS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// General rate limit per client IP: `REQUESTS/SECONDS`.
    #[arg(long, env = "SERVOS_RATE_LIMIT", default_value = "200/30", value_parser = parse_rate)]
    pub rate_limit: (u32, u64),
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "SERVOS_SESSION_IDLE_MINUTES", default_value_t = 720)]
    pub session_idle_minutes: u32,
    /// Hours after login at which a session ends regardless of activity.
    #[arg(long, env = "SERVOS_SESSION_MAX_HOURS", default_value_t = 168)]
    pub session_max_hours: u32,
    /// Seconds to connect, verify the host key and authenticate over SSH.
    #[arg(long, env = "SERVOS_SSH_CONNECT_TIMEOUT", default_value_t = 10)]
    pub ssh_connect_timeout: u64,
    /// Seconds one remote command may run.
    #[arg(long, env = "SERVOS_SSH_COMMAND_TIMEOUT", default_value_t = 120)]
    pub ssh_command_timeout: u64,
    /// Database connections per API process.
    #[arg(long, env = "SERVOS_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,
    /// Log format: `text` or `json`.
    #[arg(long, env = "SERVOS_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Deployments one API process runs at a time.
    #[arg(long, env = "SERVOS_DEPLOY_WORKERS", default_value_t = 4)]
    pub deploy_workers: usize,
    /// Servers one API process deploys to at a time, over all its deployments.
    #[arg(long, env = "SERVOS_DEPLOY_SERVER_PARALLELISM", default_value_t = 10)]
    pub deploy_server_parallelism: usize,
    /// Seconds a worker's claim on a deployment lasts unless renewed; the
    /// deployment of a process that stopped is taken over after that.
    #[arg(long, env = "SERVOS_DEPLOY_LEASE_SECS", default_value_t = 30)]
    pub deploy_lease_secs: u64,
    /// Seconds the old container may take to finish its requests once the
    /// proxy sends new ones to its successor.
    #[arg(long, env = "SERVOS_DEPLOY_DRAIN_SECS", default_value_t = 30)]
    pub deploy_drain_secs: u64,
    /// Seconds a stopping process lets its running deployments go on; one
    /// still running then is left for another process to take over at once.
    #[arg(long, env = "SERVOS_DEPLOY_STOP_GRACE_SECS", default_value_t = 60)]
    pub deploy_stop_grace_secs: u64,
    /// The loopback ports of each server that containers are published on,
    /// `FIRST-LAST`; the proxy reaches applications there.
    #[arg(long, env = "SERVOS_DEPLOY_PORTS", default_value = "20000-29999", value_parser = parse_ports)]
    pub deploy_ports: RangeInclusive<u16>,
    /// Certificates of application domains on the servers' proxies: `acme`
    /// (public names get certificates from an ACME CA; names under
    /// `.internal`, `.test`, `.localhost`, `.local`, `.lan`, `.example` and
    /// `.invalid` get the proxy's internal CA) or `internal` (always the
    /// internal CA, for private networks).
    #[arg(long, env = "SERVOS_PROXY_TLS", default_value = "acme")]
    pub proxy_tls: crate::proxy::TlsMode,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_rate(text: &str) -> Result<(u32, u64), String> {
    let (requests, seconds) = text
        .split_once('/')
        .ok_or("expected REQUESTS/SECONDS, e.g. 200/30")?;
    let requests = requests.trim().parse::<u32>().map_err(|e| e.to_string())?;
    let seconds = seconds.trim().parse::<u64>().map_err(|e| e.to_string())?;
    if requests == 0 || seconds == 0 {
        return Err("both numbers must be positive".into());
    }
    Ok((requests, seconds))
}

/// `FIRST-LAST`: at least 10 ports, none privileged (below 1024).
fn parse_ports(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (first, last) = text
        .split_once('-')
        .ok_or("expected FIRST-LAST, e.g. 20000-29999")?;
    let first = first.trim().parse::<u16>().map_err(|e| e.to_string())?;
    let last = last.trim().parse::<u16>().map_err(|e| e.to_string())?;
    if first < 1024 {
        return Err("ports below 1024 are privileged".into());
    }
    if last < first.saturating_add(9) {
        return Err("the range needs at least 10 ports".into());
    }
    Ok(first..=last)
}

/// PEM files for serving HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The resolved configuration the running API uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database.
    pub database: DatabaseTarget,
    /// Listen address.
    pub listen: SocketAddr,
    /// HTTPS, when served directly.
    pub tls: Option<TlsFiles>,
    /// `scheme://host[:port]` of `SERVOS_PUBLIC_URL`.
    pub public_origin: Option<String>,
    /// Trusted reverse proxies.
    pub trusted_proxies: Vec<IpAddr>,
    /// General per-IP limit: requests per window.
    pub rate_limit: (u32, Duration),
    /// Session idle timeout.
    pub session_idle_timeout: chrono::Duration,
    /// Session absolute lifetime.
    pub session_max_age: chrono::Duration,
    /// Pool size.
    pub db_pool_size: u32,
    /// SSH time limits.
    pub ssh_timeouts: crate::ssh::Timeouts,
    /// The deploy engine.
    pub deploy: crate::deploy::DeploySettings,
}

impl Config {
    /// Resolves settings; the error names the setting at fault.
    pub fn from_settings(s: &Settings) -> Result<Self, String> {
        let public_origin = s.public_url.as_deref().map(origin_of).transpose()?;
        Ok(Self {
            database: DatabaseTarget::from_env(s.database_url.as_deref(), &s.data_dir),
            data_dir: s.data_dir.clone(),
            listen: s.listen,
            tls: match (&s.tls_cert, &s.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            public_origin,
            trusted_proxies: s.trusted_proxies.clone(),
            rate_limit: (s.rate_limit.0, Duration::from_secs(s.rate_limit.1)),
            session_idle_timeout: chrono::Duration::minutes(i64::from(
                s.session_idle_minutes.max(1),
            )),
            session_max_age: chrono::Duration::hours(i64::from(s.session_max_hours.max(1))),
            db_pool_size: s.db_pool_size.max(1),
            ssh_timeouts: crate::ssh::Timeouts {
                connect: Duration::from_secs(s.ssh_connect_timeout.max(1)),
                command: Duration::from_secs(s.ssh_command_timeout.max(1)),
            },
            deploy: crate::deploy::DeploySettings {
                workers: s.deploy_workers.max(1),
                server_parallelism: s.deploy_server_parallelism.max(1),
                lease: Duration::from_secs(s.deploy_lease_secs.max(3)),
                drain: Duration::from_secs(s.deploy_drain_secs),
                stop_grace: Duration::from_secs(s.deploy_stop_grace_secs),
                proxy_tls: s.proxy_tls,
                host_ports: s.deploy_ports.clone(),
                ..crate::deploy::DeploySettings::default()
            },
        })
    }

    /// Defaults for a data directory and database (used by tests and tools).
    pub fn new(data_dir: PathBuf, database: DatabaseTarget) -> Self {
        Self {
            data_dir,
            database,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            public_origin: None,
            trusted_proxies: Vec::new(),
            rate_limit: (200, Duration::from_secs(30)),
            session_idle_timeout: chrono::Duration::minutes(720),
            session_max_age: chrono::Duration::hours(168),
            db_pool_size: 8,
            ssh_timeouts: crate::ssh::Timeouts::default(),
            deploy: crate::deploy::DeploySettings::default(),
        }
    }

    /// True when users reach the API over HTTPS (cookies get `Secure`, HSTS is sent).
    pub fn secure_cookies(&self) -> bool {
        self.tls.is_some()
            || self
                .public_origin
                .as_deref()
                .is_some_and(|o| o.starts_with("https://"))
    }
}

/// `scheme://host[:port]` of a URL, lowercased.
fn origin_of(url: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("SERVOS_PUBLIC_URL must look like https://servos.example.com")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("SERVOS_PUBLIC_URL must start with http:// or https://".into());
    }
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err("SERVOS_PUBLIC_URL has no host".into());
    }
    Ok(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_origins() {
        assert_eq!(parse_rate("200/30"), Ok((200, 30)));
        assert!(parse_rate("0/30").is_err() && parse_rate("abc").is_err());
        assert_eq!(parse_ports("20000-29999"), Ok(20000..=29999));
        assert_eq!(parse_ports(" 40000 - 40009 "), Ok(40000..=40009));
        for bad in [
            "20000",
            "80-2000",
            "30000-20000",
            "30000-30008",
            "1-x",
            "20000-70000",
        ] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
        assert_eq!(
            origin_of("HTTPS://Servos.Example.com/ui/"),
            Ok("https://servos.example.com".into())
        );
        assert!(origin_of("ftp://x").is_err() && origin_of("nohost").is_err());
    }
}
