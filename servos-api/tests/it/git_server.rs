//! A private git server over HTTPS ("smart HTTP") for end-to-end tests: it
//! listens in a lab host's network namespace (or this machine's), and
//! another lab host clones from it with a token, the way a build clones
//! from a forge.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use actix_web::web;
use actix_web::{App, HttpServer};

use crate::mesh_lab::certificate;
use crate::process::TlsFiles;

mod cgi;

/// What to tell whoever runs the tests without `git`.
const NEED_GIT: &str = "the git server test helper needs the `git` command \
                        (Debian package `git`)";
/// The largest request body the server reads.
const BODY_LIMIT: usize = 64 << 20;

/// A private git server over HTTPS for lab tests: `git http-backend`
/// behind actix-web with rustls, Basic auth with one token, a self-signed
/// certificate for one IP address.
pub struct GitServer {
    /// Holds `repos/` (the bare repositories), `work/` (a scratch work tree
    /// per repository), `home/` (git's HOME) and `tls/`.
    dir: tempfile::TempDir,
    /// Where the server listens.
    addr: SocketAddr,
    /// Its certificate (its own CA) and key.
    tls: TlsFiles,
    /// Every request line with its status.
    log: Arc<Mutex<Vec<String>>>,
    /// Stops the server when sent or dropped.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The thread running the server's actix system.
    thread: Option<JoinHandle<()>>,
}

/// What each request needs.
struct State {
    /// `GIT_PROJECT_ROOT`.
    repos: PathBuf,
    /// HOME for `git http-backend`.
    home: PathBuf,
    /// The password a request must carry.
    token: String,
    /// Shared with [`GitServer::requests`].
    log: Arc<Mutex<Vec<String>>>,
}

