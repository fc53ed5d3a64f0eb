//! The mesh coordinator in-process, on both backends: enrollment tokens
//! (one use, expiring, only from their server), agent tokens (wrong or
//! revoked: 401, audited, no config), the agent protocol version, address
//! allocation under racing enrollments, peer lists after removals and
//! revocations, key rotation keeping the address, and the config long poll
//! woken by a change; applications joining and leaving the mesh.

mod apps;
mod policy;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use base64::Engine as _;
use futures_util::future::join_all;
use serde_json::{json, Value};
use servos_common::protocol::{HEADER, VERSION};

use crate::apps::{audit_entries, call};
use crate::both_backends;
use crate::harness::{callers, json_req, request, send, Backend, TestApp};

/// A random WireGuard public key, base64.
fn wg_key() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("rng");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The address lab-less tests pretend server `n` (and its agent) has.
fn host(n: u8) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, n], 40000))
}

fn enroll_body(key: &str) -> Value {
    json!({"public_key": key, "hostname": "node", "kernel": "6.1.0", "backend": "boringtun",
        "listen_port": 51820, "endpoint": null, "agent_version": "0.1.0"})
}

/// Registers servers at `host(1..=count)`; returns their ids.
async fn servers<S, B>(svc: &S, admin: &str, count: u8) -> Vec<String>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, key) = call(
        svc,
        "POST",
        "/api/v1/ssh-keys",
        admin,
        json!({"name": "fleet", "kind": "server"}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let mut ids = Vec::new();
    for n in 1..=count {
        let body = json!({"name": format!("node-{n}"), "address": host(n).ip().to_string(),
            "port": 22, "user": "root", "ssh_key_id": key["id"], "roles": ["run"]});
        let (status, server) = call(svc, "POST", "/api/v1/servers", admin, body).await;
        assert_eq!(status, 201, "{server}");
        ids.push(server["id"].as_str().expect("id").to_owned());
    }
    ids
}

/// A fresh enrollment token of `server`.
async fn token_of<S, B>(svc: &S, admin: &str, server: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/servers/{server}/enrollment-tokens");
    let (status, issued) = call(svc, "POST", &uri, admin, Value::Null).await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("aen_"), "{token}");
    token
}

/// An agent's call: protocol header, bearer `token`, from `from`.
async fn agent_call<S, B>(
    svc: &S,
    method: &str,
    uri: &str,
    token: &str,
    from: SocketAddr,
    body: Value,
) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = if body.is_null() {
        request(method, uri, from)
    } else {
        json_req(method, uri, from, body)
    };
    let req = req
        .insert_header((HEADER, VERSION.to_string()))
        .insert_header(("Authorization", format!("Bearer {token}")));
    let (status, _, json) = send(svc, req).await;
    (status, json)
}

/// Enrolls server number `n` with `token` and `key`; returns the enrollment.
async fn enroll<S, B>(svc: &S, n: u8, token: &str, key: &str) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    agent_call(
        svc,
        "POST",
        "/api/v1/agent/enroll",
        token,
        host(n),
        enroll_body(key),
    )
    .await
}

/// The number of audit entries with `action`.
async fn audited<S, B>(svc: &S, admin: &str, action: &str) -> usize
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    audit_entries(svc, admin, action).await.len()
}

