//! Applications built from git, in the lab: a private repository served
//! over HTTPS with a token from a lab host, a builder host and two run
//! hosts. A signed push webhook builds the pushed commit on the builder
//! and delivers the image by `docker save | docker load` through the API;
//! a "build and deploy now" of the next commit delivers it through a
//! registry; a commit built before is not built again. Build arguments
//! reach the build, a secret one through the build's input, never its
//! command line. The token is in no argv sampled during the builds, no
//! step log, no file left on the builder, no response. A build cancelled
//! while it runs changes no server and leaves no container or image
//! behind. A build whose API process is killed is taken over by the next
//! process.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use servos_lab::Host;

use super::jobs::{killed_mid_job, TakenOver};
use super::registry::{start_registry, REGISTRY};
use super::secrets::{files_containing, ArgvWatch};
use super::{
    containers, create_app, deploys, deploys_with, queue_deploy, through_proxy, Deploys, APP_PORT,
};
use crate::apps::call;
use crate::both_backends;
use crate::deployments::{finished, read_all};
use crate::git_server::GitServer;
use crate::harness::{random_master_key, Backend};
use crate::hostile::aftermath::Aftermath;
use crate::hostile::report::{test_name, Scenario};
use crate::webhooks::{deliver, push};

/// How long a build and its deployment may take here.
const BUILD_WITHIN: Duration = Duration::from_secs(240);

/// The repository's Dockerfile: the lab's web image with the commit's page.
const DOCKERFILE: &str = "FROM servos-test/web:1\nCOPY index.html /www/index.html\n";

/// The builder: the fixture's last host, registered again as a server with
/// the build role only and commissioned; its id.
async fn builder<S, B>(svc: &S, fx: &Deploys) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let admin = &fx.who.admin_token;
    let (status, keys) = call(svc, "GET", "/api/v1/ssh-keys", admin, Value::Null).await;
    assert_eq!(status, 200, "{keys}");
    let key_id = keys
        .as_array()
        .or_else(|| keys["ssh_keys"].as_array())
        .and_then(|keys| keys.iter().find(|k| k["name"] == "fleet"))
        .map(|k| k["id"].clone())
        .unwrap_or_else(|| panic!("no fleet key in {keys}"));
    let host = builder_host(fx);
    let body = json!({"name": "builder", "address": host.address.to_string(), "port": host.ssh_port,
        "user": host.user, "ssh_key_id": key_id, "roles": ["build"]});
    let (status, server) = call(svc, "POST", "/api/v1/servers", admin, body).await;
    assert_eq!(status, 201, "{server}");
    let id = server["id"].as_str().expect("id").to_owned();
    let uri = format!("/api/v1/servers/{id}/commission");
    let (status, check) = call(svc, "POST", &uri, admin, Value::Null).await;
    assert_eq!(
        (status, check["status"].as_str()),
        (200, Some("ready")),
        "{check}"
    );
    id
}

fn builder_host(fx: &Deploys) -> &Host {
    &fx.hosts()[2]
}

/// Makes the builder's git trust the repository server's certificate, as
/// an operator installs their forge's CA on a builder.
fn trust(host: &Host, git: &GitServer) {
    let config = format!("[http]\n\tsslCAInfo = {}\n", git.ca_file().display());
    std::fs::write(host.dir.join("home/.gitconfig"), config).expect("the builder's .gitconfig");
}

/// A git credential holding `token`; its id.
async fn git_credential<S, B>(svc: &S, fx: &Deploys, token: &str) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let body = json!({"name": "forge", "provider": "other", "token": token});
    let (status, made) = call(
        svc,
        "POST",
        "/api/v1/git-credentials",
        &fx.who.admin_token,
        body,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().expect("id").to_owned()
}

/// The application `name` built from `url` on `builder`, run on the
/// fixture's first two hosts.
fn git_app(name: &str, url: &str, builder: &str, credential: &str, fx: &Deploys) -> Value {
    json!({"name": name, "git": {"url": url, "branch": "main", "builder_server_id": builder,
        "git_credential_id": credential}, "server_ids": &fx.servers[..2], "container_port": APP_PORT,
        "health_check": {"http": {"path": "/"}, "interval_secs": 1, "timeout_secs": 1, "retries": 10}})
}

