//! `cargo xtask bench deploy`: the wall time of a zero-downtime redeploy of
//! one application (a new image, 20 environment variables) to 1, 10 and 30
//! lab Docker hosts through ServOS (the release binary: its API, workers and
//! SSH layer), side by side with an Ansible playbook and a bare OpenSSH
//! script doing the same steps on each host: env file written over the
//! connection, `docker run`, env file deleted, port found, health check,
//! Caddy's route switched through its admin API, old container drained,
//! stopped and removed. For ServOS it also reports where each server's
//! share went, as `GET /api/v1/deployments/{id}` records it: the server's
//! Docker, the health-check wait, the drain, and ServOS's own time.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use servos_lab::{Host, Lab, LabOptions, TEST_IMAGE};

use super::lab_api::{self, LabApi};
use super::ssh;
use crate::api_server::ApiServer;
use crate::curl::Request;
use crate::{cmd, target_dir};

/// Host counts measured.
const SIZES: [usize; 3] = [1, 10, 30];
/// Redeploys per measurement; the median is reported.
const ROUNDS: usize = 3;
/// The two images the redeploys alternate between.
const IMAGES: [&str; 2] = ["servos-bench/web:1", "servos-bench/web:2"];
/// Serves `/www` on 8080 and exits on SIGTERM.
const SERVE: &str = r#"CMD ["sh","-c","trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]"#;

/// Runs the deploy benchmark.
pub fn run() -> Result<()> {
    lab_api::ensure_packages()?;
    let work = target_dir().join("servos-bench").join("deploy");
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let ansible = ssh::ansible(&target_dir().join("servos-bench").join("ssh"))?;
    cmd::build_release(&["-p", "servos-api"])?;
    let binary = target_dir().join("release").join("servos-api");

    let (private_key, public_key) = servos_lab::client_key(&work.join("keys"));
    let key_file = work.join("id_ed25519");
    fs::write(&key_file, &private_key).context("write the client key")?;
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600))?;
    let largest = SIZES.iter().copied().max().unwrap_or(1);
    eprintln!("xtask: starting {largest} lab hosts with Docker");
    let started = Instant::now();
    let lab = Lab::up(
        &LabOptions {
            hosts: largest,
            docker: true,
        },
        &public_key,
    )?;
    make_images(lab.hosts())?;
    eprintln!(
        "xtask: lab up, images made in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let env_file = work.join("app.env");
    let vars: String = (1..=20)
        .map(|i| format!("VAR_{i:02}=value {i}\n"))
        .collect();
    fs::write(&env_file, &vars)?;
    fs::set_permissions(&env_file, fs::Permissions::from_mode(0o600))?;

    let scratch = work.join("servos");
    let _ = fs::remove_dir_all(&scratch);
    let mut server = ApiServer::start(&binary, &scratch, None, &[])?;
    server.wait_healthy()?;
    let api = LabApi::set_up(&server, &private_key, lab.hosts(), true)?;

    let mut table = Vec::new();
    let mut shares = Vec::new();
    for size in SIZES {
        let hosts = &lab.hosts()[..size];
        eprintln!("xtask: == {size} host(s) ==");
        let (servos, timings) = measure(&api, size, &vars)?;
        shares.push(ShareTimes::row(size, timings.concat()));
        let script = OpenSshScript::write(&work, &key_file, hosts)?;
        let (openssh, _) =
            redeploys(|image| script.deploy(hosts, &format!("ssh-{size}"), image, &env_file))?;
        let play = Playbook::write(&work, hosts, size)?;
        let (ansible, _) = redeploys(|image| {
            play.deploy(
                &ansible,
                &key_file,
                &format!("ansible-{size}"),
                image,
                &env_file,
            )
        })?;
        table.push([size.to_string(), secs(servos), secs(ansible), secs(openssh)]);
    }
    server.stop()?;
    drop(lab);
    println!("\nRedeploy of one app (new image, 20 variables), zero downtime; median of {ROUNDS} (seconds)\n");
    println!(
        "{:>6} {:>10} {:>10} {:>10}",
        "hosts", "ServOS", "Ansible", "OpenSSH"
    );
    for row in table {
        println!("{:>6} {:>10} {:>10} {:>10}", row[0], row[1], row[2], row[3]);
    }
    println!(
        "\nServOS: API to finished job, at most 10 servers at a time (its default), a new SSH \
         connection per server; Ansible: forks = hosts, ControlPersist; OpenSSH: all hosts at \
         once, one ControlMaster connection per host and deploy."
    );
    ShareTimes::print(&shares);
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// The median of `values` (zero for none).
fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// A first deploy (not measured), then [`ROUNDS`] timed redeploys
/// alternating the images: their median wall time and what each returned.
fn redeploys<T>(mut deploy: impl FnMut(&str) -> Result<T>) -> Result<(Duration, Vec<T>)> {
    deploy(IMAGES[0])?;
    let mut times = Vec::with_capacity(ROUNDS);
    let mut outputs = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let started = Instant::now();
        outputs.push(deploy(IMAGES[(round + 1) % 2])?);
        times.push(started.elapsed());
    }
    Ok((median(times), outputs))
}

