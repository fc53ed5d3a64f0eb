//! Applications and their environment: the lifecycle, every refusal (with
//! the field named and nothing stored), versions that open to exactly the
//! values they were given, values that never leave except to the deploy
//! code, and the tiers of each route.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::{json, Value};
use servos_api::store::audit_log::{self, AuditRow};

mod env;
mod git;

use crate::both_backends;
use crate::harness::{callers, ip, json_req, request, send, Backend, Callers, TestApp};

/// Sends `body` (none when `Null`) with a bearer token; returns status and JSON.
pub(crate) async fn call<S, B>(
    svc: &S,
    method: &str,
    uri: &str,
    token: &str,
    body: Value,
) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = if body.is_null() {
        request(method, uri, ip(3))
    } else {
        json_req(method, uri, ip(3), body)
    };
    let (status, _, json) = send(
        svc,
        req.insert_header(("Authorization", format!("Bearer {token}"))),
    )
    .await;
    (status, json)
}

/// The audit entries of `action` (at most 500), newest first, as an admin
/// reads them through the API (with their targets' names).
pub(crate) async fn audit_entries<S, B>(svc: &S, admin: &str, action: &str) -> Vec<Value>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/audit?action={action}&limit=500");
    let (status, page) = call(svc, "GET", &uri, admin, Value::Null).await;
    assert_eq!(status, 200, "{page}");
    page["entries"].as_array().cloned().unwrap_or_default()
}

/// What the application tests need: callers, servers and a registry credential.
pub(crate) struct Fixture {
    pub(crate) who: Callers,
    /// A server with the `run` role.
    pub(crate) server: String,
    /// Another one.
    pub(crate) other_server: String,
    /// A server with the `build` role only.
    pub(crate) builder: String,
    pub(crate) registry: String,
}

pub(crate) async fn fixture<S, B>(app: &TestApp, svc: &S) -> Fixture
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let who = callers(app, svc).await;
    let admin = who.admin_token.clone();
    let (status, key) = call(
        svc,
        "POST",
        "/api/v1/ssh-keys",
        &admin,
        json!({"name": "deploy", "kind": "server"}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let mut ids = Vec::new();
    for (name, roles) in [
        ("web-1", ["run"]),
        ("web-2", ["run"]),
        ("builder", ["build"]),
    ] {
        let body = json!({"name": name, "address": "192.0.2.10", "user": "deploy",
            "ssh_key_id": key["id"], "roles": roles});
        let (status, server) = call(svc, "POST", "/api/v1/servers", &admin, body).await;
        assert_eq!(status, 201, "{server}");
        ids.push(server["id"].as_str().expect("id").to_owned());
    }
    let body =
        json!({"name": "ghcr", "host": "ghcr.io", "username": "ci", "password": "registry-secret"});
    let (status, registry) = call(svc, "POST", "/api/v1/registries", &admin, body).await;
    assert_eq!(status, 201, "{registry}");
    Fixture {
        who,
        server: ids[0].clone(),
        other_server: ids[1].clone(),
        builder: ids[2].clone(),
        registry: registry["id"].as_str().expect("id").to_owned(),
    }
}

pub(crate) fn full_app(f: &Fixture) -> Value {
    json!({
        "name": "web",
        "image": "ghcr.io/acme/web:1.2.3",
        "registry_id": f.registry,
        "server_ids": [f.server],
        "container_port": 8080,
        "health_check": {"http": {"path": "/up"}, "interval_secs": 15, "timeout_secs": 3, "retries": 4},
        "restart_policy": "on-failure:5",
        "limits": {"memory_bytes": 536870912, "milli_cpus": 500},
        "labels": {"com.example.team": "web"},
        "domain": "Web.Example.com"
    })
}

/// Rotates the data key in place, as `rotate-data-key` does; asserts that
/// no value failed.
pub(crate) fn rotate_data_key(app: &TestApp) -> servos_api::vault::rotation::DataRotation {
    let mut conn = app.state.pool.get().expect("conn");
    let report = servos_api::vault::rotation::rotate_data_key(
        &mut conn,
        app.state.vault.keyring(),
        &app.state.audit_chain,
    )
    .expect("rotate");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    report
}

/// Asserts that `canary` is in none of `responses`, the audit trail as
/// admin `admin` reads it, and the stored audit entries; returns those.
pub(crate) async fn assert_not_leaked<S, B>(
    app: &TestApp,
    svc: &S,
    admin: &str,
    mut responses: String,
    canary: &str,
) -> Vec<AuditRow>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (_, trail) = call(svc, "GET", "/api/v1/audit?limit=500", admin, Value::Null).await;
    responses.push_str(&trail.to_string());
    assert!(!responses.contains(canary), "a secret reached a response");
    let mut conn = app.state.pool.get().expect("conn");
    let entries = audit_log::chain_batch(&mut conn, 0, 100_000).expect("audit");
    assert!(
        !format!("{entries:?}").contains(canary),
        "a secret reached the audit trail"
    );
    entries
}

