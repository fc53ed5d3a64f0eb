//! A deployment to two lab hosts while one host's link is lossy and slow:
//! 10% of its packets dropped at random in both directions (iptables
//! `statistic` DROP rules on the root side of its veth pair: INPUT and
//! OUTPUT for the API's SSH sessions and the proxy checks, FORWARD for
//! traffic between hosts) and a `tbf` qdisc of 8 mbit at both ends of the
//! link, which queues packets for up to 200 ms. This kernel has no `netem`,
//! so no fixed delay is added: the delay is the queueing of a slow link.
//! The fault starts right after the deployment is queued and is removed
//! when its guard is dropped, also when the test fails. The deployment
//! succeeds on both hosts, both proxies serve the new version, and the
//! aftermath holds.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;
use servos_lab::Host;

use super::aftermath::Aftermath;
use super::report::{test_name, Scenario};
use crate::both_backends;
use crate::deploy_lab::{
    deploy, deployed_web_app, deploys, queue_deploy, set_env, set_image, through_proxy,
    DEPLOY_WITHIN,
};
use crate::deployments::finished;
use crate::harness::Backend;

/// The share of packets dropped, as iptables' `--probability` takes it.
const LOSS: &str = "0.1";
/// The slow link: `tc qdisc ... tbf` arguments after `tbf`.
const SLOW_LINK: [&str; 6] = ["rate", "8mbit", "burst", "32kb", "latency", "200ms"];
/// How long the proxies may take to answer through the lossy link.
const SERVES_WITHIN: Duration = Duration::from_secs(30);

/// Runs a command, which must succeed; the message names the package.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} (run as root; Debian package iproute2 or iptables): {e}")
        });
    assert_ok(&out, program, args);
}

