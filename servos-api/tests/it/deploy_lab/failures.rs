//! Deployments that fail: a health check that never passes, an image that
//! does not exist, `docker run` failing on one host, a host whose key
//! changed. Each ends `failed` with a reason naming the server and the
//! step, leaves no env file or new container behind, keeps the old
//! version serving, and does not undo the hosts where it succeeded.

use serde_json::{json, Value};
use servos_api::store::audit_log;
use servos_lab::HostKeyType;

use super::{
    containers, create_app, deploy, deploys, leftover_secret_files, only_container, set_image,
    target_ids, through_proxy, web_app,
};
use crate::apps::call;
use crate::both_backends;
use crate::deployments::read_all;
use crate::harness::Backend;

async fn a_failing_health_check_keeps_the_old_version_serving(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let deployer = fx.who.deployer_token.clone();
    let host = &fx.hosts()[0];
    let mut body = web_app("api", "servos-test/web:1", &fx.servers);
    body["health_check"]["retries"] = json!(3);
    let app_id = create_app(&svc, &deployer, body).await;
    let first = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    let old = only_container(host, &app_id);

    set_image(&svc, &deployer, &app_id, "servos-test/mute:1").await;
    let failed = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(
            "failed on 1 of 1 server(s): web-1: health check failed 3 times in a row: GET / failed"
        ),
        "{reason}"
    );
    assert_eq!(failed["targets"][0]["state"], "failed");
    assert_eq!(
        only_container(host, &app_id),
        old,
        "the new container is removed, the old one kept"
    );
    assert_eq!(
        through_proxy(host, "api.servos.internal").await,
        Ok((200, "v1".to_owned()))
    );
    assert_eq!(
        leftover_secret_files(&target_ids(&failed)),
        Vec::<String>::new()
    );
    let id = failed["id"].as_str().unwrap_or_default();
    let (_, events) = read_all(&svc, &format!("/api/v1/deployments/{id}/events"), &deployer).await;
    assert!(
        events.contains("cleaned up: no new container, env file or secret left"),
        "{events}"
    );
}

fn tag(host: &servos_lab::Host, from: &str, to: &str) {
    let output = host.docker(&["tag", from, to]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn failures_name_their_server_and_step_and_undo_nothing_elsewhere(backend: Backend) {
    let (fx, svc) = deploys(backend, 2).await;
    let deployer = fx.who.deployer_token.clone();
    let (one, two) = (&fx.hosts()[0], &fx.hosts()[1]);
    let app_id = create_app(
        &svc,
        &deployer,
        web_app("site", "servos-test/web:1", &fx.servers),
    )
    .await;

    // An image no host has (and none can pull).
    set_image(&svc, &deployer, &app_id, "servos-test/missing:1").await;
    let missing = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(missing["state"], "failed", "{missing}");
    let reason = missing["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("failed on 2 of 2 server(s): web-1: docker pull failed on the server"),
        "{reason}"
    );
    assert!(reason.contains("; web-2: docker pull failed"), "{reason}");
    for host in [one, two] {
        assert_eq!(containers(host, &app_id), Vec::<String>::new());
    }

    // Both hosts serve version 1.
    set_image(&svc, &deployer, &app_id, "servos-test/web:1").await;
    let first = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(first["state"], "succeeded", "{first}");

    // Version 3 starts on the first host; on the second, docker run fails.
    tag(one, "servos-test/web:2", "servos-test/web:3");
    tag(two, "servos-test/broken:1", "servos-test/web:3");
    set_image(&svc, &deployer, &app_id, "servos-test/web:3").await;
    let half = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(half["state"], "failed", "{half}");
    let reason = half["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("failed on 1 of 2 server(s): web-2: docker run failed on the server"),
        "{reason}"
    );
    let states: Vec<&str> = half["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["state"].as_str().unwrap_or_default())
        .collect();
    let mut sorted = states.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["failed", "succeeded"]);
    assert_eq!(
        through_proxy(one, "site.servos.internal").await,
        Ok((200, "v2".to_owned())),
        "the first host keeps the new version"
    );
    assert_eq!(
        through_proxy(two, "site.servos.internal").await,
        Ok((200, "v1".to_owned())),
        "the second keeps the old one"
    );
    assert_eq!(containers(one, &app_id).len(), 1);
    assert_eq!(
        containers(two, &app_id).len(),
        1,
        "the container docker run made is removed"
    );
    assert_eq!(
        leftover_secret_files(&target_ids(&half)),
        Vec::<String>::new()
    );

    // The second host's key changes: refused before authentication, marked, audited.
    two.replace_host_key(HostKeyType::Ed25519);
    let attempts = two.publickey_attempts();
    let changed = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(changed["state"], "failed", "{changed}");
    let reason = changed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("web-2: cannot connect: host key changed: pinned SHA256:"),
        "{reason}"
    );
    assert_eq!(
        two.publickey_attempts(),
        attempts,
        "the client key was never offered"
    );
    let (_, server) = call(
        &svc,
        "GET",
        &format!("/api/v1/servers/{}", fx.servers[1]),
        &deployer,
        Value::Null,
    )
    .await;
    assert_eq!(server["status"], "host_key_changed", "{server}");
    let mismatches = {
        let mut conn = fx.app.state.pool.get().expect("conn");
        audit_log::chain_batch(&mut conn, 0, 100_000)
            .expect("audit")
            .into_iter()
            .filter(|e| {
                e.action == "server.host_key_mismatch"
                    && e.target_id.as_deref() == Some(fx.servers[1].as_str())
            })
            .count()
    };
    assert_eq!(mismatches, 1);
    assert_eq!(
        through_proxy(one, "site.servos.internal").await,
        Ok((200, "v2".to_owned()))
    );
}

both_backends!(
    a_failing_health_check_keeps_the_old_version_serving,
    failures_name_their_server_and_step_and_undo_nothing_elsewhere
);
