//! Canary secrets of every kind (SSH key and passphrase, registry password,
//! git token, environment value, application environment value, secret
//! build argument) stored
//! through the real binary: they never appear in a response other than
//! reveal, the log, the audit trail, or the database files and rows.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary_security::{assert_stored_nowhere, contains_bytes};
use crate::both_backends;
use crate::client::*;
use crate::harness::{random_master_key, Backend, TestDb};
use crate::process::{Env, Server};

/// A private key made by `ssh-keygen`, protected by `passphrase`.
fn protected_key(dir: &std::path::Path, passphrase: &str) -> String {
    let path = dir.join("canary_key");
    let status = Command::new("ssh-keygen")
        .args([
            "-q", "-t", "ed25519", "-C", "canary", "-N", passphrase, "-f",
        ])
        .arg(&path)
        .status()
        .expect("ssh-keygen (Debian package openssh-client) is needed for this test");
    assert!(status.success());
    std::fs::read_to_string(&path).expect("read the key")
}

async fn created(server: &Server, path: &str, body: Value) -> String {
    let (status, _, body) = post(server, path, body).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {body}");
    body["id"].as_str().expect("id").to_owned()
}

async fn canaries_never_leak(backend: Backend) {
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let mut env = Env::for_db(&db, &random_master_key());
    env.log_filter = "trace".into();
    let password = unique_password();
    let passphrase = format!("canary-passphrase-{}", uuid::Uuid::new_v4().simple());
    let private_key = protected_key(scratch.path(), &passphrase);
    // A full line of the key's base64 body: any copy of the key contains it.
    let key_body = private_key
        .lines()
        .find(|l| !l.starts_with("-----"))
        .expect("a key body line")
        .to_owned();
    let registry_password = format!("canary-registry-{}", uuid::Uuid::new_v4().simple());
    let git_token = format!("canary-git-{}", uuid::Uuid::new_v4().simple());
    let env_value = format!("canary-env-{}", uuid::Uuid::new_v4().simple());
    let app_env_value = format!("canary-app-env-{}", uuid::Uuid::new_v4().simple());
    let build_arg_value = format!("canary-build-arg-{}", uuid::Uuid::new_v4().simple());

    let server = Server::start(&env, &scratch.path().join("server.log")).await;
    assert_eq!(
        setup(&server, &read_setup_token(&env), &password).await,
        StatusCode::CREATED
    );
    login(&server, &password).await;
    let key = created(
        &server,
        "/api/v1/ssh-keys",
        json!({"name": "canary", "kind": "server", "private_key": private_key, "passphrase": passphrase}),
    )
    .await;
    let registry = created(
        &server,
        "/api/v1/registries",
        json!({"name": "canary", "host": "127.0.0.1:5000", "username": "ci", "password": registry_password}),
    )
    .await;
    let git = created(
        &server,
        "/api/v1/git-credentials",
        json!({"name": "canary", "provider": "gitea", "token": git_token}),
    )
    .await;
    let mut vars = serde_json::Map::new();
    for i in 0..20 {
        vars.insert(format!("VAR_{i}"), json!(format!("plain-{i}")));
    }
    vars.insert("CANARY".into(), json!(env_value));
    let env_set = created(
        &server,
        "/api/v1/env-sets",
        json!({"name": "canary", "vars": vars}),
    )
    .await;

    let app = created(
        &server,
        "/api/v1/apps",
        json!({"name": "canary", "image": "nginx:1.27", "container_port": 80,
            "health_check": {"http": {"path": "/"}}}),
    )
    .await;
    let builder = created(
        &server,
        "/api/v1/servers",
        json!({"name": "builder", "address": "192.0.2.10", "user": "deploy",
            "ssh_key_id": key, "roles": ["build"]}),
    )
    .await;
    let git_app = created(
        &server,
        "/api/v1/apps",
        json!({"name": "canary-git", "container_port": 80, "health_check": {"http": {"path": "/"}},
            "git": {"url": "https://git.example.com/acme/web.git", "branch": "main",
                "builder_server_id": builder, "git_credential_id": git,
                "build_args": {"TOKEN": {"value": build_arg_value, "secret": true}}}}),
    )
    .await;
    let changed = server
        .client
        .patch(server.at(&format!("/api/v1/apps/{app}/env")))
        .json(&json!({"set": {"CANARY": {"value": app_env_value, "file_secret": true}}}))
        .send()
        .await
        .expect("PATCH the application's environment");
    assert_eq!(changed.status(), StatusCode::OK);

    let mut responses = changed.text().await.unwrap_or_default();
    for path in [
        "/api/v1/ssh-keys".to_owned(),
        format!("/api/v1/ssh-keys/{key}"),
        "/api/v1/registries".to_owned(),
        format!("/api/v1/registries/{registry}"),
        "/api/v1/git-credentials".to_owned(),
        format!("/api/v1/git-credentials/{git}"),
        "/api/v1/env-sets".to_owned(),
        format!("/api/v1/env-sets/{env_set}"),
        format!("/api/v1/env-sets/{env_set}/versions"),
        "/api/v1/apps".to_owned(),
        format!("/api/v1/apps/{app}"),
        format!("/api/v1/apps/{app}/env"),
        format!("/api/v1/apps/{git_app}"),
        "/api/v1/audit?limit=500".to_owned(),
    ] {
        let (status, _, body) = get(&server, &path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        responses.push_str(&body.to_string());
    }
    let (status, _, csv) = get(&server, "/api/v1/audit.csv", None).await;
    assert_eq!(status, StatusCode::OK);
    responses.push_str(&csv.to_string());
    let (_, _, revealed) = post(
        &server,
        &format!("/api/v1/registries/{registry}/reveal"),
        json!({}),
    )
    .await;
    assert_eq!(
        revealed["value"].as_str(),
        Some(registry_password.as_str()),
        "reveal still works"
    );

    let canaries: [(&str, &[u8]); 7] = [
        ("SSH private key", key_body.as_bytes()),
        ("SSH key passphrase", passphrase.as_bytes()),
        ("registry password", registry_password.as_bytes()),
        ("git token", git_token.as_bytes()),
        ("environment value", env_value.as_bytes()),
        ("application environment value", app_env_value.as_bytes()),
        ("secret build argument", build_arg_value.as_bytes()),
    ];
    for (name, canary) in canaries {
        assert!(
            !contains_bytes(responses.as_bytes(), canary),
            "the {name} is in a response"
        );
    }
    assert_stored_nowhere(&db, &env, &canaries, "while running");
    let log = server.stop();
    assert_stored_nowhere(&db, &env, &canaries, "after stopping");
    for (name, canary) in canaries {
        assert!(
            !contains_bytes(log.as_bytes(), canary),
            "the {name} is in the log"
        );
    }
}

both_backends!(canaries_never_leak);
