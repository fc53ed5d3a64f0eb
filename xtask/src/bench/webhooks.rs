//! `cargo xtask bench webhooks`: how many signed deliveries per second the
//! API verifies and records on one core. The release `servos-api` on SQLite,
//! pinned to CPU 0, gets GitHub `ping` deliveries of one application's
//! webhook from `wrk` on the other CPU, each signed with the webhook's
//! secret (HMAC-SHA256 over the body) and each with a delivery id of its
//! own, so every one is looked up, its secret opened, verified and
//! recorded. A second run sends one bad signature over and over: refusals
//! are rate limited per address, so it measures how cheaply they are
//! turned away.

use std::path::Path;

use anyhow::{bail, Result};
use ring::hmac;
use serde_json::json;

use crate::api_server::ApiServer;
use crate::curl::Request;
use crate::scratch::ScratchDir;
use crate::wrk::{self, Load, Measurement};
use crate::{cmd, debian, target_dir};

/// How long each load runs.
const SECONDS: u32 = 10;
/// Open connections of each load.
const CONNECTIONS: u32 = 16;

/// Runs the benchmark and prints its table.
pub fn run() -> Result<()> {
    let mut needed = vec![debian::CURL, debian::WRK, debian::UTIL_LINUX];
    needed.extend(debian::BUILD);
    debian::ensure(&needed)?;
    cmd::build_release(&["-p", "servos-api"])?;
    let binary = target_dir().join("release").join("servos-api");
    let scratch = ScratchDir::create(target_dir().join("servos-bench-webhooks"))?;
    let mut server = ApiServer::start(&binary, &scratch.path, None, &[])?;
    server.wait_healthy()?;
    let token = server.api_token("admin")?;
    let (hook_url, secret) = webhook(&server, &token)?;
    server.pin_to_cpu(0)?;

    let body = json!({"zen": "Keep it logically awesome.", "hook_id": 1}).to_string();
    let signature = format!("sha256={}", hex_hmac(secret.as_bytes(), body.as_bytes()));
    let signed = measure(&hook_url, &body, &signature, &scratch.path)?;
    let forged = measure(
        &hook_url,
        &body,
        &format!("sha256={}", "0".repeat(64)),
        &scratch.path,
    )?;
    server.stop()?;

    println!("\nPOST /hooks/{{id}}, GitHub ping deliveries; API pinned to one CPU, SQLite; wrk -t2 -c{CONNECTIONS} -d{SECONDS}s\n");
    println!(
        "{:<32} {:>14} {:>10} {:>8} {:>8} {:>6}",
        "delivery", "deliveries/s", "p99 (ms)", "2xx", "429", "5xx"
    );
    for (name, m) in [("signed, each id new", &signed), ("bad signature", &forged)] {
        let s = m.statuses.as_ref();
        println!(
            "{:<32} {:>14.0} {:>10.2} {:>8} {:>8} {:>6}",
            name,
            m.requests_per_sec,
            m.p99_ms,
            s.map_or(0, |s| s.success),
            s.map_or(0, |s| s.limited),
            s.map_or(0, |s| s.server_error)
        );
    }
    if signed
        .statuses
        .as_ref()
        .is_none_or(|s| s.success == 0 || s.server_error > 0)
    {
        bail!("signed deliveries were not accepted; the figures above do not measure verification");
    }
    Ok(())
}

/// Makes an application with a webhook; returns the delivery URL and the
/// webhook's secret (a throwaway server's, used only in this process and
/// in the load script file).
fn webhook(server: &ApiServer, token: &str) -> Result<(String, String)> {
    let origin = server.origin();
    let app = json!({
        "name": "bench-hooks",
        "image": "registry.example.com/bench/web:1",
        "server_ids": [],
        "container_port": 8080,
        "health_check": {"http": {"path": "/"}, "interval_secs": 15, "timeout_secs": 3, "retries": 4},
        "restart_policy": "always",
        "limits": {},
        "labels": {},
    });
    let id = Request::post_json(format!("{origin}/api/v1/apps"), &app)
        .header(format!("Authorization: Bearer {token}"))
        .send()?
        .expect(201, "POST /api/v1/apps")?
        .json_string("id")?;
    let secret = Request::post_json(
        format!("{origin}/api/v1/apps/{id}/webhook"),
        &json!({"branch": "main"}),
    )
    .header(format!("Authorization: Bearer {token}"))
    .send()?
    .expect(201, "POST /api/v1/apps/{id}/webhook")?
    .json_string("secret")?;
    Ok((format!("{origin}/hooks/{id}"), secret))
}

/// The lowercase hex HMAC-SHA256 of `body` under `key`.
fn hex_hmac(key: &[u8], body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), body);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// One load of ping deliveries carrying `signature`.
fn measure(url: &str, body: &str, signature: &str, scratch: &Path) -> Result<Measurement> {
    wrk::run_load(
        &Load {
            url,
            method: "POST",
            headers: &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", "ping"),
                ("X-Hub-Signature-256", signature),
            ],
            body: Some(body),
            connections: CONNECTIONS,
            seconds: SECONDS,
            count_statuses: true,
            fresh_header: Some("X-GitHub-Delivery"),
        },
        scratch,
    )
}
