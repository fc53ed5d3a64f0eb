//! Deployments as jobs: a rollback brings back the image (as each host ran
//! it) and the environment values of the deployment it returns to; a
//! cancel stops a running one and keeps the old version serving; a job
//! whose API process is killed is taken over after a restart and ends
//! with nothing half-done; a stopped one finishes its running job first,
//! or, when the stop grace is too short, lets its lease go so that a
//! restart takes the job over at once; two API processes on one PostgreSQL
//! run each of 20 queued jobs exactly once. Each server of a deployment reports
//! where its time went (Docker, health check, drain, ServOS).

use std::time::{Duration, Instant};

use chrono::DateTime;
use serde_json::{json, Value};
use servos_api::store::{audit_log, deployments};
use servos_lab::Host;

use super::{
    container_env, containers, create_app, deploy, deployed_web_app, deploys, deploys_with,
    leftover_secret_files, only_container, queue_deploy, set_env, set_image, target_ids,
    through_proxy, wait_for_target, web_app, DEPLOY_WITHIN,
};
use crate::apps::call;
use crate::both_backends;
use crate::deployments::{finished, read_all};
use crate::harness::{random_master_key, Backend};
use crate::hostile::aftermath::Aftermath;
use crate::hostile::report::{test_name, Scenario};
use crate::process::{Env, Server};

