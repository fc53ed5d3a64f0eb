//! A redeploy under traffic: a client polling the application through the
//! host's proxy the whole time sees no failed request, first the old
//! version and then the new one; afterwards only the new container is left.
//! And many route switches under a stream of new connections: none is reset
//! or refused a certificate by the proxy's reloads.
//!
//! The proxy applies a route change by starting a new server configuration
//! and closing the old one's idle keep-alive connections. A request a client
//! sends on such a connection just as it closes is retried once on a new
//! connection, as browsers and HTTP clients do for idempotent requests
//! (RFC 9110, 9.2.2); such retries are counted, and any other error, or a
//! retry that fails, is a failed request.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use servos_api::proxy::{caddy, Route, TlsMode};
use servos_lab::Host;

use super::{
    containers, deploy, deployed_web_app, deploys, docker_ok, proxy_client, set_image, APP_PORT,
};
use crate::both_backends;
use crate::harness::Backend;

/// What a polling client saw.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    /// Answers in order (body of a 200, else `status <code>`), consecutive
    /// repeats folded.
    pub answers: Vec<String>,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed or did not answer 200.
    pub failures: Vec<String>,
    /// Requests retried because the idle connection they were sent on closed.
    pub retried: u64,
}

/// Whether a request failed only because the kept-alive connection it was
/// sent on had been closed by the server before any response began.
fn closed_idle_connection(error: &reqwest::Error) -> bool {
    let text = format!("{error:?}");
    error.is_request() && (text.contains("IncompleteMessage") || text.contains("ChannelClosed"))
}

/// Polls `https://<host_name>/` through `host`'s proxy on a thread of its
/// own until `stop` is set, reusing connections or not, with `pause`
/// between requests.
pub(crate) fn poll(
    host: &Host,
    host_name: &str,
    reuse: bool,
    pause: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Polled> {
    let client = proxy_client(host, host_name, reuse);
    let url = format!("https://{host_name}/");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut polled = Polled::default();
            while !stop.load(Ordering::SeqCst) {
                polled.requests += 1;
                let sent = match client.get(&url).send().await {
                    Err(e) if reuse && closed_idle_connection(&e) => {
                        polled.retried += 1;
                        client.get(&url).send().await
                    }
                    other => other,
                };
                let answer = match sent {
                    Ok(r) if r.status() == 200 => r
                        .text()
                        .await
                        .map(|t| t.trim().to_owned())
                        .map_err(|e| format!("{e:?}")),
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(format!("{e:?}")),
                };
                match answer {
                    Ok(body) => {
                        if polled.answers.last() != Some(&body) {
                            polled.answers.push(body);
                        }
                    }
                    Err(e) => polled.failures.push(e),
                }
                tokio::time::sleep(pause).await;
            }
            polled
        })
    })
}

async fn a_redeploy_under_traffic_loses_no_request(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let deployer = fx.who.deployer_token.clone();
    let host = &fx.hosts()[0];
    let app_id = deployed_web_app(&svc, &fx, "shop", "servos-test/web:1").await;

    let stop = Arc::new(AtomicBool::new(false));
    let pause = Duration::from_millis(5);
    let pollers =
        [false, true].map(|reuse| poll(host, "shop.servos.internal", reuse, pause, stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    set_image(&svc, &deployer, &app_id, "servos-test/web:2").await;
    let second = deploy(&svc, &deployer, &app_id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    assert_eq!(second["state"], "succeeded", "{second}");
    for (poller, reuse) in pollers.into_iter().zip([false, true]) {
        let polled = poller.join().expect("poller");
        let what = if reuse {
            "kept-alive connections"
        } else {
            "new connections"
        };
        assert!(
            polled.failures.is_empty(),
            "{what}: {} of {} requests failed ({} retried on a closed idle connection): {:?}",
            polled.failures.len(),
            polled.requests,
            polled.retried,
            polled.failures
        );
        assert_eq!(
            polled.answers,
            ["v1", "v2"],
            "{what}, after {} requests",
            polled.requests
        );
        assert!(
            polled.requests > 50,
            "{what}: only {} requests",
            polled.requests
        );
    }
    assert_eq!(
        containers(host, &app_id).len(),
        1,
        "the old container is gone"
    );
    let (_, events) = crate::deployments::read_all(
        &svc,
        &format!(
            "/api/v1/deployments/{}/events",
            second["id"].as_str().unwrap_or_default()
        ),
        &deployer,
    )
    .await;
    assert!(events.contains("removed old container"), "{events}");
}

both_backends!(a_redeploy_under_traffic_loses_no_request);

/// The port the second container of the switching test listens on, out of
/// the range ServOS picks from.
const OTHER_PORT: u16 = 30080;

/// Many route switches under a stream of new connections: Caddy applies each
/// one by opening new listening sockets and closing the old ones, and a
/// connection waiting in a closed socket's queue would be reset unless the
/// kernel hands it over, which commissioning turned on in the host's network
/// namespace.
async fn route_switches_under_load_reset_no_connection(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let host = &fx.hosts()[0];
    let app_id = deployed_web_app(&svc, &fx, "shop", "servos-test/web:1").await;
    let migrate = host.exec(&["cat", "/proc/sys/net/ipv4/tcp_migrate_req"]);
    assert_eq!(
        String::from_utf8_lossy(&migrate.stdout).trim(),
        "1",
        "net.ipv4.tcp_migrate_req in {} after commissioning: {}",
        host.name,
        String::from_utf8_lossy(&migrate.stderr)
    );

    let name = format!("other-{}", uuid::Uuid::new_v4().simple());
    let publish = format!("127.0.0.1:{OTHER_PORT}:{APP_PORT}");
    docker_ok(
        host,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &publish,
            "servos-test/web:2",
        ],
    );
    let url = format!("http://127.0.0.1:{OTHER_PORT}/");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !host
        .exec(&["busybox", "wget", "-q", "-O-", &url])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "{name} does not answer on {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let session = servos_api::servers::jobs::connect(&fx.app.state, &fx.servers[0].as_str().into())
        .await
        .expect("a session to the lab host");
    let route = Route::new(&app_id, "shop", None, TlsMode::Internal);
    let first = caddy::live_port(&session, &app_id)
        .await
        .expect("the route")
        .expect("a live port");
    let stop = Arc::new(AtomicBool::new(false));
    let pollers: Vec<_> = (0..4)
        .map(|_| poll(host, &route.host, false, Duration::ZERO, stop.clone()))
        .collect();
    let switches = 40;
    for i in 0..switches {
        let port = if i % 2 == 0 { OTHER_PORT } else { first };
        caddy::point(&session, &route, port)
            .await
            .unwrap_or_else(|e| panic!("switch {i} to port {port}: {e}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    session.close().await;
    let (mut requests, mut failures, mut answers) = (0, Vec::new(), BTreeSet::new());
    for poller in pollers {
        let polled = poller.join().expect("poller");
        requests += polled.requests;
        failures.extend(polled.failures);
        answers.extend(polled.answers);
    }
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed during {switches} switches: {failures:?}",
        failures.len()
    );
    assert_eq!(
        answers,
        BTreeSet::from(["v1".to_owned(), "v2".to_owned()]),
        "after {requests} requests"
    );
    assert!(requests > 400, "only {requests} requests");
}

both_backends!(route_switches_under_load_reset_no_connection);
