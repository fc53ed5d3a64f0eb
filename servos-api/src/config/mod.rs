//! Configuration, read once at start from the environment (or flags).
//! Each setting is documented where it is declared, and its default is in
//! [`defaults`]: the flags and [`Config::new`] both read it from there.
//! A value out of range is refused with the variable's name, never clamped.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::mesh::addressing::MeshCidr;
use crate::proxy::TlsMode;
use crate::store::DatabaseTarget;

pub mod defaults;
mod values;

pub use values::{PortRange, Rate};

/// The shortest lease: renewals come every third of it, at most every 2 s.
const MIN_LEASE_SECS: u64 = 3;

/// Settings of `servos-api serve` and the other subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Data directory: the SQLite database and the first-run setup token.
    #[arg(long, env = "SERVOS_DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,
    /// `postgres://...` selects PostgreSQL; unset means SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address to listen on, host:port.
    #[arg(long, env = "SERVOS_LISTEN", default_value = defaults::LISTEN)]
    pub listen: SocketAddr,
    /// A second address, plain HTTP, that answers only `/healthz` and
    /// `/readyz`, with a listener and a worker of its own: a monitor there
    /// never queues behind the clients of the main address.
    #[arg(long, env = "SERVOS_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,
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
    #[arg(long, env = "SERVOS_RATE_LIMIT", default_value_t = defaults::RATE_LIMIT)]
    pub rate_limit: Rate,
    /// Failed authentications (wrong token, password or setup token) per
    /// client IP before it is refused: `REQUESTS/SECONDS`.
    #[arg(long, env = "SERVOS_AUTH_FAILURE_LIMIT", default_value_t = defaults::AUTH_FAILURE_LIMIT)]
    pub auth_failure_limit: Rate,
    /// Seconds a client has to send a request's headers (once it connected,
    /// or once the keep-alive wait of 5 s after its previous request ran
    /// out), and again its body once the headers are in; a request not read
    /// by then is answered 408 or its connection closed.
    #[arg(long, env = "SERVOS_REQUEST_TIMEOUT_SECS", default_value_t = defaults::REQUEST_TIMEOUT_SECS)]
    pub request_timeout_secs: u64,
    /// Connections one client address may hold open at once (its requests
    /// in flight, for a client behind a trusted proxy); beyond it a request
    /// is answered 429 and its connection closed. Health probes are exempt.
    #[arg(long, env = "SERVOS_CONNECTIONS_PER_IP", default_value_t = defaults::CONNECTIONS_PER_IP)]
    pub connections_per_ip: u32,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "SERVOS_SESSION_IDLE_MINUTES", default_value_t = defaults::SESSION_IDLE_MINUTES)]
    pub session_idle_minutes: u32,
    /// Hours after login at which a session ends regardless of activity.
    #[arg(long, env = "SERVOS_SESSION_MAX_HOURS", default_value_t = defaults::SESSION_MAX_HOURS)]
    pub session_max_hours: u32,
    /// Seconds to connect, verify the host key and authenticate over SSH.
    #[arg(long, env = "SERVOS_SSH_CONNECT_TIMEOUT", default_value_t = defaults::SSH_CONNECT_TIMEOUT)]
    pub ssh_connect_timeout: u64,
    /// Seconds one remote command may run.
    #[arg(long, env = "SERVOS_SSH_COMMAND_TIMEOUT", default_value_t = defaults::SSH_COMMAND_TIMEOUT)]
    pub ssh_command_timeout: u64,
    /// Database connections per API process.
    #[arg(long, env = "SERVOS_DB_POOL_SIZE", default_value_t = defaults::DB_POOL_SIZE)]
    pub db_pool_size: u32,
    /// Log format: `text` or `json`.
    #[arg(long, env = "SERVOS_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Deployments one API process runs at a time.
    #[arg(long, env = "SERVOS_DEPLOY_WORKERS", default_value_t = defaults::DEPLOY_WORKERS)]
    pub deploy_workers: usize,
    /// Servers one API process deploys to at a time, over all its deployments.
    #[arg(long, env = "SERVOS_DEPLOY_SERVER_PARALLELISM", default_value_t = defaults::DEPLOY_SERVER_PARALLELISM)]
    pub deploy_server_parallelism: usize,
    /// Seconds a worker's claim on a deployment lasts unless renewed (at
    /// least 3); the deployment of a process that stopped is taken over
    /// after that.
    #[arg(long, env = "SERVOS_DEPLOY_LEASE_SECS", default_value_t = defaults::DEPLOY_LEASE_SECS)]
    pub deploy_lease_secs: u64,
    /// Seconds a build may take on its builder (fetch and `docker build`),
    /// and again its delivery to the run servers.
    #[arg(long, env = "SERVOS_BUILD_TIMEOUT_SECS", default_value_t = defaults::BUILD_TIMEOUT_SECS)]
    pub build_timeout_secs: u64,
    /// Seconds the old container may take to finish its requests once the
    /// proxy sends new ones to its successor.
    #[arg(long, env = "SERVOS_DEPLOY_DRAIN_SECS", default_value_t = defaults::DEPLOY_DRAIN_SECS)]
    pub deploy_drain_secs: u64,
    /// Seconds a stopping process lets its running deployments go on; one
    /// still running then is left for another process to take over at once.
    #[arg(long, env = "SERVOS_DEPLOY_STOP_GRACE_SECS", default_value_t = defaults::DEPLOY_STOP_GRACE_SECS)]
    pub deploy_stop_grace_secs: u64,
    /// The loopback ports of each server that containers are published on,
    /// `FIRST-LAST` (at least 10, none below 1024); the proxy reaches
    /// applications there.
    #[arg(long, env = "SERVOS_DEPLOY_PORTS", default_value_t = defaults::DEPLOY_PORTS)]
    pub deploy_ports: PortRange,
    /// Certificates of application domains on the servers' proxies: `acme`
    /// (public names get certificates from an ACME CA; names under
    /// `.internal`, `.test`, `.localhost`, `.local`, `.lan`, `.example` and
    /// `.invalid` get the proxy's internal CA) or `internal` (always the
    /// internal CA, for private networks).
    #[arg(long, env = "SERVOS_PROXY_TLS", default_value = "acme")]
    pub proxy_tls: TlsMode,
    /// The IPv4 network of the WireGuard mesh: node addresses in its lower
    /// half, one /24 of container addresses per node in its upper half (a
    /// /16 holds 128 nodes, a /12 2,048).
    #[arg(long, env = "SERVOS_MESH_CIDR", default_value = defaults::MESH_CIDR)]
    pub mesh_cidr: MeshCidr,
    /// The `servos-agent` binary the API installs on servers; by default
    /// the one beside the running `servos-api`.
    #[arg(long, env = "SERVOS_AGENT_BINARY")]
    pub agent_binary: Option<PathBuf>,
    /// The `https://` URL servers reach this API at; agents are enrolled
    /// against it (required to install the agent).
    #[arg(long, env = "SERVOS_AGENT_API_URL")]
    pub agent_api_url: Option<String>,
    /// The `SHA256:<base64>` pin of the public key of the certificate
    /// agents see at that URL; by default the key of `SERVOS_TLS_CERT`
    /// (set it when a reverse proxy terminates TLS).
    #[arg(long, env = "SERVOS_AGENT_API_PIN")]
    pub agent_api_pin: Option<String>,
    /// The largest webhook delivery accepted, in bytes; a larger one is
    /// answered 413 before any signature work.
    #[arg(long, env = "SERVOS_WEBHOOK_MAX_BYTES", default_value_t = defaults::WEBHOOK_MAX_BYTES)]
    pub webhook_max_bytes: usize,
    /// Hours a webhook's previous secret stays accepted after a rotation.
    #[arg(long, env = "SERVOS_WEBHOOK_ROTATION_GRACE_HOURS", default_value_t = defaults::WEBHOOK_ROTATION_GRACE_HOURS)]
    pub webhook_rotation_grace_hours: u32,
}