/// Every server of the finished `deployment` reports where its time went,
/// plausibly: some in Docker, no more in Docker, health check and drain
/// than in all, and no more in all than between its start and end.
fn assert_timings_plausible(deployment: &Value) {
    let targets = deployment["targets"].as_array().expect("targets");
    assert!(!targets.is_empty(), "{deployment}");
    for target in targets {
        let ms = |field: &str| {
            target["timings"][field]
                .as_i64()
                .unwrap_or_else(|| panic!("no timings.{field}: {target}"))
        };
        let (total, docker, health, drain, servos) = (
            ms("total_ms"),
            ms("docker_ms"),
            ms("health_wait_ms"),
            ms("drain_ms"),
            ms("servos_ms"),
        );
        assert!(docker > 0, "{target}");
        assert!(health >= 0 && drain >= 0 && servos >= 0, "{target}");
        assert!(docker + health + drain <= total, "{target}");
        assert_eq!(docker + health + drain + servos, total, "{target}");
        let at = |field: &str| {
            DateTime::parse_from_rfc3339(target[field].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{field}: {e}: {target}"))
        };
        let span = (at("finished_at") - at("started_at")).num_milliseconds();
        // The clock starts a moment before `started_at` is written.
        assert!(
            total <= span + 2_000,
            "{total} ms in a {span} ms span: {target}"
        );
    }
}

async fn a_rollback_brings_back_the_image_and_the_values(backend: Backend) {
    let (fx, svc) = deploys(backend, 2).await;
    let deployer = fx.who.deployer_token.clone();
    let app_id = create_app(
        &svc,
        &deployer,
        web_app("blog", "servos-test/web:1", &fx.servers),
    )
    .await;
    let greeting = |value: &str| json!({"set": {"GREETING": {"value": value}}});
    set_env(&svc, &deployer, &app_id, greeting("hello one")).await;
    let first = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(first["state"], "succeeded", "{first}");

    set_env(&svc, &deployer, &app_id, greeting("hello two")).await;
    set_image(&svc, &deployer, &app_id, "servos-test/web:2").await;
    let second = deploy(&svc, &deployer, &app_id).await;
    assert_eq!(second["state"], "succeeded", "{second}");
    assert_timings_plausible(&first);
    assert_timings_plausible(&second);
    let second_id = second["id"].as_str().expect("id");
    let (status, events) = read_all(
        &svc,
        &format!("/api/v1/deployments/{second_id}/events"),
        &deployer,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        events.matches(", ServOS ").count(),
        fx.servers.len(),
        "one time line per server: {events}"
    );
    for host in fx.hosts() {
        assert_eq!(
            through_proxy(host, "blog.servos.internal").await,
            Ok((200, "v2".to_owned()))
        );
    }

    let first_id = first["id"].as_str().expect("id");
    let (status, queued) = call(
        &svc,
        "POST",
        &format!("/api/v1/deployments/{first_id}/rollback"),
        &deployer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["rollback_of"], first_id);
    assert_eq!(queued["env_version"], first["env_version"]);
    let back = finished(
        &svc,
        &deployer,
        queued["id"].as_str().expect("id"),
        DEPLOY_WITHIN,
    )
    .await;
    assert_eq!(back["state"], "succeeded", "{back}");
    for host in fx.hosts() {
        assert_eq!(
            through_proxy(host, "blog.servos.internal").await,
            Ok((200, "v1".to_owned())),
            "{}",
            host.name
        );
        let container = only_container(host, &app_id);
        assert_eq!(
            container_env(host, &container)
                .get("GREETING")
                .map(String::as_str),
            Some("hello one")
        );
    }
    // Each host ran the image it had run then (image ids differ per host here).
    let image_of = |deployment: &Value, server: &str| {
        deployment["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .find(|t| t["server_id"] == server)
            .map(|t| t["image_digest"].clone())
    };
    for server in &fx.servers {
        assert_eq!(image_of(&back, server), image_of(&first, server));
    }
    let rollbacks: Vec<_> = {
        let mut conn = fx.app.state.pool.get().expect("conn");
        audit_log::chain_batch(&mut conn, 0, 100_000)
            .expect("audit")
            .into_iter()
            .filter(|e| e.action == "deployment.rollback_requested")
            .map(|e| (e.actor_type, e.target_id, e.fields))
            .collect()
    };
    assert_eq!(
        rollbacks,
        [(
            "api_token".to_owned(),
            queued["id"].as_str().map(str::to_owned),
            "app_id,image,env_version,rollback_of".to_owned()
        )]
    );
}

async fn a_cancel_stops_a_running_deployment_and_keeps_the_old_version(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let deployer = fx.who.deployer_token.clone();
    let host = &fx.hosts()[0];
    let app_id = deployed_web_app(&svc, &fx, "docs", "servos-test/web:1").await;
    let old = only_container(host, &app_id);

    set_image(&svc, &deployer, &app_id, "servos-test/slow:1").await;
    let id = queue_deploy(&svc, &deployer, &app_id).await;
    wait_for_target(&svc, &deployer, &id, None, "checking").await;
    let (status, asked) = call(
        &svc,
        "POST",
        &format!("/api/v1/deployments/{id}/cancel"),
        &deployer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{asked}");
    assert_eq!(asked["cancel_requested"], true);
    let ended = finished(&svc, &deployer, &id, DEPLOY_WITHIN).await;
    assert_eq!(ended["state"], "cancelled", "{ended}");
    assert_eq!(ended["targets"][0]["state"], "cancelled");
    assert_eq!(only_container(host, &app_id), old);
    assert_eq!(
        through_proxy(host, "docs.servos.internal").await,
        Ok((200, "v1".to_owned()))
    );
    assert_eq!(
        leftover_secret_files(&target_ids(&ended)),
        Vec::<String>::new()
    );
}

/// The binary against the fixture's database, with short leases.
fn binary_env(fx: &super::Deploys, master_key: &str, workers: usize) -> Env {
    let mut env = Env::for_db(&fx.app.db, master_key)
        .with_var("SERVOS_DEPLOY_LEASE_SECS", "3")
        .with_var("SERVOS_DEPLOY_WORKERS", &workers.to_string())
        .with_var("SERVOS_RATE_LIMIT", "100000/1");
    env.log_filter = "trace".into();
    env
}

/// A job whose first API process was killed (SIGKILL) mid-way and that a
/// second process then ended: the job's id, its end, and both logs.
pub(super) struct TakenOver {
    pub id: String,
    pub ended: Value,
    pub first_log: String,
    pub second_log: String,
}

/// Starts an API process, queues a deployment of `app_id`, waits until
/// `mid_job` (given its id) returns, kills the process, starts a second
/// one and waits (at most `within`) until the job ends; records the time
/// from the kill to the end in `scenario`.
pub(super) async fn killed_mid_job<S, B>(
    svc: &S,
    fx: &super::Deploys,
    master_key: &str,
    app_id: &str,
    mid_job: impl AsyncFnOnce(&str),
    within: Duration,
    scenario: &mut Scenario,
) -> TakenOver
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let deployer = &fx.who.deployer_token;
    let scratch = tempfile::tempdir().expect("dir");
    let first = Server::start(
        &binary_env(fx, master_key, 2),
        &scratch.path().join("first.log"),
    )
    .await;
    let id = queue_deploy(svc, deployer, app_id).await;
    mid_job(&id).await;
    let first_log = first.output();
    drop(first); // SIGKILL, mid-job
    let killed = Instant::now();

    let second = Server::start(
        &binary_env(fx, master_key, 2),
        &scratch.path().join("second.log"),
    )
    .await;
    let ended = finished(svc, deployer, &id, within).await;
    scenario.figure("kill to the job's end", format!("{:.1?}", killed.elapsed()));
    let second_log = second.stop();
    TakenOver {
        id,
        ended,
        first_log,
        second_log,
    }
}

/// Exactly one container of the application on `host`, running.
fn assert_one_running(host: &Host, app_id: &str) {
    let name = only_container(host, app_id);
    let running = host.docker(&["inspect", "--format", "{{.State.Running}}", &name]);
    assert_eq!(
        String::from_utf8_lossy(&running.stdout).trim(),
        "true",
        "{name} runs"
    );
}

async fn a_job_whose_api_was_killed_ends_after_a_restart(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(
            module_path!(),
            "a_job_whose_api_was_killed_ends_after_a_restart",
            backend,
        ),
        "SIGKILL of the API process running a deployment to two hosts while a new \
         container is health-checked, then a second API process",
        "the second process takes the job over once and it succeeds on both hosts, both \
         proxies serve it, neither log holds the secret, then the aftermath",
    );
    let master_key = random_master_key();
    let (fx, svc) = deploys_with(backend, 2, &master_key, false).await;
    let deployer = fx.who.deployer_token.clone();
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let app_id = create_app(
        &svc,
        &deployer,
        web_app("queue", "servos-test/slow:1", &fx.servers),
    )
    .await;
    set_env(
        &svc,
        &deployer,
        &app_id,
        json!({"set": {"TOKEN": {"value": canary}}}),
    )
    .await;

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
        async |id: &str| wait_for_target(&svc, &deployer, id, None, "checking").await,
        DEPLOY_WITHIN,
        &mut scenario,
    )
    .await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["attempt"], 2, "taken over once");
    for host in fx.hosts() {
        assert_one_running(host, &app_id);
        assert_eq!(
            through_proxy(host, "queue.servos.internal").await,
            Ok((200, "slow".to_owned()))
        );
    }
    assert_eq!(
        leftover_secret_files(&target_ids(&ended)),
        Vec::<String>::new()
    );
    let (_, events) = read_all(&svc, &format!("/api/v1/deployments/{id}/events"), &deployer).await;
    assert!(
        events.contains("the previous attempt was interrupted"),
        "{events}"
    );
    for (name, log) in [("first", &first_log), ("second", &second_log)] {
        assert!(
            log.contains("TRACE"),
            "the {name} server logged at trace level"
        );
        assert!(
            !log.contains(&canary),
            "the {name} server's log holds the canary"
        );
    }
    Aftermath::of(&fx)
        .app(&app_id)
        .env_value(&app_id, "TOKEN", &canary)
        .check(&mut scenario)
        .await;
}

