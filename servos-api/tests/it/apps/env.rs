//! An application's environment: each change a new version, each version
//! opening to exactly the values it was given, refusals that name the
//! variable but never the value, and values that reach no response, no
//! audit entry and no other version.

use serde_json::{json, Value};
use servos_api::apps::env;

use super::{assert_not_leaked, call, fixture, full_app, rotate_data_key};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

/// Values of these tests: only the deploy code may ever see them.
pub(crate) const CANARY: &str = "canary-app-env-3f0c9a";

async fn env_changes_make_versions_that_open_exactly(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let deployer = &f.who.deployer_token;
    let (_, created) = call(&svc, "POST", "/api/v1/apps", deployer, full_app(&f)).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let uri = format!("/api/v1/apps/{id}/env");
    let mut responses = String::new();

    let (status, empty) = call(&svc, "GET", &uri, &f.who.viewer_token, Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(empty, json!({"app_id": id, "version": 0, "vars": {}}));

    let changes = [
        json!({"set": {"DATABASE_URL": {"value": format!("{CANARY}-db-1")},
                        "TLS_KEY": {"value": format!("{CANARY}-tls"), "file_secret": true}}}),
        json!({"set": {"DATABASE_URL": {"value": format!("{CANARY}-db-2")},
                        "PORT": {"value": "8080"}}, "remove": ["TLS_KEY"]}),
        json!({"set": {"PORT": {"file_secret": true}}}),
    ];
    for (i, change) in changes.into_iter().enumerate() {
        let (status, body) = call(&svc, "PATCH", &uri, deployer, change).await;
        assert_eq!(
            (status, body["version"].as_i64()),
            (200, Some(i as i64 + 1)),
            "{body}"
        );
        responses.push_str(&body.to_string());
    }
    let (_, current) = call(&svc, "GET", &uri, &f.who.viewer_token, Value::Null).await;
    assert_eq!(
        current,
        json!({"app_id": id, "version": 3, "vars": {
            "DATABASE_URL": {"value": "********", "file_secret": false},
            "PORT": {"value": "********", "file_secret": true}}})
    );
    let (_, shown) = call(
        &svc,
        "GET",
        &format!("/api/v1/apps/{id}"),
        deployer,
        Value::Null,
    )
    .await;
    assert_eq!(shown["env_version"], 3);
    responses.push_str(&current.to_string());
    responses.push_str(&shown.to_string());

    // Refusals name the field and the variable, never the value, and store nothing.
    for (body, field, named) in [
        (json!({"set": {"1BAD": {"value": "x"}}}), "set", "1BAD"),
        (
            json!({"set": {"BAD-NAME": {"value": "x"}}}),
            "set",
            "BAD-NAME",
        ),
        (
            json!({"set": {"INJECT": {"value": format!("{CANARY}\nEVIL=1")}}}),
            "set",
            "INJECT",
        ),
        (
            json!({"set": {"CR": {"value": format!("{CANARY}\r")}}}),
            "set",
            "CR",
        ),
        (
            json!({"set": {"NUL": {"value": format!("{CANARY}\u{0}")}}}),
            "set",
            "NUL",
        ),
        (json!({"set": {"NEW": {"file_secret": true}}}), "set", "NEW"),
        (json!({"remove": ["MISSING"]}), "remove", "MISSING"),
        (json!({"remove": ["bad name"]}), "remove", "bad name"),
        (
            json!({"set": {"PORT": {"value": "1"}}, "remove": ["PORT"]}),
            "remove",
            "PORT",
        ),
        (json!({}), "set", ""),
    ] {
        let (status, answer) = call(&svc, "PATCH", &uri, deployer, body.clone()).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "the error names the variable: {message}"
        );
        responses.push_str(&answer.to_string());
    }
    for body in [
        json!({"set": {"A": {"value": "x", "secret": true}}}),
        json!({"set": {"A": "plain string"}}),
        json!({"unset": ["PORT"]}),
    ] {
        let (status, answer) = call(&svc, "PATCH", &uri, deployer, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_json")),
            "{answer}"
        );
        responses.push_str(&answer.to_string());
    }
    let (_, after) = call(&svc, "GET", &uri, deployer, Value::Null).await;
    assert_eq!(after, current, "refused changes made no version");

    // Each version opens to exactly the values it was given.
    let expected: [&[(&str, String, bool)]; 4] = [
        &[],
        &[
            ("DATABASE_URL", format!("{CANARY}-db-1"), false),
            ("TLS_KEY", format!("{CANARY}-tls"), true),
        ],
        &[
            ("DATABASE_URL", format!("{CANARY}-db-2"), false),
            ("PORT", "8080".into(), false),
        ],
        &[
            ("DATABASE_URL", format!("{CANARY}-db-2"), false),
            ("PORT", "8080".into(), true),
        ],
    ];
    let opened = |version: i64| {
        let mut conn = app.state.pool.get().expect("conn");
        env::open(
            &mut conn,
            app.state.vault.keyring(),
            &id.as_str().into(),
            version,
        )
        .map(|vars| {
            vars.into_iter()
                .map(|v| (v.name, v.value.expose().to_owned(), v.file_secret))
                .collect::<Vec<_>>()
        })
    };
    let check_all = || {
        for (version, vars) in expected.iter().enumerate() {
            let want: Vec<(String, String, bool)> = vars
                .iter()
                .map(|(n, v, f)| ((*n).to_owned(), v.clone(), *f))
                .collect();
            assert_eq!(
                opened(version as i64).expect("open"),
                want,
                "version {version}"
            );
        }
    };
    check_all();
    assert!(
        opened(4).is_err() && opened(-1).is_err(),
        "no such versions"
    );
    assert!(opened(1).is_ok());

    // Key rotation re-seals application values too, and every version still opens.
    let report = rotate_data_key(&app);
    assert!(report.reencrypted >= 6, "{report:?}");
    check_all();

    // Versions are immutable; only re-sealing may touch a stored value.
    for tamper in [
        "UPDATE env_values SET name = name || '_X'",
        "UPDATE env_values SET file_secret = NOT file_secret",
        "UPDATE env_versions SET created_at = created_at",
    ] {
        let refused = app.db.execute(tamper).err().map(|e| e.to_string());
        assert!(
            refused.as_deref().is_some_and(|e| e.contains("immutable")),
            "{tamper}: {refused:?}"
        );
    }

    // An admin's reveal shows one current value, and only that answer does.
    let reveal = format!("/api/v1/apps/{id}/env/reveal");
    let admin = &f.who.admin_token;
    let (status, revealed) = call(
        &svc,
        "POST",
        &reveal,
        admin,
        json!({"name": "DATABASE_URL"}),
    )
    .await;
    assert_eq!(
        (status, revealed),
        (200, json!({"value": format!("{CANARY}-db-2")}))
    );
    let (status, refused) = call(&svc, "POST", &reveal, admin, json!({"name": "TLS_KEY"})).await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (400, Some("name")),
        "a removed variable is not in the current version: {refused}"
    );
    responses.push_str(&refused.to_string());
    let (status, refused) = call(&svc, "POST", &reveal, deployer, json!({"name": "PORT"})).await;
    assert_eq!(status, 403, "only admins reveal: {refused}");
    responses.push_str(&refused.to_string());

    // No value in any response, nor in the audit trail; shared sets stay apart.
    let (_, sets) = call(
        &svc,
        "GET",
        "/api/v1/env-sets",
        &f.who.admin_token,
        Value::Null,
    )
    .await;
    assert_eq!(
        sets,
        json!([]),
        "an application's environment is not a shared set"
    );
    let entries = assert_not_leaked(&app, &svc, &f.who.admin_token, responses, CANARY).await;
    let changed: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "app.env_changed")
        .map(|e| {
            (
                e.target_id.as_deref(),
                e.fields.as_str(),
                e.actor_type.as_str(),
            )
        })
        .collect();
    assert_eq!(changed, vec![(Some(id.as_str()), "env", "api_token"); 3]);
    let revealed: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "app.env_revealed")
        .map(|e| (e.target_id.as_deref(), e.fields.as_str()))
        .collect();
    assert_eq!(
        revealed,
        vec![(Some(id.as_str()), "env.DATABASE_URL")],
        "the one reveal is audited, naming the variable; refusals are not"
    );
}

async fn concurrent_changes_take_turns_and_none_is_lost(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let deployer = &f.who.deployer_token;
    let (_, created) = call(&svc, "POST", "/api/v1/apps", deployer, full_app(&f)).await;
    let uri = format!("/api/v1/apps/{}/env", created["id"].as_str().expect("id"));
    let changes = (0..8).map(|i| {
        let body = json!({"set": {format!("VAR_{i}"): {"value": format!("value-{i}")}}});
        call(&svc, "PATCH", &uri, deployer, body)
    });
    let mut versions: Vec<i64> = futures_util::future::join_all(changes)
        .await
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, 200, "{body}");
            body["version"].as_i64().expect("version")
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    let (_, current) = call(&svc, "GET", &uri, deployer, Value::Null).await;
    assert_eq!(current["version"], 8);
    assert_eq!(
        current["vars"].as_object().map(|v| v.len()),
        Some(8),
        "{current}"
    );
}

both_backends!(
    env_changes_make_versions_that_open_exactly,
    concurrent_changes_take_turns_and_none_is_lost
);