pub(crate) fn app_entries(app: &TestApp) -> Vec<AuditRow> {
    let mut conn = app.state.pool.get().expect("conn");
    audit_log::chain_batch(&mut conn, 0, 100_000)
        .expect("audit")
        .into_iter()
        .filter(|e| e.action.starts_with("app."))
        .collect()
}

async fn apps_are_created_listed_updated_and_deleted(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let (deployer, viewer, admin) = (
        &f.who.deployer_token,
        &f.who.viewer_token,
        &f.who.admin_token,
    );

    let (status, created) = call(&svc, "POST", "/api/v1/apps", deployer, full_app(&f)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["name"], "web");
    assert_eq!(created["image"], "ghcr.io/acme/web:1.2.3");
    assert_eq!(created["registry_id"], f.registry.as_str());
    assert_eq!(created["server_ids"], json!([f.server]));
    assert_eq!(created["container_port"], 8080);
    assert_eq!(
        created["health_check"],
        json!({"http": {"path": "/up"}, "interval_secs": 15, "timeout_secs": 3, "retries": 4})
    );
    assert_eq!(created["restart_policy"], "on-failure:5");
    assert_eq!(
        created["limits"],
        json!({"memory_bytes": 536870912, "milli_cpus": 500})
    );
    assert_eq!(created["labels"], json!({"com.example.team": "web"}));
    assert_eq!(
        created["domain"], "web.example.com",
        "domains are lowercased"
    );
    assert_eq!(created["env_version"], 0);

    let (status, listed) = call(&svc, "GET", "/api/v1/apps", viewer, Value::Null).await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)));
    let (status, shown) = call(
        &svc,
        "GET",
        &format!("/api/v1/apps/{id}"),
        viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown, listed[0]);
    assert_eq!(shown["health_check"], created["health_check"]);

    // A minimal application takes the defaults.
    let minimal = json!({"name": "worker", "image": "redis", "container_port": 6379,
        "health_check": {"command": ["redis-cli", "ping"]}});
    let (status, worker) = call(&svc, "POST", "/api/v1/apps", deployer, minimal).await;
    assert_eq!(status, 201, "{worker}");
    assert_eq!(worker["restart_policy"], "unless-stopped");
    assert_eq!(
        worker["limits"],
        json!({"memory_bytes": null, "milli_cpus": null})
    );
    assert_eq!(
        worker["health_check"],
        json!({"command": ["redis-cli", "ping"], "interval_secs": 10, "timeout_secs": 5, "retries": 3})
    );
    assert_eq!(
        (worker["registry_id"].is_null(), worker["domain"].is_null()),
        (true, true)
    );

    let uri = format!("/api/v1/apps/{id}");
    let patch = json!({"image": "ghcr.io/acme/web:1.3.0", "server_ids": [f.other_server, f.server],
        "registry_id": null, "domain": null, "restart_policy": "always", "limits": {"milli_cpus": 2000}});
    let (status, updated) = call(&svc, "PATCH", &uri, deployer, patch).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["image"], "ghcr.io/acme/web:1.3.0");
    let mut servers = vec![f.server.clone(), f.other_server.clone()];
    servers.sort();
    assert_eq!(updated["server_ids"], json!(servers));
    assert!(updated["registry_id"].is_null() && updated["domain"].is_null());
    assert_eq!(updated["restart_policy"], "always");
    assert_eq!(
        updated["limits"],
        json!({"memory_bytes": null, "milli_cpus": 2000})
    );
    assert_eq!(updated["name"], "web", "fields left out keep their values");
    assert_eq!(updated["health_check"], created["health_check"]);
    assert_eq!(updated["created_at"], created["created_at"]);

    let (status, body) = call(&svc, "PATCH", &uri, deployer, json!({"name": "worker"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "names are unique"
    );
    let (status, _) = call(&svc, "PATCH", &uri, deployer, json!({})).await;
    assert_eq!(status, 400, "an empty change is refused");

    let (status, _) = call(&svc, "DELETE", &uri, admin, Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = call(&svc, "GET", &uri, viewer, Value::Null).await;
    assert_eq!(status, 404);
    let (status, _) = call(&svc, "DELETE", &uri, admin, Value::Null).await;
    assert_eq!(status, 404);
    let (status, _) = call(&svc, "GET", &format!("{uri}/env"), viewer, Value::Null).await;
    assert_eq!(status, 404);
    let (_, listed) = call(&svc, "GET", "/api/v1/apps", viewer, Value::Null).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (status, again) = call(&svc, "POST", "/api/v1/apps", deployer, full_app(&f)).await;
    assert_eq!(
        status, 201,
        "a deleted application's name is free again: {again}"
    );

    let entries = app_entries(&app);
    let summary: Vec<(&str, Option<&str>, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.target_id.as_deref(), e.fields.as_str()))
        .collect();
    assert_eq!(
        summary[2],
        (
            "app.updated",
            Some(id.as_str()),
            "image,registry_id,server_ids,restart_policy,limits,domain"
        )
    );
    assert_eq!(summary[3], ("app.deleted", Some(id.as_str()), "deleted_at"));
    assert_eq!(
        entries
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        [
            "app.created",
            "app.created",
            "app.updated",
            "app.deleted",
            "app.created"
        ]
    );
}

async fn invalid_apps_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let deployer = &f.who.deployer_token;
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("name", json!(""), "name"),
        ("image", json!("ghcr.io/acme/web app:1"), "image"),
        ("image", json!("ghcr.io/Acme/web"), "image"),
        ("image", json!("web\n:1"), "image"),
        ("image", json!(format!("web:{}", "x".repeat(200))), "image"),
        ("image", json!("web@sha256:1234"), "image"),
        ("container_port", json!(0), "container_port"),
        ("container_port", json!(70000), "container_port"),
        ("server_ids", json!([unknown]), "server_ids"),
        ("server_ids", json!(["web-1"]), "server_ids"),
        ("server_ids", json!([f.builder]), "server_ids"),
        ("server_ids", json!([f.server, f.server]), "server_ids"),
        ("registry_id", json!(unknown), "registry_id"),
        ("restart_policy", json!("sometimes"), "restart_policy"),
        ("restart_policy", json!("on-failure:0"), "restart_policy"),
        ("health_check", json!({"retries": 3}), "health_check"),
        (
            "health_check",
            json!({"http": {"path": "up"}}),
            "health_check.http.path",
        ),
        (
            "health_check",
            json!({"command": ["true"], "timeout_secs": 0}),
            "health_check.timeout_secs",
        ),
        (
            "limits",
            json!({"memory_bytes": 1024}),
            "limits.memory_bytes",
        ),
        ("labels", json!({"servos.app": "x"}), "labels"),
        ("domain", json!("https://web.example.com"), "domain"),
    ];
    for (key, value, field) in cases {
        let mut body = full_app(&f);
        body[key] = value.clone();
        let (status, answer) = call(&svc, "POST", "/api/v1/apps", deployer, body).await;
        assert_eq!(status, 400, "{key}={value}: {answer}");
        assert_eq!(answer["error"], "invalid_field", "{key}={value}: {answer}");
        assert_eq!(answer["field"], field, "{key}={value}: {answer}");
    }
    for (body, named) in [
        (json!({"privileged": true}), "privileged"),
        (
            json!({"health_check": {"http": {"path": "/", "method": "POST"}}}),
            "method",
        ),
        (json!({"limits": {"swap": 1}}), "swap"),
    ] {
        let mut full = full_app(&f);
        for (key, value) in body.as_object().expect("object") {
            full[key] = value.clone();
        }
        let (status, answer) = call(&svc, "POST", "/api/v1/apps", deployer, full).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_json")),
            "{answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("unknown field `{named}`")),
            "{message}"
        );
    }
    let (_, listed) = call(&svc, "GET", "/api/v1/apps", deployer, Value::Null).await;
    assert_eq!(listed, json!([]), "nothing was stored");
    assert!(app_entries(&app).is_empty(), "nothing was audited");

    // A change is refused the same way, and leaves the application as it was.
    let (status, created) = call(&svc, "POST", "/api/v1/apps", deployer, full_app(&f)).await;
    assert_eq!(status, 201);
    let uri = format!("/api/v1/apps/{}", created["id"].as_str().expect("id"));
    for (body, field) in [
        (json!({"image": "not an image"}), "image"),
        (json!({"container_port": 0}), "container_port"),
        (json!({"server_ids": [unknown]}), "server_ids"),
        (json!({"registry_id": unknown}), "registry_id"),
        (json!({"restart_policy": "never"}), "restart_policy"),
    ] {
        let (status, answer) = call(&svc, "PATCH", &uri, deployer, body).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let (status, answer) = call(
        &svc,
        "PATCH",
        &uri,
        deployer,
        json!({"owner_role": "admin"}),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_json"))
    );
    let (_, shown) = call(&svc, "GET", &uri, deployer, Value::Null).await;
    assert_eq!(shown, created, "refused changes stored nothing");
    assert_eq!(app_entries(&app).len(), 1);
}