/// The whole step log of deployment `id`.
async fn log_of<S, B>(svc: &S, token: &str, id: &str) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let (status, events) = read_all(svc, &format!("/api/v1/deployments/{id}/events"), token).await;
    assert_eq!(status, 200, "{events}");
    events
}

/// Both run hosts serve `page` through their proxies.
async fn serves(fx: &Deploys, page: &str) {
    for host in &fx.hosts()[..2] {
        assert_eq!(
            through_proxy(host, "shop.servos.internal").await,
            Ok((200, page.to_owned())),
            "{}",
            host.name
        );
    }
}

/// A private repository with `dockerfile` and `page` as `index.html` on
/// `main`, the builder registered, a git credential, and the application
/// `shop` built from it (changed by `tweak` first).
struct Source {
    git: GitServer,
    token: String,
    commit: String,
    app_id: String,
}

async fn source<S, B>(
    svc: &S,
    fx: &Deploys,
    dockerfile: &str,
    page: &str,
    tweak: impl FnOnce(&mut Value),
) -> Source
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let token = format!("canary-git-{}", uuid::Uuid::new_v4().simple());
    // The forge: a lab host of its own network (one of the run hosts).
    let forge = &fx.hosts()[1];
    let git = GitServer::start(Some(&forge.name), forge.address, &token);
    trust(builder_host(fx), &git);
    let commit = git.create_repo("shop", &[("Dockerfile", dockerfile), ("index.html", page)]);
    let builder = builder(svc, fx).await;
    let credential = git_credential(svc, fx, &token).await;
    let mut app = git_app("shop", &git.url("shop"), &builder, &credential, fx);
    tweak(&mut app);
    let app_id = create_app(svc, &fx.who.deployer_token, app).await;
    Source {
        git,
        token,
        commit,
        app_id,
    }
}