impl GitServer {
    /// Starts serving the bare repositories under a new temp dir, on `ip`
    /// and a free port in network namespace `netns` (a lab host's; this
    /// machine's own with `None`), accepting user `x-access-token` (or any
    /// user name) with password `token`.
    pub fn start(netns: Option<&str>, ip: Ipv4Addr, token: &str) -> GitServer {
        require_git();
        let dir = tempfile::tempdir().expect("create the git server's temp dir");
        for sub in ["repos", "work", "home", "tls"] {
            std::fs::create_dir(dir.path().join(sub))
                .unwrap_or_else(|e| panic!("create the git server's {sub} dir: {e}"));
        }
        let tls = certificate(&dir.path().join("tls"), &ip.to_string());
        let config = tls_config(&tls);
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new(State {
            repos: dir.path().join("repos"),
            home: dir.path().join("home"),
            token: token.to_owned(),
            log: Arc::clone(&log),
        });

        let netns = netns.map(|name| format!("/run/netns/{name}"));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("git-server".into())
            .spawn(move || {
                // Only this thread (and the server's threads it starts)
                // moves into the host's namespace, where it listens.
                if let Some(netns) = netns {
                    let entered = std::fs::File::open(&netns).and_then(|ns| {
                        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                            .map_err(std::io::Error::from)
                    });
                    if let Err(e) = entered {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
                actix_web::rt::System::new().block_on(async move {
                    let bound = HttpServer::new(move || {
                        App::new()
                            .app_data(state.clone())
                            .default_service(web::to(cgi::serve))
                    })
                    .workers(1)
                    .bind_rustls_0_23((ip, 0), config);
                    let server = match bound {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let addrs = server.addrs();
                    let server = server.run();
                    let handle = server.handle();
                    actix_web::rt::spawn(async move {
                        // Sent or dropped: either way, stop.
                        let _ = stop_rx.await;
                        handle.stop(false).await;
                    });
                    let _ = ready_tx.send(Ok(addrs));
                    if let Err(e) = server.await {
                        eprintln!("git server: {e}");
                    }
                });
            })
            .expect("spawn the git server's thread");
        let addrs = ready_rx
            .recv()
            .expect("the git server's thread ended before binding")
            .unwrap_or_else(|e| {
                panic!("bind the git server on {ip} (in another namespace: needs root): {e}")
            });
        let addr = *addrs
            .first()
            .unwrap_or_else(|| panic!("the git server bound no address on {ip}"));
        GitServer {
            dir,
            addr,
            tls,
            log,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Creates a bare repository `name` whose branch `main` holds `files`
    /// (path, content) in one commit; returns that commit's full sha.
    pub fn create_repo(&self, name: &str, files: &[(&str, &str)]) -> String {
        check_name(name);
        let bare = self.bare(name);
        let work = self.work(name);
        assert!(!bare.exists(), "repository {name} exists already");
        run(self.git().args(["init", "-q", "--bare"]).arg(&bare));
        for (key, value) in [
            ("http.receivepack", "false"),
            ("uploadpack.allowReachableSHA1InWant", "true"),
            ("uploadpack.allowAnySHA1InWant", "true"),
        ] {
            run(self.git().arg("-C").arg(&bare).args(["config", key, value]));
        }
        run(self.git().args(["init", "-q"]).arg(&work));
        self.commit_in(&work, &bare, files)
    }

    /// Commits `files` (path, content: added or replaced) on `main` of
    /// `name`; returns the new commit's sha.
    pub fn commit(&self, name: &str, files: &[(&str, &str)]) -> String {
        check_name(name);
        let work = self.work(name);
        assert!(
            work.is_dir(),
            "no repository {name}: call create_repo first"
        );
        self.commit_in(&work, &self.bare(name), files)
    }

    /// `https://<ip>:<port>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("https://{}/{name}.git", self.addr)
    }

    /// Path of the PEM certificate clients must trust (`http.sslCAInfo`).
    pub fn ca_file(&self) -> &Path {
        &self.tls.cert
    }

    /// Every request line seen so far with its status, e.g.
    /// "GET /app.git/info/refs?service=git-upload-pack 401" (no headers,
    /// never the token) — tests use it to check an unauthenticated
    /// request was refused and authenticated ones served.
    pub fn requests(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The bare repository `name`.
    fn bare(&self, name: &str) -> PathBuf {
        self.dir.path().join("repos").join(format!("{name}.git"))
    }

    /// The scratch work tree of `name`.
    fn work(&self, name: &str) -> PathBuf {
        self.dir.path().join("work").join(name)
    }

    /// `git` with this server's HOME and a committer.
    fn git(&self) -> Command {
        let mut command = git_command(&self.dir.path().join("home"));
        command.args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
        ]);
        command
    }

    /// Writes `files` in `work`, commits them and pushes to `main` of
    /// `bare`; returns the commit's sha.
    fn commit_in(&self, work: &Path, bare: &Path, files: &[(&str, &str)]) -> String {
        for (path, content) in files {
            check_path(path);
            let file = work.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
            }
            std::fs::write(&file, content)
                .unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        }
        run(self.git().arg("-C").arg(work).args(["add", "-A"]));
        run(self.git().arg("-C").arg(work).args([
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "test commit",
        ]));
        run(self
            .git()
            .arg("-C")
            .arg(work)
            .args(["push", "-q"])
            .arg(bare)
            .arg("HEAD:refs/heads/main"));
        run(self.git().arg("-C").arg(work).args(["rev-parse", "HEAD"]))
    }
}

impl Drop for GitServer {
    /// Stops the server and its thread; the temp dir goes with `dir`.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("the git server's thread panicked");
            }
        }
    }
}

/// Panics with [`NEED_GIT`] unless `git` runs.
fn require_git() {
    match Command::new("git").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "{NEED_GIT}: `git --version` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => panic!("{NEED_GIT}: {e}"),
    }
}

/// Panics unless `name` is a plain repository name (no path).
fn check_name(name: &str) {
    assert!(
        !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "not a plain repository name: {name:?}"
    );
}

/// Panics unless `path` is relative and stays inside the work tree.
fn check_path(path: &str) {
    let components: Vec<_> = Path::new(path).components().collect();
    assert!(
        !components.is_empty()
            && components.iter().all(|c| matches!(c, Component::Normal(_)))
            && components.first() != Some(&Component::Normal(".git".as_ref())),
        "not a relative file path inside the repository: {path:?}"
    );
}

/// `git` in a clean environment: `PATH`, `HOME` = `home`, no system config.
fn git_command(home: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C");
    command
}

