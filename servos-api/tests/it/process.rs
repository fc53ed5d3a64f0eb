//! Runs the real `servos-api` binary: a clean environment, a free port,
//! output captured to a file, bounded waits, and a guard that kills and
//! reaps the child even when the test fails.

use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use servos_api::store::DatabaseTarget;

use crate::harness::TestDb;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_servos-api");

/// How long a server may take to answer `/healthz` (migrations included).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a command or a stopping server may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// What the binary is started with. Nothing else of the test's own
/// environment that could steer it (`SERVOS_*`, `DATABASE_URL`, `RUST_LOG`)
/// is passed on.
#[derive(Debug, Clone)]
pub struct Env {
    /// `SERVOS_MASTER_KEY`, or unset.
    pub master_key: Option<String>,
    /// `SERVOS_DATA_DIR`.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`, or unset (SQLite in the data directory).
    pub database_url: Option<String>,
    /// `SERVOS_TLS_CERT` and `SERVOS_TLS_KEY`.
    pub tls: Option<TlsFiles>,
    /// `RUST_LOG`; `info`, the product's default, unless a test wants more.
    pub log_filter: String,
    /// Further variables (`SERVOS_NEW_MASTER_KEY`, `SERVOS_FAILPOINT`, ...).
    pub extra: Vec<(String, String)>,
    /// Where to listen, when not on a free loopback port.
    pub listen: Option<SocketAddr>,
}

/// A PEM certificate and key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Self-signed certificate for `localhost` and `127.0.0.1`.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl Env {
    /// SQLite in `data_dir` (the quick start), with `master_key` or none.
    pub fn new(data_dir: PathBuf, master_key: Option<String>) -> Self {
        Self {
            master_key,
            data_dir,
            database_url: None,
            tls: None,
            log_filter: "info".into(),
            extra: Vec::new(),
            listen: None,
        }
    }

    /// The binary against a test database: PostgreSQL through
    /// `DATABASE_URL`; SQLite through the data directory alone, chosen so
    /// that its `servos.db` is the file `TestDb` opens.
    pub fn for_db(db: &TestDb, master_key: &str) -> Self {
        let (data_dir, database_url) = match &db.target {
            DatabaseTarget::Postgres(url) => (db.data_dir(), Some(url.clone())),
            DatabaseTarget::Sqlite(path) => (
                path.parent().expect("SQLite file has a folder").to_owned(),
                None,
            ),
        };
        Self {
            master_key: Some(master_key.to_owned()),
            data_dir,
            database_url,
            tls: None,
            log_filter: "info".into(),
            extra: Vec::new(),
            listen: None,
        }
    }

    /// The same environment with one more variable.
    pub fn with_var(&self, name: &str, value: &str) -> Self {
        let mut env = self.clone();
        env.extra.push((name.to_owned(), value.to_owned()));
        env
    }

    /// The same environment with another master key.
    pub fn with_master_key(&self, key: &str) -> Self {
        Self {
            master_key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    fn command(&self, args: &[&str], listen: SocketAddr, log: &Path) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            if text.starts_with("SERVOS_") || text == "DATABASE_URL" || text == "RUST_LOG" {
                cmd.env_remove(&name);
            }
        }
        cmd.env("RUST_LOG", &self.log_filter)
            .env("SERVOS_DATA_DIR", &self.data_dir)
            .env("SERVOS_LISTEN", listen.to_string());
        if let Some(key) = &self.master_key {
            cmd.env("SERVOS_MASTER_KEY", key);
        }
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (name, value) in &self.extra {
            cmd.env(name, value);
        }
        if let Some(tls) = &self.tls {
            cmd.env("SERVOS_TLS_CERT", &tls.cert)
                .env("SERVOS_TLS_KEY", &tls.key);
        }
        // stdout and stderr share one file, both appending.
        File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let out = OpenOptions::new()
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let err = out.try_clone().expect("duplicate the log file handle");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        cmd
    }

    fn spawn(&self, args: &[&str], listen: SocketAddr, log: &Path) -> ChildGuard {
        let child = self
            .command(args, listen, log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        ChildGuard(child)
    }
}

/// Kills and reaps the child when dropped, whatever happened before.
#[derive(Debug)]
struct ChildGuard(Child);

impl ChildGuard {
    /// Waits at most `timeout` for the child to exit on its own.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().expect("poll the child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A local port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// The text of a log file (empty when it does not exist).
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A command that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its stdout and stderr, interleaved.
    pub output: String,
}

