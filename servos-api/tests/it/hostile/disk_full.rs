//! A pull that fills a server's disk: one of two lab hosts keeps its Docker
//! data on a small disk (a tmpfs the lab mounts, `Host::limit_docker_disk`)
//! that a filler file leaves 32 MiB of, and the new image, pulled from a
//! registry on each host's loopback (one shared storage), has a layer of
//! 64 MiB of random bytes. That host's server fails with a reason that
//! says its disk is full, the other switches to the new version (the
//! deployment fails as a whole, naming the full server), the full host's
//! running container keeps serving, and the aftermath holds. Once the
//! filler is gone, the next deployment succeeds there too.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};
use servos_lab::Host;

use super::aftermath::Aftermath;
use super::report::{test_name, Scenario};
use crate::apps::call;
use crate::both_backends;
use crate::deploy_lab::registry::{sh, start_registry, REGISTRY};
use crate::deploy_lab::{
    create_app, deploy, deploys, docker_ok, only_container, set_image, through_proxy, web_app,
    SERVE,
};
use crate::harness::Backend;

const MIB: u64 = 1024 * 1024;
/// The new image's layer of random bytes.
const LAYER: u64 = 64 * MIB;
/// Free space on the small disk before the filler: room for the layer
/// while it downloads and once it is unpacked.
const ROOM: u64 = 200 * MIB;
/// Free space the filler leaves: less than the layer.
const LEFT: u64 = 32 * MIB;

/// Writes `bytes` of zeros to `path` (a tmpfs gives no room to holes).
fn fill(path: &Path, bytes: u64) {
    let mut file = std::fs::File::create(path)
        .unwrap_or_else(|e| panic!("create {} (needs root): {e}", path.display()));
    let chunk = vec![0u8; MIB as usize];
    let mut written = 0;
    while written < bytes {
        let part = (bytes - written).min(MIB);
        file.write_all(&chunk[..part as usize])
            .unwrap_or_else(|e| panic!("fill {}: {e}", path.display()));
        written += part;
    }
}

/// Builds `servos-test/big:1` on `host` (serves "big" and holds a layer of
/// [`LAYER`] random bytes) and pushes it and `servos-test/web:1` to the
/// registry as `servos/big:1` and `servos/web:1`, logged in from `dir`.
fn push_images(host: &Host, dir: &Path) {
    let builder = format!("mk-big-{}", uuid::Uuid::new_v4().simple());
    let script = format!("echo big > /www/index.html && head -c {LAYER} /dev/urandom > /filler");
    docker_ok(
        host,
        &[
            "run",
            "--name",
            &builder,
            "servos-test/web:1",
            "sh",
            "-c",
            &script,
        ],
    );
    let cmd = format!("CMD {SERVE}");
    docker_ok(
        host,
        &["commit", "--change", &cmd, &builder, "servos-test/big:1"],
    );
    docker_ok(host, &["rm", &builder]);
    let d = dir.display();
    sh(
        host,
        &format!(
            "docker --config {d}/client login -u deployer --password-stdin {REGISTRY} < {d}/password >/dev/null \
             && for image in web big; do docker tag servos-test/$image:1 {REGISTRY}/servos/$image:1 \
             && docker --config {d}/client push {REGISTRY}/servos/$image:1 >/dev/null || exit 1; done \
             && rm -rf {d}/client"
        ),
    );
}

/// The target of `server` in `deployment`.
fn target_of<'a>(deployment: &'a Value, server: &str) -> &'a Value {
    deployment["targets"]
        .as_array()
        .and_then(|targets| targets.iter().find(|t| t["server_id"] == server))
        .unwrap_or_else(|| panic!("no target of {server}: {deployment}"))
}

async fn a_pull_that_fills_the_disk(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(module_path!(), "a_pull_that_fills_the_disk", backend),
        "a 64 MiB image layer pulled onto a host whose Docker disk has 32 MiB free \
         (a size-limited tmpfs and a filler file), beside a healthy host",
        "the full host fails with a reason naming the full disk, the healthy host switches, \
         the full host's running container keeps serving, then the aftermath; \
         with the filler removed the next deployment succeeds",
    );
    let (fx, svc) = deploys(backend, 2).await;
    let (full, healthy) = (&fx.hosts()[0], &fx.hosts()[1]);
    full.limit_docker_disk(ROOM);

    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().join("images");
    let password = format!("canary-registry-{}", uuid::Uuid::new_v4().simple());
    let mut registries = Vec::new();
    for host in fx.hosts() {
        let own = dir.path().join(&host.name);
        std::fs::create_dir(&own).expect("registry dir");
        registries.push(start_registry(host, &own, &storage, "deployer", &password));
    }
    push_images(healthy, &dir.path().join(&healthy.name));

    let admin = fx.who.admin_token.clone();
    let body =
        json!({"name": "images", "host": REGISTRY, "username": "deployer", "password": password});
    let (status, registry) = call(&svc, "POST", "/api/v1/registries", &admin, body).await;
    assert_eq!(status, 201, "{registry}");
    let mut app = web_app("roomy", &format!("{REGISTRY}/servos/web:1"), &fx.servers);
    app["registry_id"] = registry["id"].clone();
    let deployer = fx.who.deployer_token.clone();
    let app_id = create_app(&svc, &deployer, app).await;
    let first = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    let serving = only_container(full, &app_id);

    let filler = full.docker_data_root().join("servos-test-filler");
    fill(&filler, full.docker_disk_free().saturating_sub(LEFT));
    let free = full.docker_disk_free();
    scenario.figure("free space at start", format!("{} MiB", free / MIB));
    assert!(free < LAYER, "{free} bytes free");

    set_image(
        &svc,
        &deployer,
        &app_id,
        &format!("{REGISTRY}/servos/big:1"),
    )
    .await;
    let started = Instant::now();
    let ended = deploy(&svc, &deployer, &app_id).await;
    scenario.figure("time to failure", format!("{:.1?}", started.elapsed()));
    assert_eq!(ended["state"], "failed", "{ended}");
    let failed = target_of(&ended, &fx.servers[0]);
    assert_eq!(failed["state"], "failed", "{ended}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    scenario.figure("reason", reason);
    assert!(
        reason.contains("disk is full") && reason.contains("no space left on device"),
        "the reason says the disk is full: {reason}"
    );
    assert_eq!(
        target_of(&ended, &fx.servers[1])["state"],
        "succeeded",
        "{ended}"
    );
    assert_eq!(only_container(full, &app_id), serving);
    assert_eq!(
        through_proxy(full, "roomy.servos.internal").await,
        Ok((200, "v1".to_owned())),
        "the full host keeps serving"
    );
    assert_eq!(
        through_proxy(healthy, "roomy.servos.internal").await,
        Ok((200, "big".to_owned()))
    );
    Aftermath::of(&fx).app(&app_id).check(&mut scenario).await;

    std::fs::remove_file(&filler).expect("remove the filler");
    let next = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(next["state"], "succeeded", "{next}");
    assert_eq!(
        through_proxy(full, "roomy.servos.internal").await,
        Ok((200, "big".to_owned()))
    );
    drop(registries);
}

both_backends!(a_pull_that_fills_the_disk);
