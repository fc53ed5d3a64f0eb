//! Hosts join the mesh and reach each other over it; every thread of
//! every agent runs as `servos` with exactly three capabilities; a fourth
//! host cannot join with a used, expired, forged or another server's token,
//! nor against another certificate; no private key reaches the API;
//! removing a node takes it out of the peer lists; the mesh outlives the
//! API and an agent's crash.

use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use servos_lab::Host;

use super::{agent_binary, agent_pids, eventually, install, ok, pings, Api, LogOnPanic, MeshLab};
use crate::both_backends;
use crate::harness::Backend;
use crate::process::{read_log, Server};

/// `field` of a `/proc/.../status` text.
fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map_or("", str::trim)
}

/// Every task of every agent runs as `servos` with exactly CAP_NET_ADMIN,
/// CAP_BPF and CAP_IPC_LOCK, nothing inheritable or ambient, no_new_privs.
fn assert_dropped(host: &Host) {
    let servos = std::process::Command::new("id")
        .args(["-u", "servos"])
        .output()
        .expect("id");
    let uid = String::from_utf8_lossy(&servos.stdout).trim().to_owned();
    let pids = agent_pids(host);
    assert_eq!(pids.len(), 1, "one agent runs on {}", host.name);
    let kept = format!("{:016x}", (1u64 << 12) | (1 << 14) | (1 << 39));
    for pid in pids {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            if status.is_empty() {
                continue; // the task ended meanwhile
            }
            let ids: Vec<&str> = status_field(&status, "Uid").split_whitespace().collect();
            assert_eq!(ids, [uid.as_str(); 4], "{status}");
            assert_eq!(status_field(&status, "Groups"), "", "{status}");
            for set in ["CapEff", "CapPrm", "CapBnd"] {
                assert_eq!(status_field(&status, set), kept, "{set}: {status}");
            }
            for set in ["CapInh", "CapAmb"] {
                assert_eq!(status_field(&status, set), "0000000000000000", "{set}");
            }
            assert_eq!(status_field(&status, "NoNewPrivs"), "1", "{status}");
        }
    }
}

