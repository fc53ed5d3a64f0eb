//! The application form with a git source: the builder servers offered,
//! an application built from git created and edited through the form, its
//! page showing the repository, branch, builder and Dockerfile, and a
//! secret build argument's value on no page, not even a form sent back
//! with an error.

use serde_json::{json, Value};

use super::{get, post, sessions, world};
use crate::apps::call;
use crate::both_backends;
use crate::harness::{Backend, TestApp};

/// The secret build argument's value of this test.
const CANARY: &str = "canary-form-build-arg-52e7";

async fn applications_built_from_git_through_the_form(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let deployer = Some(s.deployer.as_str());
    let body = json!({"name": "builder-1", "address": "192.0.2.11", "user": "deploy",
        "ssh_key_id": w.key, "roles": ["build"]});
    let (status, builder) = call(&svc, "POST", "/api/v1/servers", &s.who.admin_token, body).await;
    assert_eq!(status, 201, "{builder}");
    let builder = builder["id"].as_str().expect("id").to_owned();

    let form = get(&svc, "/apps/new", deployer).await;
    assert!(
        form.html.contains(&format!("value=\"{builder}\"")),
        "builders offered"
    );
    assert!(
        form.html.contains(&format!("value=\"{}\"", w.git)),
        "git credentials offered"
    );
    let secret_line = format!("NPM_TOKEN={CANARY}");
    let fields = |url: &'static str, branch: &'static str| {
        vec![
            ("name", "site"),
            ("source", "git"),
            ("image", ""),
            ("git_url", url),
            ("git_branch", branch),
            ("git_dockerfile", "docker/Dockerfile"),
            ("git_context", ""),
            ("builder_server_id", builder.as_str()),
            ("git_credential_id", w.git.as_str()),
            ("build_args", "VERSION=1.2"),
            ("container_port", "8080"),
            ("probe", "http"),
            ("http_path", "/"),
            ("restart_policy", "always"),
        ]
    };
    let mut bad = fields("https://user:pw@git.example.com/acme/site.git", "main");
    bad.push(("secret_build_args", &secret_line));
    let refused = post(&svc, "/apps", deployer, &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.html.contains("use git_credential_id"),
        "the error is shown"
    );
    assert!(
        refused.html.contains("NPM_TOKEN"),
        "the secret's name is kept"
    );
    assert!(!refused.html.contains(CANARY), "a secret value was echoed");

    let mut good = fields("git@git.example.com:acme/site.git", "main");
    good.push(("secret_build_args", &secret_line));
    let created = post(&svc, "/apps", deployer, &good).await;
    assert_eq!(created.status, 303, "{}", created.html);
    let id = created.location().trim_start_matches("/apps/").to_owned();
    let uri = format!("/api/v1/apps/{id}");
    let (_, shown) = call(&svc, "GET", &uri, &s.who.viewer_token, Value::Null).await;
    assert_eq!(shown["image"], Value::Null, "{shown}");
    assert_eq!(
        shown["git"]["context"], ".",
        "an empty context is the default"
    );
    assert_eq!(
        shown["git"]["build_args"],
        json!({"NPM_TOKEN": {"value": "********", "secret": true},
               "VERSION": {"value": "1.2", "secret": false}})
    );

    let page = get(&svc, &format!("/apps/{id}"), deployer).await;
    for fact in [
        "git@git.example.com:acme/site.git",
        "builder-1",
        "docker/Dockerfile",
        "NPM_TOKEN=********",
        "VERSION=1.2",
        "Build and deploy now",
    ] {
        assert!(page.html.contains(fact), "the page shows {fact}");
    }
    let edit = get(&svc, &format!("/apps/{id}/edit"), deployer).await;
    assert!(
        edit.html.contains("NPM_TOKEN"),
        "the edit form names the secret"
    );
    assert!(
        !page.html.contains(CANARY) && !edit.html.contains(CANARY),
        "a secret value reached a page"
    );

    // Sent back as shown (the secret by name only), nothing changes; a new
    // branch is saved and the secret kept.
    let mut same = fields("git@git.example.com:acme/site.git", "main");
    same.push(("secret_build_args", "NPM_TOKEN"));
    let unchanged = post(&svc, &format!("/apps/{id}"), deployer, &same).await;
    assert_eq!(unchanged.status, 303, "{}", unchanged.html);
    let updates = || {
        crate::apps::app_entries(&app)
            .into_iter()
            .filter(|e| e.action == "app.updated")
            .map(|e| e.fields)
            .collect::<Vec<_>>()
    };
    assert!(updates().is_empty(), "nothing changed");
    let mut branch = fields("git@git.example.com:acme/site.git", "release/2");
    branch.push(("secret_build_args", "NPM_TOKEN"));
    let saved = post(&svc, &format!("/apps/{id}"), deployer, &branch).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(updates(), ["git.branch"]);
    let (_, after) = call(&svc, "GET", &uri, &s.who.viewer_token, Value::Null).await;
    assert_eq!(after["git"]["branch"], "release/2");
    assert_eq!(after["git"]["build_args"], shown["git"]["build_args"]);
}

both_backends!(applications_built_from_git_through_the_form);
