//! Credentials: secrets sealed at rest, masked everywhere but an audited
//! admin reveal, and one damaged value failing alone.

use serde_json::json;
use servos_api::store::audit_log;

use crate::both_backends;
use crate::harness::{callers, ip, json_req, request, send, Backend, TestApp};

const CANARY: &str = "canary-registry-password-9b1f3c";

fn stored_text(app: &TestApp) -> Vec<u8> {
    match &app.db.target {
        servos_api::store::DatabaseTarget::Sqlite(path) => {
            let mut all = Vec::new();
            for suffix in ["", "-wal"] {
                let file = format!("{}{suffix}", path.display());
                all.extend(std::fs::read(&file).unwrap_or_default());
            }
            all
        }
        servos_api::store::DatabaseTarget::Postgres(url) => {
            let out = std::process::Command::new("psql")
                .args([
                    url.as_str(),
                    "-Atc",
                    "SELECT r::text FROM registries r UNION ALL SELECT a::text FROM audit_log a",
                ])
                .output()
                .expect("psql (Debian package postgresql-client) is needed for this test");
            assert!(
                out.status.success(),
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

async fn registry_password_is_sealed_masked_and_revealed_with_audit(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let viewer = ("Authorization", format!("Bearer {}", who.viewer_token));
    let body =
        json!({"name": "private", "host": "127.0.0.1:5000", "username": "ci", "password": CANARY});
    let (status, _, _) = send(
        &svc,
        json_req("POST", "/api/v1/registries", ip(1), body.clone()).insert_header(viewer.clone()),
    )
    .await;
    assert_eq!(status, 403, "only admins store credentials");
    let (status, _, created) = send(
        &svc,
        json_req("POST", "/api/v1/registries", ip(1), body).insert_header(admin.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (_, _, listed) = send(
        &svc,
        request("GET", "/api/v1/registries", ip(1)).insert_header(viewer.clone()),
    )
    .await;
    let (_, _, shown) = send(
        &svc,
        request("GET", &format!("/api/v1/registries/{id}"), ip(1)).insert_header(admin.clone()),
    )
    .await;
    for response in [&created, &listed, &shown] {
        assert!(
            !response.to_string().contains(CANARY),
            "a response other than reveal carried the secret"
        );
    }
    assert_eq!(shown["password"], "********");

    let reveal = format!("/api/v1/registries/{id}/reveal");
    let (status, _, _) = send(&svc, request("POST", &reveal, ip(1)).insert_header(viewer)).await;
    assert_eq!(status, 403);
    let (status, _, revealed) =
        send(&svc, request("POST", &reveal, ip(1)).insert_header(admin)).await;
    assert_eq!((status, revealed["value"].as_str()), (200, Some(CANARY)));

    let mut conn = app.state.pool.get().expect("conn");
    let entries = audit_log::chain_batch(&mut conn, 0, 10_000).expect("audit");
    let denied = entries
        .iter()
        .filter(|e| e.action == "access.denied")
        .filter_map(|e| e.target_id.as_deref())
        .collect::<Vec<_>>();
    assert_eq!(
        denied,
        [
            "POST /api/v1/registries",
            "POST /api/v1/registries/{id}/reveal"
        ],
        "both refusals are audited"
    );
    let shown = entries
        .iter()
        .find(|e| e.action == "registry.revealed")
        .expect("the reveal is audited");
    assert_eq!(
        (shown.target_id.as_deref(), shown.fields.as_str()),
        (Some(id.as_str()), "password")
    );
    drop(conn);
    let stored = stored_text(&app);
    assert!(
        !stored.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
        "the plaintext is in the database"
    );
}

async fn one_damaged_value_fails_alone(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let mut ids = Vec::new();
    for name in ["first", "second"] {
        let body = json!({"name": name, "host": "registry.example.com", "username": "u", "password": format!("{name}-secret")});
        let (_, _, created) = send(
            &svc,
            json_req("POST", "/api/v1/registries", ip(1), body).insert_header(admin.clone()),
        )
        .await;
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    // Move the second row's ciphertext into the first row: it must not open there.
    app.db
        .execute(&format!(
            "UPDATE registries SET password = (SELECT password FROM registries WHERE id = '{}') WHERE id = '{}'",
            ids[1], ids[0]
        ))
        .expect("tamper");
    let (status, _, listed) = send(
        &svc,
        request("GET", "/api/v1/registries", ip(1)).insert_header(admin.clone()),
    )
    .await;
    assert_eq!(
        (status, listed.as_array().map(Vec::len)),
        (200, Some(2)),
        "listing still works"
    );
    let (status, _, body) = send(
        &svc,
        request(
            "POST",
            &format!("/api/v1/registries/{}/reveal", ids[0]),
            ip(1),
        )
        .insert_header(admin.clone()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("undecryptable"))
    );
    let (status, _, body) = send(
        &svc,
        request(
            "POST",
            &format!("/api/v1/registries/{}/reveal", ids[1]),
            ip(1),
        )
        .insert_header(admin),
    )
    .await;
    assert_eq!(
        (status, body["value"].as_str()),
        (200, Some("second-secret"))
    );
}

both_backends!(
    registry_password_is_sealed_masked_and_revealed_with_audit,
    one_damaged_value_fails_alone
);

async fn env_sets_are_versioned_and_refuse_injection(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let canary = "canary-env-value-77e1";
    let mut vars = serde_json::Map::new();
    for i in 0..20 {
        vars.insert(format!("VAR_{i}"), json!(format!("{canary}-{i}")));
    }
    let (status, _, created) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/env-sets",
            ip(1),
            json!({"name": "web", "vars": vars}),
        )
        .insert_header(admin.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 1);
    assert!(!created.to_string().contains(canary));
    let id = created["id"].as_str().expect("id").to_owned();

    for (name, value, problem) in [
        ("BAD", "line\nINJECTED=1", "newline"),
        ("BAD", "a\rb", "carriage return"),
        ("BAD", "nul\u{0}", "NUL"),
        ("1BAD", "x", "name"),
        ("BAD-NAME", "x", "name"),
    ] {
        let (status, _, body) = send(
            &svc,
            json_req(
                "PATCH",
                &format!("/api/v1/env-sets/{id}"),
                ip(1),
                json!({"set": {name: value}}),
            )
            .insert_header(admin.clone()),
        )
        .await;
        assert_eq!(status, 400, "{problem}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(name),
            "the error names the variable: {message}"
        );
        assert!(
            !message.contains(value),
            "the error never echoes the value: {message}"
        );
    }

    let (status, _, updated) = send(
        &svc,
        json_req(
            "PATCH",
            &format!("/api/v1/env-sets/{id}"),
            ip(1),
            json!({"set": {"VAR_0": "changed"}, "unset": ["VAR_1"]}),
        )
        .insert_header(admin.clone()),
    )
    .await;
    assert_eq!(
        (status, updated["version"].as_i64()),
        (200, Some(2)),
        "{updated}"
    );
    assert_eq!(updated["vars"].as_object().map(|v| v.len()), Some(19));
    let (_, _, versions) = send(
        &svc,
        request("GET", &format!("/api/v1/env-sets/{id}/versions"), ip(1))
            .insert_header(admin.clone()),
    )
    .await;
    let versions = versions.as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[1]["names"].as_array().map(Vec::len),
        Some(20),
        "version 1 is kept"
    );
    let (status, _, revealed) = send(
        &svc,
        json_req(
            "POST",
            &format!("/api/v1/env-sets/{id}/reveal"),
            ip(1),
            json!({"name": "VAR_0"}),
        )
        .insert_header(admin),
    )
    .await;
    assert_eq!((status, revealed["value"].as_str()), (200, Some("changed")));
}

both_backends!(env_sets_are_versioned_and_refuse_injection);
