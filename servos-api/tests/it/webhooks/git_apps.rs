//! Webhooks of an application built from git: each provider's signed push
//! queues one build of exactly the pushed commit, into the image named
//! after it; the same delivery again, or the same commit from another
//! delivery, builds nothing more. (Nothing runs here: the jobs are only
//! looked at; the lab tests build and deliver.)

use serde_json::{json, Value};

use super::{commit, deliver, deployments, push, PROVIDERS};
use crate::apps::call;
use crate::both_backends;
use crate::harness::{callers, Backend, TestApp};

async fn each_pushed_commit_is_built_once(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = &who.admin_token;
    let (status, key) = call(
        &svc,
        "POST",
        "/api/v1/ssh-keys",
        admin,
        json!({"name": "fleet", "kind": "server"}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let mut servers = Vec::new();
    for (name, role) in [("builder-1", "build"), ("web-1", "run")] {
        let body = json!({"name": name, "address": "198.51.100.7", "port": 22, "user": "root",
            "ssh_key_id": key["id"], "roles": [role]});
        let (status, server) = call(&svc, "POST", "/api/v1/servers", admin, body).await;
        assert_eq!(status, 201, "{server}");
        servers.push(server["id"].clone());
    }
    let body = json!({"name": "site", "git": {"url": "https://git.example.com/acme/site.git",
        "branch": "main", "builder_server_id": servers[0]}, "server_ids": [servers[1]],
        "container_port": 8080, "health_check": {"http": {"path": "/"}}});
    let (status, made) = call(&svc, "POST", "/api/v1/apps", admin, body).await;
    assert_eq!(status, 201, "{made}");
    let app_id = made["id"].as_str().expect("id").to_owned();
    let uri = format!("/api/v1/apps/{app_id}/webhook");
    let (status, hook) = call(&svc, "POST", &uri, admin, json!({"branch": "main"})).await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().expect("secret");

    let providers = PROVIDERS;
    for (n, provider) in (1..).zip(providers) {
        let pushed = commit(n);
        let (headers, body) = push(provider, secret, "main", &pushed, &format!("{provider}-1"));
        let (status, answer) = deliver(&svc, &app_id, &headers, body).await;
        assert_eq!(
            (status, answer["verdict"].as_str()),
            (202, Some("queued")),
            "{provider}: {answer}"
        );
        let id = answer["deployment_id"].as_str().expect("a deployment");
        let (_, queued) = call(
            &svc,
            "GET",
            &format!("/api/v1/deployments/{id}"),
            admin,
            Value::Null,
        )
        .await;
        assert_eq!(queued["source_commit"], pushed.as_str(), "{provider}");
        assert_eq!(
            queued["image"],
            format!("servos.invalid/servos/{app_id}:{pushed}"),
            "{provider}"
        );
        assert_eq!(deployments(&svc, admin, &app_id).await, usize::from(n));
    }

    // The first delivery again, and its commit from another delivery.
    for (delivery, pushed) in [("github-1", commit(1)), ("github-2", commit(1))] {
        let (headers, body) = push("github", secret, "main", &pushed, delivery);
        let (status, answer) = deliver(&svc, &app_id, &headers, body).await;
        assert_eq!(
            (status, answer["verdict"].as_str()),
            (200, Some("duplicate")),
            "{delivery}: {answer}"
        );
    }
    assert_eq!(deployments(&svc, admin, &app_id).await, providers.len());
}

both_backends!(each_pushed_commit_is_built_once);
