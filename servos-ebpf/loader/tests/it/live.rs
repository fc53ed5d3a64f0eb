//! The classifier on a live veth pair between two network namespaces: a TCP
//! port the policy allows works both ways, another does not, the counters
//! match the interface's own, and the pinned attachment keeps enforcing
//! after the process lets go of it, until a new load adopts it in place.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use servos_ebpf_loader::{
    compile, AttachMode, Classifier, Count, Counters, DefaultAction, Identity, LinkLayer, Policy,
    Protocol,
};

use crate::{causes, require_root, rule};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 239, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 239, 0, 2);
const ALLOWED_PORT: u16 = 8080;
const BLOCKED_PORT: u16 = 9090;
/// How long a connection attempt the policy drops is given.
const BLOCKED_WAIT: Duration = Duration::from_secs(1);

/// Two namespaces joined by a veth pair, and a pin folder; all removed when
/// dropped, whatever happened.
struct VethLab {
    client_ns: String,
    server_ns: String,
    server_if: String,
    pin_dir: PathBuf,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run ip (package iproute2): {err}"));
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl VethLab {
    fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Self {
            client_ns: format!("svebc{id}"),
            server_ns: format!("svebs{id}"),
            server_if: format!("svs{id}"),
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/servos-test-{id}")),
        };
        let client_if = format!("svc{id}");
        ip(&["netns", "add", &lab.client_ns]);
        ip(&["netns", "add", &lab.server_ns]);
        ip(&[
            "link",
            "add",
            &client_if,
            "address",
            "02:00:00:00:00:01",
            "netns",
            &lab.client_ns,
            "type",
            "veth",
            "peer",
            "name",
            &lab.server_if,
            "address",
            "02:00:00:00:00:02",
            "netns",
            &lab.server_ns,
        ]);
        // No IPv6 and no ARP on the wire: every packet the interface counts
        // is one the classifier counts.
        for (ns, iface, peer, peer_mac) in [
            (&lab.client_ns, &client_if, SERVER, "02:00:00:00:00:02"),
            (&lab.server_ns, &lab.server_if, CLIENT, "02:00:00:00:00:01"),
        ] {
            let sysctl = format!("/proc/sys/net/ipv6/conf/{iface}/disable_ipv6");
            in_netns(ns, move || std::fs::write(&sysctl, "1"))
                .unwrap_or_else(|err| panic!("disabling IPv6 in {ns}: {err}"));
            let own = if ns == &lab.client_ns { CLIENT } else { SERVER };
            ip(&["-n", ns, "addr", "add", &format!("{own}/24"), "dev", iface]);
            ip(&[
                "-n",
                ns,
                "neigh",
                "add",
                &peer.to_string(),
                "lladdr",
                peer_mac,
                "dev",
                iface,
                "nud",
                "permanent",
            ]);
            ip(&["-n", ns, "link", "set", iface, "up"]);
        }
        lab
    }

    /// Attaches (or adopts) the classifier on the server's end, allowing
    /// TCP to the allowed port only.
    fn attach(&self, mode: AttachMode) -> Classifier {
        let iface = self.server_if.clone();
        let pin_dir = self.pin_dir.clone();
        let mut classifier = in_netns(&self.server_ns, move || {
            Classifier::attach_or_adopt_with(&iface, &pin_dir, LinkLayer::Ethernet, mode)
        })
        .unwrap_or_else(|err| panic!("{}", causes(&err)));
        let net = |addr: Ipv4Addr| IpAddr::V4(addr).into();
        let identities = [
            Identity {
                id: 1,
                prefixes: vec![net(CLIENT)],
            },
            Identity {
                id: 2,
                prefixes: vec![net(SERVER)],
            },
        ];
        let policy = Policy {
            default_action: DefaultAction::Deny,
            rules: vec![rule(
                1,
                0,
                0,
                Protocol::Tcp,
                Some((ALLOWED_PORT, ALLOWED_PORT)),
            )],
        };
        let compiled = compile(&identities, &policy).unwrap_or_else(|err| panic!("{err}"));
        classifier
            .apply(&compiled)
            .unwrap_or_else(|err| panic!("{}", causes(&err)));
        classifier
    }

