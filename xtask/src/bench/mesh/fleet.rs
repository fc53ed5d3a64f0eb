//! A mesh as the product makes it: lab hosts without Docker, ServOS's API
//! serving HTTPS on the lab's gateway (a certificate made for the run), every
//! host commissioned, and the release agent installed over SSH through
//! `POST /api/v1/servers/{id}/agent`; and what the benchmark reads of it
//! (installs, pings, applied configs, heartbeats, memory).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use servos_lab::{Host, Lab, LabOptions};

use super::clock::parse_utc;
use super::tunnels::wait_until;
use super::Bench;
use crate::api_server::{ApiServer, Https};
use crate::bench::lab_api::LabApi;
use crate::cmd;
use crate::curl::Request;

/// How long the installs of one request may take: this, plus
/// [`INSTALL_PER_HOST`] for each host.
const INSTALL_WITHIN: Duration = Duration::from_secs(60);
/// What each host adds to [`INSTALL_WITHIN`].
const INSTALL_PER_HOST: Duration = Duration::from_secs(5);
/// How long heartbeats may take to agree on one version.
const SETTLE_WITHIN: Duration = Duration::from_secs(30);
/// How long a mesh may take to work once its installs succeeded.
const MESH_WITHIN: Duration = Duration::from_secs(120);
/// How long a new node may take to reach every agent.
const PROPAGATION_WITHIN: Duration = Duration::from_secs(120);

/// The lab, its API and the admin's view of it; dropping it stops the API
/// and tears the lab down (agents and everything else in its namespaces).
pub struct Fleet {
    /// The API as an admin; `servers[i]` is host `i`.
    pub api: LabApi,
    server: ApiServer,
    lab: Lab,
    dir: PathBuf,
}

/// How long one node added took to reach the others.
pub struct Propagation {
    /// From its enrollment to the last agent's `config.json` holding it.
    pub applied: Duration,
    /// From its enrollment to the last heartbeat reporting the new version.
    pub reported: Duration,
}