both_backends!(
    apps_are_created_listed_updated_and_deleted,
    invalid_apps_are_refused_and_nothing_is_stored
);

async fn each_route_keeps_its_tier(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let (viewer, deployer, admin) = (
        &f.who.viewer_token,
        &f.who.deployer_token,
        &f.who.admin_token,
    );
    let (status, _) = call(&svc, "POST", "/api/v1/apps", viewer, full_app(&f)).await;
    assert_eq!(status, 403, "a viewer cannot create");
    let (status, created) = call(&svc, "POST", "/api/v1/apps", deployer, full_app(&f)).await;
    assert_eq!(status, 201);
    let uri = format!("/api/v1/apps/{}", created["id"].as_str().expect("id"));
    let env = format!("{uri}/env");
    let reveal = format!("{env}/reveal");
    let change = json!({"set": {"TOKEN": {"value": env::CANARY}}});
    let token = json!({"name": "TOKEN"});
    for (method, path, token, body, expected) in [
        ("PATCH", &uri, viewer, json!({"image": "nginx"}), 403),
        ("PATCH", &env, viewer, change.clone(), 403),
        ("DELETE", &uri, viewer, Value::Null, 403),
        ("DELETE", &uri, deployer, Value::Null, 403),
        ("GET", &uri, viewer, Value::Null, 200),
        ("GET", &env, viewer, Value::Null, 200),
        ("PATCH", &uri, deployer, json!({"image": "nginx"}), 200),
        ("PATCH", &env, deployer, change.clone(), 200),
        ("POST", &reveal, viewer, token.clone(), 403),
        ("POST", &reveal, deployer, token.clone(), 403),
        ("POST", &reveal, admin, token.clone(), 200),
        ("DELETE", &uri, admin, Value::Null, 204),
    ] {
        let (status, body) = call(&svc, method, path, token, body).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
    }
    let (status, _) = call(&svc, "GET", "/api/v1/apps", "svs_not_a_token", Value::Null).await;
    assert_eq!(status, 401);
}

both_backends!(each_route_keeps_its_tier);
