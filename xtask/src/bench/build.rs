//! `cargo xtask bench build`: push-to-serving time of a small application
//! built from git through ServOS (the release binary): the first build of a
//! commit and a rebuild after one changed source file (its slow `RUN` step
//! then comes from the builder's layer cache), delivered by `docker save |
//! docker load` through the API and by a registry, to 1 and 5 run hosts.
//! Each time is split into the build on the builder, the delivery, and the
//! deployment, from the job's step log. The repositories are bare ones on
//! this machine, which the builder (a lab host) fetches over SSH.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use servos_lab::{Host, Lab, LabOptions};

use super::deploy::make_images;
use super::lab_api::{self, LabApi};
use crate::api_server::ApiServer;
use crate::{cmd, target_dir};

/// Run host counts measured.
const SIZES: [usize; 2] = [1, 5];
/// The registry every lab host reaches on its loopback (storage shared).
const REGISTRY: &str = "127.0.0.1:5000";
/// How long one build and deployment may take.
const WITHIN: Duration = Duration::from_secs(300);

/// Runs the build benchmark.
pub fn run() -> Result<()> {
    lab_api::ensure_packages()?;
    let work = target_dir().join("servos-bench").join("build");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    cmd::build_release(&["-p", "servos-api"])?;
    let binary = target_dir().join("release").join("servos-api");

    let (private_key, public_key) = servos_lab::client_key(&work.join("keys"));
    let hosts = 1 + SIZES.iter().copied().max().unwrap_or(1);
    eprintln!("xtask: starting {hosts} lab hosts with Docker");
    let lab = Lab::up(
        &LabOptions {
            hosts,
            docker: true,
        },
        &public_key,
    )?;
    make_images(lab.hosts())?;
    let (builder_host, run_hosts) = lab.hosts().split_first().context("the lab has no hosts")?;
    let password = format!("bench-{}", std::process::id());
    let _registries = lab
        .hosts()
        .iter()
        .map(|host| Registry::start(host, &work, &password))
        .collect::<Result<Vec<_>>>()?;
    let git_ssh = builder_home_ssh(builder_host, &private_key)?;

    let mut server = ApiServer::start(&binary, &work.join("servos"), None, &[])?;
    server.wait_healthy()?;
    let api = LabApi::set_up(&server, &private_key, run_hosts, true)?;
    let builder = register_builder(&api, builder_host)?;
    let registry = api.post(
        "/api/v1/registries",
        &json!({"name": "bench", "host": REGISTRY, "username": "bench", "password": password}),
        201,
    )?;

    let mut rows = Vec::new();
    for (delivery, registry_id) in [
        ("save | load", Value::Null),
        ("registry", registry["id"].clone()),
    ] {
        for size in SIZES {
            let name = format!("b{}-{size}", rows.len());
            let repo = Repo::create(&work.join("repos"), &name)?;
            let url = format!("ssh://root@{}{}", builder_host.address, repo.bare.display());
            let app = api.post(
                "/api/v1/apps",
                &json!({"name": name, "git": {"url": url, "branch": "main",
                    "builder_server_id": builder}, "registry_id": registry_id,
                    "server_ids": &api.servers[..size], "container_port": 8080,
                    "health_check": {"http": {"path": "/"}, "interval_secs": 1, "timeout_secs": 1, "retries": 30}}),
                201,
            )?;
            let id = app["id"].as_str().unwrap_or_default().to_owned();
            eprintln!("xtask: {delivery} to {size} host(s): first build");
            let first = build_and_deploy(&api, &id)?;
            repo.commit("index.html", "changed\n")?;
            eprintln!("xtask: {delivery} to {size} host(s): rebuild");
            let rebuild = build_and_deploy(&api, &id)?;
            rows.push((delivery, size, first, rebuild));
        }
    }
    server.stop()?;
    drop(git_ssh);
    drop(lab);

    println!(
        "\nPush to serving of a small app built from git (a 2 s RUN step, then one file \
         copied), seconds: total = build + delivery + deployment\n"
    );
    println!(
        "{:<12} {:>5} | {:>7} {:>7} {:>8} {:>7} | {:>7} {:>7} {:>8} {:>7}",
        "delivery",
        "hosts",
        "first",
        "build",
        "deliver",
        "deploy",
        "rebuild",
        "build",
        "deliver",
        "deploy"
    );
    for (delivery, size, first, rebuild) in rows {
        println!(
            "{:<12} {:>5} | {:>7.2} {:>7.2} {:>8.2} {:>7.2} | {:>7.2} {:>7.2} {:>8.2} {:>7.2}",
            delivery,
            size,
            first.total,
            first.build,
            first.deliver,
            first.deploy,
            rebuild.total,
            rebuild.build,
            rebuild.deliver,
            rebuild.deploy
        );
    }
    println!(
        "\ntotal: from `POST /apps/{{id}}/deploy` (which asks the builder for the branch's head) \
         to the job's success, every run host serving the commit; build: fetch and docker \
         build on the builder; deliver: docker save streamed through the API into docker load \
         on each host, or docker push; deploy: the rest (pull, start, health check, proxy \
         switch). The rebuild changes index.html only: the RUN step comes from the builder's \
         cache."
    );
    Ok(())
}

