//! The forms end to end in-process: each creates or changes what the API
//! would, redirects with a flash message, and on an error shows it next to
//! the field with the non-secret input kept and no secret echoed.

use servos_api::apps::env;

use super::{follow, get, post, sessions, world};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

/// The id at the end of a `Location` such as `/servers/{id}`.
fn id_from(location: &str) -> String {
    location
        .split(['/', '#'])
        .find(|part| uuid::Uuid::parse_str(part).is_ok())
        .unwrap_or_else(|| panic!("no id in {location}"))
        .to_owned()
}

async fn servers_keys_and_credentials_through_forms(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let admin = Some(s.admin.as_str());

    // Without a server key, the server form says what to do first.
    let empty = get(&svc, "/servers/new", admin).await;
    assert!(empty.html.contains("No SSH key of kind server"));
    let dashboard = get(&svc, "/", admin).await;
    assert!(dashboard.html.contains("Add your first server"));

    let key = post(
        &svc,
        "/credentials/ssh-keys",
        admin,
        &[
            ("name", "deploy"),
            ("kind", "server"),
            ("source", "generate"),
        ],
    )
    .await;
    assert_eq!(key.status, 303, "{}", key.html);
    let key_id = id_from(key.location());
    let shown = follow(&svc, &key, admin).await;
    assert!(shown.html.contains("ssh-ed25519 "), "public key shown");
    assert!(shown.html.contains("readonly"));
    assert!(shown.html.contains("SSH key deploy saved"), "flash shown");

    let bad = post(
        &svc,
        "/servers",
        admin,
        &[
            ("name", "web-1"),
            ("address", "not a host!"),
            ("port", "22"),
            ("user", "deploy"),
            ("ssh_key_id", &key_id),
            ("roles", "run"),
            ("labels", "team=web"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.html.contains("must be a host name or IP address"));
    assert!(bad.html.contains("value=\"web-1\""), "name kept");
    assert!(bad.html.contains("team=web"), "labels kept");
    let bad_port = post(
        &svc,
        "/servers",
        admin,
        &[
            ("name", "web-1"),
            ("address", "192.0.2.1"),
            ("port", "ssh"),
            ("user", "deploy"),
            ("ssh_key_id", &key_id),
            ("roles", "run"),
        ],
    )
    .await;
    assert!(bad_port.html.contains("must be a number from 1 to 65535"));

    let server = post(
        &svc,
        "/servers",
        admin,
        &[
            ("name", "web-1"),
            ("address", "192.0.2.1"),
            ("port", "22"),
            ("user", "deploy"),
            ("ssh_key_id", &key_id),
            ("roles", "run"),
            ("roles", "build"),
            ("labels", "team=web"),
        ],
    )
    .await;
    assert_eq!(server.status, 303, "{}", server.html);
    let page = get(&svc, server.location(), admin).await;
    assert!(page.html.contains("badge-pending"), "a new server is amber");
    assert!(page.html.contains(">Commission<"));
    assert!(
        page.html.contains("ssh-ed25519 "),
        "the key to install is shown"
    );
    let taken = post(
        &svc,
        "/servers",
        admin,
        &[
            ("name", "web-1"),
            ("address", "192.0.2.2"),
            ("port", "22"),
            ("user", "deploy"),
            ("ssh_key_id", &key_id),
            ("roles", "run"),
        ],
    )
    .await;
    assert_eq!(taken.status, 422);
    assert!(taken.html.contains("a server with this name exists"));

    let password = "registry-password-not-echoed";
    let registry = post(
        &svc,
        "/credentials/registries",
        admin,
        &[
            ("name", "ghcr"),
            ("host", "https://ghcr.io"),
            ("username", "ci"),
            ("password", password),
        ],
    )
    .await;
    assert_eq!(registry.status, 422);
    assert!(registry.html.contains("without scheme or path"));
    assert!(registry.html.contains("value=\"ci\""));
    assert!(
        !registry.html.contains(password),
        "the password is not echoed"
    );
    let registry = post(
        &svc,
        "/credentials/registries",
        admin,
        &[
            ("name", "ghcr"),
            ("host", "ghcr.io"),
            ("username", "ci"),
            ("password", password),
        ],
    )
    .await;
    assert_eq!(registry.status, 303);
    let git = post(
        &svc,
        "/credentials/git",
        admin,
        &[
            ("name", "forge"),
            ("provider", "gitea"),
            ("token", "git-token-value"),
        ],
    )
    .await;
    assert_eq!(git.status, 303, "{}", git.html);
    let index = get(&svc, "/credentials", admin).await;
    assert!(index.html.contains("ghcr") && index.html.contains("forge"));
    assert!(!index.html.contains(password) && !index.html.contains("git-token-value"));

    // Reveal: an explicit POST answers with the value once, and is audited.
    let registry_id = {
        let mut conn = app.state.pool.get().expect("conn");
        servos_api::store::registries::list_live(&mut conn).expect("list")[0]
            .id
            .clone()
    };
    let revealed = post(
        &svc,
        &format!("/credentials/registries/{registry_id}/reveal"),
        admin,
        &[],
    )
    .await;
    assert_eq!(revealed.status, 200);
    assert!(revealed.html.contains(password));
    assert_eq!(
        revealed
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let audit = get(&svc, "/audit?action=registry.revealed", admin).await;
    assert!(
        audit.html.contains(&registry_id),
        "the reveal is in the audit log"
    );
}

async fn applications_and_their_environment(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let deployer = Some(s.deployer.as_str());

    let form = get(&svc, "/apps/new", deployer).await;
    assert!(form.html.contains("web-1"), "run servers offered");
    let bad = post(
        &svc,
        "/apps",
        deployer,
        &[
            ("name", "blog"),
            ("image", "UPPER/Case"),
            ("container_port", "80"),
            ("probe", "http"),
            ("http_path", "/"),
            ("restart_policy", "always"),
            ("memory_mib", "1"),
            ("server_ids", &w.server),
        ],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.html.contains("value=\"blog\""));
    let bad_cpu = post(
        &svc,
        "/apps",
        deployer,
        &[
            ("name", "blog"),
            ("image", "nginx:1.27"),
            ("container_port", "80"),
            ("probe", "http"),
            ("http_path", "/"),
            ("restart_policy", "always"),
            ("cpus", "lots"),
        ],
    )
    .await;
    assert!(bad_cpu.html.contains("must be a number of CPUs"));
    let created = post(
        &svc,
        "/apps",
        deployer,
        &[
            ("name", "blog"),
            ("image", "nginx:1.27"),
            ("container_port", "80"),
            ("server_ids", &w.server),
            ("probe", "http"),
            ("http_path", "/healthz"),
            ("interval_secs", "10"),
            ("timeout_secs", "5"),
            ("retries", "3"),
            ("restart_policy", "on-failure"),
            ("restart_retries", "5"),
            ("memory_mib", "256"),
            ("cpus", "0.5"),
            ("labels", "team=blog"),
            ("domain", "blog.example.com"),
            ("registry_id", ""),
        ],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.html);
    let id = id_from(created.location());
    let loaded = servos_api::apps::get(&app.state, id.as_str().into())
        .await
        .expect("app");
    assert_eq!(loaded.spec.restart_policy.to_string(), "on-failure:5");
    assert_eq!(loaded.spec.limits.memory_bytes, Some(256 << 20));
    assert_eq!(loaded.spec.limits.milli_cpus, Some(500));

    // Editing with nothing changed saves nothing; one change saves that field only.
    let edit = get(&svc, &format!("/apps/{id}/edit"), deployer).await;
    assert!(edit.html.contains("value=\"nginx:1.27\""));
    assert!(edit.html.contains("value=\"0.5\""));
    let same = [
        ("name", "blog"),
        ("image", "nginx:1.27"),
        ("container_port", "80"),
        ("server_ids", w.server.as_str()),
        ("probe", "http"),
        ("http_path", "/healthz"),
        ("interval_secs", "10"),
        ("timeout_secs", "5"),
        ("retries", "3"),
        ("restart_policy", "on-failure"),
        ("restart_retries", "5"),
        ("memory_mib", "256"),
        ("cpus", "0.5"),
        ("labels", "team=blog"),
        ("domain", "blog.example.com"),
        ("registry_id", ""),
    ];
    let unchanged = post(&svc, &format!("/apps/{id}"), deployer, &same).await;
    assert_eq!(unchanged.status, 303);
    let mut changed = same.to_vec();
    changed[1] = ("image", "nginx:1.28");
    let saved = post(&svc, &format!("/apps/{id}"), deployer, &changed).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let entries = crate::apps::app_entries(&app);
    let last = entries.last().expect("an entry");
    assert_eq!(
        (last.action.as_str(), last.fields.as_str()),
        ("app.updated", "image")
    );
    assert_eq!(
        entries.iter().filter(|e| e.action == "app.updated").count(),
        1
    );

    // The environment: values go in, never come back out.
    let env_path = format!("/apps/{id}/env");
    let first = post(
        &svc,
        &env_path,
        deployer,
        &[
            ("new.0.name", "DATABASE_URL"),
            ("new.0.value", "postgres://secret-one"),
            ("new.1.name", "API_KEY"),
            ("new.1.value", "secret-two"),
            ("new.1.file", "on"),
        ],
    )
    .await;
    assert_eq!(first.status, 303, "{}", first.html);
    let page = follow(&svc, &first, deployer).await;
    assert!(page.html.contains("DATABASE_URL") && page.html.contains("API_KEY"));
    assert!(page.html.contains("Environment saved as version 1"));
    assert!(!page.html.contains("secret-one") && !page.html.contains("secret-two"));
    // Empty value: kept; a new value: replaced; a removal; a flag change.
    let second = post(
        &svc,
        &env_path,
        deployer,
        &[
            ("var.0.name", "API_KEY"),
            ("var.0.value", ""),
            ("var.0.had_file", "true"),
            ("var.0.file", "on"),
            ("var.1.name", "DATABASE_URL"),
            ("var.1.value", "postgres://secret-three"),
            ("var.1.had_file", "false"),
            ("var.1.file", "on"),
        ],
    )
    .await;
    assert_eq!(second.status, 303);
    let third = post(
        &svc,
        &env_path,
        deployer,
        &[
            ("var.0.name", "API_KEY"),
            ("var.0.had_file", "true"),
            ("var.0.file", "on"),
            ("var.0.remove", "on"),
        ],
    )
    .await;
    assert_eq!(third.status, 303);
    let vars = {
        let mut conn = app.state.pool.get().expect("conn");
        let app_id = id.as_str().into();
        let v2 = env::open(&mut conn, app.state.vault.keyring(), &app_id, 2).expect("v2");
        let v3 = env::open(&mut conn, app.state.vault.keyring(), &app_id, 3).expect("v3");
        (v2, v3)
    };
    let v2: Vec<(String, String, bool)> = vars
        .0
        .iter()
        .map(|v| (v.name.clone(), v.value.expose().to_owned(), v.file_secret))
        .collect();
    assert_eq!(
        v2,
        [
            ("API_KEY".into(), "secret-two".into(), true),
            (
                "DATABASE_URL".into(),
                "postgres://secret-three".into(),
                true
            )
        ]
    );
    assert_eq!(
        vars.1.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["DATABASE_URL"]
    );
    // A refused change keeps the typed names and drops the values.
    let refused = post(
        &svc,
        &env_path,
        deployer,
        &[("new.0.name", "bad name"), ("new.0.value", "secret-four")],
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(refused.html.contains("value=\"bad name\""));
    assert!(!refused.html.contains("secret-four"));
    let missing = post(
        &svc,
        &env_path,
        deployer,
        &[("new.0.name", "EMPTY"), ("new.0.value", "")],
    )
    .await;
    assert!(
        missing.html.contains("EMPTY needs a value"),
        "{}",
        missing.html
    );
}

both_backends!(
    servers_keys_and_credentials_through_forms,
    applications_and_their_environment
);