    /// Listeners on both ports on the server's side.
    fn listen(&self) -> [TcpListener; 2] {
        let ports = [ALLOWED_PORT, BLOCKED_PORT];
        in_netns(&self.server_ns, move || {
            ports.map(|port| {
                TcpListener::bind((SERVER, port)).unwrap_or_else(|err| panic!("bind {port}: {err}"))
            })
        })
    }

    /// Connects from the client's side and exchanges a few bytes with the
    /// listener; an error when the connection or the exchange fails.
    fn exchange(&self, listener: &TcpListener) -> std::io::Result<()> {
        let port = listener.local_addr()?.port();
        let server = SocketAddr::from((SERVER, port));
        let mut client = in_netns(&self.client_ns, move || {
            TcpStream::connect_timeout(&server, BLOCKED_WAIT)
        })?;
        client.set_read_timeout(Some(Duration::from_secs(5)))?;
        let (mut served, _) = listener.accept()?;
        served.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buffer = [0u8; 4];
        client.write_all(b"ping")?;
        served.read_exact(&mut buffer)?;
        served.write_all(b"pong")?;
        client.read_exact(&mut buffer)?;
        assert_eq!(&buffer, b"pong");
        Ok(())
    }

    /// Packets and bytes the server's interface received and sent.
    fn interface_count(&self) -> Count {
        let output = Command::new("ip")
            .args([
                "-n",
                &self.server_ns,
                "-s",
                "-j",
                "link",
                "show",
                "dev",
                &self.server_if,
            ])
            .output()
            .unwrap_or_else(|err| panic!("cannot run ip: {err}"));
        let links: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("ip -j printed no JSON: {err}"));
        let stats = &links[0]["stats64"];
        let field = |direction: &str, name: &str| stats[direction][name].as_u64().unwrap_or(0);
        Count {
            packets: field("rx", "packets") + field("tx", "packets"),
            bytes: field("rx", "bytes") + field("tx", "bytes"),
        }
    }

    /// How many programs are attached to the server's interface at ingress
    /// and at egress (TCX links, or netlink filters).
    fn attached(&self, mode: AttachMode) -> [usize; 2] {
        ["ingress", "egress"].map(|direction| {
            let output = Command::new("tc")
                .args([
                    "-n",
                    &self.server_ns,
                    "filter",
                    "show",
                    "dev",
                    &self.server_if,
                    direction,
                ])
                .output()
                .unwrap_or_else(|err| panic!("cannot run tc (package iproute2): {err}"));
            let filters = String::from_utf8_lossy(&output.stdout);
            // A filter is a line naming the program (twice: filter and program name).
            let netlink = filters
                .lines()
                .filter(|line| line.contains("servos_classify"))
                .count();
            let iface = self.server_if.clone();
            let tcx = in_netns(&self.server_ns, move || {
                let attach_type = if direction == "ingress" {
                    aya::programs::TcAttachType::Ingress
                } else {
                    aya::programs::TcAttachType::Egress
                };
                aya::programs::SchedClassifier::query_tcx(&iface, attach_type)
                    .map(|(_, programs)| programs.len())
                    .unwrap_or_else(|err| panic!("{}", causes(&err)))
            });
            match mode {
                AttachMode::Netlink => {
                    assert_eq!(tcx, 0, "a TCX program next to the netlink filter");
                    netlink
                }
                _ => {
                    assert_eq!(netlink, 0, "a netlink filter next to the TCX link");
                    tcx
                }
            }
        })
    }
}

impl Drop for VethLab {
    fn drop(&mut self) {
        for ns in [&self.client_ns, &self.server_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if let Ok(entries) = std::fs::read_dir(&self.pin_dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
            let _ = std::fs::remove_dir(&self.pin_dir);
        }
    }
}

/// Runs `work` on a thread inside network namespace `ns`; sockets it makes
/// stay in that namespace.
fn in_netns<T: Send + 'static>(ns: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let handle = File::open(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        setns(handle, CloneFlags::CLONE_NEWNET).unwrap_or_else(|err| panic!("setns {path}: {err}"));
        work()
    })
    .join()
    .unwrap_or_else(|_| panic!("the thread in {ns} panicked"))
}

