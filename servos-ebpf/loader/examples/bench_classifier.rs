//! The classifier's side of `cargo xtask bench classifier` (run as root):
//!
//! - `bench_classifier test-run`: the mean time per packet
//!   (`BPF_PROG_TEST_RUN`, in the kernel) with 10, 1,000 and 10,000 rules,
//!   for a packet a rule allows and for one the default denies;
//! - `bench_classifier attach NETNS IFACE RULES CLIENT SERVER PORT`: attaches
//!   the classifier to IFACE in network namespace NETNS with the benchmark
//!   policy of RULES rules (the last allowing CLIENT to SERVER on TCP PORT),
//!   prints `attached`, and detaches when its standard input closes.
//!
//! The policy: rule `i` allows TCP from identity `i + 3` (an address of its
//! own) to the server on port `10000 + i`; the last rule allows the client.

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use servos_ebpf_loader::{
    compile, Classifier, CompiledPolicy, DefaultAction, Identity, LinkLayer, Policy, PortRange,
    ProgramUnderTest, Protocol, Rule,
};

const RULE_COUNTS: [u32; 3] = [10, 1_000, 10_000];
const REPEAT: u32 = 1_000_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["test-run"] => test_run(),
        ["attach", netns, iface, rules, client, server, port] => {
            attach(netns, iface, rules, client, server, port)
        }
        _ => Err(
            "usage: bench_classifier test-run | attach NETNS IFACE RULES CLIENT SERVER PORT".into(),
        ),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench_classifier: {err}");
            ExitCode::FAILURE
        }
    }
}

type Outcome = Result<(), Box<dyn std::error::Error>>;

/// The benchmark policy of `count` rules.
fn policy(
    count: u32,
    client: Ipv4Addr,
    server: Ipv4Addr,
    port: u16,
) -> Result<CompiledPolicy, Box<dyn std::error::Error>> {
    let host = |addr: Ipv4Addr| IpAddr::V4(addr).into();
    let mut identities = vec![
        Identity {
            id: 1,
            prefixes: vec![host(client)],
        },
        Identity {
            id: 2,
            prefixes: vec![host(server)],
        },
    ];
    let mut rules = Vec::new();
    for index in 0..count.saturating_sub(1) {
        let id = index + 3;
        // 10.100.0.0/16 and up: one address per other identity.
        let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 100, 0, 0)) + index);
        identities.push(Identity {
            id,
            prefixes: vec![host(addr)],
        });
        let other_port = 10_000 + index as u16;
        rules.push(Rule {
            id: u64::from(id),
            src: id,
            dst: 2,
            protocol: Protocol::Tcp,
            ports: Some(PortRange::new(other_port, other_port)?),
        });
    }
    rules.push(Rule {
        id: 1,
        src: 1,
        dst: 2,
        protocol: Protocol::Tcp,
        ports: Some(PortRange::new(port, port)?),
    });
    let policy = Policy {
        default_action: DefaultAction::Deny,
        rules,
    };
    Ok(compile(&identities, &policy)?)
}

/// An Ethernet frame of a TCP segment from `src` to `dst`:`port`.
fn tcp_frame(src: Ipv4Addr, dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0];
    let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    frame.extend_from_slice(&ip);
    let mut tcp = vec![0; 20];
    tcp[..2].copy_from_slice(&40_000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&port.to_be_bytes());
    tcp[12] = 5 << 4;
    frame.extend_from_slice(&tcp);
    frame
}

fn test_run() -> Outcome {
    let client = Ipv4Addr::new(10, 238, 0, 1);
    let server = Ipv4Addr::new(10, 238, 0, 2);
    let allowed = tcp_frame(client, server, 5201);
    let denied = tcp_frame(Ipv4Addr::new(192, 0, 2, 1), server, 5201);
    println!(
        "{:>8} {:>14} {:>14}",
        "rules", "allowed (ns)", "denied (ns)"
    );
    for count in RULE_COUNTS {
        let mut program = ProgramUnderTest::load()?;
        program
            .classifier()
            .apply(&policy(count, client, server, 5201)?)?;
        let allowed_ns = program.mean_run_time(&allowed, REPEAT)?.as_nanos();
        let denied_ns = program.mean_run_time(&denied, REPEAT)?.as_nanos();
        println!("{count:>8} {allowed_ns:>14} {denied_ns:>14}");
    }
    Ok(())
}

fn attach(
    netns: &str,
    iface: &str,
    rules: &str,
    client: &str,
    server: &str,
    port: &str,
) -> Outcome {
    let handle = std::fs::File::open(format!("/run/netns/{netns}"))?;
    nix::sched::setns(handle, nix::sched::CloneFlags::CLONE_NEWNET)?;
    let pin_dir = PathBuf::from(format!("/sys/fs/bpf/servos-bench-{}", std::process::id()));
    let mut classifier = Classifier::attach_or_adopt(iface, &pin_dir, LinkLayer::Ethernet)?;
    classifier.apply(&policy(
        rules.parse()?,
        client.parse()?,
        server.parse()?,
        port.parse()?,
    )?)?;
    println!("attached");
    // Holds the attachment until the caller closes our standard input.
    let mut rest = Vec::new();
    let waited = std::io::stdin().read_to_end(&mut rest);
    let detached = classifier.detach();
    waited?;
    Ok(detached?)
}