/// Where one server's share of a ServOS deployment went, as the API
/// records it.
#[derive(Debug, Clone, Copy)]
struct ShareTimes {
    total: Duration,
    docker: Duration,
    health_wait: Duration,
    drain: Duration,
    servos: Duration,
}

impl ShareTimes {
    /// The shares of every server of a finished deployment, from its
    /// `GET /api/v1/deployments/{id}` answer.
    fn of_deployment(shown: &Value) -> Result<Vec<Self>> {
        let Some(targets) = shown["targets"].as_array() else {
            bail!("the deployment shows no targets: {shown}");
        };
        targets
            .iter()
            .map(|target| {
                let ms = |field: &str| {
                    target["timings"][field]
                        .as_u64()
                        .map(Duration::from_millis)
                        .with_context(|| format!("no timings.{field} in {target}"))
                };
                Ok(Self {
                    total: ms("total_ms")?,
                    docker: ms("docker_ms")?,
                    health_wait: ms("health_wait_ms")?,
                    drain: ms("drain_ms")?,
                    servos: ms("servos_ms")?,
                })
            })
            .collect()
    }

    /// A row of the per-host table: the median of each column over `shares`.
    fn row(hosts: usize, shares: Vec<Self>) -> [String; 7] {
        let column = |field: fn(&Self) -> Duration| {
            format!(
                "{:.3}",
                median(shares.iter().map(field).collect()).as_secs_f64()
            )
        };
        [
            hosts.to_string(),
            shares.len().to_string(),
            column(|s| s.total),
            column(|s| s.docker),
            column(|s| s.health_wait),
            column(|s| s.drain),
            column(|s| s.servos),
        ]
    }

    fn print(rows: &[[String; 7]]) {
        println!(
            "\nServOS per host: where each server's share of a redeploy went; median over \
             hosts x {ROUNDS} rounds (seconds)\n"
        );
        let header = [
            "hosts", "samples", "total", "docker", "health", "drain", "ServOS",
        ];
        for cells in std::iter::once(header.map(str::to_owned)).chain(rows.iter().cloned()) {
            println!(
                "{:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
            );
        }
        println!(
            "\ntotal: connecting to the server to closing the connection; docker: every remote \
             docker command (inspect, run, port, stop, rm, ...), each including one SSH channel \
             round trip (`cargo xtask bench ssh` measures it alone); health: waiting for the new \
             container's health check to pass; drain: waiting for the old container's requests; \
             ServOS: the rest (SSH connection, proxy switch, env file, database, step log). Each \
             column is its own median, so they need not add up."
        );
    }
}