impl Default for Settings {
    /// Every setting at its default, whatever the environment holds.
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(defaults::DATA_DIR),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            health_listen: None,
            tls_cert: None,
            tls_key: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            rate_limit: defaults::RATE_LIMIT,
            auth_failure_limit: defaults::AUTH_FAILURE_LIMIT,
            request_timeout_secs: defaults::REQUEST_TIMEOUT_SECS,
            connections_per_ip: defaults::CONNECTIONS_PER_IP,
            session_idle_minutes: defaults::SESSION_IDLE_MINUTES,
            session_max_hours: defaults::SESSION_MAX_HOURS,
            ssh_connect_timeout: defaults::SSH_CONNECT_TIMEOUT,
            ssh_command_timeout: defaults::SSH_COMMAND_TIMEOUT,
            db_pool_size: defaults::DB_POOL_SIZE,
            log_format: LogFormat::Text,
            deploy_workers: defaults::DEPLOY_WORKERS,
            deploy_server_parallelism: defaults::DEPLOY_SERVER_PARALLELISM,
            deploy_lease_secs: defaults::DEPLOY_LEASE_SECS,
            build_timeout_secs: defaults::BUILD_TIMEOUT_SECS,
            deploy_drain_secs: defaults::DEPLOY_DRAIN_SECS,
            deploy_stop_grace_secs: defaults::DEPLOY_STOP_GRACE_SECS,
            deploy_ports: defaults::DEPLOY_PORTS,
            proxy_tls: TlsMode::Acme,
            mesh_cidr: defaults::mesh_cidr(),
            agent_binary: None,
            agent_api_url: None,
            agent_api_pin: None,
            webhook_max_bytes: defaults::WEBHOOK_MAX_BYTES,
            webhook_rotation_grace_hours: defaults::WEBHOOK_ROTATION_GRACE_HOURS,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// PEM files for serving HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Settings of the deploy engine.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// Jobs one process runs at a time.
    pub workers: usize,
    /// Servers one process works on at a time, over all its jobs.
    pub server_parallelism: usize,
    /// How long a claim lasts unless renewed.
    pub lease: Duration,
    /// How long the old container may take to finish its requests.
    pub drain: Duration,
    /// How long a stopping process lets its running jobs go on.
    pub stop_grace: Duration,
    /// How often idle workers look for jobs queued by other processes.
    pub poll: Duration,
    /// Certificates of application domains.
    pub proxy_tls: TlsMode,
    /// Attempts (first run and take-overs) before a job is failed.
    pub max_attempts: i32,
    /// The loopback ports of a server that containers are published on.
    pub host_ports: RangeInclusive<u16>,
    /// How long a build may take, and again its delivery.
    pub build_timeout: Duration,
}

