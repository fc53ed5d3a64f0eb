//! Applications built from git: created, read, changed and switched back to
//! an image; every invalid field refused with its name and nothing stored;
//! secret build arguments sealed for their application and name, kept when
//! a change leaves their value out, re-sealed by key rotation, and never in
//! a response or an audit entry; the builder server and the git credential
//! an application uses cannot be deleted from under it.

use serde_json::{json, Value};
use servos_api::credentials;
use servos_api::store::build_args;

use super::{app_entries, assert_not_leaked, call, fixture, full_app, rotate_data_key, Fixture};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

/// Secret build argument values of these tests.
const CANARY: &str = "canary-build-arg-7d41b2";

/// A git credential made by the admin.
async fn git_credential<S, B>(svc: &S, f: &Fixture) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let body = json!({"name": "forge", "provider": "gitea", "token": "git-token-1"});
    let (status, made) = call(
        svc,
        "POST",
        "/api/v1/git-credentials",
        &f.who.admin_token,
        body,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().expect("id").to_owned()
}

/// `full_app` built from git instead of an image.
fn git_app(f: &Fixture, credential: &str) -> Value {
    let mut body = full_app(f);
    let fields = body.as_object_mut().expect("object");
    fields.remove("image");
    fields.insert(
        "git".into(),
        json!({
            "url": "git@git.example.com:acme/web.git",
            "branch": "main",
            "build_args": {
                "VERSION": {"value": "1.2.3"},
                "NPM_TOKEN": {"value": format!("{CANARY}-1"), "secret": true}
            },
            "builder_server_id": f.builder,
            "git_credential_id": credential
        }),
    );
    body
}

/// The stored build arguments of application `id`, each opened:
/// (name, value in clear, opened secret value).
fn stored_args(app: &TestApp, id: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let mut conn = app.state.pool.get().expect("conn");
    build_args::of_app(&mut conn, &id.into())
        .expect("build args")
        .into_iter()
        .map(|row| {
            let opened = row.sealed_value.as_ref().map(|sealed| {
                let key_id = row.sealed_value_key_id.as_deref().expect("key id");
                let bytes = credentials::open(
                    &mut conn,
                    app.state.vault.keyring(),
                    "app_build_args",
                    "sealed_value",
                    &build_args::identity(id, &row.name),
                    sealed,
                    key_id,
                )
                .expect("open");
                String::from_utf8(bytes.expose().to_vec()).expect("utf-8")
            });
            (row.name, row.value, opened)
        })
        .collect()
}

