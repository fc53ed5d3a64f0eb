//! `cargo xtask bench classifier`: the mesh classifier's cost per packet
//! (`BPF_PROG_TEST_RUN` in `servos-ebpf/loader/examples/bench_classifier.rs`)
//! at 10, 1,000 and 10,000 rules; then TCP throughput (iperf3) across a veth
//! pair between two network namespaces, side by side in one run: no filter,
//! the classifier, iptables (legacy) and nftables, each holding the same
//! policy of 10 and 10,000 rules with the benchmark's flow allowed by the
//! last. iptables and nftables accept established flows first, as such
//! policies are written; the classifier looks every packet up.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::{bpf, cmd, debian, target_dir};

/// Rule counts of the throughput comparison.
const RULE_COUNTS: [u32; 2] = [10, 10_000];
const IPERF_SECONDS: u32 = 5;
const PORT: u16 = 5201;
const CLIENT: &str = "10.238.0.1";
const SERVER: &str = "10.238.0.2";

/// Runs the classifier benchmark.
pub fn run() -> Result<()> {
    bpf::ensure_toolchain()?;
    debian::ensure(&[
        debian::IPROUTE2,
        debian::IPTABLES,
        debian::NFTABLES,
        debian::IPERF3,
    ])?;
    if !cmd::is_root() {
        bail!("bench classifier needs root: it loads BPF programs and makes network namespaces");
    }
    cmd::build_release(&["-p", "servos-ebpf-loader", "--example", "bench_classifier"])?;
    let example = target_dir()
        .join("release")
        .join("examples")
        .join("bench_classifier");

    println!("\nclassifier, BPF_PROG_TEST_RUN: mean time per packet over 1,000,000 runs");
    println!("(allowed: by the last rule; denied: from an unknown address, by default)\n");
    cmd::run(Command::new(&example).arg("test-run"))?;

    let pair = VethPair::create()?;
    let mut rows = vec![("none", 0, pair.iperf()?)];
    for rules in RULE_COUNTS {
        let attached = Attached::start(&example, &pair, rules)?;
        rows.push(("classifier", rules, pair.iperf()?));
        attached.stop()?;

        pair.in_server(&["iptables-legacy-restore"], Some(&iptables_rules(rules)))?;
        rows.push(("iptables", rules, pair.iperf()?));
        pair.in_server(&["iptables-legacy-restore"], Some(IPTABLES_OPEN))?;

        pair.in_server(&["nft", "-f", "-"], Some(&nftables_rules(rules)))?;
        rows.push(("nftables", rules, pair.iperf()?));
        pair.in_server(&["nft", "delete", "table", "inet", "servos_bench"], None)?;
    }

    println!(
        "\niperf3 TCP, {IPERF_SECONDS} s, across a veth pair between two network namespaces\n"
    );
    println!("{:<12} {:>8} {:>14}", "filter", "rules", "Gbit/s");
    for (filter, rules, bits_per_second) in rows {
        println!("{filter:<12} {rules:>8} {:>14.2}", bits_per_second / 1e9);
    }
    Ok(())
}

/// The benchmark policy as iptables rules (the example's addresses and ports).
fn iptables_rules(count: u32) -> String {
    let mut text = String::from(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n",
    );
    for index in 0..count.saturating_sub(1) {
        text.push_str(&format!(
            "-A INPUT -s {} -d {SERVER} -p tcp --dport {} -j ACCEPT\n",
            other_address(index),
            10_000 + index
        ));
    }
    text.push_str(&format!(
        "-A INPUT -s {CLIENT} -d {SERVER} -p tcp --dport {PORT} -j ACCEPT\nCOMMIT\n"
    ));
    text
}

/// iptables with no rules and nothing dropped.
const IPTABLES_OPEN: &str =
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

/// The benchmark policy as an nftables table.
fn nftables_rules(count: u32) -> String {
    let mut text = String::from(
        "table inet servos_bench {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ct state established,related accept\n",
    );
    for index in 0..count.saturating_sub(1) {
        text.push_str(&format!(
            "  ip saddr {} ip daddr {SERVER} tcp dport {} accept\n",
            other_address(index),
            10_000 + index
        ));
    }
    text.push_str(&format!(
        "  ip saddr {CLIENT} ip daddr {SERVER} tcp dport {PORT} accept\n }}\n}}\n"
    ));
    text
}

/// The address of the example's identity `index + 3` (10.100.0.0 upwards).
fn other_address(index: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(10, 100, 0, 0)) + index)
}

/// Two network namespaces joined by a veth pair; removed when dropped.
struct VethPair {
    client_ns: String,
    server_ns: String,
    server_if: String,
}