/// How long clients may take and how many connections they may hold.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// For a request's headers, and again for its body.
    pub request_timeout: Duration,
    /// How long an idle connection waits for a next request.
    pub keep_alive: Duration,
    /// How long a closing connection reads on before it is shut.
    pub disconnect_timeout: Duration,
    /// Connections per client address.
    pub connections_per_ip: u32,
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
    /// The health probes' own address, when set.
    pub health_listen: Option<SocketAddr>,
    /// HTTPS, when served directly.
    pub tls: Option<TlsFiles>,
    /// `scheme://host[:port]` of `SERVOS_PUBLIC_URL`.
    pub public_origin: Option<String>,
    /// Trusted reverse proxies.
    pub trusted_proxies: Vec<IpAddr>,
    /// General per-IP limit.
    pub rate_limit: Rate,
    /// Failed authentications per IP.
    pub auth_failure_limit: Rate,
    /// Time limits of client connections and their concurrency per address.
    pub http: HttpSettings,
    /// Session idle timeout.
    pub session_idle_timeout: chrono::Duration,
    /// Session absolute lifetime.
    pub session_max_age: chrono::Duration,
    /// Pool size.
    pub db_pool_size: u32,
    /// SSH time limits.
    pub ssh_timeouts: crate::ssh::Timeouts,
    /// The deploy engine.
    pub deploy: DeploySettings,
    /// The mesh and its agents.
    pub mesh: MeshSettings,
    /// Webhooks.
    pub webhooks: WebhookSettings,
}

/// Settings of the applications' webhooks.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// The largest delivery accepted, in bytes.
    pub max_bytes: usize,
    /// How long a rotated-out secret stays accepted.
    pub rotation_grace: chrono::Duration,
}

