//! The audit log names what each entry is about: a live target by its
//! name, linked to its page; a deleted one by its last name, unlinked. The
//! target type filter offers exactly the types written to the trail.

use serde_json::{json, Value};

use super::{get, sessions};
use crate::apps::call;
use crate::both_backends;
use crate::harness::{Backend, TestApp};

async fn entries_show_target_names_and_deleted_ones_keep_theirs(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let admin = Some(s.admin.as_str());
    let token = &s.who.admin_token;
    let (status, kept) = call(&svc, "POST", "/api/v1/registries", token,
        json!({"name": "kept-registry", "host": "registry.example.com", "username": "ci", "password": "pw-1"})).await;
    assert_eq!(status, 201, "{kept}");
    let (status, gone) = call(&svc, "POST", "/api/v1/registries", token,
        json!({"name": "gone-registry", "host": "registry.example.com", "username": "ci", "password": "pw-2"})).await;
    assert_eq!(status, 201, "{gone}");
    let gone_id = gone["id"].as_str().expect("id");
    let (status, _) = call(
        &svc,
        "DELETE",
        &format!("/api/v1/registries/{gone_id}"),
        token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);

    let (status, page) = call(
        &svc,
        "GET",
        &format!("/api/v1/audit?target_id={gone_id}"),
        token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "created and deleted: {page}");
    for entry in entries {
        assert_eq!(entry["target_name"], "gone-registry", "{entry}");
        assert_eq!(entry["target_live"], false, "{entry}");
    }

    let html = get(&svc, "/audit?target_type=registry", admin).await.html;
    assert!(
        html.contains("<a href=\"/credentials\">kept-registry</a>"),
        "{html}"
    );
    assert!(
        html.contains("title=\"deleted\">gone-registry</span>"),
        "{html}"
    );
    let dashboard = get(&svc, "/", admin).await.html;
    assert!(dashboard.contains("gone-registry"), "{dashboard}");
    for offered in ["data_key", "keyring", "deployment", "api_token"] {
        assert!(
            html.contains(&format!("<option value=\"{offered}\"")),
            "{offered}"
        );
    }
    assert!(
        !html.contains("<option value=\"system\""),
        "no entry is about \"system\""
    );
}

both_backends!(entries_show_target_names_and_deleted_ones_keep_theirs);
