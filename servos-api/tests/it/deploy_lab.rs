//! Deployments to lab hosts (each its own network namespace, sshd, dockerd
//! and, once ServOS has installed it, Caddy): the whole path from the API
//! to containers serving through each host's proxy, with the secrets kept
//! out of every log, response, audit entry, argv and leftover file.

mod builds;
mod failures;
mod file_secrets;
pub(crate) mod jobs;
mod panics;
pub(crate) mod registry;
mod removal;
mod restarts;
mod secrets;
mod timing;
mod unreachable;
mod zero_downtime;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::{json, Value};
use servos_api::config::Config;
use servos_api::deploy::Engine;
use servos_api::state::AppState;
use servos_common::master_key::MasterKey;
use servos_lab::{client_key, Host, Lab, LabOptions, TEST_IMAGE};

use crate::apps::call;
use crate::deployments::finished;
use crate::harness::{callers, random_master_key, Backend, Callers, TestApp, TestDb};
pub(crate) use crate::hostile::aftermath::leftover_secret_files;

/// The port the test images serve on.
pub(crate) const APP_PORT: u16 = 8080;
/// How long one deployment may take in these tests.
pub(crate) const DEPLOY_WITHIN: Duration = Duration::from_secs(120);

/// Settings that suit these tests: quick polls and leases, no stop grace,
/// and no rate limit in the way of polling a deployment's state.
pub(crate) fn quick(config: &mut Config) {
    config.rate_limit = servos_api::config::Rate {
        requests: 1_000_000,
        seconds: 1,
    };
    config.deploy.poll = Duration::from_millis(100);
    config.deploy.lease = Duration::from_secs(5);
    config.deploy.drain = Duration::from_secs(10);
    // A test's teardown cuts a job still running instead of waiting for it.
    config.deploy.stop_grace = Duration::ZERO;
}

