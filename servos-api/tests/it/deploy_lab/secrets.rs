//! A deployment of an application with 20 variables to three hosts: every
//! container gets exactly those values, each host's proxy serves it, and
//! the canary value reaches no argv on the machine while it runs, no file
//! left behind, no step log line, no audit entry and no API response.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use servos_api::store::audit_log;

use super::{
    container_env, create_app, deploy, deploys, leftover_secret_files, only_container, set_env,
    target_ids, through_proxy, web_app,
};
use crate::apps::call;
use crate::both_backends;
use crate::deployments::read_all;
use crate::harness::Backend;

/// Watches every process's command line on this machine (the lab's hosts
/// share its process table) until stopped; returns those holding `needle`.
pub(crate) struct ArgvWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<String>, u64)>,
}

impl ArgvWatch {
    pub(crate) fn start(needle: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let needle = needle.as_bytes().to_vec();
        let thread = std::thread::spawn(move || {
            let (mut found, mut scans) = (Vec::new(), 0);
            while !stopped.load(Ordering::SeqCst) {
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Ok(argv) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    if argv.windows(needle.len()).any(|w| w == needle.as_slice()) {
                        found.push(String::from_utf8_lossy(&argv).replace('\0', " "));
                    }
                }
                scans += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            (found, scans)
        });
        Self { stop, thread }
    }

    /// Stops watching; returns (matching command lines, scans made).
    pub(crate) fn finish(self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("watcher")
    }
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
pub(crate) fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if meta.is_file() {
            if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    hits
}

async fn twenty_variables_reach_three_hosts_and_nothing_else(backend: Backend) {
    let (fx, svc) = deploys(backend, 3).await;
    let deployer = fx.who.deployer_token.clone();
    let app_id = create_app(
        &svc,
        &deployer,
        web_app("web", "servos-test/web:1", &fx.servers),
    )
    .await;
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let mut values = BTreeMap::new();
    for i in 1..=20 {
        let value = if i == 7 {
            canary.clone()
        } else {
            format!("value {i} with spaces, 'quotes' and $dollars")
        };
        values.insert(format!("VAR_{i:02}"), value);
    }
    let set: Map<String, Value> = values
        .iter()
        .map(|(name, value)| (name.clone(), json!({"value": value})))
        .collect();
    let mut responses = String::new();
    let env = set_env(&svc, &deployer, &app_id, json!({"set": set})).await;
    responses.push_str(&env.to_string());

    let watch = ArgvWatch::start(&canary);
    let ended = deploy(&svc, &deployer, &app_id).await;
    let (in_argv, scans) = watch.finish();
    responses.push_str(&ended.to_string());
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert!(scans > 10, "the argv watch ran ({scans} scans)");
    assert!(in_argv.is_empty(), "the canary was in argv: {in_argv:?}");

    for host in fx.hosts() {
        let container = only_container(host, &app_id);
        let env = container_env(host, &container);
        for (name, value) in &values {
            assert_eq!(env.get(name), Some(value), "{name} on {}", host.name);
        }
        assert_eq!(
            through_proxy(host, "web.servos.internal").await,
            Ok((200, "v1".to_owned())),
            "{} serves through its proxy",
            host.name
        );
    }
    assert_eq!(
        leftover_secret_files(&target_ids(&ended)),
        Vec::<String>::new()
    );
    assert_eq!(
        files_containing(std::path::Path::new("/var/lib/servos/secrets"), &canary),
        Vec::<String>::new()
    );

    let id = ended["id"].as_str().expect("id");
    let (status, events) =
        read_all(&svc, &format!("/api/v1/deployments/{id}/events"), &deployer).await;
    assert_eq!(status, 200);
    assert!(
        events.contains("env file deleted") && events.contains("\"state\":\"succeeded\""),
        "{events}"
    );
    responses.push_str(&events);
    for uri in [
        "/api/v1/deployments".to_owned(),
        format!("/api/v1/apps/{app_id}/env"),
        format!("/api/v1/apps/{app_id}"),
    ] {
        let (_, body) = call(&svc, "GET", &uri, &deployer, Value::Null).await;
        responses.push_str(&body.to_string());
    }
    assert!(!responses.contains(&canary), "a response holds the canary");
    let audit = {
        let mut conn = fx.app.state.pool.get().expect("conn");
        format!(
            "{:?}",
            audit_log::chain_batch(&mut conn, 0, 100_000).expect("audit")
        )
    };
    assert!(!audit.contains(&canary), "the audit trail holds the canary");
    assert!(audit.contains("deployment.succeeded"));
}

both_backends!(twenty_variables_reach_three_hosts_and_nothing_else);