/// Makes the two web images on every host from the lab's busybox.
pub(super) fn make_images(hosts: &[Host]) -> Result<()> {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = hosts
            .iter()
            .map(|host| scope.spawn(move || make_host_images(host)))
            .collect();
        runs.into_iter()
            .filter_map(|run| run.join().unwrap_or_else(|_| Err("panicked".into())).err())
            .collect()
    });
    match failures.first() {
        Some(failure) => bail!("making the bench images failed: {failure}"),
        None => Ok(()),
    }
}

fn make_host_images(host: &Host) -> Result<(), String> {
    for (i, image) in IMAGES.iter().enumerate() {
        let builder = format!("bench-build-{i}");
        let page = format!("mkdir -p /www && echo v{} > /www/index.html", i + 1);
        for args in [
            vec!["run", "--name", &builder, TEST_IMAGE, "sh", "-c", &page],
            vec!["commit", "--change", SERVE, &builder, image],
            vec!["rm", &builder],
        ] {
            let output = host.docker(&args);
            if !output.status.success() {
                return Err(format!(
                    "{}: docker {args:?}: {}",
                    host.name,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
    }
    Ok(())
}

/// Creates an application on the first `size` servers with 20 variables,
/// then times its redeploys: their median, and each timed one's server shares.
fn measure(api: &LabApi, size: usize, vars: &str) -> Result<(Duration, Vec<Vec<ShareTimes>>)> {
    let app = api.post(
        "/api/v1/apps",
        &json!({"name": format!("servos-{size}"), "image": IMAGES[0], "server_ids": &api.servers[..size],
            "container_port": 8080, "health_check": {"http": {"path": "/"}, "interval_secs": 1, "timeout_secs": 1, "retries": 30}}),
        201,
    )?;
    let id = app["id"].as_str().unwrap_or_default().to_owned();
    let set: serde_json::Map<String, Value> = vars
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), json!({"value": value})))
        .collect();
    let uri = format!("{}/api/v1/apps/{id}", api.origin);
    api.send(
        Request::json("PATCH", format!("{uri}/env"), &json!({"set": set})),
        200,
        "PATCH env",
    )?;
    redeploys(|image| {
        api.send(
            Request::json("PATCH", uri.clone(), &json!({"image": image})),
            200,
            "PATCH app",
        )?;
        let queued = api.post(&format!("/api/v1/apps/{id}/deploy"), &json!({}), 202)?;
        let deployment = queued["id"].as_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let shown = api.send(
                Request::get(format!("{}/api/v1/deployments/{deployment}", api.origin)),
                200,
                "GET deployment",
            )?;
            match shown["state"].as_str() {
                Some("succeeded") => return ShareTimes::of_deployment(&shown),
                Some("failed" | "cancelled") => bail!("deployment {deployment}: {shown}"),
                _ if Instant::now() > deadline => bail!("deployment {deployment} did not end"),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    })
}

/// The same steps as a shell script over OpenSSH, one process per host.
struct OpenSshScript {
    path: PathBuf,
    key: PathBuf,
    known_hosts: PathBuf,
    dir: PathBuf,
}

/// Deploys image `$2` of app `$3` to host `$1` from env file `$4`.
const DEPLOY_SH: &str = r#"#!/bin/bash
set -euo pipefail
host=$1 image=$2 app=$3 envfile=$4 key=$5 known=$6 sock=$7
s() { ssh -F /dev/null -S "$sock" -o ControlMaster=auto -o ControlPersist=30 -o BatchMode=yes -o IdentitiesOnly=yes \
    -i "$key" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$known" "root@$host" "$@"; }
id=$(cat /proc/sys/kernel/random/uuid)
f=/var/lib/servos/secrets/$id.env
name=$app-${id:0:8}
s "umask 077; mkdir -p /var/lib/servos/secrets; cat > $f" < "$envfile"
if ! s "docker run -d --name $name --env-file $f --label bench.app=$app --restart unless-stopped -p 127.0.0.1::8080 $image" >/dev/null; then
    s "rm -f $f"; exit 1
fi
s "rm -f $f"
port=$(s "docker port $name 8080/tcp" | head -1 | cut -d: -f2)
for i in $(seq 1 30); do s "curl -sf -o /dev/null http://127.0.0.1:$port/" && break; sleep 1; done
api=localhost:2019
json='-H Content-Type:application/json'
if s "curl -sf -o /dev/null $api/id/$app"; then
    s "curl -sf $json -X PATCH -d '[{\"dial\":\"127.0.0.1:$port\"}]' $api/id/$app/handle/0/upstreams"
else
    s "curl -sf $json -d '{\"@id\":\"tls-$app\",\"subjects\":[\"$app.bench.internal\"],\"issuers\":[{\"module\":\"internal\"}]}' $api/config/apps/tls/automation/policies"
    s "curl -sf $json -d '{\"@id\":\"$app\",\"match\":[{\"host\":[\"$app.bench.internal\"]}],\"handle\":[{\"handler\":\"reverse_proxy\",\"upstreams\":[{\"dial\":\"127.0.0.1:$port\"}]}]}' $api/config/apps/http/servers/servos/routes"
fi
for old in $(s "docker ps -a --filter label=bench.app=$app --format '{{.Names}}'" | grep -vx "$name" || true); do
    oport=$(s "docker port $old 8080/tcp 2>/dev/null" | head -1 | cut -d: -f2 || true)
    for i in $(seq 1 300); do
        s "curl -s $api/reverse_proxy/upstreams" | grep -q "\"127.0.0.1:$oport\",\"num_requests\":[1-9]" || break
        sleep 0.1
    done
    s "docker stop -t 10 $old >/dev/null; docker rm -f $old >/dev/null"
done
ssh -F /dev/null -S "$sock" -O exit "root@$host" 2>/dev/null || true
"#;

impl OpenSshScript {
    fn write(dir: &Path, key: &Path, hosts: &[Host]) -> Result<Self> {
        let path = dir.join("deploy.sh");
        fs::write(&path, DEPLOY_SH)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700))?;
        let known_hosts = dir.join(format!("known_hosts-{}", hosts.len()));
        let lines: String = hosts
            .iter()
            .map(|h| format!("{}\n", h.known_hosts_line()))
            .collect();
        fs::write(&known_hosts, lines)?;
        Ok(Self {
            path,
            key: key.to_owned(),
            known_hosts,
            dir: dir.to_owned(),
        })
    }

    /// Runs the script for every host at once and waits for all.
    fn deploy(&self, hosts: &[Host], app: &str, image: &str, env_file: &Path) -> Result<()> {
        let children: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                Command::new(&self.path)
                    .arg(host.address.to_string())
                    .args([image, app])
                    .arg(env_file)
                    .arg(&self.key)
                    .arg(&self.known_hosts)
                    .arg(self.dir.join(format!("cm-{i}.sock")))
                    .spawn()
            })
            .collect::<std::io::Result<_>>()?;
        for child in children {
            let output = child.wait_with_output()?;
            if !output.status.success() {
                bail!("deploy.sh failed: {}", output.status);
            }
        }
        Ok(())
    }
}

