//! `cargo xtask bench mesh`: the node agent's WireGuard mesh on lab hosts
//! (sshd only, no Docker), made as the product makes it: the release API
//! serves HTTPS on the lab's gateway and installs the release agent over SSH
//! (`fleet.rs`). It prints, without timed assertions:
//!
//! - iperf3 TCP throughput between two hosts over the agent's mesh (its
//!   embedded boringtun, classifier attached, policy allowing all), over
//!   wireguard-go and boringtun-cli between the same hosts (`tunnels.rs`),
//!   and over the raw veth path, the ceiling;
//! - the time from the install requests to a working mesh (every install
//!   done, then every ordered pair of hosts pings over it) at 1, 10 and 50
//!   hosts;
//! - how long a node added takes to reach every agent (its `config.json`)
//!   and every heartbeat (the applied version the API shows) at 10 and 50;
//! - the agents' resident memory after `--soak-minutes` (default 10) of
//!   heartbeats, on the largest mesh.
//!
//! A size that fails is measured again at half, and the failure printed.
//! Labs, processes and sockets are removed when it ends, failed or not.

mod clock;
mod fleet;
mod tunnels;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::scratch::ScratchDir;
use crate::{bpf, cmd, debian, target_dir};
use fleet::{Fleet, Propagation};
use tunnels::{Tunnel, Userspace, IPERF_SECONDS};

/// Minutes of the memory soak unless `--soak-minutes` says otherwise.
const SOAK_MINUTES: u64 = 10;
/// Mesh sizes measured: install to working mesh at each; a node added at
/// each but the first; the memory soak on the last.
const SIZES: [usize; 3] = [1, 10, 50];

/// What every phase needs: the API binary (the agent beside it) and the
/// lab's client key.
pub struct Bench {
    api_binary: PathBuf,
    public_key: String,
    private_key: String,
    work: PathBuf,
}

/// A measurement, or why it could not be made.
type Outcome<T> = std::result::Result<T, String>;

/// One mesh size's results.
struct SizeRow {
    hosts: usize,
    /// Install requests → every install succeeded; → every pair pings.
    installed: Outcome<(Duration, Duration)>,
    propagation: Option<Outcome<Propagation>>,
    soak: Option<Outcome<Soak>>,
}

/// The agents' memory before and after the soak.
struct Soak {
    agents: usize,
    minutes: u64,
    before_kib: Vec<u64>,
    after_kib: Vec<u64>,
    restarts: usize,
}

/// Runs the mesh benchmark with `args` (`--soak-minutes N`).
pub fn run(args: &[String]) -> Result<()> {
    let soak_minutes = soak_minutes(args)?;
    if !cmd::is_root() {
        bail!("bench mesh needs root: it makes network namespaces and runs the agent");
    }
    bpf::ensure_toolchain()?;
    let mut needed = vec![
        debian::OPENSSL,
        debian::CURL,
        debian::IPERF3,
        debian::WIREGUARD_GO,
        debian::WIREGUARD_TOOLS,
    ];
    needed.extend(debian::LAB_BASE);
    needed.extend(debian::BUILD);
    debian::ensure(&needed)?;
    cmd::build_release(&["-p", "servos-api", "-p", "servos-agent"])?;
    let boringtun = tunnels::boringtun_cli(&target_dir()).map_err(|error| format!("{error:#}"));
    if let Err(reason) = &boringtun {
        eprintln!(
            "xtask: warning: boringtun-cli could not be built here, going on without it: {reason}"
        );
    }
    let scratch = ScratchDir::create(target_dir().join("servos-bench").join("mesh"))?;
    let (private_key, public_key) = servos_lab::client_key(&scratch.path.join("keys"));
    let bench = Bench {
        api_binary: target_dir().join("release").join("servos-api"),
        public_key,
        private_key,
        work: scratch.path.clone(),
    };

    let throughput = throughput(&bench, &boringtun);
    let mut rows = Vec::new();
    for (index, hosts) in SIZES.into_iter().enumerate() {
        let last = index + 1 == SIZES.len();
        let soak = last.then_some(soak_minutes);
        let row = size_row(&bench, hosts, index > 0, soak);
        let failed = row.installed.is_err();
        rows.push(row);
        if failed && hosts > 2 {
            eprintln!(
                "xtask: {hosts} hosts failed; measuring {} instead",
                hosts / 2
            );
            rows.push(size_row(&bench, hosts / 2, index > 0, soak));
        }
    }

    let mut failed = print_throughput(&throughput);
    failed |= print_sizes(&rows);
    if failed {
        bail!("some measurements failed (see above)");
    }
    Ok(())
}