/// Deploys a new application `name` of the slow image to the fixture's
/// servers and waits until a target is being checked; returns the
/// application and deployment ids.
async fn deploy_slow_app<S, B>(svc: &S, fx: &super::Deploys, name: &str) -> (String, String)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let deployer = &fx.who.deployer_token;
    let app_id = create_app(
        svc,
        deployer,
        web_app(name, "servos-test/slow:1", &fx.servers),
    )
    .await;
    let id = queue_deploy(svc, deployer, &app_id).await;
    wait_for_target(svc, deployer, &id, None, "checking").await;
    (app_id, id)
}

async fn a_stopped_api_finishes_its_running_deployment(backend: Backend) {
    let master_key = random_master_key();
    let (fx, svc) = deploys_with(backend, 1, &master_key, false).await;
    let deployer = fx.who.deployer_token.clone();
    let scratch = tempfile::tempdir().expect("dir");
    let api = Server::start(
        &binary_env(&fx, &master_key, 2),
        &scratch.path().join("api.log"),
    )
    .await;
    let (app_id, id) = deploy_slow_app(&svc, &fx, "finish").await;
    let log = api.stop(); // SIGTERM; asserts a successful exit

    let (status, shown) = call(
        &svc,
        "GET",
        &format!("/api/v1/deployments/{id}"),
        &deployer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["state"], "succeeded", "{shown}\n{log}");
    assert_eq!(shown["attempt"], 1, "{shown}");
    assert_one_running(&fx.hosts()[0], &app_id);
    assert!(
        log.contains("waiting for their running deployments to end")
            && log.contains("deployments=1"),
        "{log}"
    );
    assert!(!log.contains("did not end within the stop grace"), "{log}");
}