/// A command's program and arguments (not its environment).
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command`, panics unless it succeeds; returns its trimmed stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e} ({NEED_GIT})", describe(command)));
    assert!(
        output.status.success(),
        "{} failed ({}): {}",
        describe(command),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A rustls server config with the ring provider for `files`.
fn tls_config(files: &TlsFiles) -> rustls::ServerConfig {
    let cert = std::fs::read(&files.cert).expect("read the git server's certificate");
    let key = std::fs::read(&files.key).expect("read the git server's key");
    let certs = rustls_pemfile::certs(&mut cert.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .expect("the git server's certificate is PEM");
    let key = rustls_pemfile::private_key(&mut key.as_slice())
        .expect("the git server's key is PEM")
        .expect("the git server's key file holds a key");
    rustls::ServerConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .expect("TLS protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the git server's certificate and key match")
}

/// `git` as a client of `server` in `dir`: its own HOME, the server's
/// certificate trusted, never a terminal prompt.
fn client_git(server: &GitServer, dir: &Path) -> Command {
    let mut command = git_command(&dir.join("home"));
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSL_CAINFO", server.ca_file());
    command
}

/// A private repository: refused without the token, cloned (shallow, by
/// sha, as a lab host's build does) with it from an askpass script.
#[test]
fn a_lab_style_clone_needs_the_token() {
    let token = format!("test-token-{}", uuid::Uuid::new_v4().simple());
    let server = GitServer::start(None, Ipv4Addr::LOCALHOST, &token);
    let first_page = "<h1>first</h1>\n";
    let first = server.create_repo(
        "app",
        &[
            ("Dockerfile", "FROM scratch\nCOPY index.html /\n"),
            ("index.html", first_page),
        ],
    );
    assert_eq!(first.len(), 40, "a full sha: {first:?}");
    let url = server.url("app");
    let client = tempfile::tempdir().expect("create the client's temp dir");
    std::fs::create_dir(client.path().join("home")).expect("create the client's HOME");

    // No credentials: refused, and git gives up (no prompt).
    let refused = client_git(&server, client.path())
        .args(["ls-remote", &url])
        .output()
        .unwrap_or_else(|e| panic!("run git ls-remote: {e} ({NEED_GIT})"));
    assert!(
        !refused.status.success(),
        "ls-remote without credentials succeeded: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|line| line == "GET /app.git/info/refs?service=git-upload-pack 401"),
        "no refused request in {requests:?}; git said {}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The token from an askpass script, which git asks for both the user
    // name and the password.
    let askpass = client.path().join("askpass.sh");
    std::fs::write(
        &askpass,
        "#!/bin/sh\ncase \"$1\" in\n  Username*) echo x-access-token ;;\n  *) echo \"$SERVOS_TEST_TOKEN\" ;;\nesac\n",
    )
    .expect("write the askpass script");
    let mut permissions = std::fs::metadata(&askpass)
        .expect("stat the askpass script")
        .permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(&askpass, permissions).expect("make the askpass script executable");
    let checkout = client.path().join("D");
    run(client_git(&server, client.path())
        .args(["init", "-q"])
        .arg(&checkout));
    let fetch_and_check_out = |sha: &str| {
        run(client_git(&server, client.path())
            .env("GIT_ASKPASS", &askpass)
            .env("SERVOS_TEST_TOKEN", &token)
            .arg("-C")
            .arg(&checkout)
            .args(["fetch", "-q", "--depth", "1", &url, sha]));
        run(client_git(&server, client.path())
            .arg("-C")
            .arg(&checkout)
            .args(["checkout", "-q", "FETCH_HEAD"]));
        run(client_git(&server, client.path())
            .arg("-C")
            .arg(&checkout)
            .args(["rev-parse", "HEAD"]))
    };
    let read = |file: &str| {
        std::fs::read_to_string(checkout.join(file))
            .unwrap_or_else(|e| panic!("read {file} of the checkout: {e}"))
    };
    assert_eq!(fetch_and_check_out(&first), first);
    assert_eq!(read("index.html"), first_page);

    // A later commit, fetched by its sha.
    let second_page = "<h1>second</h1>\n";
    let second = server.commit("app", &[("index.html", second_page)]);
    assert_ne!(second, first);
    assert_eq!(fetch_and_check_out(&second), second);
    assert_eq!(read("index.html"), second_page);
    assert_eq!(read("Dockerfile"), "FROM scratch\nCOPY index.html /\n");

    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|line| line == "POST /app.git/git-upload-pack 200"),
        "no served fetch in {requests:?}"
    );
    assert!(
        requests.iter().all(|line| !line.contains(&token)),
        "the token in the request log: {requests:?}"
    );
}