async fn git_apps_are_created_read_and_changed(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let credential = git_credential(&svc, &f).await;
    let deployer = &f.who.deployer_token;
    let mut responses = String::new();

    let (status, created) = call(
        &svc,
        "POST",
        "/api/v1/apps",
        deployer,
        git_app(&f, &credential),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    responses.push_str(&created.to_string());
    assert_eq!(created["image"], Value::Null, "no image until built");
    assert_eq!(
        created["registry_id"],
        f.registry.as_str(),
        "a built image is pushed there"
    );
    assert_eq!(
        created["git"],
        json!({
            "url": "git@git.example.com:acme/web.git",
            "branch": "main",
            "dockerfile": "Dockerfile",
            "context": ".",
            "build_args": {
                "NPM_TOKEN": {"value": "********", "secret": true},
                "VERSION": {"value": "1.2.3", "secret": false}
            },
            "builder_server_id": f.builder,
            "git_credential_id": credential
        })
    );
    let id = created["id"].as_str().expect("id").to_owned();
    let uri = format!("/api/v1/apps/{id}");
    let (_, shown) = call(&svc, "GET", &uri, &f.who.viewer_token, Value::Null).await;
    let (_, listed) = call(
        &svc,
        "GET",
        "/api/v1/apps",
        &f.who.viewer_token,
        Value::Null,
    )
    .await;
    assert_eq!(shown, created);
    assert_eq!(listed, json!([created]));
    responses.push_str(&listed.to_string());
    assert_eq!(
        stored_args(&app, &id),
        vec![
            ("NPM_TOKEN".into(), None, Some(format!("{CANARY}-1"))),
            ("VERSION".into(), Some("1.2.3".into()), None),
        ]
    );

    // A change that leaves a secret's value out keeps it; a new one is sealed.
    let change = json!({"git": {
        "url": "https://git.example.com/acme/web.git",
        "branch": "release/2.0",
        "dockerfile": "docker/Dockerfile",
        "context": "app",
        "build_args": {
            "NPM_TOKEN": {"secret": true},
            "SENTRY_TOKEN": {"value": format!("{CANARY}-2"), "secret": true}
        },
        "builder_server_id": f.builder
    }});
    let (status, updated) = call(&svc, "PATCH", &uri, deployer, change).await;
    assert_eq!(status, 200, "{updated}");
    responses.push_str(&updated.to_string());
    assert_eq!(updated["git"]["branch"], "release/2.0");
    assert_eq!(updated["git"]["git_credential_id"], Value::Null);
    assert_eq!(
        updated["git"]["build_args"],
        json!({"NPM_TOKEN": {"value": "********", "secret": true},
               "SENTRY_TOKEN": {"value": "********", "secret": true}})
    );
    assert_eq!(
        stored_args(&app, &id),
        vec![
            ("NPM_TOKEN".into(), None, Some(format!("{CANARY}-1"))),
            ("SENTRY_TOKEN".into(), None, Some(format!("{CANARY}-2"))),
        ]
    );

    // Key rotation re-seals build arguments; each still opens for its name.
    let report = rotate_data_key(&app);
    assert!(report.reencrypted >= 2, "{report:?}");
    assert_eq!(stored_args(&app, &id).len(), 2);

    // Building asks the builder first, which is not commissioned here.
    let (status, refused) = call(
        &svc,
        "POST",
        &format!("{uri}/deploy"),
        deployer,
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (409, Some("git.builder_server_id")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the builder cannot be used: commission")),
        "{refused}"
    );

    // Giving an image makes it an image application again.
    let (status, back) = call(
        &svc,
        "PATCH",
        &uri,
        deployer,
        json!({"image": "nginx:1.27"}),
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(
        (back["image"].as_str(), &back["git"]),
        (Some("nginx:1.27"), &Value::Null)
    );
    assert!(
        stored_args(&app, &id).is_empty(),
        "its build arguments went with it"
    );

    let summary: Vec<(String, String)> = app_entries(&app)
        .into_iter()
        .map(|e| (e.action, e.fields))
        .collect();
    assert_eq!(
        summary,
        [
            ("app.created", "name,git.url,git.branch,git.dockerfile,git.context,git.build_args,git.builder_server_id,git.git_credential_id,registry_id,server_ids,container_port,health_check,restart_policy,limits,labels,domain"),
            ("app.updated", "git.url,git.branch,git.dockerfile,git.context,git.build_args,git.git_credential_id"),
            ("app.updated", "image,git.url,git.branch,git.dockerfile,git.context,git.build_args,git.builder_server_id,git.git_credential_id"),
        ]
        .map(|(a, f)| (a.to_owned(), f.to_owned()))
    );
    assert_not_leaked(&app, &svc, &f.who.admin_token, responses, CANARY).await;
}

async fn invalid_git_fields_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let credential = git_credential(&svc, &f).await;
    let deployer = &f.who.deployer_token;
    let unknown = uuid::Uuid::new_v4().to_string();
    let long_secret = format!("{CANARY}{}", "x".repeat(5000));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "url",
            json!("https://user:token@git.example.com/acme/web.git"),
            "git.url",
        ),
        (
            "url",
            json!("https://token@git.example.com/acme/web.git"),
            "git.url",
        ),
        (
            "url",
            json!("http://git.example.com/acme/web.git"),
            "git.url",
        ),
        ("url", json!("file:///srv/web.git"), "git.url"),
        (
            "url",
            json!("https://git.example.com/acme/web .git"),
            "git.url",
        ),
        (
            "url",
            json!("https://git.example.com/acme/web\n.git"),
            "git.url",
        ),
        (
            "url",
            json!(format!("https://git.example.com/{}", "a".repeat(2100))),
            "git.url",
        ),
        ("url", json!("ssh://-oProxyCommand=evil/web.git"), "git.url"),
        ("branch", json!("refs/heads/main"), "git.branch"),
        ("branch", json!("a..b"), "git.branch"),
        ("branch", json!(""), "git.branch"),
        ("dockerfile", json!("/etc/Dockerfile"), "git.dockerfile"),
        ("dockerfile", json!("../Dockerfile"), "git.dockerfile"),
        ("context", json!("app/../.."), "git.context"),
        ("context", json!(""), "git.context"),
        (
            "build_args",
            json!({"1BAD": {"value": "x"}}),
            "git.build_args",
        ),
        (
            "build_args",
            json!({"BAD-NAME": {"value": "x"}}),
            "git.build_args",
        ),
        (
            "build_args",
            json!({"NUL": {"value": format!("{CANARY}\u{0}"), "secret": true}}),
            "git.build_args",
        ),
        (
            "build_args",
            json!({"LONG": {"value": long_secret, "secret": true}}),
            "git.build_args",
        ),
        ("build_args", json!({"PLAIN": {}}), "git.build_args"),
        (
            "build_args",
            json!({"NEW_SECRET": {"secret": true}}),
            "git.build_args",
        ),
        (
            "builder_server_id",
            json!(f.server),
            "git.builder_server_id",
        ),
        ("builder_server_id", json!(unknown), "git.builder_server_id"),
        (
            "builder_server_id",
            json!("builder"),
            "git.builder_server_id",
        ),
        ("git_credential_id", json!(unknown), "git.git_credential_id"),
    ];
    let mut responses = String::new();
    for (key, value, field) in cases {
        let mut body = git_app(&f, &credential);
        body["git"][key] = value.clone();
        let (status, answer) = call(&svc, "POST", "/api/v1/apps", deployer, body).await;
        assert_eq!(
            (status, answer["error"].as_str(), answer["field"].as_str()),
            (400, Some("invalid_field"), Some(field)),
            "{key}: {answer}"
        );
        responses.push_str(&answer.to_string());
    }
    let mut both = git_app(&f, &credential);
    both["image"] = json!("nginx:1.27");
    let mut neither = git_app(&f, &credential);
    neither.as_object_mut().expect("object").remove("git");
    for (body, field) in [(both, "git"), (neither, "image")] {
        let (status, answer) = call(&svc, "POST", "/api/v1/apps", deployer, body).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let mut unknown_field = git_app(&f, &credential);
    unknown_field["git"]["depth"] = json!(1);
    let (status, answer) = call(&svc, "POST", "/api/v1/apps", deployer, unknown_field).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_json"))
    );
    let (_, listed) = call(&svc, "GET", "/api/v1/apps", deployer, Value::Null).await;
    assert_eq!(listed, json!([]), "nothing was stored");
    assert!(app_entries(&app).is_empty(), "nothing was audited");
    assert!(
        !responses.contains(CANARY),
        "an error echoed a secret value"
    );

    // A change is refused the same way and leaves the application as it was.
    let (status, created) = call(
        &svc,
        "POST",
        "/api/v1/apps",
        deployer,
        git_app(&f, &credential),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let uri = format!("/api/v1/apps/{}", created["id"].as_str().expect("id"));
    let mut git = created["git"].clone();
    git["build_args"] = json!({"NPM_TOKEN": {"secret": true}, "OTHER": {"secret": true}});
    let mut wrong_builder = created["git"].clone();
    wrong_builder["build_args"] = json!({});
    wrong_builder["builder_server_id"] = json!(f.server);
    for (body, field) in [
        (json!({"git": git}), "git.build_args"),
        (json!({"git": wrong_builder}), "git.builder_server_id"),
        (json!({"git": created["git"], "image": "nginx:1.27"}), "git"),
    ] {
        let (status, answer) = call(&svc, "PATCH", &uri, deployer, body).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let (_, shown) = call(&svc, "GET", &uri, deployer, Value::Null).await;
    assert_eq!(shown, created, "refused changes stored nothing");
    assert_eq!(app_entries(&app).len(), 1);
}

async fn image_clients_see_no_change(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let deployer = &f.who.deployer_token;
    let (status, created) = call(&svc, "POST", "/api/v1/apps", deployer, full_app(&f)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["image"], "ghcr.io/acme/web:1.2.3");
    assert_eq!(created["git"], Value::Null);
    let uri = format!("/api/v1/apps/{}", created["id"].as_str().expect("id"));
    let (status, updated) = call(
        &svc,
        "PATCH",
        &uri,
        deployer,
        json!({"image": "ghcr.io/acme/web:1.3"}),
    )
    .await;
    assert_eq!(
        (status, updated["image"].as_str()),
        (200, Some("ghcr.io/acme/web:1.3"))
    );
    let (status, queued) = call(
        &svc,
        "POST",
        &format!("{uri}/deploy"),
        deployer,
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, queued["image"].as_str()),
        (202, Some("ghcr.io/acme/web:1.3")),
        "{queued}"
    );
}

async fn what_a_git_app_uses_cannot_be_deleted_from_under_it(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let admin = &f.who.admin_token;
    let credential = git_credential(&svc, &f).await;
    let (status, made) = call(
        &svc,
        "POST",
        "/api/v1/apps",
        admin,
        git_app(&f, &credential),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id").to_owned();

    for (uri, field) in [
        (
            format!("/api/v1/servers/{}?force=true", f.builder),
            "builder_server_id",
        ),
        (
            format!("/api/v1/git-credentials/{credential}"),
            "git_credential_id",
        ),
    ] {
        let (status, refused) = call(&svc, "DELETE", &uri, admin, Value::Null).await;
        assert_eq!(
            (status, refused["field"].as_str()),
            (409, Some(field)),
            "{refused}"
        );
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("web ({id})")),
            "names the application: {refused}"
        );
    }
    let (status, kept) = call(
        &svc,
        "GET",
        &format!("/api/v1/apps/{id}"),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        kept["git"]["builder_server_id"],
        f.builder.as_str(),
        "{kept}"
    );

    // Once the application is an image again, both go.
    let (status, changed) = call(
        &svc,
        "PATCH",
        &format!("/api/v1/apps/{id}"),
        admin,
        json!({"image": "ghcr.io/acme/web:1.2.4"}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    for uri in [
        format!("/api/v1/servers/{}", f.builder),
        format!("/api/v1/git-credentials/{credential}"),
    ] {
        let (status, answer) = call(&svc, "DELETE", &uri, admin, Value::Null).await;
        assert_eq!(status, 204, "DELETE {uri}: {answer}");
    }
}

both_backends!(
    what_a_git_app_uses_cannot_be_deleted_from_under_it,
    git_apps_are_created_read_and_changed,
    invalid_git_fields_are_refused_and_nothing_is_stored,
    image_clients_see_no_change
);
