//! The privilege drop seen from outside: every thread of a running agent
//! (with the classifier attached and driven after the drop), and the
//! self-check's refusal.

use std::time::Duration;

use crate::support::agent::{ensure_agent_user, AgentProcess};
use crate::support::netns::NetNs;
use crate::support::state::{shared_tempdir, Node};
use crate::support::{require_root, unique_name};

/// CAP_NET_ADMIN (12), CAP_IPC_LOCK (14) and CAP_BPF (39).
const KEPT: u64 = (1 << 12) | (1 << 14) | (1 << 39);

/// The value of `field` in a status file (the text after the colon, trimmed).
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} line in:\n{status}"))
}

fn mask(status: &str, name: &str) -> u64 {
    u64::from_str_radix(field(status, name), 16).expect("hex mask")
}

#[test]
fn every_thread_of_a_running_agent_has_only_the_servos_user_and_three_capabilities() {
    require_root("the privilege drop test");
    let user = ensure_agent_user();
    let netns = NetNs::new(unique_name("svagd"));
    let parent = shared_tempdir();
    let node = Node::new(parent.path(), "node", "10.210.0.1/16");
    node.write_state(vec![]);
    let mut agent = AgentProcess::start(&netns, &node.dir, &[]);
    agent.wait_ready();
    // The stored policy was written into the classifier's maps, and its
    // counters read, after the drop: the handles opened as root need no more.
    let classifier = node.state().status().expect("status.json").classifier;
    assert!(
        classifier.policy.is_some() && classifier.counters.is_some(),
        "the classifier was not updated or read after the drop: {classifier:?}"
    );

    let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", agent.pid()))
        .expect("the agent's tasks")
        .map(|task| {
            std::fs::read_to_string(task.expect("task").path().join("status")).expect("status")
        })
        .collect();
    assert!(
        tasks.len() >= 3,
        "expected the runtime's and boringtun's threads, found {}",
        tasks.len()
    );
    let uid = user.uid.to_string();
    let gid = user.gid.to_string();
    for status in &tasks {
        let name = field(status, "Name");
        let uids: Vec<&str> = field(status, "Uid").split_whitespace().collect();
        let gids: Vec<&str> = field(status, "Gid").split_whitespace().collect();
        assert_eq!(uids, [uid.as_str(); 4], "thread {name}");
        assert_eq!(gids, [gid.as_str(); 4], "thread {name}");
        assert_eq!(field(status, "Groups"), "", "thread {name}");
        assert_eq!(mask(status, "CapEff"), KEPT, "thread {name} CapEff");
        assert_eq!(mask(status, "CapPrm"), KEPT, "thread {name} CapPrm");
        assert_eq!(mask(status, "CapBnd"), KEPT, "thread {name} CapBnd");
        assert_eq!(mask(status, "CapInh"), 0, "thread {name} CapInh");
        assert_eq!(mask(status, "CapAmb"), 0, "thread {name} CapAmb");
        assert_eq!(field(status, "NoNewPrivs"), "1", "thread {name}");
    }

    let exit = agent.terminate();
    assert!(
        exit.success(),
        "SIGTERM should stop the agent cleanly: {exit}\n{}",
        agent.stderr()
    );
    assert!(
        !node.dir.join("agent.pid").exists(),
        "the pid file is removed on a clean stop"
    );
}

#[test]
#[cfg(debug_assertions)]
fn the_self_check_refuses_to_run_with_a_bounding_set_left_full() {
    require_root("the privilege self-check test");
    ensure_agent_user();
    let netns = NetNs::new(unique_name("svagf"));
    let parent = shared_tempdir();
    let node = Node::new(parent.path(), "node", "10.210.0.1/16");
    node.write_state(vec![]);
    let mut agent = AgentProcess::start(
        &netns,
        &node.dir,
        &[(servos_agent::privileges::FAILPOINT_VAR, "skip-bounding-set")],
    );
    let exit = agent.wait_exit(Duration::from_secs(30));
    let stderr = agent.stderr();
    assert!(
        !exit.success(),
        "the agent ran with a full bounding set:\n{stderr}"
    );
    assert!(
        stderr.contains("privilege self-check failed") && stderr.contains("CapBnd"),
        "the refusal should name the bounding set:\n{stderr}"
    );
    assert!(
        !node.dir.join("status.json").exists(),
        "nothing ran after the refusal"
    );
}