/// Settings of the mesh and the agents the API installs.
#[derive(Debug, Clone)]
pub struct MeshSettings {
    /// The mesh network.
    pub cidr: MeshCidr,
    /// The agent binary shipped to servers.
    pub agent_binary: PathBuf,
    /// The URL agents reach the API at.
    pub api_url: Option<String>,
    /// The pin agents check the API's key against, when given.
    pub api_pin: Option<String>,
    /// How long an enrollment token works.
    pub enrollment_ttl: chrono::Duration,
}

/// Refuses `value` below `min`, naming the variable.
fn at_least<T: PartialOrd + fmt::Display>(variable: &str, value: T, min: T) -> Result<T, String> {
    if value < min {
        return Err(format!("{variable} must be at least {min} (it is {value})"));
    }
    Ok(value)
}

impl Config {
    /// Resolves settings; the error names the variable at fault.
    pub fn from_settings(s: &Settings) -> Result<Self, String> {
        let public_origin = s.public_url.as_deref().map(origin_of).transpose()?;
        let lease = at_least(
            "SERVOS_DEPLOY_LEASE_SECS",
            s.deploy_lease_secs,
            MIN_LEASE_SECS,
        )?;
        let idle = at_least("SERVOS_SESSION_IDLE_MINUTES", s.session_idle_minutes, 1)?;
        let max_hours = at_least("SERVOS_SESSION_MAX_HOURS", s.session_max_hours, 1)?;
        Ok(Self {
            database: DatabaseTarget::from_env(s.database_url.as_deref(), &s.data_dir),
            data_dir: s.data_dir.clone(),
            listen: s.listen,
            health_listen: s.health_listen,
            tls: match (&s.tls_cert, &s.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            public_origin,
            trusted_proxies: s.trusted_proxies.clone(),
            rate_limit: s.rate_limit,
            auth_failure_limit: s.auth_failure_limit,
            http: HttpSettings {
                request_timeout: Duration::from_secs(at_least(
                    "SERVOS_REQUEST_TIMEOUT_SECS",
                    s.request_timeout_secs,
                    1,
                )?),
                keep_alive: Duration::from_secs(defaults::KEEP_ALIVE_SECS),
                disconnect_timeout: Duration::from_secs(defaults::CLIENT_DISCONNECT_SECS),
                connections_per_ip: at_least("SERVOS_CONNECTIONS_PER_IP", s.connections_per_ip, 1)?,
            },
            session_idle_timeout: chrono::Duration::minutes(i64::from(idle)),
            session_max_age: chrono::Duration::hours(i64::from(max_hours)),
            db_pool_size: at_least("SERVOS_DB_POOL_SIZE", s.db_pool_size, 1)?,
            ssh_timeouts: crate::ssh::Timeouts {
                connect: Duration::from_secs(at_least(
                    "SERVOS_SSH_CONNECT_TIMEOUT",
                    s.ssh_connect_timeout,
                    1,
                )?),
                command: Duration::from_secs(at_least(
                    "SERVOS_SSH_COMMAND_TIMEOUT",
                    s.ssh_command_timeout,
                    1,
                )?),
            },
            deploy: DeploySettings {
                workers: at_least("SERVOS_DEPLOY_WORKERS", s.deploy_workers, 1)?,
                server_parallelism: at_least(
                    "SERVOS_DEPLOY_SERVER_PARALLELISM",
                    s.deploy_server_parallelism,
                    1,
                )?,
                lease: Duration::from_secs(lease),
                drain: Duration::from_secs(s.deploy_drain_secs),
                stop_grace: Duration::from_secs(s.deploy_stop_grace_secs),
                poll: Duration::from_millis(defaults::DEPLOY_POLL_MILLIS),
                proxy_tls: s.proxy_tls,
                max_attempts: defaults::DEPLOY_MAX_ATTEMPTS,
                host_ports: s.deploy_ports.ports(),
                build_timeout: Duration::from_secs(at_least(
                    "SERVOS_BUILD_TIMEOUT_SECS",
                    s.build_timeout_secs,
                    1,
                )?),
            },
            mesh: MeshSettings {
                cidr: s.mesh_cidr,
                agent_binary: s.agent_binary.clone().unwrap_or_else(beside_this_binary),
                api_url: s.agent_api_url.as_deref().map(agent_api_url).transpose()?,
                api_pin: s.agent_api_pin.clone(),
                enrollment_ttl: chrono::Duration::minutes(defaults::ENROLLMENT_TOKEN_MINUTES),
            },
            webhooks: WebhookSettings {
                max_bytes: at_least("SERVOS_WEBHOOK_MAX_BYTES", s.webhook_max_bytes, 1024)?,
                rotation_grace: chrono::Duration::hours(i64::from(s.webhook_rotation_grace_hours)),
            },
        })
    }

    /// The defaults, for a data directory and database (tests and tools).
    pub fn new(data_dir: PathBuf, database: DatabaseTarget) -> Self {
        let settings = Settings {
            data_dir,
            ..Settings::default()
        };
        match Self::from_settings(&settings) {
            Ok(config) => Self { database, ..config },
            // The defaults are valid: `defaults_are_valid` tests it.
            Err(e) => unreachable!("invalid default settings: {e}"),
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

/// `servos-agent` in the folder of the running binary.
fn beside_this_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("servos-agent")))
        .unwrap_or_else(|| PathBuf::from("servos-agent"))
}

/// An `https://` URL without a trailing slash: agents never speak plain HTTP.
fn agent_api_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    match trimmed.strip_prefix("https://") {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
            Ok(trimmed.to_owned())
        }
        _ => Err("SERVOS_AGENT_API_URL must be an https:// URL servers reach the API at".into()),
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
    fn rates_ports_and_origins() {
        assert_eq!(
            "200/30".parse(),
            Ok(Rate {
                requests: 200,
                seconds: 30
            })
        );
        assert!("0/30".parse::<Rate>().is_err() && "abc".parse::<Rate>().is_err());
        assert_eq!(
            "20000-29999".parse::<PortRange>().map(PortRange::ports),
            Ok(20000..=29999)
        );
        assert_eq!(
            " 40000 - 40009 ".parse::<PortRange>().map(PortRange::ports),
            Ok(40000..=40009)
        );
        for bad in [
            "20000",
            "80-2000",
            "30000-20000",
            "30000-30008",
            "1-x",
            "20000-70000",
        ] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
        assert_eq!(
            origin_of("HTTPS://Servos.Example.com/ui/"),
            Ok("https://servos.example.com".into())
        );
        assert!(origin_of("ftp://x").is_err() && origin_of("nohost").is_err());
    }