/// `--soak-minutes N` (at least 1), or the default.
fn soak_minutes(args: &[String]) -> Result<u64> {
    match args {
        [] => Ok(SOAK_MINUTES),
        [flag, minutes] if flag == "--soak-minutes" => {
            let minutes: u64 = minutes
                .parse()
                .with_context(|| format!("--soak-minutes takes a number, not {minutes:?}"))?;
            if minutes == 0 {
                bail!("--soak-minutes takes at least 1");
            }
            Ok(minutes)
        }
        _ => bail!("usage: cargo xtask bench mesh [--soak-minutes N]"),
    }
}

/// iperf3 from host 0 to host 1 over each path, in the order printed.
fn throughput(
    bench: &Bench,
    boringtun: &Outcome<PathBuf>,
) -> Outcome<Vec<(&'static str, Outcome<f64>)>> {
    let run = || -> Result<Vec<(&'static str, Outcome<f64>)>> {
        let fleet = Fleet::up(bench, 2, "throughput")?;
        fleet.install(&[0, 1])?;
        fleet.wait_mesh(&[0, 1])?;
        let (from, to, dir) = (&fleet.hosts()[0], &fleet.hosts()[1], fleet.dir());
        let through = |kind: &Userspace<'_>, tag: char, subnet: u8| -> Outcome<f64> {
            let tunnel = Tunnel::start(kind, tag, [from, to], subnet, dir)
                .map_err(|error| format!("{error:#}"))?;
            tunnels::iperf(from, to, &tunnel.addresses[1], dir)
                .map_err(|error| format!("{error:#}"))
        };
        let mesh_address = fleet.mesh_address(1)?;
        let rows = vec![
            (
                "raw veth (ceiling)",
                tunnels::iperf(from, to, &to.address.to_string(), dir)
                    .map_err(|error| format!("{error:#}")),
            ),
            (
                "servos-agent (boringtun)",
                tunnels::iperf(from, to, &mesh_address, dir).map_err(|error| format!("{error:#}")),
            ),
            ("wireguard-go", through(&Userspace::WireguardGo, 'g', 1)),
            (
                "boringtun-cli",
                match boringtun {
                    Ok(binary) => through(&Userspace::BoringtunCli(binary), 'b', 2),
                    Err(reason) => Err(format!(
                        "not measured: it could not be built here: {reason}"
                    )),
                },
            ),
        ];
        stop(fleet);
        Ok(rows)
    };
    run().map_err(|error| format!("{error:#}"))
}

/// A mesh of `hosts`: install time; with `propagate`, one more host added;
/// with `soak`, the agents' memory after that many minutes.
fn size_row(bench: &Bench, hosts: usize, propagate: bool, soak: Option<u64>) -> SizeRow {
    let mut row = SizeRow {
        hosts,
        installed: Err(String::new()),
        propagation: None,
        soak: None,
    };
    let all: Vec<usize> = (0..hosts).collect();
    let lab_hosts = hosts + usize::from(propagate);
    let fleet = match Fleet::up(bench, lab_hosts, &format!("mesh-{hosts}")) {
        Ok(fleet) => fleet,
        Err(error) => {
            row.installed = Err(format!("{error:#}"));
            return row;
        }
    };
    let started = Instant::now();
    row.installed = fleet
        .install(&all)
        .map(|()| started.elapsed())
        .and_then(|installed| {
            fleet.wait_mesh(&all)?;
            Ok((installed, started.elapsed()))
        })
        .map_err(|error| format!("{error:#}"));
    if row.installed.is_ok() && propagate {
        row.propagation = Some(
            fleet
                .propagation(&all, hosts)
                .map_err(|error| format!("{error:#}")),
        );
    }
    if let (Ok(_), Some(minutes)) = (&row.installed, soak) {
        let grown = matches!(row.propagation, Some(Ok(_)));
        let every: Vec<usize> = (0..if grown { lab_hosts } else { hosts }).collect();
        row.soak = Some(soak_memory(&fleet, &every, minutes).map_err(|error| format!("{error:#}")));
    }
    stop(fleet);
    row
}

/// Stops the fleet's API and tears its lab down; a slow stop is only
/// reported (the numbers are taken by then).
fn stop(fleet: Fleet) {
    if let Err(error) = fleet.down() {
        eprintln!("xtask: warning: stopping the API: {error:#}");
    }
}