async fn enrollment_tokens_work_once_in_time_and_only_from_their_server(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.mesh.enrollment_ttl = chrono::Duration::minutes(15)
    });
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = &who.admin_token;
    let ids = servers(&svc, admin, 2).await;

    let uri = format!("/api/v1/servers/{}/enrollment-tokens", ids[0]);
    let (status, _) = call(&svc, "POST", &uri, &who.deployer_token, Value::Null).await;
    assert_eq!(status, 403, "only admins make enrollment tokens");

    let token = token_of(&svc, admin, &ids[0]).await;
    let (status, refused) = enroll(&svc, 2, &token, &wg_key()).await;
    assert_eq!(
        status, 401,
        "server 1's token used from server 2: {refused}"
    );
    let (status, enrolled) = enroll(&svc, 1, &token, &wg_key()).await;
    assert_eq!(status, 201, "{enrolled}");
    assert_eq!(enrolled["protocol"], VERSION);
    assert!(enrolled["agent_token"]
        .as_str()
        .is_some_and(|t| t.starts_with("agt_")));
    assert_eq!(enrolled["config"]["node"]["address"], "10.210.0.1/16");
    assert_eq!(
        enrolled["config"]["node"]["container_subnet"],
        "10.210.128.0/24"
    );
    assert_eq!(enrolled["config"]["peers"], json!([]));
    let (status, _) = enroll(&svc, 1, &token, &wg_key()).await;
    assert_eq!(status, 401, "a token works once");

    let forged = "aen_0000000000000000000000000000000000000000000000000";
    let (status, _) = enroll(&svc, 1, forged, &wg_key()).await;
    assert_eq!(status, 401, "a forged token");
    let (status, _) = enroll(&svc, 1, &who.admin_token, &wg_key()).await;
    assert_eq!(status, 401, "an API token is no enrollment token");
    assert!(audited(&svc, admin, "enrollment_token.rejected").await >= 4);
    assert_eq!(audited(&svc, admin, "mesh_node.enrolled").await, 1);

    // No protocol header: refused before anything else, and named.
    let token = token_of(&svc, admin, &ids[1]).await;
    let req = json_req(
        "POST",
        "/api/v1/agent/enroll",
        host(2),
        enroll_body(&wg_key()),
    )
    .insert_header(("Authorization", format!("Bearer {token}")));
    let (status, _, body) = send(&svc, req).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("agent_protocol_mismatch")),
        "{body}"
    );
    let (status, _) = enroll(&svc, 2, &token, &wg_key()).await;
    assert_eq!(status, 201, "the refused request did not use the token");
}

async fn expired_enrollment_tokens_are_refused(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.mesh.enrollment_ttl = chrono::Duration::zero()
    });
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let ids = servers(&svc, &who.admin_token, 1).await;
    let token = token_of(&svc, &who.admin_token, &ids[0]).await;
    let (status, _) = enroll(&svc, 1, &token, &wg_key()).await;
    assert_eq!(status, 401);
}

