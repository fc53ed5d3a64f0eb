//! How long deployments take on 1, 10 and 30 lab hosts: a first deploy of
//! an application and a redeploy of a new image (drain included), with the
//! default limit of 10 servers at a time. Ignored by default (it starts 30
//! Docker hosts); run it with `--ignored --nocapture` to see the numbers.

use std::time::Instant;

use chrono::DateTime;
use serde_json::Value;

use super::{create_app, deploy, deploys, set_image, web_app};
use crate::harness::Backend;

/// Seconds between two RFC 3339 times of a response.
fn seconds(from: &Value, to: &Value) -> f64 {
    let parse = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).ok();
    match (parse(from), parse(to)) {
        (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    }
}

/// The mean time one server took, in seconds.
fn per_server(deployment: &Value) -> f64 {
    let targets = deployment["targets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total: f64 = targets
        .iter()
        .map(|t| seconds(&t["started_at"], &t["finished_at"]))
        .sum();
    total / targets.len().max(1) as f64
}

#[actix_web::test]
#[ignore = "starts 30 Docker hosts; run with --ignored --nocapture for the numbers"]
async fn deploy_times_on_1_10_and_30_hosts() {
    let started = Instant::now();
    let (fx, svc) = deploys(Backend::Sqlite, 30).await;
    eprintln!(
        "lab of 30 Docker hosts, images made, servers commissioned (proxies started): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let deployer = fx.who.deployer_token.clone();
    eprintln!("hosts | first deploy (s) | per server (s) | redeploy (s) | per server (s)");
    for size in [1, 10, 30] {
        let name = format!("timed-{size}");
        let app_id = create_app(
            &svc,
            &deployer,
            web_app(&name, "servos-test/web:1", &fx.servers[..size]),
        )
        .await;
        let first = deploy(&svc, &deployer, &app_id).await;
        assert_eq!(first["state"], "succeeded", "{first}");
        set_image(&svc, &deployer, &app_id, "servos-test/web:2").await;
        let second = deploy(&svc, &deployer, &app_id).await;
        assert_eq!(second["state"], "succeeded", "{second}");
        eprintln!(
            "{size:>5} | {:>16.2} | {:>14.2} | {:>12.2} | {:>14.2}",
            seconds(&first["created_at"], &first["finished_at"]),
            per_server(&first),
            seconds(&second["created_at"], &second["finished_at"]),
            per_server(&second),
        );
    }
}