fn assert_ok(out: &Output, program: &str, args: &[&str]) {
    assert!(
        out.status.success(),
        "{program} {args:?} (needs root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Loss and a slow link on one host's link, undone when dropped.
struct LossyLink<'a> {
    host: &'a Host,
    /// The iptables rules in place, each as its chain and match.
    rules: Vec<Vec<String>>,
    /// Whether the root side's qdisc is in place.
    root_shaped: bool,
    /// Whether the host side's qdisc is in place.
    host_shaped: bool,
}

impl<'a> LossyLink<'a> {
    /// Drops [`LOSS`] of `host`'s packets both ways and slows its link.
    fn apply(host: &'a Host) -> Self {
        let mut link = Self {
            host,
            rules: Vec::new(),
            root_shaped: false,
            host_shaped: false,
        };
        let comment = format!("servos-hostile:{}", host.name);
        for (chain, direction) in [
            ("INPUT", "-i"),
            ("OUTPUT", "-o"),
            ("FORWARD", "-i"),
            ("FORWARD", "-o"),
        ] {
            let rule: Vec<String> = [
                chain,
                direction,
                &host.name,
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                LOSS,
                "-m",
                "comment",
                "--comment",
                &comment,
                "-j",
                "DROP",
            ]
            .map(str::to_owned)
            .to_vec();
            let mut args = vec!["-w", "-I", chain, "1"];
            args.extend(rule[1..].iter().map(String::as_str));
            run("iptables", &args);
            link.rules.push(rule);
        }
        let root: Vec<&str> = ["qdisc", "add", "dev", &host.name, "root", "tbf"]
            .into_iter()
            .chain(SLOW_LINK)
            .collect();
        run("tc", &root);
        link.root_shaped = true;
        let inside: Vec<&str> = ["tc", "qdisc", "add", "dev", "eth0", "root", "tbf"]
            .into_iter()
            .chain(SLOW_LINK)
            .collect();
        assert_ok(&host.exec(&inside), "tc (in the host)", &inside);
        link.host_shaped = true;
        link
    }

    /// How many packets the loss rules dropped so far.
    fn dropped(&self) -> u64 {
        let comment = format!("servos-hostile:{}", self.host.name);
        ["INPUT", "OUTPUT", "FORWARD"]
            .iter()
            .map(|chain| {
                let out = Command::new("iptables")
                    .args(["-w", "-L", chain, "-v", "-x", "-n"])
                    .output()
                    .expect("iptables (Debian package iptables) runs");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|line| line.contains(&comment))
                    .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }
}

impl Drop for LossyLink<'_> {
    fn drop(&mut self) {
        for rule in &self.rules {
            let _ = Command::new("iptables")
                .args(["-w", "-D"])
                .args(rule)
                .status();
        }
        if self.root_shaped {
            let _ = Command::new("tc")
                .args(["qdisc", "del", "dev", &self.host.name, "root"])
                .status();
        }
        if self.host_shaped {
            let _ = self
                .host
                .exec(&["tc", "qdisc", "del", "dev", "eth0", "root"]);
        }
    }
}

/// The TCP segments `host` retransmitted so far (`RetransSegs` of its
/// namespace's `/proc/net/snmp`).
fn retransmitted(host: &Host) -> u64 {
    let out = host.exec(&["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut tcp = text.lines().filter(|line| line.starts_with("Tcp:"));
    let (names, values) = (
        tcp.next().unwrap_or_default(),
        tcp.next().unwrap_or_default(),
    );
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RetransSegs")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no RetransSegs in {}'s /proc/net/snmp: {text}", host.name))
}

/// Waits until `host`'s proxy serves `page` for `host_name`.
async fn serves(host: &Host, host_name: &str, page: &str) {
    let deadline = Instant::now() + SERVES_WITHIN;
    loop {
        let answer = through_proxy(host, host_name).await;
        if answer == Ok((200, page.to_owned())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} does not serve {page} within {SERVES_WITHIN:?}: {answer:?}",
            host.name
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_deploy_over_a_lossy_slow_link(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(module_path!(), "a_deploy_over_a_lossy_slow_link", backend),
        "10% random packet loss both ways and an 8 mbit tbf link (up to 200 ms of queueing) \
         on one of two hosts, from just after a deployment is queued",
        "the deployment succeeds on both hosts, both proxies serve the new version, \
         then the aftermath (no job left, no secret file left, every secret opens, audit verify)",
    );
    let (fx, svc) = deploys(backend, 2).await;
    let deployer = fx.who.deployer_token.clone();
    let lossy_host = &fx.hosts()[1];
    let app_id = deployed_web_app(&svc, &fx, "lossy", "servos-test/web:1").await;
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    set_env(
        &svc,
        &deployer,
        &app_id,
        json!({"set": {"TOKEN": {"value": canary}}}),
    )
    .await;

    set_image(&svc, &deployer, &app_id, "servos-test/web:2").await;
    let started = Instant::now();
    let clean = deploy(&svc, &deployer, &app_id).await;
    let clean_took = started.elapsed();
    assert_eq!(clean["state"], "succeeded", "{clean}");
    scenario.figure("deploy without the fault", format!("{clean_took:.1?}"));

    set_image(&svc, &deployer, &app_id, "servos-test/web:1").await;
    let started = Instant::now();
    let id = queue_deploy(&svc, &deployer, &app_id).await;
    let link = LossyLink::apply(lossy_host);
    let retransmitted_before = retransmitted(lossy_host);
    let ended = finished(&svc, &deployer, &id, DEPLOY_WITHIN).await;
    let lossy_took = started.elapsed();
    scenario.figure("deploy with the fault", format!("{lossy_took:.1?}"));
    assert_eq!(ended["state"], "succeeded", "{ended}");
    for host in fx.hosts() {
        serves(host, "lossy.servos.internal", "v1").await;
    }
    scenario.figure("packets dropped by the loss rules", link.dropped());
    scenario.figure(
        "TCP segments the lossy host retransmitted",
        retransmitted(lossy_host) - retransmitted_before,
    );
    drop(link);

    Aftermath::of(&fx)
        .app(&app_id)
        .env_value(&app_id, "TOKEN", &canary)
        .check(&mut scenario)
        .await;
}

both_backends!(a_deploy_over_a_lossy_slow_link);
