//! Two agents in two namespaces, embedded boringtun configured by the agent's apply code, pinging each other.

use std::time::Duration;

use servos_agent::state::StateDir;

use crate::support::agent::{ensure_agent_user, AgentProcess};
use crate::support::netns::{link, NetNs};
use crate::support::state::{shared_tempdir, Node};
use crate::support::{require_program, require_root, unique_name, wait_for};

#[test]
fn two_agents_on_their_stored_configs_reach_each_other_over_the_mesh() {
    require_root("the two-node mesh test");
    require_program("ping", "iputils-ping");
    ensure_agent_user();
    let one = NetNs::new(unique_name("svagp"));
    let two = NetNs::new(unique_name("svagq"));
    link(&one, "10.233.0.1", &two, "10.233.0.2");
    let parent = shared_tempdir();
    let node_one = Node::new(parent.path(), "one", "10.210.0.1/16");
    let node_two = Node::new(parent.path(), "two", "10.210.0.2/16");
    node_one.write_state(vec![
        node_two.as_peer("10.233.0.2:51820".parse().expect("addr"))
    ]);
    node_two.write_state(vec![
        node_one.as_peer("10.233.0.1:51820".parse().expect("addr"))
    ]);

    let mut agent_one = AgentProcess::start(&one, &node_one.dir, &[]);
    let mut agent_two = AgentProcess::start(&two, &node_two.dir, &[]);
    agent_one.wait_ready();
    agent_two.wait_ready();

    wait_for(
        "a ping from one to two over the mesh",
        Duration::from_secs(30),
        || {
            one.succeeds("ping", &["-c", "1", "-W", "1", "10.210.0.2"])
                .then_some(())
        },
    );
    assert!(
        two.succeeds("ping", &["-c", "1", "-W", "1", "10.210.0.1"]),
        "ping from two to one failed"
    );

    let state = StateDir::new(&node_one.dir);
    let peer = wait_for(
        "status.json to show the handshake",
        Duration::from_secs(20),
        || {
            let status = state.status().ok()?;
            status.peers.into_iter().find(|peer| {
                peer.public_key == node_two.public_key() && peer.last_handshake_secs.is_some()
            })
        },
    );
    assert_eq!(peer.name, "two");
    assert!(peer.rx_bytes > 0 && peer.tx_bytes > 0, "{peer:?}");
    let report = servos_agent::status::report(&state).expect("status report");
    assert!(
        report.contains("running") && report.contains("two"),
        "{report}"
    );

    assert!(agent_one.terminate().success(), "{}", agent_one.stderr());
    assert!(agent_two.terminate().success(), "{}", agent_two.stderr());
}
