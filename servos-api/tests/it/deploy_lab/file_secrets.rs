//! File secrets: a variable flagged `file_secret` reaches the container
//! only as a read-only file at `/run/secrets/<NAME>` (on a tmpfs on the
//! server), named by `<NAME>_FILE` in its environment. Its value is in no
//! `docker inspect` output and no file of the host's Docker data
//! directory, and its directory goes when its container goes. A file of
//! several lines (a PEM key, a pretty-printed JSON file) arrives byte for
//! byte.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::json;

use super::secrets::files_containing;
use super::{container_env, create_app, deploy, deploys, only_container, set_env, web_app};
use crate::both_backends;
use crate::harness::Backend;
use crate::web::file_secrets::{JSON_FILE, PEM};

fn secrets_dir(deployment: &serde_json::Value) -> String {
    format!(
        "/run/servos/secrets/{}",
        deployment["targets"][0]["id"].as_str().unwrap_or_default()
    )
}

async fn a_file_secret_is_only_a_file_in_the_container(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let deployer = fx.who.deployer_token.clone();
    let host = &fx.hosts()[0];
    let canary = format!("canary-file-{}", uuid::Uuid::new_v4().simple());
    let app_id = create_app(
        &svc,
        &deployer,
        web_app("vault", "servos-test/web:1", &fx.servers),
    )
    .await;
    let change = json!({"set": {"PLAIN": {"value": "plain value"},
        "API_KEY": {"value": canary, "file_secret": true},
        "TLS_KEY": {"value": PEM, "file_secret": true},
        "CONFIG_JSON": {"value": JSON_FILE, "file_secret": true}}});
    set_env(&svc, &deployer, &app_id, change).await;
    let first = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(first["state"], "succeeded", "{first}");

    let container = only_container(host, &app_id);
    let env = container_env(host, &container);
    assert_eq!(env.get("PLAIN").map(String::as_str), Some("plain value"));
    assert_eq!(
        env.get("API_KEY_FILE").map(String::as_str),
        Some("/run/secrets/API_KEY")
    );
    assert!(!env.contains_key("API_KEY"));
    let read = host.docker(&["exec", &container, "cat", "/run/secrets/API_KEY"]);
    assert_eq!(String::from_utf8_lossy(&read.stdout), canary);
    // Files of several lines arrive byte for byte, last line break included.
    for (name, content) in [("TLS_KEY", PEM), ("CONFIG_JSON", JSON_FILE)] {
        let read = host.docker(&["exec", &container, "cat", &format!("/run/secrets/{name}")]);
        assert!(read.status.success(), "{name}: {read:?}");
        assert_eq!(read.stdout, content.as_bytes(), "{name} in the container");
        assert_eq!(
            env.get(&format!("{name}_FILE")).map(String::as_str),
            Some(format!("/run/secrets/{name}").as_str())
        );
    }
    let inspect = host.docker(&["inspect", &container]);
    assert!(inspect.status.success());
    assert!(
        !String::from_utf8_lossy(&inspect.stdout).contains(&canary),
        "docker inspect shows the value"
    );
    assert_eq!(
        files_containing(&host.dir.join("docker"), &canary),
        Vec::<String>::new()
    );

    let dir = secrets_dir(&first);
    let mode = |path: &str| {
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    assert_eq!(mode(&dir), Some(0o700));
    assert_eq!(mode(&format!("{dir}/API_KEY")), Some(0o400));
    let fs = host.exec(&["stat", "-f", "-c", "%T", &dir]);
    assert_eq!(
        String::from_utf8_lossy(&fs.stdout).trim(),
        "tmpfs",
        "file secrets live on a tmpfs"
    );

    let second = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(second["state"], "succeeded", "{second}");
    assert!(
        !Path::new(&dir).exists(),
        "the old container's secrets went with it"
    );
    assert!(Path::new(&secrets_dir(&second)).join("API_KEY").exists());
}

both_backends!(a_file_secret_is_only_a_file_in_the_container);