/// The same steps as an Ansible playbook, forks = hosts.
struct Playbook {
    path: PathBuf,
    inventory: PathBuf,
    known_hosts: PathBuf,
    forks: usize,
}

const PLAYBOOK: &str = r#"- hosts: lab
  gather_facts: false
  vars:
    name: "{{ app }}-{{ stamp }}"
    env_path: "/var/lib/servos/secrets/{{ app }}-{{ stamp }}.env"
  tasks:
    - file: { path: /var/lib/servos/secrets, state: directory, mode: "0700" }
    - copy: { content: "{{ lookup('file', env_file) }}\n", dest: "{{ env_path }}", mode: "0600" }
      no_log: true
    - command: docker run -d --name {{ name }} --env-file {{ env_path }} --label bench.app={{ app }} --restart unless-stopped -p 127.0.0.1::8080 {{ image }}
    - file: { path: "{{ env_path }}", state: absent }
    - command: docker port {{ name }} 8080/tcp
      register: published
    - set_fact: { port: "{{ published.stdout_lines[0].split(':')[1] }}" }
    - uri: { url: "http://127.0.0.1:{{ port }}/" }
      register: health
      until: health.status == 200
      retries: 30
      delay: 1
    - uri: { url: "http://localhost:2019/id/{{ app }}", status_code: [200, 404] }
      register: route
    - uri: { url: "http://localhost:2019/config/apps/tls/automation/policies", method: POST, body_format: json,
             body: { "@id": "tls-{{ app }}", subjects: ["{{ app }}.bench.internal"], issuers: [{ module: internal }] } }
      when: route.status == 404
    - uri: { url: "http://localhost:2019/config/apps/http/servers/servos/routes", method: POST, body_format: json,
             body: { "@id": "{{ app }}", match: [{ host: ["{{ app }}.bench.internal"] }],
                     handle: [{ handler: reverse_proxy, upstreams: [{ dial: "127.0.0.1:{{ port }}" }] }] } }
      when: route.status == 404
    - uri: { url: "http://localhost:2019/id/{{ app }}/handle/0/upstreams", method: PATCH, body_format: json,
             body: [{ dial: "127.0.0.1:{{ port }}" }] }
      when: route.status == 200
    - shell: docker ps -a --filter label=bench.app={{ app }} --format '{{ '{{' }}.Names{{ '}}' }}' | grep -vx {{ name }} || true
      register: old
    - shell: |
        p=$(docker port {{ item }} 8080/tcp 2>/dev/null | head -1 | cut -d: -f2)
        for i in $(seq 1 300); do
          curl -s localhost:2019/reverse_proxy/upstreams | grep -q "\"127.0.0.1:$p\",\"num_requests\":[1-9]" || break
          sleep 0.1
        done
        docker stop -t 10 {{ item }} >/dev/null; docker rm -f {{ item }} >/dev/null
      loop: "{{ old.stdout_lines }}"
