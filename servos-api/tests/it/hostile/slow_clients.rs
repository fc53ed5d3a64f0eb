//! The real binary against slow and hostile clients: 2,000 connections that
//! send their headers and stall, from one address and from many behind a
//! trusted proxy, while every `/healthz` probe answers (within 1 s), on the
//! main address and on the health listener (`SERVOS_HEALTH_LISTEN`), and
//! every stalled connection is closed in time; a later request on a kept-alive
//! connection that stalls in its head, which actix-web alone leaves open;
//! bodies too large without a length.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use servos_api::config::defaults;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::both_backends;
use crate::client::scratch_dir;
use crate::harness::{random_master_key, Backend, TestDb};
use crate::hostile::report::{test_name, Scenario};
use crate::process::{free_port, Env, Server};

/// Connections each flood opens.
const FLOOD: usize = 2_000;
/// `SERVOS_REQUEST_TIMEOUT_SECS` of the servers under test: shorter than
/// the default so that the tests wait less.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// How long one `/healthz` probe, its connection included, may take before
/// it counts as not answered: a liveness bound, generous for a machine
/// busy with 2,000 connections at both ends (the latencies are printed).
const PROBE_BOUND: Duration = Duration::from_secs(1);
/// How often the monitor probes.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// What closing may take beyond a limit: slack for a machine busy with
/// 2,000 connections at both ends (a refused connection is shut as soon as
/// its answer left; a kept-alive one the watchdog shuts within a second).
const CLOSE_MARGIN: Duration = Duration::from_secs(3);
/// The trusted proxy's address (and the monitor's, behind it).
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// A direct client's address, apart from the proxy's.
const DIRECT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// Open files this test process needs: the flood, the probes, the server's
/// log and the runtime's own.
const OPEN_FILES_NEEDED: u64 = FLOOD as u64 + 1_000;

/// Raises this process's open files limit (the server inherits it) as far
/// as the flood needs.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .unwrap_or_else(|e| panic!("cannot read RLIMIT_NOFILE through nix::getrlimit: {e}"));
    if soft >= OPEN_FILES_NEEDED {
        return;
    }
    assert!(
        hard >= OPEN_FILES_NEEDED,
        "this test opens {FLOOD} connections and needs {OPEN_FILES_NEEDED} open files, \
         but the hard RLIMIT_NOFILE is {hard}: raise it (`ulimit -Hn`, LimitNOFILE) and run again"
    );
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap_or_else(|e| {
        panic!("cannot raise RLIMIT_NOFILE from {soft} to {hard} through nix::setrlimit: {e}")
    });
}

/// A server whose clients at 127.0.0.1 are a trusted proxy, and the
/// address of its health listener.
async fn start(db: &TestDb, scratch: &std::path::Path, name: &str) -> (Server, SocketAddr) {
    let health = SocketAddr::new(PROXY, free_port());
    let env = Env::for_db(db, &random_master_key())
        .with_var(
            "SERVOS_REQUEST_TIMEOUT_SECS",
            &REQUEST_TIMEOUT.as_secs().to_string(),
        )
        .with_var("SERVOS_TRUSTED_PROXIES", &PROXY.to_string())
        .with_var("SERVOS_HEALTH_LISTEN", &health.to_string());
    let server = Server::start(&env, &scratch.join(format!("{name}.log"))).await;
    (server, health)
}

fn address_of(server: &Server) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("server URL {}: {e}", server.url))
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// The status of an HTTP/1.1 answer's first line.
fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.strip_prefix(b"HTTP/1.1 ")?;
    std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()
}

/// A login whose body (1 KiB, announced) never comes.
fn stalled_login(to: SocketAddr, forwarded: Option<&str>) -> String {
    let forwarded = forwarded.map_or(String::new(), |ip| format!("X-Forwarded-For: {ip}\r\n"));
    format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\n\
         Content-Length: 1024\r\n{forwarded}\r\n"
    )
}

/// How one stalled connection ended.
#[derive(Debug)]
struct Stalled {
    /// The client address the server counts it against.
    client: String,
    /// The answer's status, if one came.
    status: Option<u16>,
    /// From its last byte sent to EOF or reset; `None` if still open.
    closed_after: Option<Duration>,
    /// Why it could not even stall.
    failed: Option<String>,
}

