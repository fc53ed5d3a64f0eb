//! The mesh end to end, through the real binaries: the API (serving HTTPS
//! with a generated certificate) installs the agent on lab hosts over SSH.
//!
//! - `join.rs`: hosts join and reach each other; the privilege drop; who
//!   cannot join; removal; the mesh outlives the API and an agent's crash.
//! - `policy.rs`: the classifier between applications and nodes: default
//!   deny, rules, counters, live changes, an agent's crash.

mod join;
mod policy;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use servos_lab::{client_key, Host, Lab, LabOptions};

use crate::client::{create_api_token, login, read_setup_token, setup, unique_password};
use crate::harness::{random_master_key, Backend, TestDb};
use crate::process::{free_port, read_log, Env, Server, TlsFiles};

/// The agent binary the API ships (built with the workspace).
const AGENT_BIN: &str = env!("CARGO_BIN_EXE_servos-api");
/// How long an install may take.
const INSTALL_WITHIN: Duration = Duration::from_secs(120);

/// The agent binary beside the API's (the workspace build makes it).
pub(crate) fn agent_binary() -> std::path::PathBuf {
    let bin = Path::new(AGENT_BIN)
        .parent()
        .expect("a folder")
        .join("servos-agent");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace; cargo xtask test does)",
        bin.display()
    );
    bin
}

/// A self-signed certificate for `ip`.
pub(crate) fn certificate(dir: &Path, ip: &str) -> TlsFiles {
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let output = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=servos-api",
        ])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", &format!("subjectAltName=IP:{ip},IP:127.0.0.1")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&files.key)
        .arg("-out")
        .arg(&files.cert)
        .output()
        .expect("the mesh test needs `openssl` (Debian package openssl)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    files
}

/// The API as an admin with a bearer token.
pub(crate) struct Api {
    pub server: Server,
    pub token: String,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = self
            .server
            .client
            .request(method, self.server.at(path))
            .bearer_auth(&self.token);
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, body).await
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }
}

pub(crate) fn ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Installs the agent on `server` and waits for the install to succeed.
pub(crate) async fn install(api: &Api, server: &str) {
    let (status, started) = api
        .post(&format!("/api/v1/servers/{server}/agent"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["id"].as_str().expect("install id");
    let deadline = Instant::now() + INSTALL_WITHIN;
    loop {
        let install = api.get(&format!("/api/v1/agent-installs/{id}")).await;
        match install["state"].as_str() {
            Some("succeeded") => return,
            Some("running") => {}
            _ => panic!("the install failed: {install}"),
        }
        assert!(
            Instant::now() < deadline,
            "the install still runs: {install}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `check` every 200 ms until it holds or `within` passes.
pub(crate) async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn pings(from: &Host, address: &str) -> bool {
    from.exec(&["ping", "-c", "1", "-W", "1", address])
        .status
        .success()
}

/// The pids of the `servos-agent run` processes in `host`'s namespace.
pub(crate) fn agent_pids(host: &Host) -> Vec<u32> {
    let netns = std::fs::metadata(format!("/run/netns/{}", host.name)).map(|m| {
        use std::os::unix::fs::MetadataExt as _;
        m.ino()
    });
    let Ok(netns) = netns else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let runs = args.first().is_some_and(|a| a.ends_with(b"servos-agent"))
            && args.get(1).is_some_and(|a| *a == b"run");
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .map(|link| link.to_string_lossy().contains(&format!("[{netns}]")))
            .unwrap_or(false);
        if runs && ns {
            pids.push(pid);
        }
    }
    pids
}

/// A lab with the API running over HTTPS and every host registered and
/// commissioned as a server (`node-1`, `node-2`, ...).
pub(crate) struct MeshLab {
    /// The API as an admin.
    pub api: Api,
    /// Server ids, in the lab's host order.
    pub servers: Vec<String>,
    /// Where agents reach the API.
    pub api_url: String,
    /// The API's environment (to start it again).
    pub env: Env,
    /// The API's log.
    pub log: std::path::PathBuf,
    /// Its database.
    pub db: TestDb,
    /// The hosts.
    pub lab: Lab,
    /// Holds the certificate and the log.
    pub dir: tempfile::TempDir,
}

/// Shows the end of the API's log when the test holding it fails.
pub(crate) struct LogOnPanic(pub std::path::PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = read_log(&self.0);
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- the API's log, last lines ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

impl MeshLab {
    /// Starts `hosts` lab hosts (with their own Docker daemons when
    /// `docker`) and the API on `backend`, and registers every host.
    pub async fn up(backend: Backend, hosts: usize, docker: bool) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (private_key, public_key) = client_key(dir.path());
        let lab = Lab::up(&LabOptions { hosts, docker }, &public_key)
            .unwrap_or_else(|e| panic!("cannot start the test lab: {e}"));
        let gateway = lab.hosts()[0].gateway.to_string();
        let port = free_port();
        let api_url = format!("https://{gateway}:{port}");

        let db = TestDb::new(backend);
        let mut env = Env::for_db(&db, &random_master_key())
            .with_var("SERVOS_AGENT_API_URL", &api_url)
            .with_var("SERVOS_AGENT_BINARY", &agent_binary().to_string_lossy())
            .with_var("SERVOS_RATE_LIMIT", "100000/1");
        env.tls = Some(certificate(dir.path(), &gateway));
        env.listen = Some(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
        let log = dir.path().join("api.log");
        let server = Server::start(&env, &log).await;
        let password = unique_password();
        assert_eq!(
            setup(&server, &read_setup_token(&env), &password).await,
            StatusCode::CREATED
        );
        login(&server, &password).await;
        let token = create_api_token(&server).await;
        let api = Api { server, token };

        let (status, key) = api
            .post(
                "/api/v1/ssh-keys",
                json!({"name": "fleet", "kind": "server", "private_key": private_key}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let mut servers = Vec::new();
        for (i, host) in lab.hosts().iter().enumerate() {
            let body = json!({"name": format!("node-{}", i + 1), "address": host.address.to_string(),
                "port": host.ssh_port, "user": host.user, "ssh_key_id": key["id"], "roles": ["run"]});
            let (status, made) = api.post("/api/v1/servers", body).await;
            assert_eq!(status, StatusCode::CREATED, "{made}");
            let id = made["id"].as_str().expect("id").to_owned();
            let (status, _) = api
                .post(&format!("/api/v1/servers/{id}/commission"), Value::Null)
                .await;
            assert_eq!(status, StatusCode::OK);
            servers.push(id);
        }
        Self {
            api,
            servers,
            api_url,
            env,
            log,
            db,
            lab,
            dir,
        }
    }

    /// The hosts.
    pub fn hosts(&self) -> &[Host] {
        self.lab.hosts()
    }

    /// The node on server `i`, as the API shows it.
    pub async fn node(&self, i: usize) -> Value {
        let nodes = self.api.get("/api/v1/mesh/nodes").await;
        nodes
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["server_id"] == self.servers[i].as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no node on server {i}: {nodes}"))
    }
}
