//! Two agents in two namespaces enforcing the mesh policy of their stored
//! configs: what the rules allow passes (and its replies), the rest is
//! denied and counted, a new config version opens a port without cutting an
//! established flow, a version with an invalid policy is refused whole, and
//! a killed agent's restart adopts the pinned classifier with its counters.

use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use nix::sys::signal::Signal;
use servos_common::protocol::{
    Identity, IdentityKind, Peer, Policy, PolicyAction, PolicyRule, PortRange, Protocol,
};
use tempfile::TempDir;
use uuid::Uuid;

use crate::support::agent::{ensure_agent_user, AgentProcess};
use crate::support::classifier::{counters, programs_attached, rule_packets, wait_for_classifier};
use crate::support::netns::{link, NetNs};
use crate::support::state::{shared_tempdir, Node};
use crate::support::{require_program, require_root, unique_name, wait_for, wait_until};

/// The veth addresses WireGuard runs over.
const A_UNDERLAY: &str = "10.233.1.1";
const B_UNDERLAY: &str = "10.233.1.2";
const A_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 210, 0, 1);
const B_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 210, 0, 2);
/// The mesh interface's name in the stored settings.
const INTERFACE: &str = "servos0";
const A_IDENTITY: u32 = 1;
const B_IDENTITY: u32 = 2;
/// Rule: ICMP from A to B.
const PING_A_TO_B: u32 = 10;
/// Rule: TCP from A to B's port [`OPEN_PORT`].
const TCP_A_TO_B: u32 = 11;
/// Rule of config version 2: TCP from A to B's port [`LATER_PORT`].
const LATER_TCP_A_TO_B: u32 = 12;
const OPEN_PORT: u16 = 8080;
const LATER_PORT: u16 = 9090;
/// How long a connection the policy drops is given.
const DENIED_WAIT: Duration = Duration::from_secs(1);

/// Which peers a config a test stores lists.
#[derive(Clone, Copy)]
enum Peers {
    /// Each node has the other as its peer.
    Each,
    /// No node has a peer.
    Nobody,
}

impl Peers {
    /// The peers of the node whose other node is `other`, reached at `underlay`.
    fn of(self, other: &Node, underlay: &str) -> Vec<Peer> {
        match self {
            Peers::Each => vec![other.as_peer(
                format!("{underlay}:51820")
                    .parse()
                    .expect("an underlay endpoint"),
            )],
            Peers::Nobody => vec![],
        }
    }
}

/// Nodes A and B in their namespaces, joined by a veth pair, their agents
/// running on stored configs with a default-deny policy. Fields drop in
/// order: the agents, then the nodes (their pins), their folder, and last
/// the namespaces.
struct PolicyMesh {
    agent_a: AgentProcess,
    agent_b: AgentProcess,
    node_a: Node,
    node_b: Node,
    _parent: TempDir,
    a: NetNs,
    b: NetNs,
}

fn identities() -> Vec<Identity> {
    [(A_IDENTITY, "a", A_ADDRESS), (B_IDENTITY, "b", B_ADDRESS)]
        .into_iter()
        .map(|(id, name, address)| Identity {
            id,
            kind: IdentityKind::Node,
            name: name.to_owned(),
            ref_id: Uuid::new_v4(),
            prefixes: vec![ipnet::IpNet::new(address.into(), 32).expect("host prefix")],
        })
        .collect()
}

/// Default deny, and each of `rules` from A to B.
fn policy(rules: &[u32]) -> Policy {
    let rule = |id| {
        let (protocol, port) = match id {
            PING_A_TO_B => (Protocol::Icmp, None),
            TCP_A_TO_B => (Protocol::Tcp, Some(OPEN_PORT)),
            LATER_TCP_A_TO_B => (Protocol::Tcp, Some(LATER_PORT)),
            other => panic!("this test has no rule {other}"),
        };
        PolicyRule {
            id,
            src: A_IDENTITY,
            dst: B_IDENTITY,
            protocol,
            ports: port.and_then(|port| PortRange::new(port, port)),
        }
    };
    Policy {
        default_action: PolicyAction::Deny,
        rules: rules.iter().copied().map(rule).collect(),
    }
}

impl PolicyMesh {
    fn start() -> Self {
        require_root("the mesh policy test");
        require_program("ping", "iputils-ping");
        require_program("tc", "iproute2");
        ensure_agent_user();
        let a = NetNs::new(unique_name("svaga"));
        let b = NetNs::new(unique_name("svagb"));
        link(&a, A_UNDERLAY, &b, B_UNDERLAY);
        let parent = shared_tempdir();
        let node_a = Node::new(parent.path(), "a", "10.210.0.1/16");
        let node_b = Node::new(parent.path(), "b", "10.210.0.2/16");
        let rules = policy(&[PING_A_TO_B, TCP_A_TO_B]);
        node_a.write_state_with_policy(
            Peers::Each.of(&node_b, B_UNDERLAY),
            identities(),
            rules.clone(),
        );
        node_b.write_state_with_policy(Peers::Each.of(&node_a, A_UNDERLAY), identities(), rules);
        let mut agent_a = AgentProcess::start(&a, &node_a.dir, &[]);
        let mut agent_b = AgentProcess::start(&b, &node_b.dir, &[]);
        agent_a.wait_ready();
        agent_b.wait_ready();
        Self {
            agent_a,
            agent_b,
            node_a,
            node_b,
            _parent: parent,
            a,
            b,
        }
    }