/// Waits until the step log of deployment `id` holds `needle`.
async fn wait_for_line(fx: &Deploys, id: &str, needle: &str) {
    let deadline = Instant::now() + BUILD_WITHIN;
    while !log_so_far(fx, id).await.contains(needle) {
        assert!(Instant::now() < deadline, "the log never showed {needle:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The build folder of deployment `id` is gone from the builder.
fn assert_build_folder_gone(id: &str) {
    assert!(
        !std::path::Path::new(&format!("{}/{id}", servos_api::build::BUILDS_DIR)).exists(),
        "the build folder is left on the builder"
    );
}

async fn a_push_builds_the_commit_and_delivers_it_both_ways(backend: Backend) {
    let (fx, svc) = deploys(backend, 3).await;
    let note = format!("canary-note-{}", uuid::Uuid::new_v4().simple());
    let dockerfile = format!(
        "{DOCKERFILE}ARG GREETING\nARG NOTE\nRUN echo \"$GREETING $NOTE\" > /www/note.txt\n"
    );
    let Source {
        git,
        token,
        commit: first,
        app_id,
    } = source(&svc, &fx, &dockerfile, "commit one\n", |app| {
        app["git"]["build_args"] = json!({"GREETING": {"value": "hello"},
            "NOTE": {"value": note, "secret": true}});
    })
    .await;
    let (admin, deployer) = (fx.who.admin_token.clone(), fx.who.deployer_token.clone());
    let uri = format!("/api/v1/apps/{app_id}/webhook");
    let (status, hook) = call(&svc, "POST", &uri, &admin, json!({"branch": "main"})).await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().expect("secret");

    // A signed push of the first commit: built, then saved and loaded.
    let watch = ArgvWatch::start(&token);
    let note_watch = ArgvWatch::start(&note);
    let (headers, body) = push("github", secret, "main", &first, "delivery-1");
    let (status, received) = deliver(&svc, &app_id, &headers, body).await;
    assert_eq!(status, 202, "{received}");
    let id = received["deployment_id"]
        .as_str()
        .expect("queued")
        .to_owned();
    let ended = finished(&svc, &deployer, &id, BUILD_WITHIN).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["source_commit"], first.as_str());
    let log = log_of(&svc, &deployer, &id).await;
    assert!(log.contains("streaming servos.invalid/servos/"), "{log}");
    serves(&fx, "commit one").await;
    for host in &fx.hosts()[..2] {
        let container = super::only_container(host, &app_id);
        let built = host.docker(&["exec", &container, "cat", "/www/note.txt"]);
        assert_eq!(
            String::from_utf8_lossy(&built.stdout).trim(),
            format!("hello {note}"),
            "the build arguments reached the build"
        );
    }
    let image = format!("servos.invalid/servos/{app_id}:{first}");
    for host in &fx.hosts()[..2] {
        let labels = host.docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &image,
        ]);
        let labels = String::from_utf8_lossy(&labels.stdout);
        assert!(
            labels.contains(&format!("\"servos.commit\":\"{first}\"")),
            "{labels}"
        );
        assert!(
            labels.contains(&format!("\"servos.app\":\"{app_id}\"")),
            "{labels}"
        );
    }

    // The next commit, "build and deploy now", through a registry that the
    // builder and both run hosts reach on their loopback.
    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().join("storage");
    let password = format!("registry-{}", uuid::Uuid::new_v4().simple());
    let _registries: Vec<_> = fx
        .hosts()
        .iter()
        .map(|host| {
            let own = dir.path().join(&host.name);
            std::fs::create_dir_all(&own).expect("registry dir");
            start_registry(host, &own, &storage, "builder", &password)
        })
        .collect();
    let body =
        json!({"name": "images", "host": REGISTRY, "username": "builder", "password": password});
    let (status, registry) = call(&svc, "POST", "/api/v1/registries", &admin, body).await;
    assert_eq!(status, 201, "{registry}");
    let change = json!({"registry_id": registry["id"]});
    let (status, changed) = call(
        &svc,
        "PATCH",
        &format!("/api/v1/apps/{app_id}"),
        &deployer,
        change,
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let second = git.commit("shop", &[("index.html", "commit two\n")]);
    let id = queue_deploy(&svc, &deployer, &app_id).await;
    let ended = finished(&svc, &deployer, &id, BUILD_WITHIN).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["source_commit"], second.as_str());
    let pushed = log_of(&svc, &deployer, &id).await;
    assert!(
        pushed.contains(&format!("pushing {REGISTRY}/servos/{app_id}:{second}")),
        "{pushed}"
    );
    serves(&fx, "commit two").await;

    // The same commit again: not built a second time.
    let id = queue_deploy(&svc, &deployer, &app_id).await;
    let ended = finished(&svc, &deployer, &id, BUILD_WITHIN).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    let again = log_of(&svc, &deployer, &id).await;
    assert!(again.contains("was built before: reusing"), "{again}");
    assert!(!again.contains("docker build of"), "{again}");

    let (in_argv, scans) = watch.finish();
    assert!(in_argv.is_empty(), "the git token was in argv: {in_argv:?}");
    let (note_in_argv, _) = note_watch.finish();
    assert!(
        note_in_argv.is_empty(),
        "the secret build argument was in argv: {note_in_argv:?}"
    );
    assert!(scans > 10, "the argv watch ran {scans} scans only");
    for text in [
        &log,
        &pushed,
        &again,
        &received.to_string(),
        &hook.to_string(),
    ] {
        assert!(!text.contains(&token), "the token is in {text}");
    }
    // Asked without the token first, git was refused, then served with it.
    let requests = git.requests();
    assert!(requests.iter().any(|r| r.ends_with(" 401")), "{requests:?}");
    assert!(requests.iter().any(|r| r.ends_with(" 200")), "{requests:?}");
    let host = builder_host(&fx);
    assert_eq!(files_containing(&host.dir, &token), Vec::<String>::new());
    assert_eq!(
        files_containing(std::path::Path::new(servos_api::build::BUILDS_DIR), &token),
        Vec::<String>::new()
    );
    assert_build_folder_gone(&id);
}

both_backends!(a_push_builds_the_commit_and_delivers_it_both_ways);

