//! A private registry (Debian's docker-registry with htpasswd, on the lab
//! host's loopback): the deployment logs in with the stored credential
//! (password on stdin, a temporary `DOCKER_CONFIG`), pulls, logs out, and
//! leaves no login behind; the password is in no argv while it runs. A wrong
//! password fails the job with a clear reason and leaves nothing behind.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use servos_lab::Host;

use super::secrets::{files_containing, ArgvWatch};
use super::{create_app, deploy, deploys, only_container, web_app};
use crate::apps::call;
use crate::both_backends;
use crate::deployments::read_all;
use crate::harness::Backend;

/// The registry's address inside the host (Docker trusts loopback registries
/// without TLS).
pub(crate) const REGISTRY: &str = "127.0.0.1:5000";

/// `docker-registry serve` in the host's network namespace, killed when dropped.
pub(crate) struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `script` with `sh` in `host`, which must succeed; returns its output.
pub(crate) fn sh(host: &Host, script: &str) -> String {
    let output = host.exec(&["sh", "-c", script]);
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts a registry with one user in `dir`, keeping the images in
/// `storage` (registries of several hosts may share one), and waits until
/// it answers. Leaves the password in `dir/password` for a `docker login`.
pub(crate) fn start_registry(
    host: &Host,
    dir: &std::path::Path,
    storage: &std::path::Path,
    user: &str,
    password: &str,
) -> Registry {
    std::fs::write(dir.join("password"), password).expect("password file");
    let d = dir.display();
    sh(
        host,
        &format!("htpasswd -iBn {user} < {d}/password > {d}/htpasswd"),
    );
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {REGISTRY}\n\
         auth:\n  htpasswd:\n    realm: servos-test\n    path: {d}/htpasswd\n",
        storage.display()
    );
    std::fs::write(dir.join("config.yml"), config).expect("config");
    let log = std::fs::File::create(dir.join("registry.log")).expect("log");
    let child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", host.name))
        .args(["--", "docker-registry", "serve"])
        .arg(dir.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start docker-registry (Debian package docker-registry)");
    let registry = Registry(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !host
        .exec(&["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5000"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    registry
}

async fn images_from_a_private_registry_are_pulled_with_a_temporary_login(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let host = &fx.hosts()[0];
    let dir = tempfile::tempdir().expect("dir");
    let password = format!("canary-registry-{}", uuid::Uuid::new_v4().simple());
    let storage = dir.path().join("data");
    let _registry = start_registry(host, dir.path(), &storage, "deployer", &password);
    let image = format!("{REGISTRY}/servos/web:1");
    let d = dir.path().display();
    sh(
        host,
        &format!(
            "docker --config {d}/client login -u deployer --password-stdin {REGISTRY} < {d}/password >/dev/null \
             && docker tag servos-test/web:2 {image} && docker --config {d}/client push {image} >/dev/null \
             && docker rmi {image} >/dev/null && rm -rf {d}/client {d}/password"
        ),
    );
    let anonymous = host.docker(&["pull", &image]);
    assert!(!anonymous.status.success(), "the registry requires a login");

    let admin = fx.who.admin_token.clone();
    let body =
        json!({"name": "private", "host": REGISTRY, "username": "deployer", "password": password});
    let (status, registry) = call(&svc, "POST", "/api/v1/registries", &admin, body).await;
    assert_eq!(status, 201, "{registry}");
    let mut app = web_app("private", &image, &fx.servers);
    app["registry_id"] = registry["id"].clone();
    let deployer = fx.who.deployer_token.clone();
    let app_id = create_app(&svc, &deployer, app).await;

    let watch = ArgvWatch::start(&password);
    let ended = deploy(&svc, &deployer, &app_id).await;
    let (in_argv, _) = watch.finish();
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert!(in_argv.is_empty(), "the password was in argv: {in_argv:?}");
    let digest = ended["image_digest"].as_str().unwrap_or_default();
    assert!(
        digest.starts_with(&format!("{REGISTRY}/servos/web@sha256:")),
        "{digest}"
    );
    let container = only_container(host, &app_id);
    let page = host.docker(&["exec", &container, "cat", "/www/index.html"]);
    assert_eq!(String::from_utf8_lossy(&page.stdout).trim(), "v2");
    assert_eq!(
        files_containing(std::path::Path::new("/var/lib/servos/secrets"), &password),
        Vec::<String>::new()
    );
    let target = ended["targets"][0]["id"].as_str().unwrap_or_default();
    assert!(!std::path::Path::new(&format!("/var/lib/servos/secrets/{target}.docker")).exists());
    assert_eq!(
        files_containing(&host.dir, &password),
        Vec::<String>::new(),
        "no login left on the host"
    );

    // A wrong password fails the job clearly, before any container starts,
    // and is itself kept out of argv, the reason and the host's files.
    let wrong = format!("canary-wrong-{}", uuid::Uuid::new_v4().simple());
    let body = json!({"name": "private-wrong", "host": REGISTRY, "username": "deployer", "password": wrong});
    let (status, bad_registry) = call(&svc, "POST", "/api/v1/registries", &admin, body).await;
    assert_eq!(status, 201, "{bad_registry}");
    let mut bad_app = web_app("private-wrong", &image, &fx.servers);
    bad_app["registry_id"] = bad_registry["id"].clone();
    let bad_app_id = create_app(&svc, &deployer, bad_app).await;
    let watch = ArgvWatch::start(&wrong);
    let refused = deploy(&svc, &deployer, &bad_app_id).await;
    let (in_argv, _) = watch.finish();
    assert_eq!(refused["state"], "failed", "{refused}");
    let reason = refused["targets"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("docker login failed"), "{refused}");
    assert!(!refused.to_string().contains(&wrong), "{refused}");
    assert!(
        in_argv.is_empty(),
        "the wrong password was in argv: {in_argv:?}"
    );
    // Neither password is in either deployment's step log.
    for (deployment, secret) in [(&ended, &password), (&refused, &wrong)] {
        let id = deployment["id"].as_str().unwrap_or_default();
        let uri = format!("/api/v1/deployments/{id}/events");
        let (status, events) = read_all(&svc, &uri, &deployer).await;
        assert_eq!(status, 200);
        assert!(events.contains("logging in to"), "{events}");
        assert!(
            !events.contains(secret.as_str()),
            "a password in the step log"
        );
    }
    assert_eq!(
        files_containing(&host.dir, &wrong),
        Vec::<String>::new(),
        "no failed login left on the host"
    );
    assert_eq!(
        files_containing(std::path::Path::new("/var/lib/servos/secrets"), &wrong),
        Vec::<String>::new()
    );
    assert_eq!(
        String::from_utf8_lossy(&page.stdout).trim(),
        "v2",
        "the running version is untouched"
    );
}

both_backends!(images_from_a_private_registry_are_pulled_with_a_temporary_login);
