//! Canary secrets entered through the UI's own forms (an imported SSH key
//! and its passphrase, a registry password, a git token, application
//! environment values, a user's password) appear in no page's HTML, for
//! any role, deployment pages included (a deployment of those values
//! queued and failed by a worker); only the explicit reveal answers with one.

use std::process::Command;
use std::time::Duration;

use servos_api::deploy::Engine;
use servos_api::http::routes::{self, Surface};

use super::{concrete, get, post, sessions, Page, World};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

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

fn id_after(page: &Page, prefix: &str) -> String {
    let location = page.location();
    location
        .strip_prefix(prefix)
        .map(|rest| rest.split(['/', '#']).next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("{location} does not start with {prefix}: {}", page.html))
}

async fn canaries_never_reach_a_page(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let admin = Some(s.admin.as_str());
    let scratch = tempfile::tempdir().expect("scratch");
    let canary = |what: &str| format!("canary-{what}-{}", uuid::Uuid::new_v4().simple());
    let passphrase = canary("passphrase");
    let private_key = protected_key(scratch.path(), &passphrase);
    let key_body = private_key
        .lines()
        .find(|l| !l.starts_with("-----"))
        .expect("a key body line")
        .to_owned();
    let registry_password = canary("registry");
    let git_token = canary("git");
    let env_value = canary("env");
    let file_value = canary("file");
    let user_password = canary("user-password");

    let mut answers = String::new();
    let key = post(
        &svc,
        "/credentials/ssh-keys",
        admin,
        &[
            ("name", "canary"),
            ("kind", "server"),
            ("source", "import"),
            ("private_key", &private_key),
            ("passphrase", &passphrase),
        ],
    )
    .await;
    answers.push_str(&key.html);
    let key = id_after(&key, "/credentials/ssh-keys/");
    let server = post(
        &svc,
        "/servers",
        admin,
        &[
            ("name", "web-1"),
            ("address", "192.0.2.1"),
            ("port", "22"),
            ("user", "deploy"),
            ("ssh_key_id", &key),
            ("roles", "run"),
        ],
    )
    .await;
    answers.push_str(&server.html);
    let server = id_after(&server, "/servers/");
    for (path, fields) in [
        (
            "/credentials/registries",
            vec![
                ("name", "ghcr"),
                ("host", "ghcr.io"),
                ("username", "ci"),
                ("password", registry_password.as_str()),
            ],
        ),
        (
            "/credentials/git",
            vec![
                ("name", "forge"),
                ("provider", "gitea"),
                ("token", git_token.as_str()),
            ],
        ),
        (
            "/users",
            vec![
                ("email", "canary@example.com"),
                ("password", user_password.as_str()),
                ("role", "viewer"),
            ],
        ),
    ] {
        let page = post(&svc, path, admin, &fields).await;
        assert_eq!(page.status, 303, "POST {path}: {}", page.html);
        answers.push_str(&page.html);
    }
    let created = post(
        &svc,
        "/apps",
        admin,
        &[
            ("name", "shop"),
            ("image", "nginx:1.27"),
            ("container_port", "80"),
            ("probe", "http"),
            ("http_path", "/"),
            ("restart_policy", "always"),
            ("server_ids", &server),
        ],
    )
    .await;
    let app_id = id_after(&created, "/apps/");
    let env = post(
        &svc,
        &format!("/apps/{app_id}/env"),
        admin,
        &[
            ("new.0.name", "SECRET"),
            ("new.0.value", &env_value),
            ("new.1.name", "KEY_FILE"),
            ("new.1.value", &file_value),
            ("new.1.file", "on"),
        ],
    )
    .await;
    assert_eq!(env.status, 303, "{}", env.html);
    answers.push_str(&env.html);
    // A refused change answers without the values it was given.
    let refused = post(
        &svc,
        &format!("/apps/{app_id}/env"),
        admin,
        &[("new.0.name", "bad name"), ("new.0.value", &env_value)],
    )
    .await;
    assert_eq!(refused.status, 422);
    answers.push_str(&refused.html);
    // A deployment of those values, which a worker fails (the server was
    // never commissioned), with its step log.
    let deploy = post(&svc, &format!("/apps/{app_id}/deploy"), admin, &[]).await;
    assert_eq!(deploy.status, 303, "{}", deploy.html);
    answers.push_str(&deploy.html);
    let deployment = id_after(&deploy, "/deployments/");
    let engine = Engine::start(app.state.clone()).expect("engine");
    let ended = crate::deployments::finished(
        &svc,
        &s.who.deployer_token,
        &deployment,
        Duration::from_secs(30),
    )
    .await;
    drop(engine);
    assert_eq!(ended["state"], "failed", "{ended}");

    let world = World {
        key: key.clone(),
        server: server.clone(),
        app: app_id.clone(),
        registry: String::new(),
        git: String::new(),
        install: super::stored_install(&app, &server),
        deployment,
    };
    let mut pages = 0;
    for spec in routes::table()
        .into_iter()
        .filter(|r| r.surface == Surface::Page && r.method == "GET")
    {
        let path = concrete(spec.path, &world);
        for session in [&s.admin, &s.deployer, &s.viewer] {
            let page = get(&svc, &path, Some(session)).await;
            assert!(page.status < 500, "GET {path}");
            answers.push_str(&page.html);
            pages += 1;
        }
    }
    for path in [
        "/audit?action=ssh_key.created",
        "/audit?target_type=app",
        "/login",
        "/setup",
    ] {
        answers.push_str(&get(&svc, path, admin).await.html);
    }
    assert!(pages > 40, "{pages} pages fetched");
    for (name, value) in [
        ("SSH private key", key_body.as_str()),
        ("SSH key passphrase", passphrase.as_str()),
        ("registry password", registry_password.as_str()),
        ("git token", git_token.as_str()),
        ("environment value", env_value.as_str()),
        ("file environment value", file_value.as_str()),
        ("user password", user_password.as_str()),
    ] {
        assert!(!answers.contains(value), "the {name} is in a page");
    }

    // The reveal is the one answer that carries a secret.
    let revealed = post(
        &svc,
        &format!("/credentials/ssh-keys/{key}/reveal"),
        admin,
        &[("field", "passphrase")],
    )
    .await;
    assert_eq!(revealed.status, 200);
    assert!(revealed.html.contains(&passphrase));
    let reveal_env = format!("/apps/{app_id}/env/reveal");
    let revealed = post(&svc, &reveal_env, admin, &[("name", "SECRET")]).await;
    assert_eq!(revealed.status, 200, "{}", revealed.html);
    assert!(
        revealed.html.contains(&env_value),
        "an admin's reveal shows the value"
    );
    let refused = post(&svc, &reveal_env, Some(&s.deployer), &[("name", "SECRET")]).await;
    assert_eq!(refused.status, 403, "only admins reveal");
    assert!(!refused.html.contains(&env_value));
}

both_backends!(canaries_never_reach_a_page);