impl VethPair {
    fn create() -> Result<Self> {
        let id = std::process::id();
        let pair = Self {
            client_ns: format!("svbc{id}"),
            server_ns: format!("svbs{id}"),
            server_if: format!("svbs{id}"),
        };
        let client_if = format!("svbc{id}");
        for ns in [&pair.client_ns, &pair.server_ns] {
            cmd::run_quiet(Command::new("ip").args(["netns", "add", ns]))?;
        }
        cmd::run_quiet(Command::new("ip").args([
            "link",
            "add",
            &client_if,
            "netns",
            &pair.client_ns,
            "type",
            "veth",
            "peer",
            "name",
            &pair.server_if,
            "netns",
            &pair.server_ns,
        ]))?;
        for (ns, iface, addr) in [
            (&pair.client_ns, &client_if, CLIENT),
            (&pair.server_ns, &pair.server_if, SERVER),
        ] {
            let prefix = format!("{addr}/24");
            cmd::run_quiet(
                Command::new("ip").args(["-n", ns, "addr", "add", &prefix, "dev", iface]),
            )?;
            cmd::run_quiet(Command::new("ip").args(["-n", ns, "link", "set", iface, "up"]))?;
            cmd::run_quiet(Command::new("ip").args(["-n", ns, "link", "set", "lo", "up"]))?;
        }
        Ok(pair)
    }

    /// Runs `command` inside the server's namespace, with `input` on its
    /// standard input.
    fn in_server(&self, command: &[&str], input: Option<&str>) -> Result<()> {
        let mut wrapped = Command::new("ip");
        wrapped
            .args(["netns", "exec", &self.server_ns])
            .args(command);
        let Some(input) = input else {
            return cmd::run_quiet(&mut wrapped);
        };
        let mut child = wrapped
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start `{}`", cmd::display(&wrapped)))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("`{}` failed ({status})", cmd::display(&wrapped));
        }
        Ok(())
    }

    /// Bits per second of a TCP stream from the client to the server.
    fn iperf(&self) -> Result<f64> {
        let mut server = ChildGuard(
            Command::new("ip")
                .args(["netns", "exec", &self.server_ns, "iperf3", "-s", "-1", "-p"])
                .arg(PORT.to_string())
                .stdout(Stdio::null())
                .spawn()
                .context("could not start iperf3 -s")?,
        );
        self.wait_listening()?;
        let report = cmd::read_stdout(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.client_ns,
                    "iperf3",
                    "-J",
                    "-c",
                    SERVER,
                    "-p",
                ])
                .arg(PORT.to_string())
                .args(["-t", &IPERF_SECONDS.to_string()]),
        )?;
        server.0.wait().context("waiting for iperf3 -s")?;
        let report: serde_json::Value =
            serde_json::from_str(&report).context("iperf3 -J printed no JSON")?;
        report["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .context("iperf3's report has no end.sum_received.bits_per_second")
    }

    /// Polls until the server's iperf3 listens.
    fn wait_listening(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let filter = format!("sport = :{PORT}");
        loop {
            let listening = cmd::read_stdout(
                Command::new("ip")
                    .args(["netns", "exec", &self.server_ns, "ss", "-Hltn"])
                    .arg(&filter),
            )?;
            if !listening.trim().is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("iperf3 -s did not listen on port {PORT} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in [&self.client_ns, &self.server_ns] {
            if let Err(err) = cmd::run_quiet(Command::new("ip").args(["netns", "del", ns])) {
                eprintln!("xtask: warning: {err:#}");
            }
        }
    }
}

/// A child process killed when dropped (an iperf3 server a failed run left).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example holding the classifier on the server's interface; it
/// detaches when its standard input closes.
struct Attached(ChildGuard);

impl Attached {
    fn start(example: &std::path::Path, pair: &VethPair, rules: u32) -> Result<Self> {
        let mut child = ChildGuard(
            Command::new(example)
                .args(["attach", &pair.server_ns, &pair.server_if])
                .arg(rules.to_string())
                .args([CLIENT, SERVER, &PORT.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .context("could not start bench_classifier attach")?,
        );
        let stdout = child.0.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "attached" {
            bail!("bench_classifier attach did not attach (it printed {line:?})");
        }
        Ok(Self(child))
    }

    fn stop(mut self) -> Result<()> {
        drop(self.0 .0.stdin.take());
        let status = self.0 .0.wait()?;
        if !status.success() {
            bail!("bench_classifier attach failed to detach ({status})");
        }
        Ok(())
    }
}
