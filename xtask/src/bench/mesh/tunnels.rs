//! The paths the mesh benchmark sends iperf3 over between two lab hosts
//! besides the agent's own: wireguard-go and boringtun-cli, each a TUN
//! device per host configured with `wg` (private keys from 0600 files,
//! never argv), and iperf3 itself, bounded in time.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use servos_lab::Host;

use crate::cmd;

/// Seconds of each iperf3 run.
pub const IPERF_SECONDS: u32 = 5;
/// The port iperf3 listens on, in the receiving host's namespace.
const IPERF_PORT: &str = "5201";
/// The UDP port the compared WireGuard implementations listen on (the
/// agent's is 51820, and it keeps running beside them).
const WG_PORT: u16 = 51821;
/// Where wireguard-go and boringtun-cli make their UAPI sockets (a
/// directory every namespace shares, hence per-run interface names).
const UAPI_DIR: &str = "/var/run/wireguard";
/// The boringtun-cli release compared (`cargo install --locked`).
const BORINGTUN_CLI: &str = "boringtun-cli";

/// A userspace WireGuard implementation other than the agent.
pub enum Userspace<'a> {
    /// Debian's `wireguard-go`.
    WireguardGo,
    /// The `boringtun-cli` binary at that path.
    BoringtunCli(&'a Path),
}

/// The `boringtun-cli` binary under `target/bench-tools`, installed with
/// `cargo install --locked` when missing.
pub fn boringtun_cli(target: &Path) -> Result<PathBuf> {
    let root = target.join("bench-tools");
    let binary = root.join("bin").join(BORINGTUN_CLI);
    if binary.is_file() {
        return Ok(binary);
    }
    cmd::run(
        cmd::cargo()
            .args(["install", "--locked", BORINGTUN_CLI, "--root"])
            .arg(&root),
    )?;
    if !binary.is_file() {
        bail!("cargo install left no {}", binary.display());
    }
    Ok(binary)
}

/// Bits per second of one TCP stream from `from` to `address` (an address
/// of `to`), [`IPERF_SECONDS`] long; output kept in `log_dir`.
pub fn iperf(from: &Host, to: &Host, address: &str, log_dir: &Path) -> Result<f64> {
    let server = to
        .command(&["iperf3", "-s", "-1", "-p", IPERF_PORT])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start iperf3 -s")?;
    let _server = Reaped(vec![server]);
    let filter = format!("sport = :{IPERF_PORT}");
    wait_until(Duration::from_secs(10), "iperf3 -s to listen", || {
        let listening = to.exec(&["ss", "-Hltn", &filter]);
        listening.status.success() && !listening.stdout.is_empty()
    })?;
    let report_path = log_dir.join(format!("iperf-{}-{address}.json", from.name));
    let report_file =
        File::create(&report_path).with_context(|| format!("create {}", report_path.display()))?;
    let seconds = IPERF_SECONDS.to_string();
    let mut client = from.command(&[
        "iperf3",
        "-J",
        "-c",
        address,
        "-p",
        IPERF_PORT,
        "-t",
        &seconds,
        "--connect-timeout",
        "3000",
    ]);
    client.stdout(report_file);
    run_within(
        &mut client,
        Duration::from_secs(u64::from(IPERF_SECONDS) + 20),
    )?;
    let report = fs::read_to_string(&report_path)?;
    let report: serde_json::Value =
        serde_json::from_str(&report).context("iperf3 -J printed no JSON")?;
    report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .with_context(|| format!("iperf3's report has no received rate: {}", report["error"]))
}

/// One WireGuard tunnel between two hosts through another implementation;
/// its processes killed and its sockets removed when dropped.
pub struct Tunnel {
    daemons: Reaped,
    sockets: Vec<PathBuf>,
    /// The inner address of each end, in the order of the hosts.
    pub addresses: [String; 2],
}