    /// Stores config `version` with `peers` and `policy` on both nodes and
    /// has both agents apply it (SIGHUP re-reads the stored config).
    fn store_and_reload(&self, version: u64, peers: Peers, policy: &Policy) {
        for (node, other, underlay) in [
            (&self.node_a, &self.node_b, B_UNDERLAY),
            (&self.node_b, &self.node_a, A_UNDERLAY),
        ] {
            node.write_config(
                version,
                peers.of(other, underlay),
                identities(),
                policy.clone(),
            );
        }
        self.agent_a.signal(Signal::SIGHUP);
        self.agent_b.signal(Signal::SIGHUP);
    }

    fn a_pings_b(&self) -> bool {
        self.a
            .succeeds("ping", &["-c", "1", "-W", "1", &B_ADDRESS.to_string()])
    }

    fn b_pings_a(&self) -> bool {
        self.b
            .succeeds("ping", &["-c", "1", "-W", "1", &A_ADDRESS.to_string()])
    }

    /// A listener on B's mesh address.
    fn listen_on_b(&self, port: u16) -> TcpListener {
        let listener = self.b.run_inside(move || {
            TcpListener::bind((B_ADDRESS, port)).unwrap_or_else(|err| panic!("bind {port}: {err}"))
        });
        listener
            .set_nonblocking(true)
            .expect("a listener that does not block");
        listener
    }

    /// A connection from A to `listener` on B, as (A's end, B's end).
    fn connect_from_a(&self, listener: &TcpListener) -> io::Result<(TcpStream, TcpStream)> {
        let target: SocketAddr = listener.local_addr()?;
        let client = self
            .a
            .run_inside(move || TcpStream::connect_timeout(&target, DENIED_WAIT))?;
        let served = wait_until("B to accept the connection", DENIED_WAIT * 5, || {
            listener
                .accept()
                .map(|(served, _)| served)
                .map_err(|err| err.to_string())
        });
        for stream in [&client, &served] {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        }
        Ok((client, served))
    }
}

/// A round trip on an established connection.
fn exchange(client: &mut TcpStream, served: &mut TcpStream) -> io::Result<()> {
    let mut buffer = [0u8; 4];
    client.write_all(b"ping")?;
    served.read_exact(&mut buffer)?;
    served.write_all(b"pong")?;
    client.read_exact(&mut buffer)?;
    assert_eq!(&buffer, b"pong");
    Ok(())
}

#[test]
fn the_stored_policy_is_enforced_and_counted_and_a_new_version_opens_a_port_without_cutting_a_flow()
{
    let mesh = PolicyMesh::start();
    wait_for(
        "A's ping to B, allowed by rule 10",
        Duration::from_secs(30),
        || mesh.a_pings_b().then_some(()),
    );
    // The tunnel carries B's echo replies, so only the policy stops B's requests.
    assert!(!mesh.b_pings_a(), "B's ping to A passed; no rule allows it");

    let open = mesh.listen_on_b(OPEN_PORT);
    let later = mesh.listen_on_b(LATER_PORT);
    let (mut client, mut served) = mesh
        .connect_from_a(&open)
        .unwrap_or_else(|err| panic!("port {OPEN_PORT}, allowed by rule 11: {err}"));
    exchange(&mut client, &mut served).expect("a round trip on the allowed port");
    match mesh.connect_from_a(&later) {
        Err(err) => assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}"),
        Ok(_) => panic!("port {LATER_PORT} was reached; no rule of version 1 allows it"),
    }

    // A counts its pings and connection against the rules, and the SYNs to
    // the other port as denied; B counts what it received and its own echo
    // requests, denied.
    for (node, what) in [(&mesh.node_a, "A's"), (&mesh.node_b, "B's")] {
        let classifier = wait_for_classifier(
            &node.state(),
            &format!("{what} counters of both rules and of denials"),
            |classifier| {
                rule_packets(classifier, PING_A_TO_B) >= 2
                    && rule_packets(classifier, TCP_A_TO_B) >= 4
                    && classifier
                        .counters
                        .as_ref()
                        .is_some_and(|counters| counters.default_denied.packets >= 1)
            },
        );
        let policy = classifier
            .policy
            .as_ref()
            .expect("the stored policy in force");
        assert_eq!(
            (policy.config_version, policy.default_action, policy.rules),
            (1, PolicyAction::Deny, 2)
        );
        assert!(counters(&classifier).default_denied.bytes > 0);
    }
    assert_eq!(programs_attached(&mesh.a, INTERFACE), [1, 1]);

    mesh.store_and_reload(
        2,
        Peers::Each,
        &policy(&[PING_A_TO_B, TCP_A_TO_B, LATER_TCP_A_TO_B]),
    );
    for node in [&mesh.node_a, &mesh.node_b] {
        wait_for_classifier(&node.state(), "version 2's policy in force", |classifier| {
            classifier
                .policy
                .as_ref()
                .is_some_and(|policy| policy.config_version == 2 && policy.rules == 3)
        });
    }
    exchange(&mut client, &mut served)
        .expect("the connection opened under version 1 survives the update");
    let (mut client, mut served) = mesh
        .connect_from_a(&later)
        .unwrap_or_else(|err| panic!("port {LATER_PORT}, allowed by version 2: {err}"));
    exchange(&mut client, &mut served).expect("a round trip on the newly allowed port");
    assert!(!mesh.b_pings_a(), "B's ping to A passed after the update");
    assert_eq!(
        programs_attached(&mesh.a, INTERFACE),
        [1, 1],
        "an update attached another program"
    );

    let report = servos_agent::status::report(&mesh.node_a.state()).expect("status report");
    assert!(
        report.contains("classifier: attached")
            && report.contains("from config version 2, default deny, 3 rules")
            && report.contains(&format!("rule {LATER_TCP_A_TO_B} allowed")),
        "{report}"
    );
}

