//! The classifier between applications and nodes, on three Docker hosts:
//! under default deny, one rule (app X → app Y, tcp/8080, X and Y on
//! different hosts) lets X reach Y's port 8080 and nothing else of Y or
//! its node, while a third application Z reaches nothing; the rule's and
//! the default-deny counters rise by what was sent; node-level rules work
//! the same way; a rule change reaches every agent within 2 s without
//! cutting an established flow; removing the last rule denies again; an
//! agent killed with SIGKILL comes back to the same single attachment.

use std::time::{Duration, Instant};

use aya::programs::{SchedClassifier, TcAttachType};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use servos_lab::{Host, TEST_IMAGE};

use super::{agent_pids, eventually, install, ok, LogOnPanic, MeshLab};
use crate::both_backends;
use crate::deploy_lab::{docker_ok, only_container, web_app};
use crate::harness::Backend;

/// The test image: serves `/www` on ports 8080 and 9090.
const IMAGE: &str = "servos-test/mesh:1";
/// A file of [`BLOB_BYTES`] the image serves.
const BLOB_BYTES: u64 = 1 << 20;
/// A file large enough to stall in flight while its reader sleeps.
const BIG_BYTES: u64 = 32 << 20;
/// How long a deploy may take.
const DEPLOY_WITHIN: Duration = Duration::from_secs(120);
/// A policy change reaches every agent within this.
const APPLIED_WITHIN: Duration = Duration::from_secs(2);
/// Heartbeats (every 5 s) bring counters to the API within this.
const REPORTED_WITHIN: Duration = Duration::from_secs(20);

/// Makes [`IMAGE`] on `host` from the lab's busybox image.
fn make_image(host: &Host) {
    let builder = format!("mk-{}", uuid::Uuid::new_v4().simple());
    let script = format!(
        "mkdir -p /www && echo mesh > /www/index.html && head -c {BLOB_BYTES} /dev/zero > /www/blob \
         && head -c {BIG_BYTES} /dev/zero > /www/big"
    );
    docker_ok(
        host,
        &["run", "--name", &builder, TEST_IMAGE, "sh", "-c", &script],
    );
    let serve = r#"CMD ["sh","-c","trap 'exit 0' TERM; httpd -f -p 8080 -h /www & httpd -f -p 9090 -h /www & wait"]"#;
    docker_ok(host, &["commit", "--change", serve, &builder, IMAGE]);
    docker_ok(host, &["rm", &builder]);
}

/// An application of [`IMAGE`] on the mesh, deployed on one host.
struct MeshApp {
    id: String,
    container: String,
    address: String,
}