impl Tunnel {
    /// Starts `kind` on both hosts as interface `svb<tag><pid><i>`, with
    /// inner addresses `10.239.<subnet>.1` and `.2`, keys in `dir`, and
    /// returns once a ping crosses.
    pub fn start(
        kind: &Userspace<'_>,
        tag: char,
        hosts: [&Host; 2],
        subnet: u8,
        dir: &Path,
    ) -> Result<Self> {
        let names: Vec<String> = (0..2)
            .map(|i| format!("svb{tag}{}{i}", std::process::id()))
            .collect();
        let mut tunnel = Self {
            daemons: Reaped(Vec::new()),
            sockets: names
                .iter()
                .map(|name| Path::new(UAPI_DIR).join(format!("{name}.sock")))
                .collect(),
            addresses: [1, 2].map(|i| format!("10.239.{subnet}.{i}")),
        };
        let mut public_keys = Vec::new();
        for (i, (host, name)) in hosts.iter().zip(&names).enumerate() {
            let log = File::create(dir.join(format!("{name}.log")))?;
            let mut command = match kind {
                Userspace::WireguardGo => host.command(&["wireguard-go", "-f", name]),
                Userspace::BoringtunCli(binary) => host.command(&[
                    &binary.to_string_lossy(),
                    name,
                    "--foreground",
                    "--disable-drop-privileges",
                ]),
            };
            command
                .env("WG_PROCESS_FOREGROUND", "1")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            let child = command
                .spawn()
                .with_context(|| format!("could not start `{}`", cmd::display(&command)))?;
            tunnel.daemons.0.push(child);
            let socket = &tunnel.sockets[i];
            wait_until(Duration::from_secs(10), "the UAPI socket", || {
                socket.exists()
            })?;
            public_keys.push(key_pair(dir, name)?);
        }
        for (i, host) in hosts.iter().enumerate() {
            let other = 1 - i;
            let key_file = dir.join(format!("{}.key", names[i]));
            let endpoint = format!("{}:{WG_PORT}", hosts[other].address);
            let allowed = format!("{}/32", tunnel.addresses[other]);
            let prefix = format!("{}/24", tunnel.addresses[i]);
            let port = WG_PORT.to_string();
            let key_file = key_file.to_string_lossy();
            #[rustfmt::skip]
            let steps: [&[&str]; 3] = [
                &["wg", "set", &names[i], "listen-port", &port, "private-key", &key_file,
                  "peer", &public_keys[other], "allowed-ips", &allowed, "endpoint", &endpoint],
                &["ip", "addr", "add", &prefix, "dev", &names[i]],
                &["ip", "link", "set", &names[i], "up"],
            ];
            for argv in steps {
                let output = host.exec(argv);
                if !output.status.success() {
                    bail!(
                        "{} on {}: {}",
                        argv.join(" "),
                        host.name,
                        String::from_utf8_lossy(&output.stderr).trim()
                    );
                }
            }
        }
        let target = tunnel.addresses[1].clone();
        wait_until(Duration::from_secs(20), "a ping through the tunnel", || {
            hosts[0]
                .exec(&["ping", "-c", "1", "-W", "1", &target])
                .status
                .success()
        })?;
        Ok(tunnel)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // boringtun-cli ignores SIGTERM while it serves its socket: kill.
        self.daemons.kill_all();
        for socket in &self.sockets {
            let _ = fs::remove_file(socket);
        }
    }
}

/// Makes `<dir>/<name>.key` (0600, from `wg genkey`) and returns its public key.
fn key_pair(dir: &Path, name: &str) -> Result<String> {
    let private = cmd::read_stdout(Command::new("wg").arg("genkey"))?;
    let path = dir.join(format!("{name}.key"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(private.as_bytes())?;
    drop(file);
    let public = cmd::read_stdout(
        Command::new("sh")
            .args(["-c", "wg pubkey < \"$0\""])
            .arg(&path),
    )?;
    Ok(public.trim().to_owned())
}

/// Runs `command`, killing it and failing if it takes longer than `within`.
fn run_within(command: &mut Command, within: Duration) -> Result<()> {
    let child = command
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd::display(command)))?;
    let mut child = Reaped(vec![child]);
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.0[0].try_wait()? {
            if !status.success() {
                bail!("`{}` failed ({status})", cmd::display(command));
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("`{}` ran longer than {within:?}", cmd::display(command));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `done` every 50 ms until it holds, failing after `within`.
pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() > deadline {
            bail!("no {what} within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Children killed and reaped when dropped (a failed run leaves none).
struct Reaped(Vec<Child>);

impl Reaped {
    fn kill_all(&mut self) {
        for mut child in self.0.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        self.kill_all();
    }
}