/// The peers' public keys in `host`'s applied configuration.
fn peer_keys(host: &Host) -> Vec<String> {
    let text =
        std::fs::read_to_string(host.agent_state_dir().join("config.json")).unwrap_or_default();
    let config: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    config["peers"]
        .as_array()
        .map(|peers| {
            peers
                .iter()
                .filter_map(|p| p["public_key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `servos-agent join` on `host` with `token` on stdin (from a 0600
/// file, so it is in no argv), into a state directory of its own.
fn join(host: &Host, api_url: &str, pin: &str, token: &str) -> Output {
    let probe = host.dir.join("join-probe");
    let token_file = host.dir.join("join-token");
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&token_file)
            .expect("the token file");
        writeln!(file, "{token}").expect("write the token");
    }
    let script = format!(
        "{} join --api {api_url} --pin {pin} --token-stdin --state-dir {} < {}",
        agent_binary().display(),
        probe.display(),
        token_file.display()
    );
    let output = host.exec(&["sh", "-c", &script]);
    let _ = std::fs::remove_file(&token_file);
    output
}

async fn three_hosts_join_a_mesh_that_outlives_the_api_and_an_agent_crash(backend: Backend) {
    let MeshLab {
        mut api,
        servers,
        api_url,
        env,
        log,
        db,
        lab,
        dir: _dir,
    } = MeshLab::up(backend, 4, false).await;
    let hosts = lab.hosts();
    let _log = LogOnPanic(log.clone());
    // This test is about the mesh, not the policy: let everything through.
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "/api/v1/mesh/policies/default",
            json!({"default_action": "allow"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    futures_util::future::join_all(servers[..3].iter().map(|server| install(&api, server))).await;
    let nodes = api.get("/api/v1/mesh/nodes").await;
    let nodes = nodes.as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let address = |i: usize| {
        nodes
            .iter()
            .find(|n| n["server_id"] == servers[i].as_str())
            .and_then(|n| n["address"].as_str())
            .expect("address")
            .to_owned()
    };

    // Each host reaches the other two over the mesh, and TCP crosses it.
    for (i, host) in hosts[..3].iter().enumerate() {
        for j in (0..3).filter(|j| *j != i) {
            let target = address(j);
            eventually(
                Duration::from_secs(20),
                &format!("{} pings {target}", host.name),
                || pings(host, &target),
            )
            .await;
        }
    }
    let listener = hosts[1].exec(&[
        "sh",
        "-c",
        "busybox nc -l -p 5001 > /dev/null 2>&1 < /dev/null & echo $!",
    ]);
    let listener_pid = ok(&listener, "a TCP listener").trim().to_owned();
    let sent = hosts[0].exec(&[
        "sh",
        "-c",
        &format!(
            "head -c 20000000 /dev/zero | busybox nc -w 5 {} 5001",
            address(1)
        ),
    ]);
    ok(&sent, "20 MB over the mesh");
    let _ = std::process::Command::new("kill")
        .arg(&listener_pid)
        .status();

    // The privilege drop, on every thread of every agent.
    for host in &hosts[..3] {
        assert_dropped(host);
        let key_file = host.agent_state_dir().join("wg.key");
        let meta = std::fs::metadata(&key_file).expect("the private key file");
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "{}",
            key_file.display()
        );
        let servos_uid = nix::unistd::User::from_name("servos")
            .ok()
            .flatten()
            .expect("servos")
            .uid;
        assert_eq!(meta.uid(), servos_uid.as_raw(), "owned by servos");
        let private = std::fs::read_to_string(&key_file).expect("read the key");
        let private = private.trim();
        assert!(
            !read_log(&log).contains(private),
            "a private key in the API's log"
        );
        assert!(
            !nodes.iter().any(|n| n.to_string().contains(private)),
            "a private key in a response"
        );
        let dump = crate::db_dump::dump(&db);
        assert!(!dump.contains(private), "a private key in the database");
    }

    // A fourth host cannot join with another server's, a forged, an expired
    // or a used token, nor against another certificate.
    let pin = {
        let config: Value = serde_json::from_str(
            &std::fs::read_to_string(hosts[0].agent_state_dir().join("settings.json"))
                .expect("settings"),
        )
        .expect("json");
        config["trust"]["pin"]
            .as_str()
            .map(str::to_owned)
            .expect("the pin the install used")
    };
    let fourth = &hosts[3];
    let (_, other) = api
        .post(
            &format!("/api/v1/servers/{}/enrollment-tokens", servers[0]),
            Value::Null,
        )
        .await;
    let refused = join(
        fourth,
        &api_url,
        &pin,
        other["token"].as_str().expect("token"),
    );
    assert!(!refused.status.success(), "another server's token");
    let forged = "aen_0000000000000000000000000000000000000000000000000";
    assert!(
        !join(fourth, &api_url, &pin, forged).status.success(),
        "a forged token"
    );
    let (_, expiring) = api
        .post(
            &format!("/api/v1/servers/{}/enrollment-tokens", servers[3]),
            Value::Null,
        )
        .await;
    db.execute("UPDATE enrollment_tokens SET expires_at = created_at")
        .expect("expire the tokens");
    let expired = join(
        fourth,
        &api_url,
        &pin,
        expiring["token"].as_str().expect("token"),
    );
    assert!(!expired.status.success(), "an expired token");
    let wrong_pin = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let rejected_before = api
        .get("/api/v1/audit?action=enrollment_token.rejected")
        .await["entries"]
        .as_array()
        .map_or(0, Vec::len);
    let (_, fresh) = api
        .post(
            &format!("/api/v1/servers/{}/enrollment-tokens", servers[3]),
            Value::Null,
        )
        .await;
    let fresh = fresh["token"].as_str().expect("token").to_owned();
    let other_cert = join(fourth, &api_url, wrong_pin, &fresh);
    assert!(!other_cert.status.success(), "another certificate");
    let rejected_after = api
        .get("/api/v1/audit?action=enrollment_token.rejected")
        .await["entries"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        rejected_before, rejected_after,
        "nothing reached the API through another certificate"
    );
    ok(
        &join(fourth, &api_url, &pin, &fresh),
        "the fresh token joins",
    );
    let used = join(fourth, &api_url, &pin, &fresh);
    assert!(!used.status.success(), "a used token");
    // The probe joined, but runs no agent: out of the mesh again.
    let probe: Value = serde_json::from_str(
        &std::fs::read_to_string(fourth.dir.join("join-probe/settings.json"))
            .expect("the probe's settings"),
    )
    .expect("json");
    let probe_id = probe["node_id"].as_str().expect("node id").to_owned();
    let (status, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/mesh/nodes/{probe_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Removing a node takes it out of every peer list within 5 s.
    let third_key = nodes
        .iter()
        .find(|n| n["server_id"] == servers[2].as_str())
        .and_then(|n| n["public_key"].as_str())
        .expect("key")
        .to_owned();
    let third_id = nodes
        .iter()
        .find(|n| n["server_id"] == servers[2].as_str())
        .and_then(|n| n["id"].as_str())
        .expect("id")
        .to_owned();
    let (status, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/mesh/nodes/{third_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually(
        Duration::from_secs(5),
        "no node has the removed one as a peer",
        || {
            hosts[..2]
                .iter()
                .all(|h| !peer_keys(h).contains(&third_key))
        },
    )
    .await;

    // Without the API the mesh keeps working; started again, every agent
    // heartbeats within 10 s.
    let Api { server, token } = api;
    server.stop();
    assert!(pings(&hosts[0], &address(1)), "the mesh without the API");
    let restarted_at = chrono::Utc::now();
    let server = Server::start(&env, &log).await;
    api = Api { server, token };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let nodes = api.get("/api/v1/mesh/nodes").await;
        let fresh = nodes.as_array().expect("nodes").iter().all(|n| {
            n["last_heartbeat_at"]
                .as_str()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .is_some_and(|at| at >= restarted_at)
        });
        if fresh {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every agent heartbeat within 10 s: {nodes}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // SIGKILL an agent: its supervisor restarts it with the same address
    // and key, and the mesh comes back.
    let before = std::fs::read_to_string(hosts[1].agent_state_dir().join("wg.key")).expect("key");
    for pid in agent_pids(&hosts[1]) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill the agent");
    }
    eventually(
        Duration::from_secs(30),
        "the agent is back and the mesh with it",
        || {
            agent_pids(&hosts[1]).len() == 1
                && pings(&hosts[0], &address(1))
                && pings(&hosts[1], &address(0))
        },
    )
    .await;
    let after = std::fs::read_to_string(hosts[1].agent_state_dir().join("wg.key")).expect("key");
    assert_eq!(before, after, "the same key");
    let nodes_after = api.get("/api/v1/mesh/nodes").await;
    assert!(
        nodes_after.to_string().contains(&address(1)),
        "the same address"
    );
    assert_dropped(&hosts[1]);
}

both_backends!(three_hosts_join_a_mesh_that_outlives_the_api_and_an_agent_crash);