#[test]
fn a_killed_agent_leaves_its_classifier_pinned_and_its_restart_adopts_it_with_the_counters() {
    let mut mesh = PolicyMesh::start();
    wait_for(
        "A's ping to B, allowed by rule 10",
        Duration::from_secs(30),
        || mesh.a_pings_b().then_some(()),
    );
    let before = wait_for_classifier(&mesh.node_a.state(), "A's ping counted", |classifier| {
        rule_packets(classifier, PING_A_TO_B) >= 2
    });
    assert_eq!(programs_attached(&mesh.a, INTERFACE), [1, 1]);

    mesh.agent_a.signal(Signal::SIGKILL);
    mesh.agent_a.wait_exit(Duration::from_secs(10));
    let pins = std::fs::read_dir(mesh.node_a.pin_dir())
        .map(Iterator::count)
        .unwrap_or(0);
    assert!(
        pins > 0,
        "the killed agent's maps and links are no longer pinned"
    );

    mesh.agent_a = AgentProcess::start(&mesh.a, &mesh.node_a.dir, &[]);
    mesh.agent_a.wait_ready();
    let adopted = mesh
        .node_a
        .state()
        .status()
        .expect("the restarted agent's status")
        .classifier;
    assert!(
        rule_packets(&adopted, PING_A_TO_B) >= rule_packets(&before, PING_A_TO_B),
        "the counters started over: {:?} after {:?}",
        adopted.counters,
        before.counters
    );
    assert_eq!(
        programs_attached(&mesh.a, INTERFACE),
        [1, 1],
        "the restart attached a second program"
    );
    wait_for(
        "A's ping to B after the restart",
        Duration::from_secs(30),
        || mesh.a_pings_b().then_some(()),
    );
    wait_for_classifier(
        &mesh.node_a.state(),
        "the restarted agent's ping counted on top of the earlier ones",
        |classifier| rule_packets(classifier, PING_A_TO_B) > rule_packets(&adopted, PING_A_TO_B),
    );
    assert!(!mesh.b_pings_a(), "B's ping to A passed after A's restart");
}

#[test]
fn a_config_with_an_invalid_policy_is_refused_whole_and_the_one_in_force_stays() {
    let mesh = PolicyMesh::start();
    wait_for(
        "A's ping to B, allowed by rule 10",
        Duration::from_secs(30),
        || mesh.a_pings_b().then_some(()),
    );
    let mut invalid = policy(&[PING_A_TO_B]);
    invalid.rules.push(PolicyRule {
        id: 13,
        src: A_IDENTITY,
        dst: 9,
        protocol: Protocol::Udp,
        ports: None,
    });
    // Were anything of version 2 applied, the peers would be gone too.
    mesh.store_and_reload(2, Peers::Nobody, &invalid);
    let refusal = "configuration 2 refused: policy: rule 13 names identity 9";
    for agent in [&mesh.agent_a, &mesh.agent_b] {
        wait_until(
            "the refusal in the agent's log",
            Duration::from_secs(10),
            || {
                let log = agent.stderr();
                if log.contains(refusal) {
                    Ok(())
                } else {
                    Err(log)
                }
            },
        );
    }
    assert!(mesh.a_pings_b(), "A's ping to B failed after the refusal");
    assert!(!mesh.b_pings_a(), "B's ping to A passed after the refusal");
    let open = mesh.listen_on_b(OPEN_PORT);
    let (mut client, mut served) = mesh
        .connect_from_a(&open)
        .unwrap_or_else(|err| panic!("port {OPEN_PORT} after the refusal: {err}"));
    exchange(&mut client, &mut served).expect("a round trip on the allowed port");
    for node in [&mesh.node_a, &mesh.node_b] {
        let status = node.state().status().expect("status.json");
        assert_eq!(status.config_version, 1);
        assert_eq!(
            status.classifier.policy.map(|policy| policy.config_version),
            Some(1)
        );
    }
}