/// Runs `servos-api ARGS` and waits (bounded) for it to exit. A command
/// that is still running after `EXIT_TIMEOUT` fails the test.
pub fn run_to_exit(env: &Env, args: &[&str], log: &Path) -> Finished {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut child = env.spawn(args, listen, log);
    let Some(status) = child.wait_exit(EXIT_TIMEOUT) else {
        drop(child);
        panic!(
            "`servos-api {}` still ran after {EXIT_TIMEOUT:?}; output:\n{}",
            args.join(" "),
            read_log(log)
        );
    };
    Finished {
        status,
        output: read_log(log),
    }
}

/// An HTTP client for `env`: trusts the test certificate under TLS and
/// keeps cookies. An idle connection is reused for 2 s at most, less than
/// the server keeps it open (5 s): tests that block their runtime for a
/// while would otherwise send on a connection the server already closed.
pub fn client(env: &Env) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10));
    if let Some(tls) = &env.tls {
        let pem = std::fs::read(&tls.cert).expect("read the test certificate");
        let cert = reqwest::Certificate::from_pem(&pem).expect("parse the test certificate");
        builder = builder
            .add_root_certificate(cert)
            .tls_built_in_root_certs(false)
            .https_only(true);
    }
    builder.build().expect("build the HTTP client")
}

/// A running `servos-api serve`, killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: ChildGuard,
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub url: String,
    /// The captured output.
    pub log: PathBuf,
    /// A client for this server (cookies kept).
    pub client: reqwest::Client,
}

/// Why a server did not come up.
#[derive(Debug)]
pub struct StartFailure {
    /// Its exit status, or `None` when it never answered but kept running.
    pub status: Option<ExitStatus>,
    /// Its output.
    pub output: String,
}

impl Server {
    /// Starts `serve` and waits until `/healthz` answers 200; panics with
    /// the output when it does not.
    pub async fn start(env: &Env, log: &Path) -> Self {
        match Self::try_start(env, log).await {
            Ok(server) => server,
            Err(failure) => panic!(
                "servos-api did not become healthy (exit: {:?}); output:\n{}",
                failure.status, failure.output
            ),
        }
    }

    /// Starts `serve` on a free port, retrying with another port when a
    /// parallel test took the chosen one first.
    pub async fn try_start(env: &Env, log: &Path) -> Result<Self, StartFailure> {
        if let Some(listen) = env.listen {
            return Self::start_on(env, listen, log).await;
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
            match Self::start_on(env, listen, log).await {
                Err(failure)
                    if attempts < 5
                        && failure.status.is_some()
                        && failure.output.contains("cannot listen on") => {}
                other => return other,
            }
        }
    }

    async fn start_on(env: &Env, listen: SocketAddr, log: &Path) -> Result<Self, StartFailure> {
        let scheme = if env.tls.is_some() { "https" } else { "http" };
        // A server on every address is reached over loopback.
        let reached = if listen.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], listen.port()))
        } else {
            listen
        };
        let url = format!("{scheme}://{reached}");
        let client = client(env);
        let mut child = env.spawn(&["serve"], listen, log);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.0.try_wait().expect("poll the child") {
                return Err(StartFailure {
                    status: Some(status),
                    output: read_log(log),
                });
            }
            let health = client
                .get(format!("{url}/healthz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            let last_answer = match health {
                Ok(r) if r.status() == reqwest::StatusCode::OK => {
                    return Ok(Self {
                        child,
                        url,
                        log: log.to_owned(),
                        client,
                    });
                }
                Ok(r) => format!("/healthz answered {}", r.status()),
                Err(e) => format!("/healthz failed: {e:?}"),
            };
            if Instant::now() >= deadline {
                drop(child);
                return Err(StartFailure {
                    status: None,
                    output: format!("{}\n(last poll: {last_answer})", read_log(log)),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The output so far.
    pub fn output(&self) -> String {
        read_log(&self.log)
    }

    /// Stops the server as an init system would (SIGTERM), waits (bounded)
    /// for it to exit, and returns its output.
    pub fn stop(mut self) -> String {
        let pid = self.child.0.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run `kill` (procps)");
        assert!(sent.success(), "`kill -TERM {pid}` failed");
        let status = self.child.wait_exit(EXIT_TIMEOUT);
        let output = self.output();
        match status {
            Some(status) => assert!(
                status.success(),
                "servos-api exited with {status} on SIGTERM; output:\n{output}"
            ),
            None => {
                panic!("servos-api still ran {EXIT_TIMEOUT:?} after SIGTERM; output:\n{output}")
            }
        }
        output
    }
}