async fn a_grace_too_short_releases_the_lease(backend: Backend) {
    let master_key = random_master_key();
    let (fx, svc) = deploys_with(backend, 1, &master_key, false).await;
    let deployer = fx.who.deployer_token.clone();
    let scratch = tempfile::tempdir().expect("dir");
    let lease = Duration::from_secs(30);
    let env = binary_env(&fx, &master_key, 2)
        .with_var("SERVOS_DEPLOY_LEASE_SECS", &lease.as_secs().to_string());
    let first = Server::start(
        &env.with_var("SERVOS_DEPLOY_STOP_GRACE_SECS", "0"),
        &scratch.path().join("first.log"),
    )
    .await;
    let (app_id, id) = deploy_slow_app(&svc, &fx, "cut").await;
    let stopping = Instant::now();
    let first_log = first.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stopping took {:?}",
        stopping.elapsed()
    );

    let row_id = servos_api::store::ids::DeploymentId::from(id.as_str());
    let row = fx
        .app
        .state
        .db(move |conn| Ok(deployments::find(conn, &row_id)?))
        .await
        .expect("read the deployment")
        .expect("the deployment exists");
    assert_eq!(row.state.as_str(), "running", "{row:?}");
    let lease_until = row.lease_until.expect("a lease");
    assert!(
        lease_until <= servos_api::store::now(),
        "the lease runs until {lease_until}"
    );
    assert!(
        first_log.contains("did not end within the stop grace") && first_log.contains(&id),
        "{first_log}"
    );

    let restarted = Instant::now();
    let second = Server::start(&env, &scratch.path().join("second.log")).await;
    let within = lease - Duration::from_secs(10);
    let ended = finished(&svc, &deployer, &id, within).await;
    assert!(restarted.elapsed() < within, "{:?}", restarted.elapsed());
    let second_log = second.stop();
    assert_eq!(ended["state"], "succeeded", "{ended}\n{second_log}");
    assert_eq!(ended["attempt"], 2, "taken over once");
    assert_one_running(&fx.hosts()[0], &app_id);
}

async fn two_api_processes_run_each_queued_job_once() {
    let master_key = random_master_key();
    let (fx, svc) = deploys_with(Backend::Postgres, 1, &master_key, false).await;
    let deployer = fx.who.deployer_token.clone();
    let scratch = tempfile::tempdir().expect("dir");
    let mut apps = Vec::new();
    // More applications than one process has workers, so both get jobs.
    for i in 0..10 {
        apps.push(
            create_app(
                &svc,
                &deployer,
                web_app(&format!("svc-{i}"), "servos-test/web:1", &fx.servers),
            )
            .await,
        );
    }
    let mut ids = Vec::new();
    for _ in 0..2 {
        for app_id in &apps {
            ids.push(queue_deploy(&svc, &deployer, app_id).await);
        }
    }
    let env = binary_env(&fx, &master_key, 4);
    let (log_a, log_b) = (scratch.path().join("a.log"), scratch.path().join("b.log"));
    let (a, b) = tokio::join!(Server::start(&env, &log_a), Server::start(&env, &log_b));
    let started = Instant::now();
    let mut ended = Vec::new();
    for id in &ids {
        ended.push(finished(&svc, &deployer, id, Duration::from_secs(300)).await);
    }
    let elapsed = started.elapsed();
    let (log_a, log_b) = (a.stop(), b.stop());
    let mut runs_by = [0_usize, 0];
    for (id, job) in ids.iter().zip(&ended) {
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["attempt"], 1, "{job}");
        let (_, events) =
            read_all(&svc, &format!("/api/v1/deployments/{id}/events"), &deployer).await;
        let starts = events
            .lines()
            .filter(|l| l.contains("started by worker"))
            .count();
        assert_eq!(starts, 1, "{id} started once: {events}");
    }
    for (runs, log) in runs_by.iter_mut().zip([&log_a, &log_b]) {
        *runs = log.matches("attempt 1 started by worker").count();
    }
    assert_eq!(
        runs_by[0] + runs_by[1],
        20,
        "every job ran once: {runs_by:?}"
    );
    std::fs::write("/tmp/two-a.log", &log_a).ok();
    std::fs::write("/tmp/two-b.log", &log_b).ok();
    assert!(
        runs_by.iter().all(|n| *n > 0),
        "both processes ran jobs: {runs_by:?}"
    );
    for app_id in &apps {
        let host = &fx.hosts()[0];
        assert_eq!(containers(host, app_id).len(), 1);
    }
    eprintln!(
        "20 deployments on one host by two processes: {elapsed:?}; runs per process {runs_by:?}"
    );
}

mod two_processes {
    #[actix_web::test]
    async fn postgres() {
        super::two_api_processes_run_each_queued_job_once().await
    }
}

both_backends!(
    a_rollback_brings_back_the_image_and_the_values,
    a_cancel_stops_a_running_deployment_and_keeps_the_old_version,
    a_job_whose_api_was_killed_ends_after_a_restart,
    a_stopped_api_finishes_its_running_deployment,
    a_grace_too_short_releases_the_lease
);
