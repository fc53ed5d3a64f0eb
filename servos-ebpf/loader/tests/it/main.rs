//! Tests of the classifier in the kernel: `BPF_PROG_TEST_RUN` on crafted
//! packets (parsing, policy semantics, counters, generations) and a live
//! pair of network namespaces. They need root.

mod frames;
mod live;
mod parser;
mod semantics;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt as _;

use servos_ebpf_loader::{
    compile, Counters, DefaultAction, Identity, Policy, PortRange, ProgramUnderTest, Protocol,
    Rule, Verdict,
};

/// Host A: identity 1 (IPv4 and IPv6).
pub const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Host B: identity 2.
pub const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// A host of network C (10.0.1.0/24): identity 3.
pub const C: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 7);
/// An address no identity covers.
pub const STRANGER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
/// Host A over IPv6.
pub const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// Host B over IPv6.
pub const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

/// Fails the test with a message unless it runs as root.
pub fn require_root(why: &str) {
    let uid = std::fs::metadata("/proc/self").map(|meta| meta.uid());
    if uid.ok() != Some(0) {
        panic!("this test needs root ({why}): run `cargo test -p servos-ebpf-loader` as root");
    }
}

/// An error with its chain of causes, for a failure message.
pub fn causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The classifier, loaded with maps of its own.
pub fn program() -> ProgramUnderTest {
    require_root("it loads a BPF program");
    ProgramUnderTest::load().unwrap_or_else(|err| panic!("{}", causes(&err)))
}

/// Identities 1 (A), 2 (B) and 3 (network C).
pub fn identities() -> Vec<Identity> {
    let net = |text: &str| text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
    vec![
        Identity {
            id: 1,
            prefixes: vec![net("10.0.0.1/32"), net("fd00::1/128")],
        },
        Identity {
            id: 2,
            prefixes: vec![net("10.0.0.2/32"), net("fd00::2/128")],
        },
        Identity {
            id: 3,
            prefixes: vec![net("10.0.1.0/24")],
        },
    ]
}

/// An allow rule.
pub fn rule(id: u64, src: u32, dst: u32, protocol: Protocol, ports: Option<(u16, u16)>) -> Rule {
    let ports = ports.map(|(first, last)| {
        PortRange::new(first, last).unwrap_or_else(|err| panic!("{first}-{last}: {err}"))
    });
    Rule {
        id,
        src,
        dst,
        protocol,
        ports,
    }
}

/// Compiles `rules` over [`identities`] and puts them in force.
pub fn apply(program: &mut ProgramUnderTest, default_action: DefaultAction, rules: Vec<Rule>) {
    let policy = Policy {
        default_action,
        rules,
    };
    let compiled = compile(&identities(), &policy).unwrap_or_else(|err| panic!("{err}"));
    program
        .classifier()
        .apply(&compiled)
        .unwrap_or_else(|err| panic!("{}", causes(&err)));
}

/// Runs the program once on `frame`.
pub fn run(program: &mut ProgramUnderTest, frame: &[u8]) -> Verdict {
    program
        .run(frame)
        .unwrap_or_else(|err| panic!("{}", causes(&err)))
}

/// The classifier's counters.
pub fn counters(program: &mut ProgramUnderTest) -> Counters {
    program
        .classifier()
        .counters()
        .unwrap_or_else(|err| panic!("{}", causes(&err)))
}