async fn agent_tokens_peers_removal_revocation_and_keys(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = &who.admin_token;
    let ids = servers(&svc, admin, 3).await;
    let mut agents = Vec::new();
    for (n, server) in (1..=3).zip(&ids) {
        let token = token_of(&svc, admin, server).await;
        let (status, enrolled) = enroll(&svc, n, &token, &wg_key()).await;
        assert_eq!(status, 201, "{enrolled}");
        agents.push(enrolled);
    }
    let agent_token = |i: usize| agents[i]["agent_token"].as_str().expect("token").to_owned();
    let node_id = |i: usize| agents[i]["node_id"].as_str().expect("node").to_owned();
    let config_of = |i: usize| {
        let token = agent_token(i);
        let svc = &svc;
        async move {
            let (status, config) = agent_call(
                svc,
                "GET",
                "/api/v1/agent/config",
                &token,
                host(1),
                Value::Null,
            )
            .await;
            assert_eq!(status, 200, "{config}");
            config
        }
    };
    let first = config_of(0).await;
    let peers: Vec<&str> = first["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(peers, ["node-2", "node-3"], "{first}");
    assert_eq!(
        first["peers"][0]["allowed_ips"],
        json!(["10.210.0.2/32", "10.210.129.0/24"])
    );
    assert_eq!(first["peers"][0]["endpoint"], "198.51.100.2:51820");
    assert_eq!(first["policy"]["default_action"], "deny");

    // Wrong tokens: 401, audited, no config.
    for wrong in ["agt_nope", &who.admin_token, "aen_x"] {
        let (status, body) = agent_call(
            &svc,
            "GET",
            "/api/v1/agent/config",
            wrong,
            host(1),
            Value::Null,
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert!(body.get("peers").is_none());
    }
    assert!(audited(&svc, admin, "agent_token.rejected").await >= 3);

    // Revoked: out of every peer list, and refused.
    let (status, _) = call(
        &svc,
        "POST",
        &format!("/api/v1/mesh/nodes/{}/revoke", node_id(2)),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let peers = config_of(0).await["peers"].as_array().map_or(0, Vec::len);
    assert_eq!(peers, 1, "the revoked node is no peer");
    let (status, _) = agent_call(
        &svc,
        "GET",
        "/api/v1/agent/config",
        &agent_token(2),
        host(3),
        Value::Null,
    )
    .await;
    assert_eq!(status, 401, "a revoked token");

    // Removed: out of the peer lists, and its address is free again.
    let (status, _) = call(
        &svc,
        "DELETE",
        &format!("/api/v1/mesh/nodes/{}", node_id(1)),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(config_of(0).await["peers"], json!([]));
    let token = token_of(&svc, admin, &ids[1]).await;
    let (status, again) = enroll(&svc, 2, &token, &wg_key()).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["config"]["node"]["address"], "10.210.0.2/16",
        "the lowest free address"
    );

    // A new key keeps the address; sending it twice is fine.
    let key = wg_key();
    for _ in 0..2 {
        let (status, rotated) = agent_call(
            &svc,
            "POST",
            "/api/v1/agent/key",
            &agent_token(0),
            host(1),
            json!({"public_key": key}),
        )
        .await;
        assert_eq!(status, 200, "{rotated}");
        assert_eq!(rotated["node"]["public_key"], key.as_str());
        assert_eq!(rotated["node"]["address"], "10.210.0.1/16");
    }

    // A heartbeat is recorded and shown.
    let beat = json!({"agent_version": "0.1.0", "backend": "boringtun", "config_version": 3,
        "uptime_secs": 9, "peers": [], "counters": null});
    let (status, answer) = agent_call(
        &svc,
        "POST",
        "/api/v1/agent/heartbeat",
        &agent_token(0),
        host(1),
        beat,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["config_version"].as_u64().is_some_and(|v| v > 3),
        "{answer}"
    );
    let (status, node) = call(
        &svc,
        "GET",
        &format!("/api/v1/mesh/nodes/{}", node_id(0)),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{node}");
    assert!(
        node["last_heartbeat_at"].is_string() && node["applied_version"] == 3,
        "{node}"
    );
    // One entry per change, with the agent as actor where it acted; a
    // heartbeat is a report, not a change.
    for (action, count) in [
        ("mesh_node.enrolled", 4),
        ("mesh_node.revoked", 1),
        ("mesh_node.removed", 1),
        ("mesh_node.key_rotated", 2),
    ] {
        assert_eq!(audited(&svc, admin, action).await, count, "{action}");
    }
    let (_, page) = call(
        &svc,
        "GET",
        "/api/v1/audit?action=mesh_node.key_rotated",
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(page["entries"][0]["actor_type"], "agent", "{page}");
    assert_eq!(page["entries"][0]["actor_label"], "node-1", "{page}");
}

async fn racing_enrollments_get_distinct_addresses(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let ids = servers(&svc, &who.admin_token, 8).await;
    let mut tokens = Vec::new();
    for server in &ids {
        tokens.push(token_of(&svc, &who.admin_token, server).await);
    }
    let enrolled = join_all((1..=8).zip(&tokens).map(|(n, token)| {
        let key = wg_key();
        let svc = &svc;
        async move { enroll(svc, n, token, &key).await }
    }))
    .await;
    let mut addresses: Vec<String> = enrolled
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 201, "{body}");
            body["config"]["node"]["address"]
                .as_str()
                .expect("address")
                .to_owned()
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 8, "{addresses:?}");
}

async fn a_waiting_agent_is_woken_by_a_change(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let ids = servers(&svc, &who.admin_token, 1).await;
    let token = token_of(&svc, &who.admin_token, &ids[0]).await;
    let (_, enrolled) = enroll(&svc, 1, &token, &wg_key()).await;
    let agent = enrolled["agent_token"].as_str().expect("token").to_owned();
    let version = enrolled["config"]["version"].as_u64().expect("version");

    let (status, _) = agent_call(
        &svc,
        "GET",
        &format!("/api/v1/agent/config?since={version}&wait=0"),
        &agent,
        host(1),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204, "nothing newer");
    let (status, body) = agent_call(
        &svc,
        "GET",
        "/api/v1/agent/config?wait=31",
        &agent,
        host(1),
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let started = Instant::now();
    let uri = format!("/api/v1/agent/config?since={version}&wait=20");
    let wait = agent_call(&svc, "GET", &uri, &agent, host(1), Value::Null);
    let change = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        call(
            &svc,
            "PUT",
            "/api/v1/mesh/policies/default",
            &who.admin_token,
            json!({"default_action": "allow"}),
        )
        .await
    };
    let ((status, config), (changed, _)) = futures_util::join!(wait, change);
    assert_eq!(changed, 204);
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["policy"]["default_action"], "allow");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the change, not the timeout"
    );
}

both_backends!(
    enrollment_tokens_work_once_in_time_and_only_from_their_server,
    expired_enrollment_tokens_are_refused,
    agent_tokens_peers_removal_revocation_and_keys,
    racing_enrollments_get_distinct_addresses,
    a_waiting_agent_is_woken_by_a_change,
);