/// The agents' memory now and after `minutes` of heartbeats.
fn soak_memory(fleet: &Fleet, indices: &[usize], minutes: u64) -> Result<Soak> {
    let (before_kib, pids_before) = fleet.agent_memory(indices)?;
    let end = Instant::now() + Duration::from_secs(minutes * 60);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        eprintln!(
            "xtask: soak: {} agents, {:.1} min left",
            indices.len(),
            left.as_secs_f64() / 60.0
        );
        std::thread::sleep(left.min(Duration::from_secs(60)));
    }
    let (after_kib, pids_after) = fleet.agent_memory(indices)?;
    let restarts = pids_before
        .iter()
        .zip(&pids_after)
        .filter(|(before, after)| before != after)
        .count();
    Ok(Soak {
        agents: indices.len(),
        minutes,
        before_kib,
        after_kib,
        restarts,
    })
}

/// Prints the throughput table; whether something failed.
fn print_throughput(rows: &Outcome<Vec<(&'static str, Outcome<f64>)>>) -> bool {
    println!(
        "\nMesh throughput: iperf3 TCP, one stream, {IPERF_SECONDS} s each, lab host 0 -> host 1 \
         (both ends on this machine), side by side in one run\n"
    );
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => {
            println!("not measured: {error}");
            return true;
        }
    };
    println!("{:<28} {:>10}", "path", "Gbit/s");
    let mut failed = false;
    for (path, outcome) in rows {
        match outcome {
            Ok(bits) => println!("{path:<28} {:>10.2}", bits / 1e9),
            Err(reason) => {
                failed |= !reason.starts_with("not measured");
                println!("{path:<28} {:>10}  ({reason})", "-");
            }
        }
    }
    failed
}

/// Prints the install, propagation and memory tables; whether something failed.
fn print_sizes(rows: &[SizeRow]) -> bool {
    let mut failed = false;
    let mut failures = Vec::new();
    println!(
        "\nInstall to working mesh: POST /api/v1/servers/{{id}}/agent for every host at once -> \
         every install succeeded -> every agent applied its config and every ordered pair pings \
         over the mesh (seconds)\n"
    );
    println!(
        "{:>6} {:>16} {:>16}",
        "hosts", "installs done", "mesh working"
    );
    for row in rows {
        match &row.installed {
            Ok((installed, working)) => println!(
                "{:>6} {:>16.2} {:>16.2}",
                row.hosts,
                installed.as_secs_f64(),
                working.as_secs_f64()
            ),
            Err(reason) => {
                println!(
                    "{:>6} {:>16} {:>16}  (failed, see below)",
                    row.hosts, "-", "-"
                );
                failures.push(format!("{} hosts: {reason}", row.hosts));
            }
        }
    }
    println!(
        "\nConfig propagation: one node added to a mesh of N; from its enrollment to the last \
         agent's config.json holding it, and to the last heartbeat reporting the new version \
         (heartbeats every 5 s)\n"
    );
    println!(
        "{:>6} {:>16} {:>16}",
        "nodes", "applied (ms)", "reported (s)"
    );
    for row in rows {
        match &row.propagation {
            Some(Ok(p)) => println!(
                "{:>6} {:>16.0} {:>16.2}",
                row.hosts,
                p.applied.as_secs_f64() * 1e3,
                p.reported.as_secs_f64()
            ),
            Some(Err(reason)) => {
                println!(
                    "{:>6} {:>16} {:>16}  (failed, see below)",
                    row.hosts, "-", "-"
                );
                failures.push(format!("propagation at {}: {reason}", row.hosts));
            }
            None => {}
        }
    }
    for row in rows {
        match &row.soak {
            Some(Ok(soak)) => print_soak(soak),
            Some(Err(reason)) => failures.push(format!("memory soak: {reason}")),
            None => {}
        }
    }
    for failure in &failures {
        failed = true;
        println!("\nfailed: {failure}");
    }
    failed
}

fn print_soak(soak: &Soak) {
    let mib = |kib: &[u64]| {
        let mut sorted = kib.to_vec();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
        let max = sorted.last().copied().unwrap_or_default();
        (median as f64 / 1024.0, max as f64 / 1024.0)
    };
    println!(
        "\nAgent memory (VmRSS) over {} min of heartbeats, {} agents (MiB){}\n",
        soak.minutes,
        soak.agents,
        if soak.restarts == 0 {
            String::new()
        } else {
            format!("; {} agents restarted meanwhile", soak.restarts)
        }
    );
    println!("{:<14} {:>10} {:>10}", "", "median", "max");
    for (when, kib) in [("start", &soak.before_kib), ("end", &soak.after_kib)] {
        let (median, max) = mib(kib);
        println!("{when:<14} {median:>10.1} {max:>10.1}");
    }
}