"#;

impl Playbook {
    fn write(dir: &Path, hosts: &[Host], forks: usize) -> Result<Self> {
        let path = dir.join("deploy.yml");
        fs::write(&path, PLAYBOOK)?;
        let inventory = dir.join(format!("inventory-{}.ini", hosts.len()));
        let mut text = String::from("[lab]\n");
        for host in hosts {
            text += &format!(
                "{} ansible_port={} ansible_user={} ansible_python_interpreter=/usr/bin/python3\n",
                host.address, host.ssh_port, host.user
            );
        }
        fs::write(&inventory, text)?;
        let known_hosts = dir.join(format!("known_hosts-{}", hosts.len()));
        Ok(Self {
            path,
            inventory,
            known_hosts,
            forks,
        })
    }

    fn deploy(
        &self,
        ansible: &ssh::Ansible,
        key: &Path,
        app: &str,
        image: &str,
        env_file: &Path,
    ) -> Result<()> {
        let stamp = uuid_like();
        let ssh_args = format!(
            "-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o IdentitiesOnly=yes",
            self.known_hosts.display()
        );
        let mut command = ansible.playbook();
        command
            .arg("-i")
            .arg(&self.inventory)
            .arg("--private-key")
            .arg(key)
            .args([
                "--forks",
                &self.forks.to_string(),
                "--ssh-common-args",
                &ssh_args,
                "-e",
            ])
            .arg(format!(
                "app={app} image={image} stamp={stamp} env_file={}",
                env_file.display()
            ))
            .arg(&self.path);
        cmd::run_quiet(&mut command)
    }
}

/// A short random name part.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:x}{:x}", std::process::id(), nanos)
}
