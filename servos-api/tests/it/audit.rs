//! The audit trail: one entry per mutating request with actor, action,
//! target, request id and IP; no secret values; append-only; chained.

mod listing;
mod tamper;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use servos_api::audit::verify::{verify, Verdict};
use servos_api::http::routes::{self, Surface, Tier};
use servos_api::store::audit_log::{self, AuditRow};

use crate::both_backends;
use crate::harness::{callers, ip, json_req, request, send, Backend, TestApp, PASSWORD};

fn all_entries(app: &TestApp) -> Vec<AuditRow> {
    let mut conn = app.state.pool.get().expect("conn");
    audit_log::chain_batch(&mut conn, 0, 100_000).expect("entries")
}

/// A request after a create: method, route, body and the action it records.
type FollowUp = (&'static str, &'static str, Value, &'static str);

/// One mutating request and the entry it must leave.
struct Step {
    method: &'static str,
    route: &'static str,
    uri: String,
    body: Value,
    auth: (String, String),
    action: &'static str,
    actor_type: &'static str,
}

async fn every_mutating_route_leaves_one_entry(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = (
        "Authorization".to_owned(),
        format!("Bearer {}", who.admin_token),
    );
    let session = |c: &str| ("Cookie".to_owned(), format!("servos_session={c}"));
    let secret_password = "canary-password-5f1e9d2a";
    let mut covered = BTreeSet::new();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        secret_password.to_owned(),
        who.admin_token.clone(),
    ];

    // Creates a user; the rest of the steps act on it.
    let (status, _, user) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/users",
            ip(7),
            json!({"email": "target@example.com", "password": secret_password, "role": "viewer"}),
        )
        .insert_header(admin.clone()),
    )
    .await;
    assert_eq!(status, 201);
    covered.insert("POST /api/v1/users");
    let user_id = user["id"].as_str().expect("id").to_owned();
    let cookie = crate::harness::login(&svc, "admin@example.com").await;
    covered.insert("POST /api/v1/login");

    let steps = vec![
        Step {
            method: "PATCH",
            route: "/api/v1/users/{id}",
            uri: format!("/api/v1/users/{user_id}"),
            body: json!({"role": "deployer", "password": secret_password}),
            auth: admin.clone(),
            action: "user.updated",
            actor_type: "api_token",
        },
        Step {
            method: "POST",
            route: "/api/v1/tokens",
            uri: "/api/v1/tokens".into(),
            body: json!({"name": "audited", "role": "viewer"}),
            auth: session(&cookie),
            action: "api_token.created",
            actor_type: "user",
        },
        Step {
            method: "DELETE",
            route: "/api/v1/users/{id}",
            uri: format!("/api/v1/users/{user_id}"),
            body: Value::Null,
            auth: admin.clone(),
            action: "user.deleted",
            actor_type: "api_token",
        },
        Step {
            method: "PUT",
            route: "/api/v1/me/password",
            uri: "/api/v1/me/password".into(),
            body: json!({"current_password": PASSWORD, "new_password": secret_password}),
            auth: session(&crate::harness::login(&svc, "viewer@example.com").await),
            action: "user.password_changed",
            actor_type: "user",
        },
        Step {
            method: "POST",
            route: "/api/v1/logout",
            uri: "/api/v1/logout".into(),
            body: Value::Null,
            auth: session(&cookie),
            action: "session.logout",
            actor_type: "user",
        },
    ];
    // Each credential kind: create, then its other mutating routes.
    let credentials: [(&str, Value, Vec<FollowUp>); 5] = [
        (
            "/api/v1/ssh-keys",
            json!({"name": "deploy", "kind": "server"}),
            vec![
                (
                    "POST",
                    "/api/v1/ssh-keys/{id}/reveal",
                    json!({"field": "private_key"}),
                    "ssh_key.revealed",
                ),
                (
                    "DELETE",
                    "/api/v1/ssh-keys/{id}",
                    Value::Null,
                    "ssh_key.deleted",
                ),
            ],
        ),
        (
            "/api/v1/registries",
            json!({"name": "r", "host": "registry.example.com", "username": "u", "password": secret_password}),
            vec![
                (
                    "POST",
                    "/api/v1/registries/{id}/reveal",
                    Value::Null,
                    "registry.revealed",
                ),
                (
                    "DELETE",
                    "/api/v1/registries/{id}",
                    Value::Null,
                    "registry.deleted",
                ),
            ],
        ),
        (
            "/api/v1/git-credentials",
            json!({"name": "g", "provider": "github", "token": secret_password}),
            vec![
                (
                    "POST",
                    "/api/v1/git-credentials/{id}/reveal",
                    Value::Null,
                    "git_credential.revealed",
                ),
                (
                    "DELETE",
                    "/api/v1/git-credentials/{id}",
                    Value::Null,
                    "git_credential.deleted",
                ),
            ],
        ),
        (
            "/api/v1/env-sets",
            json!({"name": "e", "vars": {"DATABASE_PASSWORD": secret_password}}),
            vec![
                (
                    "PATCH",
                    "/api/v1/env-sets/{id}",
                    json!({"set": {"OTHER": secret_password}}),
                    "env_set.updated",
                ),
                (
                    "POST",
                    "/api/v1/env-sets/{id}/reveal",
                    json!({"name": "OTHER"}),
                    "env_set.revealed",
                ),
                (
                    "DELETE",
                    "/api/v1/env-sets/{id}",
                    Value::Null,
                    "env_set.deleted",
                ),
            ],
        ),
        (
            "/api/v1/apps",
            json!({"name": "a", "image": "nginx:1.27", "container_port": 80,
                "health_check": {"http": {"path": "/"}}}),
            vec![
                (
                    "PATCH",
                    "/api/v1/apps/{id}",
                    json!({"image": "nginx:1.28"}),
                    "app.updated",
                ),
                (
                    "PATCH",
                    "/api/v1/apps/{id}/env",
                    json!({"set": {"DATABASE_PASSWORD": {"value": secret_password}}}),
                    "app.env_changed",
                ),
                (
                    "POST",
                    "/api/v1/apps/{id}/env/reveal",
                    json!({"name": "DATABASE_PASSWORD"}),
                    "app.env_revealed",
                ),
                ("DELETE", "/api/v1/apps/{id}", Value::Null, "app.deleted"),
            ],
        ),
    ];
    for (collection, body, then) in credentials {
        let before = all_entries(&app).len();
        let (status, _, created) = send(
            &svc,
            json_req("POST", collection, ip(7), body).insert_header(admin.clone()),
        )
        .await;
        assert_eq!(status, 201, "{collection}: {created}");
        assert_eq!(
            all_entries(&app).len(),
            before + 1,
            "POST {collection} leaves exactly one entry"
        );
        covered.insert(Box::leak(format!("POST {collection}").into_boxed_str()));
        let id = created["id"].as_str().expect("id").to_owned();
        for (method, route, body, action) in then {
            let before = all_entries(&app).len();
            let uri = route.replace("{id}", &id);
            let req = if body.is_null() {
                request(method, &uri, ip(7))
            } else {
                json_req(method, &uri, ip(7), body)
            };
            let (status, _, _) = send(&svc, req.insert_header(admin.clone())).await;
            assert!((200..300).contains(&status), "{method} {uri}: {status}");
            let entries = all_entries(&app);
            assert_eq!(
                entries.len(),
                before + 1,
                "{method} {uri} leaves exactly one entry"
            );
            assert_eq!(entries.last().map(|e| e.action.as_str()), Some(action));
            covered.insert(Box::leak(format!("{method} {route}").into_boxed_str()));
        }
    }
    let mut created_token_id = None;
    for step in steps {
        let before = all_entries(&app).len();
        let mut req = if step.body.is_null() {
            request(step.method, &step.uri, ip(7))
        } else {
            json_req(step.method, &step.uri, ip(7), step.body.clone())
        };
        req = req.insert_header((step.auth.0.as_str(), step.auth.1.as_str()));
        let (status, headers, body) = send(&svc, req).await;
        assert!(
            (200..300).contains(&status),
            "{} {}: {status} {body}",
            step.method,
            step.uri
        );
        if let Some(token) = body["token"].as_str() {
            secrets.push(token.to_owned());
            created_token_id = body["api_token"]["id"].as_str().map(str::to_owned);
        }
        let entries = all_entries(&app);
        assert_eq!(
            entries.len(),
            before + 1,
            "{} {} leaves exactly one entry",
            step.method,
            step.uri
        );
        let entry = entries.last().expect("entry");
        assert_eq!(entry.action, step.action);
        assert_eq!(entry.actor_type, step.actor_type);
        assert!(entry.actor_id.is_some(), "actor id");
        assert!(
            entry.target_type.is_some() && entry.target_id.is_some(),
            "target"
        );
        assert_eq!(entry.client_ip.as_deref(), Some("192.0.2.7"));
        let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
        assert_eq!(
            entry.request_id.as_deref(),
            request_id,
            "request id matches the response header"
        );
        covered.insert(Box::leak(
            format!("{} {}", step.method, step.route).into_boxed_str(),
        ));
    }
    let id = created_token_id.expect("token created");
    let before = all_entries(&app).len();
    let (status, _, _) = send(
        &svc,
        request("DELETE", &format!("/api/v1/tokens/{id}"), ip(7)).insert_header(admin.clone()),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(all_entries(&app).len(), before + 1);
    assert_eq!(
        all_entries(&app)
            .last()
            .map(|e| e.action.clone())
            .as_deref(),
        Some("api_token.revoked")
    );
    covered.insert("DELETE /api/v1/tokens/{id}");
    covered.insert("POST /api/v1/setup");

    // Failed authentication is audited too.
    let before = all_entries(&app).len();
    let (status, _, _) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/login",
            ip(8),
            json!({"email": "admin@example.com", "password": "not the password"}),
        ),
    )
    .await;
    assert_eq!(status, 401);
    let entries = all_entries(&app);
    assert_eq!(entries.len(), before + 1);
    assert_eq!(
        entries.last().map(|e| e.action.as_str()),
        Some("session.login_failed")
    );

    // A deployment is queued and cancelled (no worker runs here).
    let call = |method: &'static str, uri: String, body: Value| {
        let req = if body.is_null() {
            request(method, &uri, ip(7))
        } else {
            json_req(method, &uri, ip(7), body)
        };
        send(&svc, req.insert_header(admin.clone()))
    };
    let (_, _, key) = call(
        "POST",
        "/api/v1/ssh-keys".into(),
        json!({"name": "fleet", "kind": "server"}),
    )
    .await;
    let (_, _, server) = call(
        "POST",
        "/api/v1/servers".into(),
        json!({"name": "web-1", "address": "192.0.2.10",
        "user": "deploy", "ssh_key_id": key["id"], "roles": ["run"]}),
    )
    .await;
    let (_, _, web) = call(
        "POST",
        "/api/v1/apps".into(),
        json!({"name": "web", "image": "nginx:1.27", "container_port": 80,
        "health_check": {"http": {"path": "/"}}, "server_ids": [server["id"]]}),
    )
    .await;
    let web_id = web["id"].as_str().expect("app id").to_owned();
    let mut deployment_id = String::new();
    for (route, action) in [
        ("/api/v1/apps/{id}/deploy", "deployment.requested"),
        (
            "/api/v1/deployments/{id}/cancel",
            "deployment.cancel_requested",
        ),
    ] {
        let before = all_entries(&app).len();
        let id = if route.starts_with("/api/v1/apps") {
            &web_id
        } else {
            &deployment_id
        };
        let (status, _, body) = call("POST", route.replace("{id}", id), Value::Null).await;
        assert!(
            (200..300).contains(&status),
            "POST {route}: {status} {body}"
        );
        if let Some(id) = body["id"].as_str() {
            deployment_id = id.to_owned();
        }
        let entries = all_entries(&app);
        assert_eq!(
            entries.len(),
            before + 1,
            "POST {route} leaves exactly one entry"
        );
        assert_eq!(entries.last().map(|e| e.action.as_str()), Some(action));
        covered.insert(Box::leak(format!("POST {route}").into_boxed_str()));
    }

    // The application's webhook: made, changed, rotated, a forged delivery
    // refused, removed; one entry each.
    let hook = format!("/api/v1/apps/{web_id}/webhook");
    for (method, uri, body, route, action) in [
        (
            "POST",
            hook.clone(),
            json!({"branch": "main"}),
            "POST /api/v1/apps/{id}/webhook",
            "webhook.created",
        ),
        (
            "PATCH",
            hook.clone(),
            json!({"branch": "release"}),
            "PATCH /api/v1/apps/{id}/webhook",
            "webhook.updated",
        ),
        (
            "POST",
            format!("{hook}/secret"),
            Value::Null,
            "POST /api/v1/apps/{id}/webhook/secret",
            "webhook.secret_rotated",
        ),
        (
            "DELETE",
            hook.clone(),
            Value::Null,
            "DELETE /api/v1/apps/{id}/webhook",
            "webhook.deleted",
        ),
    ] {
        if method == "DELETE" {
            let before = all_entries(&app).len();
            let forged = request("POST", &format!("/hooks/{web_id}"), ip(9))
                .insert_header(("Content-Type", "application/json"))
                .insert_header(("X-GitHub-Event", "push"))
                .insert_header(("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64))))
                .set_payload(r#"{"ref":"refs/heads/release"}"#);
            let (status, _, _) = send(&svc, forged).await;
            assert_eq!(status, 401, "a forged delivery");
            let entries = all_entries(&app);
            assert_eq!(
                entries.len(),
                before + 1,
                "a refused delivery leaves one entry"
            );
            assert_eq!(
                entries.last().map(|e| e.action.as_str()),
                Some("webhook.rejected")
            );
            covered.insert("POST /hooks/{id}");
        }
        let before = all_entries(&app).len();
        let (status, _, answer) = call(method, uri, body).await;
        assert!((200..300).contains(&status), "{route}: {status} {answer}");
        let entries = all_entries(&app);
        assert_eq!(
            entries.len(),
            before + 1,
            "{route} leaves exactly one entry"
        );
        assert_eq!(entries.last().map(|e| e.action.as_str()), Some(action));
        covered.insert(route);
    }

    let mutating: BTreeSet<String> = routes::table()
        .into_iter()
        .filter(|r| r.tier != Tier::Blocked && r.method != actix_web::http::Method::GET)
        // Server routes need an SSH server; servers.rs checks their entries.
        .filter(|r| !r.path.starts_with("/api/v1/servers"))
        // A rollback needs a succeeded deployment; deploy_lab/jobs.rs checks its entry.
        .filter(|r| r.path != "/api/v1/deployments/{id}/rollback")
        // The mesh's routes (and what agents call) need nodes; mesh.rs checks
        // their entries (a heartbeat is a report, not a change: it has none).
        .filter(|r| !r.path.starts_with("/api/v1/mesh") && !r.path.starts_with("/api/v1/agent/"))
        // Web forms call the same services; web/ checks them.
        .filter(|r| r.surface == Surface::Api)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let covered: BTreeSet<String> = covered.into_iter().map(str::to_owned).collect();
    assert_eq!(
        covered, mutating,
        "every mutating route is covered by this test"
    );

    // No secret value anywhere in the trail, nor in its exports.
    let (_, _, listed) = send(
        &svc,
        request("GET", "/api/v1/audit?limit=500", ip(7)).insert_header(admin.clone()),
    )
    .await;
    let csv = actix_web::test::call_and_read_body(
        &svc,
        request("GET", "/api/v1/audit.csv", ip(7))
            .insert_header(admin)
            .to_request(),
    )
    .await;
    let raw = format!("{:?}", all_entries(&app));
    for secret in &secrets {
        for haystack in [
            &raw,
            &listed.to_string(),
            &String::from_utf8_lossy(&csv).into_owned(),
        ] {
            assert!(
                !haystack.contains(secret.as_str()),
                "a secret value reached the audit trail"
            );
        }
    }
    let mut conn = app.state.pool.get().expect("conn");
    assert!(matches!(
        verify(&mut conn, &app.state.audit_chain),
        Ok(Verdict::Intact { .. })
    ));
}

both_backends!(every_mutating_route_leaves_one_entry,);