/// Sends `head` and waits (at most `give_up`) until the server closes.
async fn stall(to: SocketAddr, from: IpAddr, client: String, head: String) -> Stalled {
    let give_up = REQUEST_TIMEOUT + CLOSE_MARGIN + Duration::from_secs(10);
    let mut stalled = Stalled {
        client,
        status: None,
        closed_after: None,
        failed: None,
    };
    let mut stream = match connect_from(from, to).await {
        Ok(stream) => stream,
        Err(e) => {
            stalled.failed = Some(format!("connect: {e}"));
            return stalled;
        }
    };
    if let Err(e) = stream.write_all(head.as_bytes()).await {
        stalled.failed = Some(format!("send: {e}"));
        return stalled;
    }
    let sent = Instant::now();
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(give_up, async {
        // EOF or a reset: either way the server let go.
        while let Ok(read) = stream.read_buf(&mut answer).await {
            if read == 0 {
                break;
            }
        }
    })
    .await;
    stalled.closed_after = ended.is_ok().then(|| sent.elapsed());
    stalled.status = status_of(&answer);
    stalled
}

/// One `/healthz` probe of the monitor.
#[derive(Debug)]
struct Probe {
    /// When it started, from the monitor's start.
    at: Duration,
    /// Connect, ask, read the whole answer.
    took: Duration,
    status: Result<u16, String>,
}

/// A monitor polling `/healthz` from its own thread and runtime, so that
/// the flood's tasks cannot delay (or hide a delay in) its measurements.
struct Monitor {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Probe>>,
}

impl Monitor {
    fn start(to: SocketAddr, from: IpAddr, forwarded: Option<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the monitor's runtime");
            runtime.block_on(async move {
                let started = Instant::now();
                let mut probes = Vec::new();
                while !stopped.load(Ordering::Relaxed) {
                    let at = started.elapsed();
                    let begun = Instant::now();
                    let status = probe(to, from, forwarded.as_deref()).await;
                    probes.push(Probe {
                        at,
                        took: begun.elapsed(),
                        status,
                    });
                    tokio::time::sleep(PROBE_EVERY).await;
                }
                probes
            })
        });
        Self { stop, thread }
    }

    fn finish(self) -> Vec<Probe> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the monitor thread")
    }
}