/// The classifier's total over rules and default actions.
fn total(counters: &Counters) -> Count {
    let mut total = counters.default_allowed;
    for count in counters.rules.values().chain([&counters.default_denied]) {
        total.packets += count.packets;
        total.bytes += count.bytes;
    }
    total
}

/// Polls until the classifier has counted every packet the interface did
/// since it was attached (the interface had counted `unclassified` by then);
/// ingress runs after the interface's receive counter, a moment later.
fn assert_counts_match(lab: &VethLab, unclassified: Count, classifier: &Classifier) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let counters = classifier
            .counters()
            .unwrap_or_else(|err| panic!("{}", causes(&err)));
        let now = lab.interface_count();
        let interface = Count {
            packets: now.packets - unclassified.packets,
            bytes: now.bytes - unclassified.bytes,
        };
        if total(&counters) == interface {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the classifier counted {:?}, the interface {interface:?}",
            total(&counters)
        );
        std::thread::yield_now();
    }
}

fn blocked(lab: &VethLab, listener: &TcpListener) -> bool {
    matches!(lab.exchange(listener), Err(err) if err.kind() == std::io::ErrorKind::TimedOut)
}

fn enforce_survive_and_adopt(mode: AttachMode) {
    require_root("it makes network namespaces and attaches a BPF program");
    let lab = VethLab::create();
    let [allowed, other] = lab.listen();
    let unclassified = lab.interface_count();

    let classifier = lab.attach(mode);
    assert_eq!(lab.attached(mode), [1, 1]);
    lab.exchange(&allowed)
        .unwrap_or_else(|err| panic!("the allowed port: {err}"));
    assert!(blocked(&lab, &other), "port {BLOCKED_PORT} is not blocked");
    assert_counts_match(&lab, unclassified, &classifier);
    let before = classifier
        .counters()
        .unwrap_or_else(|err| panic!("{}", causes(&err)));
    let allowed_packets = before.rules.get(&1).map_or(0, |count| count.packets);
    assert!(
        allowed_packets >= 6,
        "rule 1 counted {allowed_packets} packets"
    );
    assert!(before.default_denied.packets >= 1);

    // What a killed agent leaves: no handle in any process.
    drop(classifier);
    assert_eq!(lab.attached(mode), [1, 1]);
    lab.exchange(&allowed)
        .unwrap_or_else(|err| panic!("the allowed port, unowned: {err}"));
    assert!(
        blocked(&lab, &other),
        "unowned, port {BLOCKED_PORT} is not blocked"
    );

    let adopted = lab.attach(mode);
    assert_eq!(
        lab.attached(mode),
        [1, 1],
        "adoption attached a second time"
    );
    lab.exchange(&allowed)
        .unwrap_or_else(|err| panic!("the allowed port, adopted: {err}"));
    assert!(
        blocked(&lab, &other),
        "adopted, port {BLOCKED_PORT} is not blocked"
    );
    assert_counts_match(&lab, unclassified, &adopted);
    let after = adopted
        .counters()
        .unwrap_or_else(|err| panic!("{}", causes(&err)));
    assert!(after.rules.get(&1).map_or(0, |count| count.packets) > allowed_packets);

    in_netns(&lab.server_ns, move || adopted.detach())
        .unwrap_or_else(|err| panic!("{}", causes(&err)));
    assert_eq!(lab.attached(mode), [0, 0]);
    // The blocked port was the classifier's doing.
    lab.exchange(&other)
        .unwrap_or_else(|err| panic!("port {BLOCKED_PORT} after detaching: {err}"));
}

#[test]
fn tcx_links_enforce_survive_their_owner_and_are_adopted_in_place() {
    enforce_survive_and_adopt(AttachMode::Tcx);
}

#[test]
fn netlink_filters_enforce_survive_their_owner_and_are_adopted_in_place() {
    enforce_survive_and_adopt(AttachMode::Netlink);
}