/// Where one build and deployment spent its time, in seconds.
struct Phases {
    total: f64,
    build: f64,
    deliver: f64,
    deploy: f64,
}

/// "Build and deploy now" of application `id`, timed until it succeeded.
fn build_and_deploy(api: &LabApi, id: &str) -> Result<Phases> {
    let started = Instant::now();
    let queued = api.post(&format!("/api/v1/apps/{id}/deploy"), &json!({}), 202)?;
    let deployment = queued["id"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + WITHIN;
    loop {
        let shown = api.get(&format!("/api/v1/deployments/{deployment}"))?;
        match shown["state"].as_str() {
            Some("succeeded") => break,
            Some("failed" | "cancelled") => bail!("deployment {deployment}: {shown}"),
            _ if Instant::now() > deadline => bail!("deployment {deployment} did not end"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let total = started.elapsed().as_secs_f64();
    let log = api.text(&format!("/api/v1/deployments/{deployment}/events"))?;
    let at = |starts: &[&str]| -> Result<DateTime<Utc>> {
        log.lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .find(|line| {
                line["text"]
                    .as_str()
                    .is_some_and(|text| starts.iter().any(|s| text.starts_with(s)))
            })
            .and_then(|line| line["at"].as_str()?.parse().ok())
            .with_context(|| format!("no log line starting with {starts:?}"))
    };
    let began = at(&["build of commit"])?;
    let built = at(&["built ", "commit "])?;
    let delivered = at(&["pushed", "servos.invalid/"])?;
    let ended = at(&["deployment succeeded"])?;
    let secs = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).as_seconds_f64();
    Ok(Phases {
        total,
        build: secs(began, built),
        deliver: secs(built, delivered),
        deploy: secs(delivered, ended),
    })
}

/// Registers `host` as the builder (role `build` only) and commissions it.
fn register_builder(api: &LabApi, host: &Host) -> Result<String> {
    let keys = api.get("/api/v1/ssh-keys")?;
    let key = keys
        .as_array()
        .or_else(|| keys["ssh_keys"].as_array())
        .and_then(|keys| keys.iter().find(|k| k["name"] == "lab"))
        .map(|k| k["id"].clone())
        .with_context(|| format!("no lab key in {keys}"))?;
    let server = api.post(
        "/api/v1/servers",
        &json!({"name": "builder", "address": host.address.to_string(), "port": host.ssh_port,
            "user": host.user, "ssh_key_id": key, "roles": ["build"]}),
        201,
    )?;
    let id = server["id"].as_str().unwrap_or_default().to_owned();
    let check = api.post(&format!("/api/v1/servers/{id}/commission"), &json!({}), 200)?;
    if check["status"] != "ready" {
        bail!("commissioning the builder: {check}");
    }
    Ok(id)
}

/// The builder's SSH client files and git configuration, so that its git
/// reaches the repositories over SSH on the builder itself; removed when
/// dropped.
struct GitSsh(Vec<PathBuf>);

impl Drop for GitSsh {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_dir_all(path).or_else(|_| fs::remove_file(path));
        }
    }
}

fn builder_home_ssh(host: &Host, private_key: &str) -> Result<GitSsh> {
    let dir = host.dir.join("home").join(".ssh");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    let key = dir.join("id_ed25519");
    fs::write(&key, private_key).context("write the builder's git key")?;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
    let known_hosts = dir.join("known_hosts");
    fs::write(&known_hosts, format!("{}\n", host.known_hosts_line()))?;
    // ssh reads the user's home from the password database, not $HOME:
    // point it at these files through the builder's git configuration.
    let config = format!(
        "[core]\n\tsshCommand = ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={}\n",
        key.display(),
        known_hosts.display()
    );
    let gitconfig = host.dir.join("home").join(".gitconfig");
    fs::write(&gitconfig, config).context("write the builder's git configuration")?;
    Ok(GitSsh(vec![dir, gitconfig]))
}

/// A bare repository with a work tree beside it.
struct Repo {
    bare: PathBuf,
    tree: PathBuf,
}

impl Repo {
    /// A repository whose `main` holds a Dockerfile with a slow step of
    /// its own (so no other repository's build is its cache) and a page.
    fn create(root: &Path, name: &str) -> Result<Self> {
        let repo = Self {
            bare: root.join(format!("{name}.git")),
            tree: root.join(name),
        };
        fs::create_dir_all(&repo.tree)?;
        git(
            root,
            &["init", "-q", "--bare", "-b", "main", &path(&repo.bare)],
        )?;
        git(&repo.tree, &["init", "-q", "-b", "main"])?;
        let dockerfile = format!(
            "FROM servos-bench/web:1\nRUN sleep 2 && echo {name} > /deps\nCOPY index.html /www/index.html\n"
        );
        fs::write(repo.tree.join("Dockerfile"), dockerfile)?;
        repo.commit("index.html", "first\n")?;
        Ok(repo)
    }

    /// Writes `file` and pushes the commit to `main`.
    fn commit(&self, file: &str, content: &str) -> Result<()> {
        fs::write(self.tree.join(file), content)?;
        git(&self.tree, &["add", "-A"])?;
        git(
            &self.tree,
            &[
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@example.com",
                "commit",
                "-q",
                "-m",
                "change",
            ],
        )?;
        git(&self.tree, &["push", "-q", &path(&self.bare), "main"])
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .context("run git (Debian package git)")?;
    if !output.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Debian's docker-registry in a host's namespace (storage shared by all),
/// killed when dropped.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Registry {
    fn start(host: &Host, work: &Path, password: &str) -> Result<Self> {
        let dir = work.join("registry").join(&host.name);
        fs::create_dir_all(&dir)?;
        let htpasswd = Command::new("htpasswd")
            .args(["-nbB", "bench", password])
            .output()
            .context("run htpasswd (Debian package apache2-utils)")?;
        fs::write(dir.join("htpasswd"), &htpasswd.stdout)?;
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {REGISTRY}\n\
             auth:\n  htpasswd:\n    realm: bench\n    path: {}\n",
            work.join("registry").join("storage").display(),
            dir.join("htpasswd").display()
        );
        fs::write(dir.join("config.yml"), config)?;
        let log = fs::File::create(dir.join("registry.log"))?;
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", host.name))
            .args(["--", "docker-registry", "serve"])
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start docker-registry (Debian package docker-registry)")?;
        let registry = Self(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !host
            .exec(&["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5000"])
            .status
            .success()
        {
            if Instant::now() > deadline {
                bail!("the registry on {} did not start", host.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(registry)
    }
}