/// Creates application `name` on server `server` (host `host`), puts it on
/// the mesh and deploys it.
async fn deployed_on_mesh(mesh: &MeshLab, name: &str, server: usize) -> MeshApp {
    let api = &mesh.api;
    let (status, app) = api
        .post(
            "/api/v1/apps",
            web_app(name, IMAGE, &[mesh.servers[server].clone()]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let id = app["id"].as_str().expect("id").to_owned();
    let (status, joined) = api
        .call(Method::PUT, &format!("/api/v1/mesh/apps/{id}"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let (status, queued) = api
        .post(&format!("/api/v1/apps/{id}/deploy"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let deployment = queued["id"].as_str().expect("deployment id");
    let deadline = Instant::now() + DEPLOY_WITHIN;
    loop {
        let shown = api.get(&format!("/api/v1/deployments/{deployment}")).await;
        match shown["state"].as_str() {
            Some("succeeded") => break,
            Some("queued" | "running") => {}
            _ => panic!("the deployment of {name} ended badly: {shown}"),
        }
        assert!(Instant::now() < deadline, "{name} still deploys: {shown}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let host = &mesh.hosts()[server];
    let container = only_container(host, &id);
    let format = r#"{{(index .NetworkSettings.Networks "servos-mesh").IPAddress}}"#;
    let address = docker_ok(host, &["inspect", "--format", format, &container])
        .trim()
        .to_owned();
    let index = joined["mesh_index"].as_i64().expect("index");
    let subnet = mesh.node(server).await["container_subnet"]
        .as_str()
        .expect("subnet")
        .to_owned();
    let base: std::net::Ipv4Addr = subnet
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("a subnet");
    let block = u32::from(base) + u32::try_from(index * 4).expect("index");
    assert!(
        (block..block + 4).contains(&u32::from(
            address.parse::<std::net::Ipv4Addr>().expect("an address")
        )),
        "{name}'s container is at {address}, outside its block {index} of {subnet}"
    );
    MeshApp {
        id,
        container,
        address,
    }
}

/// Whether `container` on `host` fetches `url` within 2 s (`timeout`
/// bounds it: busybox's own `wget -T` crashes).
fn fetches(host: &Host, container: &str, url: &str) -> bool {
    let wget = ["timeout", "2", "wget", "-q", "-O", "/dev/null", url];
    host.docker(&[&["exec", container][..], &wget[..]].concat())
        .status
        .success()
}

/// Whether `host` itself fetches `url` within 2 s.
fn host_fetches(host: &Host, url: &str) -> bool {
    host.exec(&[
        "timeout",
        "2",
        "busybox",
        "wget",
        "-q",
        "-O",
        "/dev/null",
        url,
    ])
    .status
    .success()
}

/// A rule allowing TCP to `port` from `source` to `destination`, each a
/// kind (`app`, `node`) and an id.
fn tcp_rule(source: (&str, &str), destination: (&str, &str), port: u16) -> Value {
    json!({"source": {"kind": source.0, "id": source.1},
        "destination": {"kind": destination.0, "id": destination.1},
        "protocol": "tcp", "ports": [port, port]})
}

/// Adds a rule; returns its id.
async fn allow(mesh: &MeshLab, rule: Value) -> i64 {
    let (status, made) = mesh.api.post("/api/v1/mesh/policies", rule).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["id"].as_i64().expect("rule id")
}

/// Removes rule `id`.
async fn remove_rule(mesh: &MeshLab, id: i64) {
    let (status, body) = mesh
        .api
        .call(
            Method::DELETE,
            &format!("/api/v1/mesh/policies/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

/// The rule ids in `host`'s applied configuration (written once the
/// classifier holds them).
fn applied_rules(host: &Host) -> Vec<i64> {
    let text =
        std::fs::read_to_string(host.agent_state_dir().join("config.json")).unwrap_or_default();
    let config: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    config["policy"]["rules"]
        .as_array()
        .map(|rules| rules.iter().filter_map(|r| r["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// Waits until every agent applied exactly `rules`.
async fn applied_everywhere(mesh: &MeshLab, rules: &[i64]) {
    let what = format!("every agent applies rules {rules:?}");
    eventually(APPLIED_WITHIN, &what, || {
        mesh.hosts().iter().all(|host| {
            let mut applied = applied_rules(host);
            applied.sort_unstable();
            applied == rules
        })
    })
    .await;
}

/// Packets and bytes as node `i` last reported them: rule `rule`'s, or the
/// default action's drops.
async fn counted(mesh: &MeshLab, i: usize, rule: Option<i64>) -> (u64, u64) {
    let node = mesh.node(i).await;
    let counters = &node["status"]["counters"];
    let entry = match rule {
        Some(id) => counters["rules"]
            .as_array()
            .and_then(|rules| rules.iter().find(|r| r["rule_id"].as_i64() == Some(id)))
            .cloned()
            .unwrap_or(Value::Null),
        None => counters["default_denied"].clone(),
    };
    (
        entry["packets"].as_u64().unwrap_or(0),
        entry["bytes"].as_u64().unwrap_or(0),
    )
}

/// Waits until node `i`'s report of `rule` (or of the drops) reaches
/// `packets` and `bytes`; returns what it reported.
async fn counted_at_least(
    mesh: &MeshLab,
    i: usize,
    rule: Option<i64>,
    packets: u64,
    bytes: u64,
) -> (u64, u64) {
    let deadline = Instant::now() + REPORTED_WITHIN;
    loop {
        let now = counted(mesh, i, rule).await;
        if now.0 >= packets && now.1 >= bytes {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "node {i} counts {now:?} for {rule:?}, not yet {packets} packets and {bytes} bytes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many programs are attached to `host`'s mesh interface: (ingress,
/// egress), as the kernel lists them inside the host's namespace.
fn attachments(host: &Host) -> (usize, usize) {
    let netns = format!("/run/netns/{}", host.name);
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&netns).expect("the host's network namespace");
        // Only this thread moves into the host's namespace.
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("enter the host's network namespace (the mesh tests need root)");
        let count = |direction| {
            SchedClassifier::query_tcx("servos0", direction)
                .map(|(_, programs)| programs.len())
                .expect("list the programs on the mesh interface")
        };
        (count(TcAttachType::Ingress), count(TcAttachType::Egress))
    })
    .join()
    .expect("the listing thread")
}

async fn apps_reach_only_what_the_policy_allows(backend: Backend) {
    let mesh = MeshLab::up(backend, 3, true).await;
    let hosts = mesh.hosts();
    let _log = LogOnPanic(mesh.log.clone());
    for host in hosts {
        make_image(host);
    }
    futures_util::future::join_all(mesh.servers.iter().map(|s| install(&mesh.api, s))).await;
    let x = deployed_on_mesh(&mesh, "x", 0).await;
    let y = deployed_on_mesh(&mesh, "y", 1).await;
    let z = deployed_on_mesh(&mesh, "z", 2).await;
    let (ha, hb, hc) = (&hosts[0], &hosts[1], &hosts[2]);
    let node_b_address = mesh.node(1).await["address"]
        .as_str()
        .expect("address")
        .to_owned();
    // A service of node B itself, as its sshd would be, on every address.
    let node_port = 22022;
    let served = hb.exec(&[
        "sh",
        "-c",
        &format!(
            "mkdir -p {dir} && echo node > {dir}/index.html && busybox httpd -p {node_port} -h {dir}",
            dir = hb.dir.join("node-www").display()
        ),
    ]);
    ok(&served, "a service on node B");
    let y_url = |port: u16, path: &str| format!("http://{}:{port}/{path}", y.address);
    let node_url = format!("http://{node_b_address}:{node_port}/");

    // Default deny: nothing crosses.
    assert!(
        !fetches(ha, &x.container, &y_url(8080, "")),
        "X reached Y with no rule"
    );

    // One rule: X → Y tcp/8080.
    let x_to_y = allow(&mesh, tcp_rule(("app", &x.id), ("app", &y.id), 8080)).await;
    applied_everywhere(&mesh, &[x_to_y]).await;
    let rule_before = counted(&mesh, 1, Some(x_to_y)).await;
    let denied_before = counted(&mesh, 0, None).await;
    assert!(
        fetches(ha, &x.container, &y_url(8080, "blob")),
        "X reaches Y:8080, and the reply comes back"
    );
    assert!(
        !fetches(ha, &x.container, &y_url(9090, "")),
        "X reached Y:9090"
    );
    assert!(
        !fetches(ha, &x.container, &node_url),
        "X reached a service of Y's node"
    );
    assert!(
        !fetches(hc, &z.container, &y_url(8080, "")),
        "Z reached Y:8080"
    );
    assert!(
        !fetches(hc, &z.container, &y_url(9090, "")),
        "Z reached Y:9090"
    );
    let ping = ha.docker(&[
        "exec",
        &x.container,
        "ping",
        "-c",
        "3",
        "-W",
        "1",
        &y.address,
    ]);
    assert!(!ping.status.success(), "X pinged Y without an ICMP rule");
    // Y's node saw the blob go out (and the request come in) under the
    // rule; X's node dropped the two refused connections' SYNs and the
    // three pings.
    let (_, rule_bytes) = counted_at_least(
        &mesh,
        1,
        Some(x_to_y),
        rule_before.0 + 1,
        rule_before.1 + BLOB_BYTES,
    )
    .await;
    // Above the blob: IP and TCP headers (about 4 %), the HTTP exchange, and
    // whatever TCP retransmits on a busy machine; below twice the blob, so
    // a packet counted twice (on ingress and egress, or by two attachments)
    // still fails.
    assert!(
        rule_bytes - rule_before.1 < BLOB_BYTES + BLOB_BYTES / 2,
        "the rule counted {} bytes for a {BLOB_BYTES}-byte transfer",
        rule_bytes - rule_before.1
    );
    counted_at_least(
        &mesh,
        0,
        None,
        denied_before.0 + 5,
        denied_before.1 + 3 * 84,
    )
    .await;

    // Node-level rules: X → node B's service, and node A → node B.
    let node_id = |node: Value| node["id"].as_str().expect("node id").to_owned();
    let (node_a, node_b) = (node_id(mesh.node(0).await), node_id(mesh.node(1).await));
    let x_to_node = allow(
        &mesh,
        tcp_rule(("app", &x.id), ("node", &node_b), node_port),
    )
    .await;
    let a_to_b = allow(
        &mesh,
        tcp_rule(("node", &node_a), ("node", &node_b), node_port),
    )
    .await;
    applied_everywhere(&mesh, &[x_to_y, x_to_node, a_to_b]).await;
    assert!(
        fetches(ha, &x.container, &node_url),
        "X reaches node B's service"
    );
    assert!(
        host_fetches(ha, &node_url),
        "node A reaches node B's service"
    );
    assert!(
        !host_fetches(hc, &node_url),
        "node C reached node B's service"
    );
    assert!(
        !fetches(hc, &z.container, &node_url),
        "Z reached node B's service"
    );

    // A rule change while X downloads from Y: the change reaches every
    // agent within 2 s and the download completes.
    let script = format!(
        "wget -q -O - {} | (sleep 3; wc -c) > /tmp/got.part; mv /tmp/got.part /tmp/got",
        y_url(8080, "big")
    );
    ok(
        &ha.docker(&["exec", "-d", &x.container, "sh", "-c", &script]),
        "start a download",
    );
    eventually(Duration::from_secs(10), "the download is under way", || {
        ha.docker(&["exec", &x.container, "ps"])
            .stdout
            .windows(4)
            .any(|w| w == b"wget")
    })
    .await;
    let x_to_y_9090 = allow(&mesh, tcp_rule(("app", &x.id), ("app", &y.id), 9090)).await;
    remove_rule(&mesh, a_to_b).await;
    applied_everywhere(&mesh, &[x_to_y, x_to_node, x_to_y_9090]).await;
    eventually(Duration::from_secs(30), "the download ends", || {
        ha.docker(&["exec", &x.container, "test", "-f", "/tmp/got"])
            .status
            .success()
    })
    .await;
    let received = ok(
        &ha.docker(&["exec", &x.container, "cat", "/tmp/got"]),
        "the download's size",
    );
    assert_eq!(
        received.trim(),
        BIG_BYTES.to_string(),
        "the download was cut by the rule change"
    );
    assert!(
        fetches(ha, &x.container, &y_url(9090, "")),
        "X reaches Y:9090 now"
    );
    assert!(
        !host_fetches(ha, &node_url),
        "node A still reached node B's service"
    );

    // Removing the last rule denies everything again.
    for rule in [x_to_y, x_to_node, x_to_y_9090] {
        remove_rule(&mesh, rule).await;
    }
    applied_everywhere(&mesh, &[]).await;
    assert!(
        !fetches(ha, &x.container, &y_url(8080, "")),
        "X reached Y with the rules gone"
    );

    // SIGKILL Y's agent: its supervisor restarts it, which adopts the
    // pinned attachment (one at ingress, one at egress, as before) and the
    // policy holds again.
    let x_to_y = allow(&mesh, tcp_rule(("app", &x.id), ("app", &y.id), 8080)).await;
    applied_everywhere(&mesh, &[x_to_y]).await;
    assert_eq!(attachments(hb), (1, 1), "one attachment each way");
    let killed = agent_pids(hb);
    assert_eq!(killed.len(), 1, "one agent runs on {}", hb.name);
    for pid in &killed {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(*pid).expect("a pid")),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill the agent");
    }
    eventually(
        Duration::from_secs(30),
        "the agent is back and X reaches Y again",
        || {
            let pids = agent_pids(hb);
            pids.len() == 1
                && !pids.contains(&killed[0])
                && fetches(ha, &x.container, &y_url(8080, ""))
        },
    )
    .await;
    assert_eq!(
        attachments(hb),
        (1, 1),
        "the restarted agent adopted the attachment, not added one"
    );
    assert!(
        !fetches(ha, &x.container, &y_url(9090, "")),
        "X reached Y:9090 after the restart"
    );
    assert!(
        !fetches(hc, &z.container, &y_url(8080, "")),
        "Z reached Y after the restart"
    );
}

both_backends!(apps_reach_only_what_the_policy_allows);
