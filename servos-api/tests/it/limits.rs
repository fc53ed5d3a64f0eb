//! The general per-IP rate limit and request hygiene: body limits, strict
//! JSON, server-managed fields.

use serde_json::json;

use crate::both_backends;
use crate::harness::{
    callers, ip, json_req, request, retry_after, send, Backend, TestApp, PASSWORD,
};

async fn per_ip_limit_refuses_the_201st_request(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    for i in 1..=200 {
        let (status, _, _) = send(&svc, request("GET", "/login", ip(50))).await;
        assert_eq!(status, 200, "request {i}");
    }
    let (status, headers, _) = send(&svc, request("GET", "/login", ip(50))).await;
    assert_eq!(status, 429);
    let retry = retry_after(&headers);
    assert!((1..=30).contains(&retry), "{retry}");
    let (status, _, _) = send(&svc, request("GET", "/login", ip(51))).await;
    assert_eq!(status, 200, "another IP is unaffected");
    // A monitor behind the refused address is never refused.
    for probe in ["/healthz", "/readyz"] {
        for i in 1..=250 {
            let (status, _, _) = send(&svc, request("GET", probe, ip(50))).await;
            assert_eq!(status, 200, "{probe} {i} from a limited address");
        }
    }
    let (status, _, _) = send(&svc, request("GET", "/login", ip(50))).await;
    assert_eq!(status, 429, "probes do not reset the budget");
}

async fn bodies_are_strict(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let auth = ("Authorization", format!("Bearer {}", who.admin_token));
    let (status, _, body) = send(
        &svc,
        json_req("POST", "/api/v1/users", ip(1), json!({"email": "x@example.com", "password": PASSWORD, "role": "viewer", "is_root": true}))
            .insert_header(auth.clone()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown field `is_root`")),
        "{body}"
    );

    let forced_id = "00000000-0000-0000-0000-000000000001";
    let (status, _, body) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/users",
            ip(1),
            json!({"email": "y@example.com", "password": PASSWORD, "role": "viewer", "id": forced_id, "created_at": "1970-01-01T00:00:00Z"}),
        )
        .insert_header(auth.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_ne!(body["id"], forced_id, "server-managed id ignored");
    assert_ne!(body["created_at"], "1970-01-01T00:00:00Z");

    let (status, _, body) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/users",
            ip(1),
            json!({"email": "z@example.com", "password": ["secret-canary-123"], "role": "viewer"}),
        )
        .insert_header(auth.clone()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        !body.to_string().contains("secret-canary-123"),
        "errors never echo values"
    );

    let big = "x".repeat(200 * 1024);
    let (status, _, _) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/tokens",
            ip(1),
            json!({"name": big, "role": "viewer"}),
        )
        .insert_header(auth.clone()),
    )
    .await;
    assert_eq!(status, 413, "oversized body");

    let (status, _, _) = send(
        &svc,
        request("POST", "/api/v1/tokens", ip(1))
            .insert_header(auth)
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(r#"{"name":"a","role":"viewer"}"#),
    )
    .await;
    assert_eq!(status, 400, "JSON only");
}

/// Ambiguous input is refused: an object that names a key twice, at any
/// depth, answers 400 naming the key (never a value) and changes nothing.
async fn repeated_keys_are_refused(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let auth = ("Authorization", format!("Bearer {}", who.admin_token));
    let tokens = || request("GET", "/api/v1/tokens", ip(2)).insert_header(auth.clone());
    let (_, _, before) = send(&svc, tokens()).await;
    for (body, key) in [
        (
            r#"{"name":"canary-one","name":"canary-two","role":"viewer"}"#,
            "name",
        ),
        (r#"{"name":"ci","role":"viewer","role":"admin"}"#, "role"),
        (r#"{"name":"ci","role":"viewer","id":"a","id":"b"}"#, "id"),
        (
            r#"{"name":"ci","role":"viewer","x":[{"k":"canary-one","k":"canary-two"}]}"#,
            "k",
        ),
        (
            r#"{"name":"ci","r\u006fle":"viewer","role":"admin"}"#,
            "role",
        ),
    ] {
        let (status, _, answer) = send(
            &svc,
            request("POST", "/api/v1/tokens", ip(2))
                .insert_header(auth.clone())
                .insert_header(("Content-Type", "application/json"))
                .set_payload(body),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], "invalid_json", "{body}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("key `{key}` twice")),
            "{body}: {message}"
        );
        assert!(!answer.to_string().contains("canary"), "{body}: {answer}");
    }
    let (_, _, after) = send(&svc, tokens()).await;
    assert_eq!(before, after, "no token was made");
}

async fn token_roles_are_capped_and_revocable(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let viewer = ("Authorization", format!("Bearer {}", who.viewer_token));
    let (status, _, _) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/tokens",
            ip(1),
            json!({"name": "escalate", "role": "admin"}),
        )
        .insert_header(viewer.clone()),
    )
    .await;
    assert_eq!(status, 400, "a viewer cannot mint an admin token");
    let (_, _, list) = send(
        &svc,
        request("GET", "/api/v1/tokens", ip(1)).insert_header(viewer.clone()),
    )
    .await;
    let mine = list.as_array().expect("list");
    assert_eq!(mine.len(), 1, "a viewer sees only their tokens");
    assert!(mine[0]["last_used_at"].is_string(), "last use recorded");
    assert!(
        !list.to_string().contains(&who.viewer_token),
        "tokens are never listed"
    );
    let id = mine[0]["id"].as_str().expect("id");
    let (status, _, _) = send(
        &svc,
        request("DELETE", &format!("/api/v1/tokens/{id}"), ip(1)).insert_header(viewer.clone()),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = send(
        &svc,
        request("GET", "/api/v1/me", ip(1)).insert_header(viewer),
    )
    .await;
    assert_eq!(status, 401, "revoked token refused");
    let (status, _, _) = send(
        &svc,
        request("GET", "/api/v1/me", ip(1))
            .insert_header(("Authorization", "Bearer svs_notarealtoken")),
    )
    .await;
    assert_eq!(status, 401);
}

both_backends!(
    per_ip_limit_refuses_the_201st_request,
    bodies_are_strict,
    repeated_keys_are_refused,
    token_roles_are_capped_and_revocable
);
