//! Headless Chromium through ChromeDriver for the browser tests: finds both
//! programs (failing with the Debian packages to install when one is
//! missing), starts ChromeDriver on a free port in its own process group,
//! waits for its `/status` to say ready, and kills the whole group (the
//! browser with it) when dropped, whatever happened before.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::process::free_port;

/// How long ChromeDriver may take to answer `/status` with `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Debian's paths, then `PATH`.
fn program(debian_path: &str, name: &str) -> PathBuf {
    let debian = Path::new(debian_path);
    if debian.is_file() {
        return debian.to_owned();
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the browser tests need {name}, which was not found at {debian_path} or on PATH; \
                 install the Debian packages chromium and chromium-driver \
                 (`apt-get install chromium chromium-driver`, or `cargo xtask test`, which installs them)"
            )
        })
}

/// ChromeDriver's process group, killed when dropped.
struct DriverProcess(Child);

impl Drop for DriverProcess {
    fn drop(&mut self) {
        // The browser is a child of ChromeDriver, in the same group.
        let group = format!("-{}", self.0.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session in headless Chromium.
pub struct Browser {
    client: Option<Client>,
    // Declared after the client: dropped (killed) last.
    _driver: DriverProcess,
}

impl Browser {
    /// Starts ChromeDriver and a Chromium session with a new empty profile
    /// under `scratch`, downloading into `downloads`.
    pub async fn start(scratch: &Path, downloads: &Path) -> Self {
        let chromium = program("/usr/bin/chromium", "chromium");
        let chromedriver = program("/usr/bin/chromedriver", "chromedriver");
        let port = free_port();
        let log = scratch.join("chromedriver.log");
        let log_file = std::fs::File::create(&log).expect("chromedriver log");
        let child = {
            use std::os::unix::process::CommandExt as _;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::from(log_file.try_clone().expect("log handle")))
                .stderr(Stdio::from(log_file))
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()))
        };
        let driver = DriverProcess(child);
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&url, &log).await;

        let profile = scratch.join("chromium-profile");
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start a Chromium session through ChromeDriver: {e}\nChromeDriver log:\n{}",
                    crate::process::read_log(&log)
                )
            });
        Self {
            client: Some(client),
            _driver: driver,
        }
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("an open session")
    }

    /// Ends the session cleanly (the process group is killed on drop anyway).
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

async fn wait_ready(url: &str, log: &Path) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let ready = http
            .get(format!("{url}/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()
            .map(|r| r.json::<serde_json::Value>());
        if let Some(body) = ready {
            if body.await.is_ok_and(|v| v["value"]["ready"] == json!(true)) {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!(
                "ChromeDriver did not become ready within {READY_TIMEOUT:?}; its log:\n{}",
                crate::process::read_log(log)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the first finished download in `dir` (waits for it).
pub async fn downloaded(dir: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let finished = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.extension()
                    .is_none_or(|ext| ext != "crdownload" && ext != "tmp")
            });
        if let Some(path) = finished {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if !text.is_empty() {
                    return text;
                }
            }
        }
        if Instant::now() > deadline {
            panic!(
                "nothing was downloaded into {} within {timeout:?}",
                dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