    #[test]
    fn defaults_are_valid_and_print_as_they_parse() {
        let config = Config::from_settings(&Settings::default()).expect("valid defaults");
        assert_eq!(config.db_pool_size, defaults::DB_POOL_SIZE);
        assert_eq!(
            defaults::RATE_LIMIT.to_string().parse(),
            Ok(defaults::RATE_LIMIT)
        );
        assert_eq!(
            defaults::DEPLOY_PORTS.to_string().parse(),
            Ok(defaults::DEPLOY_PORTS)
        );
        assert_eq!(Settings::default().listen.to_string(), defaults::LISTEN);
    }

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        type Change = fn(&mut Settings);
        let cases: [(&str, Change); 8] = [
            ("SERVOS_REQUEST_TIMEOUT_SECS", |s| {
                s.request_timeout_secs = 0
            }),
            ("SERVOS_CONNECTIONS_PER_IP", |s| s.connections_per_ip = 0),
            ("SERVOS_DEPLOY_WORKERS", |s| s.deploy_workers = 0),
            ("SERVOS_DEPLOY_SERVER_PARALLELISM", |s| {
                s.deploy_server_parallelism = 0
            }),
            ("SERVOS_DEPLOY_LEASE_SECS", |s| s.deploy_lease_secs = 2),
            ("SERVOS_DB_POOL_SIZE", |s| s.db_pool_size = 0),
            ("SERVOS_SSH_COMMAND_TIMEOUT", |s| s.ssh_command_timeout = 0),
            ("SERVOS_SESSION_IDLE_MINUTES", |s| {
                s.session_idle_minutes = 0
            }),
        ];
        for (variable, change) in cases {
            let mut settings = Settings::default();
            change(&mut settings);
            let refused = Config::from_settings(&settings).expect_err(variable);
            assert!(refused.starts_with(variable), "{refused}");
        }
    }
}
