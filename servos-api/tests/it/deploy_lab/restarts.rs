//! Containers that Docker starts again (the restart policy after a crash,
//! an operator's stop and start, dockerd's restart as after a server's
//! reboot) keep their loopback port, so the host's proxy reaches them again
//! without a redeploy; applications on one host get ports of their own,
//! a port something else listens on is never chosen, and one taken out of
//! sight is given up without leaving anything behind.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use serde_json::Value;
use servos_lab::Host;

use super::{
    containers, create_app, deploy, deployed_web_app, deploys, deploys_tweaked, docker_ok,
    leftover_secret_files, only_container, target_ids, through_proxy, web_app,
};
use crate::both_backends;
use crate::deployments::read_all;
use crate::harness::Backend;

/// How long a restarted container may take to serve again.
const SERVES_WITHIN: Duration = Duration::from_secs(20);

/// The loopback port `container` publishes its application port on.
fn published_port(host: &Host, container: &str) -> String {
    docker_ok(host, &["port", container, "8080/tcp"])
        .trim()
        .to_owned()
}

/// When `container` last started.
fn started_at(host: &Host, container: &str) -> String {
    docker_ok(host, &["inspect", "-f", "{{.State.StartedAt}}", container])
}

/// Waits until `host_name` answers `body` through `host`'s proxy.
async fn serves(host: &Host, host_name: &str, body: &str, after: &str) {
    let deadline = Instant::now() + SERVES_WITHIN;
    loop {
        let answer = through_proxy(host, host_name).await;
        if answer
            .as_ref()
            .is_ok_and(|(status, b)| *status == 200 && b == body)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{host_name} does not serve {body} {after}: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_restarted_container_serves_through_the_proxy_again(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let host = &fx.hosts()[0];
    let app_id = deployed_web_app(&svc, &fx, "phoenix", "servos-test/web:1").await;
    let name = "phoenix.servos.internal";
    serves(host, name, "v1", "after the deploy").await;
    let container = only_container(host, &app_id);
    let port = published_port(host, &container);

    // A crash: the restart policy starts the container again.
    let pid = docker_ok(host, &["inspect", "-f", "{{.State.Pid}}", &container]);
    assert!(host.exec(&["kill", "-KILL", pid.trim()]).status.success());
    let deadline = Instant::now() + SERVES_WITHIN;
    while docker_ok(host, &["inspect", "-f", "{{.RestartCount}}", &container]).trim() == "0" {
        assert!(Instant::now() < deadline, "{container} was not restarted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    serves(host, name, "v1", "after a crash").await;
    assert_eq!(published_port(host, &container), port, "after a crash");

    // Stopped and started again, as a reboot does.
    docker_ok(host, &["stop", &container]);
    docker_ok(host, &["start", &container]);
    serves(host, name, "v1", "after a stop and a start").await;
    assert_eq!(
        published_port(host, &container),
        port,
        "after a stop and a start"
    );

    // dockerd restarted: its containers stop with it and start again.
    let started = started_at(host, &container);
    host.restart_dockerd();
    serves(host, name, "v1", "after dockerd restarted").await;
    assert_ne!(started_at(host, &container), started, "started again");
    assert_eq!(
        published_port(host, &container),
        port,
        "after dockerd restarted"
    );
    assert_eq!(only_container(host, &app_id), container);
}

/// The host ports of the next test: the first is taken by a listener that is
/// not a container.
const FIRST_PORT: u16 = 20100;

async fn each_app_gets_a_free_port_of_its_own(backend: Backend) {
    let (fx, svc) = deploys_tweaked(backend, 1, |config| {
        config.deploy.host_ports = FIRST_PORT..=FIRST_PORT + 2;
    })
    .await;
    let deployer = fx.who.deployer_token.clone();
    let host = &fx.hosts()[0];
    let script = format!("busybox nc -l -p {FIRST_PORT} >/dev/null 2>&1 & echo $!");
    let listener = host.exec(&["sh", "-c", &script]);
    assert!(listener.status.success(), "{listener:?}");
    let listener = String::from_utf8_lossy(&listener.stdout).trim().to_owned();
    let deadline = Instant::now() + SERVES_WITHIN;
    let sport = format!("sport = :{FIRST_PORT}");
    while host.exec(&["ss", "-Htln", &sport]).stdout.is_empty() {
        assert!(Instant::now() < deadline, "nothing listens on {FIRST_PORT}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut ports = Vec::new();
    for name in ["left", "right"] {
        let app_id = create_app(
            &svc,
            &deployer,
            web_app(name, "servos-test/web:1", &fx.servers),
        )
        .await;
        let deployed = deploy(&svc, &deployer, &app_id).await;
        assert_eq!(deployed["state"], "succeeded", "{deployed}");
        serves(
            host,
            &format!("{name}.servos.internal"),
            "v1",
            "after the deploy",
        )
        .await;
        ports.push(published_port(host, &only_container(host, &app_id)));
    }
    ports.sort();
    assert_eq!(
        ports,
        [FIRST_PORT + 1, FIRST_PORT + 2].map(|port| format!("127.0.0.1:{port}"))
    );

    deploy_without_a_port(&svc, &fx, "third", FIRST_PORT..=FIRST_PORT + 2).await;
    assert!(host.exec(&["kill", &listener]).status.success());
}

/// Creates the web application `name` on the fixture's servers and deploys
/// it, which must fail for want of a free port in `ports`; returns the
/// application id and the failed deployment.
async fn deploy_without_a_port<S, B>(
    svc: &S,
    fx: &super::Deploys,
    name: &str,
    ports: RangeInclusive<u16>,
) -> (String, Value)
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
        web_app(name, "servos-test/web:1", &fx.servers),
    )
    .await;
    let failed = deploy(svc, deployer, &app_id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    let (first, last) = (ports.start(), ports.end());
    assert!(
        reason.ends_with(&format!("no free loopback port in {first}-{last}")),
        "{reason}"
    );
    (app_id, failed)
}

/// The one host port of the next test, bound (not listening) by a socket
/// that no listener list shows.
const HIDDEN_PORT: u16 = 20200;

async fn a_port_taken_behind_the_check_is_given_up_cleanly(backend: Backend) {
    let (fx, svc) = deploys_tweaked(backend, 1, |config| {
        config.deploy.host_ports = HIDDEN_PORT..=HIDDEN_PORT;
    })
    .await;
    let deployer = fx.who.deployer_token.clone();
    let host = &fx.hosts()[0];
    // Its standard output closes once the port is bound: `exec` returns then.
    let script = format!(
        "python3 -c 'import os, socket, time; s = socket.socket(); \
         s.bind((\"127.0.0.1\", {HIDDEN_PORT})); os.close(1); time.sleep(600)' 2>/dev/null & echo $!"
    );
    let binder = host.exec(&["sh", "-c", &script]);
    assert!(binder.status.success(), "{binder:?}");
    let pid = String::from_utf8_lossy(&binder.stdout).trim().to_owned();

    let (app_id, failed) =
        deploy_without_a_port(&svc, &fx, "hidden", HIDDEN_PORT..=HIDDEN_PORT).await;
    let id = failed["id"].as_str().unwrap_or_default();
    let (_, events) = read_all(&svc, &format!("/api/v1/deployments/{id}/events"), &deployer).await;
    assert!(
        events.contains(&format!(
            "port {HIDDEN_PORT} was taken meanwhile; trying another"
        )),
        "{events}"
    );
    assert_eq!(containers(host, &app_id), Vec::<String>::new());
    assert_eq!(
        leftover_secret_files(&target_ids(&failed)),
        Vec::<String>::new()
    );
    assert!(host.exec(&["kill", &pid]).status.success());
}

both_backends!(
    a_restarted_container_serves_through_the_proxy_again,
    each_app_gets_a_free_port_of_its_own,
    a_port_taken_behind_the_check_is_given_up_cleanly,
);