async fn a_cancelled_build_changes_no_server(backend: Backend) {
    let (fx, svc) = deploys(backend, 3).await;
    let dockerfile = format!("{DOCKERFILE}RUN sleep 60\n");
    // The repository's server lives as long as `_git`.
    let Source {
        commit,
        app_id,
        git: _git,
        ..
    } = source(&svc, &fx, &dockerfile, "never served\n", |_| {}).await;
    let deployer = fx.who.deployer_token.clone();
    let id = queue_deploy(&svc, &deployer, &app_id).await;

    // Cancelled while `RUN sleep 60` runs.
    wait_for_line(&fx, &id, "RUN sleep 60").await;
    let uri = format!("/api/v1/deployments/{id}/cancel");
    let (status, cancelled) = call(&svc, "POST", &uri, &deployer, Value::Null).await;
    assert_eq!(status, 200, "{cancelled}");
    let ended = finished(&svc, &deployer, &id, BUILD_WITHIN).await;
    assert_eq!(ended["state"], "cancelled", "{ended}");
    assert_eq!(ended["source_commit"], commit.as_str());
    for target in ended["targets"].as_array().expect("targets") {
        assert_eq!(target["state"], "cancelled", "{ended}");
    }
    let image = format!("servos.invalid/servos/{app_id}:{commit}");
    for host in &fx.hosts()[..2] {
        assert_eq!(
            containers(host, &app_id),
            Vec::<String>::new(),
            "{}",
            host.name
        );
        assert!(!host.docker(&["image", "inspect", &image]).status.success());
    }
    let host = builder_host(&fx);
    assert!(!host.docker(&["image", "inspect", &image]).status.success());
    // The build's container goes with it (the daemon removes it once the
    // cancelled build's client is gone).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = host.docker(&["ps", "-aq"]);
        if left.stdout.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled build left containers on the builder: {}",
            String::from_utf8_lossy(&left.stdout)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_build_folder_gone(&id);
}

both_backends!(a_cancelled_build_changes_no_server);

/// The step log of deployment `id` so far, as stored.
async fn log_so_far(fx: &Deploys, id: &str) -> String {
    let id = servos_api::store::ids::DeploymentId::from(id.to_owned());
    servos_api::deploy::history::log(&fx.app.state, id)
        .await
        .expect("the deployment's log")
        .into_iter()
        .map(|line| line.text)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn a_build_whose_api_was_killed_is_taken_over(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(
            module_path!(),
            "a_build_whose_api_was_killed_is_taken_over",
            backend,
        ),
        "SIGKILL of the API process running a build (during `RUN sleep 3` on the \
         builder), then a second API process",
        "the second process takes the job over once: it builds again and the commit \
         serves on both run hosts; no log holds the git token; the build folder is gone; \
         then the aftermath",
    );
    let master_key = random_master_key();
    let (fx, svc) = deploys_with(backend, 3, &master_key, false).await;
    let dockerfile = format!("{DOCKERFILE}RUN sleep 3\n");
    let Source {
        token,
        app_id,
        git: _git,
        ..
    } = source(&svc, &fx, &dockerfile, "taken over\n", |_| {}).await;
    let deployer = fx.who.deployer_token.clone();
    let TakenOver {
        id,
        ended,
        first_log,
        second_log,
    } = killed_mid_job(
        &svc,
        &fx,
        &master_key,
        &app_id,
        async |id: &str| wait_for_line(&fx, id, "RUN sleep 3").await,
        BUILD_WITHIN,
        &mut scenario,
    )
    .await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["attempt"], 2, "taken over once");
    serves(&fx, "taken over").await;
    let log = log_of(&svc, &deployer, &id).await;
    assert!(
        log.contains("the previous attempt was interrupted"),
        "{log}"
    );
    for (name, text) in [
        ("first", &first_log),
        ("second", &second_log),
        ("step", &log),
    ] {
        assert!(!text.contains(&token), "the {name} log holds the git token");
    }
    assert_build_folder_gone(&id);
    Aftermath::of(&fx).app(&app_id).check(&mut scenario).await;
}

both_backends!(a_build_whose_api_was_killed_is_taken_over);
