//! Servers against a real OpenSSH server on loopback: trust on first use,
//! a changed or downgraded host key refused before the client key is
//! offered, explicit admin reset, and one audit entry per change.

use serde_json::{json, Value};
use servos_api::store::audit_log;

use crate::both_backends;
use crate::harness::{callers, ip, json_req, request, send, Backend, TestApp};
use crate::sshd::{client_key, HostKeyType, Sshd};

async fn host_keys_are_pinned_and_changes_refused(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let dir = tempfile::tempdir().expect("dir");
    let (private_key, public_key) = client_key(dir.path());
    let mut sshd = Sshd::start(HostKeyType::Ed25519, &public_key);
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
            json!({"name": "web-1", "address": "127.0.0.1", "port": sshd.port, "user": sshd.user, "ssh_key_id": key["id"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{server}");
    assert_eq!(audit_len().len(), before + 1);
    let id = server["id"].as_str().expect("id").to_owned();
    let uri = |suffix: &str| format!("/api/v1/servers/{id}{suffix}");

    // Trust on first use: the pin is exactly what ssh-keygen -lf prints.
    let first = sshd.host_key_fingerprint();
    let before = audit_len().len();
    let (status, _, check) = send(&svc, call("POST", uri("/commission"), Value::Null)).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["fingerprint"].as_str(), Some(first.as_str()));
    assert_eq!(audit_len().len(), before + 1);
    let (_, _, shown) = send(&svc, call("GET", uri(""), Value::Null)).await;
    assert_eq!(shown["host_key_fingerprint"].as_str(), Some(first.as_str()));
    let (status, _, _) = send(&svc, call("POST", uri("/check"), Value::Null)).await;
    assert_eq!(status, 200, "a check over the pinned key works");

    // The server is rebuilt (or someone is in the middle): refused before auth.
    sshd.replace_host_key(HostKeyType::Ed25519);
    let second = sshd.host_key_fingerprint();
    let attempts = sshd.publickey_attempts();
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
        sshd.publickey_attempts(),
        attempts,
        "no client key was offered to the changed host:\n{}",
        sshd.log()
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
    sshd.replace_host_key(HostKeyType::Rsa);
    let attempts = sshd.publickey_attempts();
    let (status, _, _) = send(&svc, call("POST", uri("/check"), Value::Null)).await;
    assert_eq!(status, 409, "an RSA key after an Ed25519 pin is refused");
    assert_eq!(sshd.publickey_attempts(), attempts);

    // Reset: the next commissioning pins whatever the host presents.
    let before = audit_len().len();
    let (status, _, _) = send(&svc, call("POST", uri("/host-key/reset"), Value::Null)).await;
    assert_eq!(status, 204);
    assert_eq!(audit_len().len(), before + 1);
    let (status, _, check) = send(&svc, call("POST", uri("/commission"), Value::Null)).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(
        check["fingerprint"].as_str(),
        Some(sshd.host_key_fingerprint().as_str())
    );

    let before = audit_len().len();
    let (status, _, _) = send(&svc, call("DELETE", uri(""), Value::Null)).await;
    assert_eq!(status, 204);
    assert_eq!(audit_len().len(), before + 1);
}

/// Imports `private_key` as a server key and returns the created key.
async fn import_server_key<S, B>(
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

async fn unreachable_and_refused_fail_clearly(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let dir = tempfile::tempdir().expect("dir");
    let (private_key, _) = client_key(dir.path());
    let (_, other_public) = client_key(&dir.path().join("other"));
    let sshd = Sshd::start(HostKeyType::Ed25519, &other_public);
    let key = import_server_key(&svc, &admin, &private_key).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    for (name, port, user, expected) in [
        ("wrong-key", sshd.port, sshd.user.clone(), "refused the key"),
        (
            "wrong-user",
            sshd.port,
            "nobody".to_owned(),
            "refused the key",
        ),
        ("closed-port", closed, sshd.user.clone(), "cannot connect"),
    ] {
        let (status, _, server) = send(
            &svc,
            json_req(
                "POST",
                "/api/v1/servers",
                ip(1),
                json!({"name": name, "address": "127.0.0.1", "port": port, "user": user, "ssh_key_id": key["id"]}),
            )
            .insert_header(admin.clone()),
        )
        .await;
        assert_eq!(status, 201, "{server}");
        let id = server["id"].as_str().expect("id");
        let (status, _, error) = send(
            &svc,
            request("POST", &format!("/api/v1/servers/{id}/commission"), ip(1))
                .insert_header(admin.clone()),
        )
        .await;
        assert_eq!(status, 502, "{name}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{name}: {error}"
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
