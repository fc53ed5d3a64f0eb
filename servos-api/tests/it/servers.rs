//! Servers against lab hosts (each its own network namespace, OpenSSH
//! server and Docker daemon): trust on first use, Docker checked, a changed
//! or downgraded host key refused before the client key is offered,
//! explicit admin reset, one audit entry per change, and clear, bounded
//! failures for every way a connection can fail. Deleting a server that
//! applications target (`deletion`) needs no lab.

mod deletion;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use servos_api::store::audit_log;
use servos_lab::{client_key, HostKeyType, Lab, LabOptions};

use crate::both_backends;
use crate::harness::{callers, ip, json_req, request, send, Backend, TestApp};

/// A lab of `hosts` hosts accepting `public_key` for root.
pub fn lab(hosts: usize, docker: bool, public_key: &str) -> Lab {
    Lab::up(&LabOptions { hosts, docker }, public_key).unwrap_or_else(|e| {
        panic!("cannot start the test lab (needs root and the packages `cargo xtask test` installs): {e}")
    })
}

async fn host_keys_are_pinned_and_changes_refused(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let dir = tempfile::tempdir().expect("dir");
    let (private_key, public_key) = client_key(dir.path());
    let lab = lab(1, true, &public_key);
    let host = &lab.hosts()[0];
    let audit_len = || {
        let mut conn = app.state.pool.get().expect("conn");
        audit_log::chain_batch(&mut conn, 0, 100_000).expect("audit")
    };
    let call = |method: &str, uri: String, body: Value| {
        let req = if body.is_null() {
            request(method, &uri, ip(1))
        } else {
            json_req(method, &uri, ip(1), body)
        };
        req.insert_header(admin.clone())
    };

    let (status, _, key) = send(
        &svc,
        call(
            "POST",
            "/api/v1/ssh-keys".into(),
            json!({"name": "fleet", "kind": "server", "private_key": private_key}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let before = audit_len().len();
    let (status, _, server) = send(
        &svc,
        call(
            "POST",
            "/api/v1/servers".into(),
            json!({"name": "web-1", "address": host.address.to_string(), "port": host.ssh_port, "user": host.user, "ssh_key_id": key["id"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{server}");
    assert_eq!(audit_len().len(), before + 1);
    let id = server["id"].as_str().expect("id").to_owned();
    let uri = |suffix: &str| format!("/api/v1/servers/{id}{suffix}");

    // Trust on first use: the pin is exactly what ssh-keygen -lf prints,
    // and the host's own Docker daemon answers.
    let first = host.host_key_fingerprint();
    let before = audit_len().len();
    let (status, _, check) = send(&svc, call("POST", uri("/commission"), Value::Null)).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["fingerprint"].as_str(), Some(first.as_str()));
    let version = host.docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(version.status.success(), "docker on the lab host answers");
    assert_eq!(check["status"], "ready", "{check}");
    assert_eq!(
        check["docker_version"].as_str(),
        Some(String::from_utf8_lossy(&version.stdout).trim()),
        "{check}"
    );
    assert!(
        check["disk_free_bytes"].as_i64().is_some_and(|b| b > 0),
        "{check}"
    );
    assert_eq!(audit_len().len(), before + 1);
    let (_, _, shown) = send(&svc, call("GET", uri(""), Value::Null)).await;
    assert_eq!(shown["host_key_fingerprint"].as_str(), Some(first.as_str()));
    let (status, _, _) = send(&svc, call("POST", uri("/check"), Value::Null)).await;
    assert_eq!(status, 200, "a check over the pinned key works");

    // The server is rebuilt (or someone is in the middle): refused before auth.
    host.replace_host_key(HostKeyType::Ed25519);
    let second = host.host_key_fingerprint();
    let attempts = host.publickey_attempts();
    let before = audit_len().len();
    let (status, _, refused) = send(&svc, call("POST", uri("/check"), Value::Null)).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains(&first) && m.contains(&second)),
        "{refused}"
    );
    assert_eq!(
        host.publickey_attempts(),
        attempts,
        "no client key was offered to the changed host:\n{}",
        host.sshd_log()
    );
    let entries = audit_len();
    assert_eq!(entries.len(), before + 1);
    assert_eq!(
        entries.last().map(|e| e.action.as_str()),
        Some("server.host_key_mismatch")
    );
    let (_, _, shown) = send(&svc, call("GET", uri(""), Value::Null)).await;
    assert_eq!(shown["status"], "host_key_changed");
    assert_eq!(
        shown["host_key_fingerprint"].as_str(),
        Some(first.as_str()),
        "the pin is kept"
    );
    assert_eq!(
        shown["pending_fingerprint"].as_str(),
        Some(second.as_str()),
        "the new key is shown, not trusted"
    );

    // Only an admin confirms, and only the key the server really presents.
    let who_viewer = ("Authorization", format!("Bearer {}", who.viewer_token));
    let (status, _, _) = send(
        &svc,
        json_req(
            "POST",
            &uri("/host-key/confirm"),
            ip(1),
            json!({"fingerprint": second}),
        )
        .insert_header(who_viewer),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = send(
        &svc,
        call(
            "POST",
            uri("/host-key/confirm"),
            json!({"fingerprint": first}),
        ),
    )
    .await;
    assert_eq!(
        status, 409,
        "confirming a key the server does not present fails"
    );
    let before = audit_len().len();
    let (status, _, confirmed) = send(
        &svc,
        call(
            "POST",
            uri("/host-key/confirm"),
            json!({"fingerprint": second}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(audit_len().len(), before + 1);
    let (_, _, shown) = send(&svc, call("GET", uri(""), Value::Null)).await;
    assert_eq!(
        shown["host_key_fingerprint"].as_str(),
        Some(second.as_str())
    );

    // Downgrade: the host now offers only an RSA key. Still a mismatch.
    host.replace_host_key(HostKeyType::Rsa);
    let attempts = host.publickey_attempts();
    let (status, _, _) = send(&svc, call("POST", uri("/check"), Value::Null)).await;
    assert_eq!(status, 409, "an RSA key after an Ed25519 pin is refused");
    assert_eq!(host.publickey_attempts(), attempts);

    // Reset: the next commissioning pins whatever the host presents.
    let before = audit_len().len();
    let (status, _, _) = send(&svc, call("POST", uri("/host-key/reset"), Value::Null)).await;
    assert_eq!(status, 204);
    assert_eq!(audit_len().len(), before + 1);
    let (status, _, check) = send(&svc, call("POST", uri("/commission"), Value::Null)).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(
        check["fingerprint"].as_str(),
        Some(host.host_key_fingerprint().as_str())
    );

    let before = audit_len().len();
    let (status, _, _) = send(&svc, call("DELETE", uri(""), Value::Null)).await;
    assert_eq!(status, 204);
    assert_eq!(audit_len().len(), before + 1);
}

/// Imports `private_key` as a server key and returns the created key.
pub async fn import_server_key<S, B>(
    svc: &S,
    admin: &(&'static str, String),
    private_key: &str,
) -> Value
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let (status, _, key) = send(
        svc,
        json_req(
            "POST",
            "/api/v1/ssh-keys",
            ip(1),
            json!({"name": "k", "kind": "server", "private_key": private_key}),
        )
        .insert_header(admin.clone()),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    key
}

/// The connect time limit of the failure test: every failure must come within it.
const CONNECT_LIMIT: Duration = Duration::from_secs(4);

async fn unreachable_and_refused_fail_clearly(backend: Backend) {
    let app = TestApp::with_config(backend, |c| c.ssh_timeouts.connect = CONNECT_LIMIT);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let dir = tempfile::tempdir().expect("dir");
    let (private_key, _) = client_key(dir.path());
    let (_, other_public) = client_key(&dir.path().join("other"));
    let lab = lab(1, false, &other_public);
    let host = &lab.hosts()[0];
    let key = import_server_key(&svc, &admin, &private_key).await;
    let address = host.address.to_string();
    let unreachable = host.unreachable_address.to_string();
    let cases: [(&str, &str, u16, &str, &[&str]); 4] = [
        (
            "wrong-key",
            &address,
            host.ssh_port,
            "root",
            &["refused the key"],
        ),
        (
            "wrong-user",
            &address,
            host.ssh_port,
            "nobody",
            &["refused the key"],
        ),
        // Nothing listens there: the host answers with a reset.
        ("closed-port", &address, 2222, "root", &["cannot connect"]),
        // Nobody has that address: no answer at all.
        (
            "unreachable",
            &unreachable,
            22,
            "root",
            &["cannot connect", "timed out"],
        ),
    ];
    for (name, address, port, user, expected) in cases {
        let (status, _, server) = send(
            &svc,
            json_req(
                "POST",
                "/api/v1/servers",
                ip(1),
                json!({"name": name, "address": address, "port": port, "user": user, "ssh_key_id": key["id"]}),
            )
            .insert_header(admin.clone()),
        )
        .await;
        assert_eq!(status, 201, "{server}");
        let id = server["id"].as_str().expect("id");
        let started = Instant::now();
        let (status, _, error) = send(
            &svc,
            request("POST", &format!("/api/v1/servers/{id}/commission"), ip(1))
                .insert_header(admin.clone()),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(status, 502, "{name}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| expected.iter().any(|e| m.contains(e))),
            "{name}: {error}"
        );
        assert!(
            took < CONNECT_LIMIT + Duration::from_secs(2),
            "{name} failed within the connect limit, took {took:?}"
        );
        let (_, _, shown) = send(
            &svc,
            request("GET", &format!("/api/v1/servers/{id}"), ip(1)).insert_header(admin.clone()),
        )
        .await;
        assert_eq!(shown["status"], "unreachable", "{name}");
        assert!(
            shown["host_key_fingerprint"].is_null(),
            "{name}: nothing pinned"
        );
    }
    assert_eq!(
        host.sshd_log().matches("Accepted publickey").count(),
        0,
        "no case got in"
    );
}

both_backends!(
    host_keys_are_pinned_and_changes_refused,
    unreachable_and_refused_fail_clearly
);

/// A server that sends an SSH banner and then never answers again.
struct SilentServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SilentServer {
    fn start() -> Self {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
                    held.push(stream);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        Self { port, stop }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn a_hanging_server_times_out_and_the_api_stays_responsive(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.ssh_timeouts.connect = std::time::Duration::from_secs(2);
    });
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let dir = tempfile::tempdir().expect("dir");
    let (private_key, _) = client_key(dir.path());
    let key = import_server_key(&svc, &admin, &private_key).await;
    let silent = SilentServer::start();
    let (_, _, server) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/servers",
            ip(1),
            json!({"name": "hangs", "address": "127.0.0.1", "port": silent.port, "user": "root", "ssh_key_id": key["id"]}),
        )
        .insert_header(admin.clone()),
    )
    .await;
    let id = server["id"].as_str().expect("id");
    let started = std::time::Instant::now();
    let commission = async {
        let result = send(
            &svc,
            request("POST", &format!("/api/v1/servers/{id}/commission"), ip(1))
                .insert_header(admin.clone()),
        )
        .await;
        (result, started.elapsed())
    };
    let health = async {
        let (status, _, _) = send(&svc, request("GET", "/readyz", ip(2))).await;
        (status, started.elapsed())
    };
    let (((status, _, error), took), (health_status, health_took)) =
        futures_util::join!(commission, health);
    assert_eq!(status, 502, "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("timed out")),
        "{error}"
    );
    assert!(
        took < std::time::Duration::from_secs(10),
        "bounded by the connect timeout: {took:?}"
    );
    assert_eq!(health_status, 200);
    assert!(
        health_took < took,
        "the API answered while the connection hung"
    );
}

both_backends!(a_hanging_server_times_out_and_the_api_stays_responsive);
