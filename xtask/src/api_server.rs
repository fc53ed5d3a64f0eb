//! One `servos-api serve` process that a benchmark or an API check drives:
//! start (plain HTTP on loopback, or HTTPS on a given address with its own
//! certificate), health wait, the first admin and an API token, peak memory, stop.

use std::fs::{self, DirBuilder, File};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use crate::curl::Request;
use crate::{cmd, master_key, net};

const START_WITHIN: Duration = Duration::from_secs(60);
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// The first admin that [`ApiServer::api_token`] sets up, and its password
/// (a throwaway server's, sent only in request bodies through curl's stdin).
const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "xtask-admin-password";

/// A running `servos-api serve` with its own data folder and port; killed if dropped while running.
pub struct ApiServer {
    child: Child,
    ip: IpAddr,
    port: u16,
    /// The certificate it serves HTTPS with; plain HTTP when `None`.
    certificate: Option<PathBuf>,
    data_dir: PathBuf,
    log: PathBuf,
}

/// HTTPS for [`ApiServer::start_https`]: where to listen and the PEM files.
/// Agents installed through that server are told to reach it there
/// (`SERVOS_AGENT_API_URL`), pinned to the certificate's key.
pub struct Https<'a> {
    /// The address to listen on (the certificate must name it).
    pub ip: Ipv4Addr,
    /// The certificate, which clients trust as their only authority.
    pub cert: &'a Path,
    /// Its private key.
    pub key: &'a Path,
}

impl ApiServer {
    /// Starts `binary serve` with a fresh data folder in `scratch`, a random
    /// master key, when given a PostgreSQL `DATABASE_URL` (else SQLite), and
    /// `settings` (`SERVOS_*` variables, none of them secret) on top.
    pub fn start(
        binary: &Path,
        scratch: &Path,
        database_url: Option<&str>,
        settings: &[(&str, &str)],
    ) -> Result<Self> {
        Self::launch(binary, scratch, database_url, settings, None)
    }

    /// Starts `binary serve` on SQLite serving HTTPS at `https.ip` (for
    /// clients outside loopback, such as the lab's hosts), with `settings`.
    pub fn start_https(
        binary: &Path,
        scratch: &Path,
        https: &Https<'_>,
        settings: &[(&str, &str)],
    ) -> Result<Self> {
        Self::launch(binary, scratch, None, settings, Some(https))
    }

    fn launch(
        binary: &Path,
        scratch: &Path,
        database_url: Option<&str>,
        settings: &[(&str, &str)],
        https: Option<&Https<'_>>,
    ) -> Result<Self> {
        let data_dir = scratch.join("data");
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&data_dir)
            .with_context(|| format!("could not create {}", data_dir.display()))?;
        let log = scratch.join("server.log");
        let log_file =
            File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
        let port = net::free_port()?;
        let ip = https.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |https| {
            IpAddr::V4(https.ip)
        });
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("SERVOS_MASTER_KEY", master_key::generate()?)
            .env("SERVOS_DATA_DIR", &data_dir)
            .env("SERVOS_LISTEN", format!("{ip}:{port}"))
            // Benchmarks and checks send far more from one address than a
            // person would; they are not about the per-IP limit.
            .env("SERVOS_RATE_LIMIT", "4000000000/1")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        if let Some(https) = https {
            command
                .env("SERVOS_TLS_CERT", https.cert)
                .env("SERVOS_TLS_KEY", https.key)
                .env("SERVOS_AGENT_API_URL", format!("https://{ip}:{port}"));
        }
        command.envs(settings.iter().copied());
        eprintln!("$ {} (log in {})", cmd::display(&command), log.display());
        let child = command
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        Ok(Self {
            child,
            ip,
            port,
            certificate: https.map(|https| https.cert.to_path_buf()),
            data_dir,
            log,
        })
    }

    /// `http://127.0.0.1:<port>` (or `https://<ip>:<port>`), which is also
    /// the `Origin` its forms accept.
    pub fn origin(&self) -> String {
        let scheme = if self.certificate.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", self.ip, self.port)
    }

    /// The certificate a client must trust to reach it, when it serves HTTPS.
    pub fn certificate(&self) -> Option<&Path> {
        self.certificate.as_deref()
    }

    /// Polls `GET /healthz` until it answers 200, failing early if the server exits.
    pub fn wait_healthy(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_WITHIN;
        let health =
            Request::get(format!("{}/healthz", self.origin())).trusting(self.certificate());
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "servos-api exited ({status}) while starting; log:\n{}",
                    self.log_text()
                );
            }
            if health.send().is_ok_and(|answer| answer.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "GET /healthz was not 200 within {START_WITHIN:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first-run setup token the server wrote to `$SERVOS_DATA_DIR/setup_token`.
    fn setup_token(&self) -> Result<String> {
        let path = self.data_dir.join("setup_token");
        let token = fs::read_to_string(&path)
            .with_context(|| format!("no setup token in {}", path.display()))?;
        Ok(token.trim().to_owned())
    }

    /// Completes first-run setup, logs the admin in, and returns a new API
    /// token of `role` made with that session.
    pub fn api_token(&self, role: &str) -> Result<String> {
        let origin = self.origin();
        let setup = json!({
            "token": self.setup_token()?,
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
        });
        Request::post_json(format!("{origin}/api/v1/setup"), &setup)
            .trusting(self.certificate())
            .send()?
            .expect(201, "POST /api/v1/setup")?;

        let answer = Request::post_json(format!("{origin}/api/v1/login"), &admin_login())
            .trusting(self.certificate())
            .send()?;
        if !(200..300).contains(&answer.status) {
            bail!(
                "POST /api/v1/login: HTTP {}: {}",
                answer.status,
                answer.body.trim()
            );
        }
        let Some(session) = answer.cookie("servos_session") else {
            bail!("POST /api/v1/login set no servos_session cookie");
        };

        let new_token = json!({ "name": format!("xtask-{role}"), "role": role });
        Request::post_json(format!("{origin}/api/v1/tokens"), &new_token)
            .trusting(self.certificate())
            .header(format!("Cookie: {session}"))
            .header(format!("Origin: {origin}"))
            .send()?
            .expect(201, "POST /api/v1/tokens")?
            .json_string("token")
    }

    /// Where it listens, as `ip:port`.
    pub fn address(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip, self.port)
    }

    /// Pins every thread of the process to CPU `cpu` (`taskset`), so a
    /// benchmark measures what one core does.
    pub fn pin_to_cpu(&self, cpu: u32) -> Result<()> {
        cmd::run_quiet(Command::new("taskset").args([
            "--all-tasks",
            "--cpu-list",
            "--pid",
            &cpu.to_string(),
            &self.child.id().to_string(),
        ]))
    }

    /// The process's peak resident memory (`VmHWM`) in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = fs::read_to_string(&path).with_context(|| format!("could not read {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmHWM line in {path}"))
    }

    /// Sends SIGTERM and waits for the exit, killing it if it does not stop in time.
    pub fn stop(mut self) -> Result<()> {
        cmd::run_quiet(Command::new("kill").args(["-TERM", &self.child.id().to_string()]))?;
        let deadline = Instant::now() + STOP_WITHIN;
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("servos-api did not stop within {STOP_WITHIN:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn log_text(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The body of `POST /api/v1/login` for the first admin that
/// [`ApiServer::api_token`] sets up.
pub fn admin_login() -> serde_json::Value {
    json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD })
}