/// A lab, an API with its workers, and commissioned servers, torn down in
/// this order: workers, lab, database.
pub(crate) struct Deploys {
    /// This process's workers, when it runs any.
    pub engine: Option<Engine>,
    pub lab: Lab,
    pub app: TestApp,
    pub who: Callers,
    /// The master key the database is sealed under.
    pub master_key: String,
    /// Server ids, one per lab host, in the lab's order.
    pub servers: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Deploys {
    /// The lab hosts.
    pub fn hosts(&self) -> &[Host] {
        self.lab.hosts()
    }
}

/// Serves `/www` on port 8080 and exits on SIGTERM (as PID 1, busybox's
/// httpd would ignore it until `docker stop` gives up and kills it).
pub(crate) const SERVE: &str =
    r#"["sh","-c","trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]"#;

/// Images every host gets besides the lab's busybox: what `index.html`
/// says and the command the image runs.
const IMAGES: [(&str, &str, &str); 5] = [
    ("servos-test/web:1", "v1", SERVE),
    ("servos-test/web:2", "v2", SERVE),
    // Runs, but never answers HTTP.
    ("servos-test/mute:1", "mute", r#"["sleep","3600"]"#),
    // Cannot start: docker run fails.
    (
        "servos-test/broken:1",
        "broken",
        r#"["/bin/no-such-program"]"#,
    ),
    // Answers after a few seconds.
    (
        "servos-test/slow:1",
        "slow",
        r#"["sh","-c","sleep 4; exec httpd -f -p 8080 -h /www"]"#,
    ),
];

/// The output of `docker args` on `host`, which must succeed.
pub(crate) fn docker_ok(host: &Host, args: &[&str]) -> String {
    let output = host.docker(args);
    assert!(
        output.status.success(),
        "docker {args:?} on {}: {}",
        host.name,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Makes the test images on `host` from the lab's busybox image.
pub(crate) fn make_images(host: &Host) {
    for (name, page, command) in IMAGES {
        let builder = format!("mk-{}", uuid::Uuid::new_v4().simple());
        let script = format!("mkdir -p /www && echo {page} > /www/index.html");
        docker_ok(
            host,
            &["run", "--name", &builder, TEST_IMAGE, "sh", "-c", &script],
        );
        let cmd = format!("CMD {command}");
        docker_ok(host, &["commit", "--change", &cmd, &builder, name]);
        docker_ok(host, &["rm", &builder]);
    }
}

/// Starts a lab of `hosts` Docker hosts with the test images, an API on
/// `backend` with its workers, and registers and commissions every host.
pub(crate) async fn deploys(
    backend: Backend,
    hosts: usize,
) -> (
    Deploys,
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
) {
    deploys_with(backend, hosts, &random_master_key(), true).await
}

/// Like [`deploys`], with `tweak` applied to the settings after [`quick`].
pub(crate) async fn deploys_tweaked(
    backend: Backend,
    hosts: usize,
    tweak: fn(&mut Config),
) -> (
    Deploys,
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
) {
    deploys_configured(backend, hosts, &random_master_key(), true, tweak).await
}

/// Like [`deploys`], with the database under `master_key` (for real
/// binaries to share it) and without workers in this process unless `engine`.
pub(crate) async fn deploys_with(
    backend: Backend,
    hosts: usize,
    master_key: &str,
    engine: bool,
) -> (
    Deploys,
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
) {
    deploys_configured(backend, hosts, master_key, engine, |_| {}).await
}

/// The fixture behind [`deploys`], [`deploys_with`] and [`deploys_tweaked`].
async fn deploys_configured(
    backend: Backend,
    hosts: usize,
    master_key: &str,
    engine: bool,
    tweak: fn(&mut Config),
) -> (
    Deploys,
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
) {
    let db = TestDb::new(backend);
    std::fs::create_dir_all(db.data_dir()).expect("data dir");
    let mut config = Config::new(db.data_dir(), db.target.clone());
    config.db_pool_size = 4;
    quick(&mut config);
    tweak(&mut config);
    let key = MasterKey::parse(Some(master_key)).expect("key");
    let app = TestApp {
        state: AppState::open(config, key).expect("open app state"),
        db,
    };
    let svc = actix_web::test::init_service(servos_api::http::app::app(app.state.clone())).await;
    let who = callers(&app, &svc).await;
    let dir = tempfile::tempdir().expect("dir");
    let (private_key, public_key) = client_key(dir.path());
    let lab = Lab::up(
        &LabOptions {
            hosts,
            docker: true,
        },
        &public_key,
    )
    .unwrap_or_else(|e| panic!("cannot start the test lab: {e}"));
    std::thread::scope(|scope| {
        for host in lab.hosts() {
            scope.spawn(|| make_images(host));
        }
    });
    let admin = &who.admin_token;
    let (status, key) = call(
        &svc,
        "POST",
        "/api/v1/ssh-keys",
        admin,
        json!({"name": "fleet", "kind": "server", "private_key": private_key}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let key_id = key["id"].as_str().expect("id").to_owned();
    let mut servers = Vec::new();
    for (i, host) in lab.hosts().iter().enumerate() {
        let body = json!({"name": format!("web-{}", i + 1), "address": host.address.to_string(),
            "port": host.ssh_port, "user": host.user, "ssh_key_id": key_id, "roles": ["run"]});
        let (status, server) = call(&svc, "POST", "/api/v1/servers", admin, body).await;
        assert_eq!(status, 201, "{server}");
        let id = server["id"].as_str().expect("id").to_owned();
        let (status, check) = call(
            &svc,
            "POST",
            &format!("/api/v1/servers/{id}/commission"),
            admin,
            Value::Null,
        )
        .await;
        assert_eq!(
            (status, check["status"].as_str()),
            (200, Some("ready")),
            "{check}"
        );
        servers.push(id);
    }
    let engine = engine.then(|| Engine::start(app.state.clone()).expect("deploy engine"));
    let fixture = Deploys {
        engine,
        lab,
        app,
        who,
        master_key: master_key.to_owned(),
        servers,
        _dir: dir,
    };
    (fixture, svc)
}

/// An application of `image` on `servers`, health-checked over HTTP every second.
pub(crate) fn web_app(name: &str, image: &str, servers: &[String]) -> Value {
    json!({"name": name, "image": image, "server_ids": servers, "container_port": APP_PORT,
        "health_check": {"http": {"path": "/"}, "interval_secs": 1, "timeout_secs": 1, "retries": 10}})
}

/// Creates an application; returns its id.
pub(crate) async fn create_app<S, B>(svc: &S, token: &str, body: Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, app) = call(svc, "POST", "/api/v1/apps", token, body).await;
    assert_eq!(status, 201, "{app}");
    app["id"].as_str().expect("id").to_owned()
}

/// Points application `app_id` at `image` (the next deployment runs it).
pub(crate) async fn set_image<S, B>(svc: &S, token: &str, app_id: &str, image: &str)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/apps/{app_id}");
    let (status, body) = call(svc, "PATCH", &uri, token, json!({"image": image})).await;
    assert_eq!(status, 200, "{body}");
}

/// Applies `change` (`{"set": ..., "remove": [...]}`) to application
/// `app_id`'s environment, which must succeed; returns the answer.
pub(crate) async fn set_env<S, B>(svc: &S, token: &str, app_id: &str, change: Value) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/apps/{app_id}/env");
    let (status, body) = call(svc, "PATCH", &uri, token, change).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Queues a deployment of `app_id`, which must be accepted; returns its id.
pub(crate) async fn queue_deploy<S, B>(svc: &S, token: &str, app_id: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/apps/{app_id}/deploy");
    let (status, queued) = call(svc, "POST", &uri, token, Value::Null).await;
    assert_eq!(status, 202, "{queued}");
    queued["id"].as_str().expect("id").to_owned()
}

/// Queues a deployment of `app_id`, waits for its end and returns it.
pub(crate) async fn deploy<S, B>(svc: &S, token: &str, app_id: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let id = queue_deploy(svc, token, app_id).await;
    finished(svc, token, &id, DEPLOY_WITHIN).await
}

/// Waits until a target of deployment `id` (the one on `server`, when
/// given) reaches `state`.
pub(crate) async fn wait_for_target<S, B>(
    svc: &S,
    token: &str,
    id: &str,
    server: Option<&str>,
    state: &str,
) where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let deadline = std::time::Instant::now() + DEPLOY_WITHIN;
    loop {
        let uri = format!("/api/v1/deployments/{id}");
        let (_, shown) = call(svc, "GET", &uri, token, Value::Null).await;
        let reached = shown["targets"].as_array().is_some_and(|targets| {
            targets.iter().any(|t| {
                t["state"] == state && server.is_none_or(|server| t["server_id"] == server)
            })
        });
        if reached {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no target (of server {server:?}) reached {state}: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates the web application `name` of `image` on the fixture's servers
/// and deploys it; returns its id once the deployment succeeded.
pub(crate) async fn deployed_web_app<S, B>(svc: &S, fx: &Deploys, name: &str, image: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let token = &fx.who.deployer_token;
    let app_id = create_app(svc, token, web_app(name, image, &fx.servers)).await;
    let deployed = deploy(svc, token, &app_id).await;
    assert_eq!(deployed["state"], "succeeded", "{deployed}");
    app_id
}

/// The names of the application's containers on `host` (running or not).
pub(crate) fn containers(host: &Host, app_id: &str) -> Vec<String> {
    let filter = format!("label=servos.app={app_id}");
    docker_ok(
        host,
        &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The one container of the application on `host`.
pub(crate) fn only_container(host: &Host, app_id: &str) -> String {
    let names = containers(host, app_id);
    assert_eq!(
        names.len(),
        1,
        "containers of {app_id} on {}: {names:?}",
        host.name
    );
    names.into_iter().next().unwrap_or_default()
}

/// The environment of a running container, as `env` prints it inside.
pub(crate) fn container_env(host: &Host, container: &str) -> BTreeMap<String, String> {
    docker_ok(host, &["exec", container, "env"])
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// An HTTPS client that reaches `host_name` at `host`'s proxy (port 443),
/// trusting any certificate (the proxy's internal CA). With `reuse`, it
/// keeps connections open between requests, as browsers do; without, each
/// request opens a new one, as a new visitor would.
pub(crate) fn proxy_client(host: &Host, host_name: &str, reuse: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(host_name, SocketAddr::from((host.address, 443)))
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(if reuse { 8 } else { 0 })
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// GETs `/` of `host_name` through `host`'s proxy.
pub(crate) async fn through_proxy(host: &Host, host_name: &str) -> Result<(u16, String), String> {
    let response = proxy_client(host, host_name, false)
        .get(format!("https://{host_name}/"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| format!("{e:?}"))?;
    Ok((status, body.trim().to_owned()))
}

/// The target ids of a deployment as the API shows it.
pub(crate) fn target_ids(deployment: &Value) -> Vec<String> {
    deployment["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}