async fn probe(to: SocketAddr, from: IpAddr, forwarded: Option<&str>) -> Result<u16, String> {
    let forwarded = forwarded.map_or(String::new(), |ip| format!("X-Forwarded-For: {ip}\r\n"));
    let attempt = async {
        let mut stream = connect_from(from, to)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request =
            format!("GET /healthz HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n{forwarded}\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        status_of(&answer).ok_or_else(|| "no status line".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .unwrap_or_else(|_| Err("no answer within 2 s".into()))
}

/// The status of `GET path` sent from `from` to `to`.
async fn get(from: IpAddr, to: SocketAddr, path: &str, forwarded: Option<&str>) -> Option<u16> {
    let mut stream = connect_from(from, to).await.expect("connect");
    let forwarded = forwarded.map_or(String::new(), |ip| format!("X-Forwarded-For: {ip}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n{forwarded}\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    status_of(&answer)
}

/// What a flood left: each stalled connection's end and every probe.
struct Flood {
    stalled: Vec<Stalled>,
    /// Probes of the flooded address.
    probes: Vec<Probe>,
    /// Probes of the health listener.
    listener_probes: Vec<Probe>,
}

/// Opens one stalled connection per `(source, forwarded address)` at once,
/// while a monitor at `monitor` probes the flooded address and another the
/// health listener at `health`, and waits until all are closed.
async fn flood(
    to: SocketAddr,
    health: SocketAddr,
    attackers: Vec<(IpAddr, Option<String>)>,
    monitor: (IpAddr, Option<String>),
) -> Flood {
    let monitor = Monitor::start(to, monitor.0, monitor.1);
    let listener_monitor = Monitor::start(health, PROXY, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tasks: Vec<_> = attackers
        .into_iter()
        .map(|(from, forwarded)| {
            let client = forwarded.clone().unwrap_or_else(|| from.to_string());
            let head = stalled_login(to, forwarded.as_deref());
            tokio::spawn(stall(to, from, client, head))
        })
        .collect();
    let mut stalled = Vec::with_capacity(tasks.len());
    for task in tasks {
        stalled.push(task.await.expect("a stalled connection's task"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    Flood {
        stalled,
        probes: monitor.finish(),
        listener_probes: listener_monitor.finish(),
    }
}

/// Asserts every probe answered 200 within [`PROBE_BOUND`], throughout
/// the flood, and records their latencies as `{label}: {what}`.
fn check_probes(label: &str, what: &str, probes: &[Probe], scenario: &mut Scenario) {
    let bad: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.took >= PROBE_BOUND || p.status != Ok(200))
        .collect();
    assert!(
        bad.is_empty(),
        "{label}: {} of {} {what} failed or took {PROBE_BOUND:?} or more: {bad:?}",
        bad.len(),
        probes.len()
    );
    let lasted = probes.last().map_or(Duration::ZERO, |p| p.at);
    assert!(
        lasted >= REQUEST_TIMEOUT && probes.len() >= 20,
        "{label}: {what}: {} over {lasted:?}, not throughout",
        probes.len()
    );
    let mut latencies: Vec<Duration> = probes.iter().map(|p| p.took).collect();
    latencies.sort();
    let fastest = latencies.first().copied().unwrap_or_default();
    let worst = latencies.last().copied().unwrap_or_default();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or_default();
    let slow = latencies
        .iter()
        .filter(|took| **took >= Duration::from_millis(100))
        .count();
    scenario.figure(
        &format!("{label}: {what}"),
        format!(
            "{} over {lasted:.1?}, all 200; {fastest:.1?} to {worst:.1?}, p99 {p99:.1?}, \
             {slow} took 100 ms or more",
            probes.len(),
        ),
    );
    eprintln!(
        "{label}: {} {what} over {lasted:?}, {fastest:?} to {worst:?}, p99 {p99:?}, \
         {slow} took 100 ms or more",
        probes.len()
    );
}

/// The acceptance checks of one flood; prints its numbers and records
/// them in `scenario`.
fn check(label: &str, flood: &Flood, scenario: &mut Scenario) {
    check_probes(label, "/healthz probes", &flood.probes, scenario);
    check_probes(
        label,
        "/healthz probes of the health listener",
        &flood.listener_probes,
        scenario,
    );
    let failed: Vec<&Stalled> = flood
        .stalled
        .iter()
        .filter(|s| s.failed.is_some())
        .collect();
    assert!(
        failed.is_empty(),
        "{label}: connections that could not stall: {failed:?}"
    );
    let limit = REQUEST_TIMEOUT + CLOSE_MARGIN;
    let open: Vec<&Stalled> = flood
        .stalled
        .iter()
        .filter(|s| s.closed_after.is_none_or(|after| after > limit))
        .collect();
    assert!(
        open.is_empty(),
        "{label}: {} of {FLOOD} stalled connections were not closed within {limit:?}: {:?}",
        open.len(),
        open.iter().take(5).collect::<Vec<_>>()
    );
    // Per client address: answered 408 when its body did not come (at most
    // the cap of them held that long), 429 beyond the cap.
    let mut per_client: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in &flood.stalled {
        let entry = per_client.entry(&s.client).or_default();
        match s.status {
            Some(408) => entry.0 += 1,
            Some(429) => entry.1 += 1,
            other => panic!("{label}: a stalled connection got {other:?}: {s:?}"),
        }
    }
    let cap = defaults::CONNECTIONS_PER_IP as usize;
    for (client, (held, refused)) in &per_client {
        assert!(
            (1..=cap).contains(held),
            "{label}: {client} had {held} requests held until their deadline (cap {cap}), {refused} refused"
        );
    }
    let slowest = flood
        .stalled
        .iter()
        .filter(|s| s.status == Some(408))
        .filter_map(|s| s.closed_after)
        .max()
        .unwrap_or_default();
    let slowest_refused = flood
        .stalled
        .iter()
        .filter(|s| s.status == Some(429))
        .filter_map(|s| s.closed_after)
        .max()
        .unwrap_or_default();
    let (held, refused) = per_client
        .values()
        .fold((0, 0), |(h, r), (held, refused)| (h + held, r + refused));
    scenario.figure(
        &format!("{label}: stalled connections"),
        format!(
            "{held} held and answered 408 (last closed {slowest:.2?} after its headers, \
             limit {REQUEST_TIMEOUT:?}), {refused} refused with 429"
        ),
    );
    eprintln!(
        "{label}: {FLOOD} stalled connections from {} addresses: {held} held and answered 408, \
         the last closed {slowest:?} after its headers (limit {REQUEST_TIMEOUT:?}), \
         {refused} refused with 429, the last closed after {slowest_refused:?}",
        per_client.len()
    );
}

async fn stalled_connections_leave_health_answering(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(
            module_path!(),
            "stalled_connections_leave_health_answering",
            backend,
        ),
        "2,000 connections that send a login request's headers and stall, \
         first from one address, then from 25 addresses behind a trusted proxy",
        "every /healthz probe (every 50 ms, from an attacking address, and of the \
         health listener) answers 200 within 1 s; each stalled connection answered 408 and closed within the \
         request time limit, or refused 429 beyond the per-address cap; both kinds \
         of client served again afterwards",
    );
    raise_open_files_limit();
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let (server, health) = start(&db, scratch.path(), "flood").await;
    let to = address_of(&server);

    // 2,000 from one address, which the monitor shares.
    let attackers = vec![(DIRECT, None); FLOOD];
    let one = flood(to, health, attackers, (DIRECT, None)).await;
    check("one address", &one, &mut scenario);

    // 2,000 behind the trusted proxy, from 25 forwarded addresses; the
    // monitor is behind the proxy too, at one of them.
    let attackers = (0..FLOOD)
        .map(|i| (PROXY, Some(format!("203.0.113.{}", i % 25 + 1))))
        .collect();
    let many = flood(to, health, attackers, (PROXY, Some("203.0.113.1".into()))).await;
    check("25 addresses behind a proxy", &many, &mut scenario);

    // Every slot was given back: both kinds of client are served again.
    for (from, forwarded) in [(DIRECT, None), (PROXY, Some("203.0.113.1"))] {
        assert_eq!(
            get(from, to, "/login", forwarded).await,
            Some(200),
            "{from} after the flood"
        );
    }
    // The health listener answers the probes and nothing else.
    assert_eq!(get(PROXY, health, "/readyz", None).await, Some(200));
    assert_eq!(get(PROXY, health, "/api/v1/me", None).await, Some(404));
    let output = server.stop();
    assert!(!output.contains("panic"), "the server panicked:\n{output}");
}

both_backends!(stalled_connections_leave_health_answering);

/// Sends `head` and then `body` in chunks (ignoring a server that stops
/// reading), and returns the answer's status.
async fn send_chunked(to: SocketAddr, head: &str, body: &[u8]) -> Option<u16> {
    let mut stream = connect_from(DIRECT, to).await.expect("connect");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    for chunk in body.chunks(16 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n) = stream.read_buf(&mut answer).await {
            if n == 0 || status_of(&answer).is_some() {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a chunked body within 10 s");
    status_of(&answer)
}

async fn oversize_bodies_without_a_length_answer_413(backend: Backend) {
    let _scenario = Scenario::new(
        test_name(
            module_path!(),
            "oversize_bodies_without_a_length_answer_413",
            backend,
        ),
        "200 KiB chunked bodies without a length, to a JSON and a form endpoint",
        "both answered 413; a small chunked body read as usual; no panic",
    );
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let (server, _) = start(&db, scratch.path(), "chunked").await;
    let to = address_of(&server);
    let origin = format!("http://{to}");
    let big = vec![b'a'; 200 * 1024];

    let json = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        send_chunked(to, &json, &big).await,
        Some(413),
        "chunked JSON"
    );

    let form = format!(
        "POST /login HTTP/1.1\r\nHost: {to}\r\nOrigin: {origin}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nCookie: servos_form=any\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        send_chunked(to, &form, &big).await,
        Some(413),
        "chunked form"
    );

    let small = b"{\"email\":\"nobody@example.com\",\"password\":\"wrong-password-1\"}";
    assert_eq!(
        send_chunked(to, &json, small).await,
        Some(401),
        "a small chunked body is read as usual"
    );
    let output = server.stop();
    assert!(!output.contains("panic"), "the server panicked:\n{output}");
}

both_backends!(oversize_bodies_without_a_length_answer_413);

async fn a_later_request_that_stalls_in_its_head_is_closed(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(
            module_path!(),
            "a_later_request_that_stalls_in_its_head_is_closed",
            backend,
        ),
        "a kept-alive connection whose second request stops in its headers",
        "the first request answered, the connection closed within keep-alive + request limit",
    );
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let (server, _) = start(&db, scratch.path(), "keepalive").await;
    let to = address_of(&server);
    let mut stream = connect_from(DIRECT, to).await.expect("connect");
    // A first request answered on a kept-alive connection, then the first
    // bytes of a second one, and nothing more.
    let first = format!("GET /healthz HTTP/1.1\r\nHost: {to}\r\n\r\nGET /login HTTP/1.1\r\nHo");
    stream.write_all(first.as_bytes()).await.expect("send");
    let sent = Instant::now();
    let limit = Duration::from_secs(defaults::KEEP_ALIVE_SECS) + REQUEST_TIMEOUT + CLOSE_MARGIN;
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(limit + Duration::from_secs(10), async {
        while let Ok(n) = stream.read_buf(&mut answer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    let after = sent.elapsed();
    assert_eq!(
        status_of(&answer),
        Some(200),
        "the first request is answered"
    );
    assert!(
        closed.is_ok() && after <= limit,
        "the stalled second request held its connection for {after:?} (limit {limit:?})"
    );
    eprintln!("a stalled second request head: connection closed after {after:?}");
    scenario.figure("closed after", format!("{after:.2?} (limit {limit:?})"));
    let output = server.stop();
    assert!(!output.contains("panic"), "the server panicked:\n{output}");
}

both_backends!(a_later_request_that_stalls_in_its_head_is_closed);