impl Fleet {
    /// `hosts` lab hosts (sshd only), the API on HTTPS with a default
    /// policy that allows everything, every host commissioned.
    pub fn up(bench: &Bench, hosts: usize, name: &str) -> Result<Self> {
        eprintln!("xtask: == {name}: {hosts} lab host(s) ==");
        let started = Instant::now();
        let lab = Lab::up(
            &LabOptions {
                hosts,
                docker: false,
            },
            &bench.public_key,
        )?;
        let dir = bench.work.join(name);
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let gateway = lab.hosts()[0].gateway;
        let (cert, key) = certificate(&dir, &gateway.to_string())?;
        let https = Https {
            ip: gateway,
            cert: &cert,
            key: &key,
        };
        let mut server = ApiServer::start_https(&bench.api_binary, &dir, &https, &[])?;
        server.wait_healthy()?;
        let api = LabApi::set_up(&server, &bench.private_key, lab.hosts(), false)?;
        api.send(
            Request::json(
                "PUT",
                format!("{}/api/v1/mesh/policies/default", api.origin),
                &json!({"default_action": "allow"}),
            ),
            204,
            "PUT default policy",
        )?;
        eprintln!(
            "xtask: lab and API ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(Self {
            api,
            server,
            lab,
            dir,
        })
    }

    /// The hosts, in order.
    pub fn hosts(&self) -> &[Host] {
        self.lab.hosts()
    }

    /// Where this fleet's logs and keys go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Asks for the agent on every host of `indices` at once and returns
    /// when every install succeeded.
    pub fn install(&self, indices: &[usize]) -> Result<()> {
        let mut installs = Vec::new();
        for &i in indices {
            let server = self.server_id(i)?;
            let started =
                self.api
                    .post(&format!("/api/v1/servers/{server}/agent"), &json!({}), 202)?;
            let id = started["id"].as_str().context("an install id")?.to_owned();
            installs.push(id);
        }
        let hosts = u32::try_from(indices.len()).unwrap_or(u32::MAX);
        let deadline = Instant::now() + INSTALL_WITHIN + INSTALL_PER_HOST * hosts;
        while let Some(id) = installs.last() {
            let install = self.api.get(&format!("/api/v1/agent-installs/{id}"))?;
            match install["state"].as_str() {
                Some("succeeded") => {
                    installs.pop();
                    continue;
                }
                Some("running") if Instant::now() < deadline => {}
                Some("running") => bail!("an install did not end in time: {install}"),
                _ => bail!("an install failed: {install}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Returns once every agent of `indices` wrote its status (it applied
    /// its config) and every ordered pair of them pings over the mesh.
    pub fn wait_mesh(&self, indices: &[usize]) -> Result<()> {
        let hosts = self.hosts();
        wait_until(MESH_WITHIN, "status.json from every agent", || {
            indices
                .iter()
                .all(|&i| hosts[i].agent_state_dir().join("status.json").is_file())
        })?;
        let addresses = self.mesh_addresses()?;
        let targets: Vec<&str> = indices
            .iter()
            .map(|&i| address_of(&addresses, self.server_id(i)?))
            .collect::<Result<_>>()?;
        let deadline = Instant::now() + MESH_WITHIN;
        let failures: Vec<String> = std::thread::scope(|scope| {
            let threads: Vec<_> = indices
                .iter()
                .map(|&i| {
                    let (host, targets) = (&hosts[i], &targets);
                    let own = targets[indices.iter().position(|&j| j == i).unwrap_or(0)];
                    scope.spawn(move || pings_all(host, own, targets, deadline))
                })
                .collect();
            threads
                .into_iter()
                .filter_map(|thread| match thread.join() {
                    Ok(result) => result.err().map(|error| format!("{error:#}")),
                    Err(_) => Some("a ping thread panicked".to_owned()),
                })
                .collect()
        });
        if let Some(first) = failures.first() {
            bail!("the mesh did not work within {MESH_WITHIN:?}: {first}");
        }
        Ok(())
    }

    /// The mesh address of host `i`'s node.
    pub fn mesh_address(&self, i: usize) -> Result<String> {
        let addresses = self.mesh_addresses()?;
        address_of(&addresses, self.server_id(i)?).map(str::to_owned)
    }

    /// Installs the agent on host `new` while the agents of `existing` run,
    /// and times how long its node took to reach all of them.
    pub fn propagation(&self, existing: &[usize], new: usize) -> Result<Propagation> {
        let hosts = self.hosts();
        // Heartbeats trail the configs by up to 5 s: start once every node
        // reports the same version, so that a newer one means the new node.
        let mut old_version = 0;
        wait_until(SETTLE_WITHIN, "one version in every heartbeat", || {
            let Ok(shown) = self.api.get("/api/v1/mesh/nodes") else {
                return false;
            };
            let versions: Vec<Option<i64>> = nodes(&shown)
                .iter()
                .map(|node| node["applied_version"].as_i64())
                .collect();
            match versions.first() {
                Some(&Some(first)) if versions.iter().all(|v| *v == Some(first)) => {
                    old_version = first;
                    true
                }
                _ => false,
            }
        })?;
        let old_servers: Vec<&str> = existing
            .iter()
            .map(|&i| self.server_id(i))
            .collect::<Result<_>>()?;
        let configs: Vec<PathBuf> = existing
            .iter()
            .map(|&i| hosts[i].agent_state_dir().join("config.json"))
            .collect();
        let mut applied: Vec<Option<SystemTime>> = vec![None; existing.len()];
        let mut reported: HashMap<&str, SystemTime> = HashMap::new();
        let new_server = self.server_id(new)?;
        let mut enrolled = None;

        let posted = self.api.post(
            &format!("/api/v1/servers/{new_server}/agent"),
            &json!({}),
            202,
        )?;
        let install = posted["id"].as_str().context("an install id")?.to_owned();
        let deadline = Instant::now() + PROPAGATION_WITHIN;
        let mut next_api_poll = Instant::now();
        loop {
            for (slot, config) in applied.iter_mut().zip(&configs) {
                if slot.is_none() {
                    *slot = applied_at(config, existing.len());
                }
            }
            if Instant::now() >= next_api_poll {
                next_api_poll = Instant::now() + Duration::from_millis(250);
                let shown = self.api.get("/api/v1/mesh/nodes")?;
                for node in nodes(&shown) {
                    let server = node["server_id"].as_str().unwrap_or_default();
                    if server == new_server {
                        enrolled = node["enrolled_at"].as_str().and_then(parse_utc);
                    }
                    let newer = node["applied_version"]
                        .as_i64()
                        .is_some_and(|v| v > old_version);
                    let at = node["last_heartbeat_at"].as_str().and_then(parse_utc);
                    if let (Some(&old), true, Some(at)) =
                        (old_servers.iter().find(|s| **s == server), newer, at)
                    {
                        reported.entry(old).or_insert(at);
                    }
                }
                let install = self.api.get(&format!("/api/v1/agent-installs/{install}"))?;
                if !matches!(install["state"].as_str(), Some("running" | "succeeded")) {
                    bail!("the added node's install failed: {install}");
                }
            }
            let all_applied = applied.iter().all(Option::is_some);
            if enrolled.is_some() && all_applied && reported.len() == existing.len() {
                break;
            }
            if Instant::now() > deadline {
                let waiting = applied.iter().filter(|a| a.is_none()).count();
                bail!(
                    "within {PROPAGATION_WITHIN:?}: {waiting} of {} agents did not apply the new \
                     node, {} heartbeats reported it",
                    existing.len(),
                    reported.len()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let enrolled = enrolled.context("the new node has no readable enrolled_at")?;
        let last_applied = applied.into_iter().flatten().max().unwrap_or(enrolled);
        let last_reported = reported.into_values().max().unwrap_or(enrolled);
        Ok(Propagation {
            applied: last_applied.duration_since(enrolled).unwrap_or_default(),
            reported: last_reported.duration_since(enrolled).unwrap_or_default(),
        })
    }

    /// The resident memory (`VmRSS`, KiB) of the agent of each host of
    /// `indices`, and the agents' process ids (to tell restarts).
    pub fn agent_memory(&self, indices: &[usize]) -> Result<(Vec<u64>, Vec<u32>)> {
        let mut memory = Vec::new();
        let mut pids = Vec::new();
        for &i in indices {
            let host = &self.hosts()[i];
            let found = host.agent_pids();
            let [pid] = found[..] else {
                bail!("{} runs {} agents, not one", host.name, found.len());
            };
            let path = format!("/proc/{pid}/status");
            let status = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
            let rss = status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no VmRSS in {path}"))?;
            memory.push(rss);
            pids.push(pid);
        }
        Ok((memory, pids))
    }

    /// Tears the lab down, then stops the API (its agents gone, no long
    /// poll holds its graceful stop).
    pub fn down(self) -> Result<()> {
        let Self { server, lab, .. } = self;
        drop(lab);
        server.stop()
    }

    fn server_id(&self, i: usize) -> Result<&str> {
        self.api
            .servers
            .get(i)
            .map(String::as_str)
            .with_context(|| format!("no server for host {i}"))
    }

    /// Server id → mesh address of every node.
    fn mesh_addresses(&self) -> Result<HashMap<String, String>> {
        let shown = self.api.get("/api/v1/mesh/nodes")?;
        Ok(nodes(&shown)
            .iter()
            .filter_map(|node| {
                Some((
                    node["server_id"].as_str()?.to_owned(),
                    node["address"].as_str()?.to_owned(),
                ))
            })
            .collect())
    }
}

/// The nodes of a `GET /api/v1/mesh/nodes` answer.
fn nodes(shown: &Value) -> &[Value] {
    shown.as_array().map_or(&[], Vec::as_slice)
}

fn address_of<'a>(addresses: &'a HashMap<String, String>, server: &str) -> Result<&'a str> {
    addresses
        .get(server)
        .map(String::as_str)
        .with_context(|| format!("server {server} has no mesh node"))
}

/// When the agent wrote `config` with `peers` peers, if it holds that many.
fn applied_at(config: &Path, peers: usize) -> Option<SystemTime> {
    let written = fs::metadata(config).ok()?.modified().ok()?;
    let text = fs::read_to_string(config).ok()?;
    let config: Value = serde_json::from_str(&text).ok()?;
    let count = config["peers"].as_array().map_or(0, Vec::len);
    (count >= peers).then_some(written)
}

/// Pings every address of `targets` but `own` from `host` until each
/// answered once, or fails at `deadline`.
fn pings_all(host: &Host, own: &str, targets: &[&str], deadline: Instant) -> Result<()> {
    let mut waiting: Vec<&str> = targets.iter().copied().filter(|t| *t != own).collect();
    while !waiting.is_empty() {
        waiting.retain(|target| {
            !host
                .exec(&["ping", "-c", "1", "-W", "1", target])
                .status
                .success()
        });
        if Instant::now() > deadline {
            bail!("{} does not reach {}", host.name, waiting.join(", "));
        }
    }
    Ok(())
}

/// A self-signed certificate for `ip` (and 127.0.0.1) in `dir`: (cert, key).
fn certificate(dir: &Path, ip: &str) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    cmd::run_quiet(
        Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=servos-api"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-addext", &format!("subjectAltName=IP:{ip},IP:127.0.0.1")])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    )?;
    Ok((cert, key))
}
