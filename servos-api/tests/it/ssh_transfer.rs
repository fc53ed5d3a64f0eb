//! File content sent over the SSH channel, against a lab host: it arrives
//! intact with the asked mode, and while it travels no process on the
//! machine (the host's sshd and its children included) shows it in its
//! command line or environment; nor does the host's sshd log. One
//! session runs several commands and streams their output as it comes.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use servos_api::ssh::{self, Target};
use servos_common::secret::SecretText;
use servos_lab::{Lab, LabOptions};

/// Big enough that the transfer lasts many samples of the process list.
const CONTENT_BYTES: usize = 64 << 20;

/// What the process sampler saw.
#[derive(Debug, Default)]
struct Sampled {
    /// Full passes over `/proc`.
    passes: usize,
    /// Passes during which the remote writer (its command names the path) ran.
    passes_with_writer: usize,
    /// Command lines or environments that held the canary.
    leaks: Vec<String>,
}

/// Reads every process's command line and environment until `stop` is set.
fn sample_processes(canary: &str, path_marker: &str, stop: &AtomicBool) -> Sampled {
    let mut sampled = Sampled::default();
    while !stop.load(Ordering::SeqCst) {
        let mut writer_seen = false;
        let Ok(entries) = fs::read_dir("/proc") else {
            break;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            for file in ["cmdline", "environ"] {
                let Ok(bytes) = fs::read(entry.path().join(file)) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                if text.contains(canary) {
                    sampled
                        .leaks
                        .push(format!("{}/{file}: {text}", name.to_string_lossy()));
                }
                if file == "cmdline" && text.contains(path_marker) {
                    writer_seen = true;
                }
            }
        }
        sampled.passes += 1;
        sampled.passes_with_writer += usize::from(writer_seen);
    }
    sampled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_content_travels_only_over_the_channel() {
    let keys = tempfile::tempdir().expect("dir");
    let (private_key, public_key) = servos_lab::client_key(keys.path());
    let lab = Lab::up(
        &LabOptions {
            hosts: 1,
            docker: false,
        },
        &public_key,
    )
    .expect("a lab host (needs root and openssh-server, iproute2)");
    let host = &lab.hosts()[0];
    let target = Target {
        address: host.address.to_string(),
        port: host.ssh_port,
        user: host.user.clone(),
        private_key: SecretText::new(private_key),
        passphrase: None,
        pinned: Some(host.host_key_fingerprint()),
    };
    let session = ssh::connect(&target, servos_api::config::defaults::ssh_timeouts())
        .await
        .expect("connect to the lab host");

    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let mut content = Vec::with_capacity(CONTENT_BYTES + canary.len());
    while content.len() < CONTENT_BYTES {
        content.extend_from_slice(canary.as_bytes());
        content.push(b'\n');
    }
    // Removed when the test ends, passed or not.
    let scratch = tempfile::Builder::new()
        .prefix("servos-transfer-")
        .tempdir()
        .expect("scratch dir");
    let dir = scratch.path().display().to_string();
    let path = format!("{dir}/secrets/app.env");
    session
        .ensure_private_dir(&format!("{dir}/secrets"))
        .await
        .expect("private dir");

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (canary, marker, stop) = (canary.clone(), path.clone(), stop.clone());
        std::thread::spawn(move || sample_processes(&canary, &marker, &stop))
    };
    let written = session.write_file(&path, 0o600, &content).await;
    stop.store(true, Ordering::SeqCst);
    let sampled = sampler.join().expect("sampler thread");
    written.expect("write the file over the channel");

    // The host shares this machine's file system (only its network is its own).
    let meta = fs::metadata(&path).expect("the file exists on the host");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(format!("{dir}/secrets"))
            .expect("dir")
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert!(
        fs::read(&path).expect("read back") == content,
        "content arrived intact"
    );
    assert!(
        sampled.passes_with_writer >= 2,
        "the process list was sampled while the transfer ran: {sampled:?}"
    );
    assert!(
        sampled.leaks.is_empty(),
        "the secret showed in: {:?}",
        sampled.leaks
    );
    assert!(
        !host.sshd_log().contains(&canary),
        "the host's sshd log does not hold the secret"
    );

    session.remove_file(&path).await.expect("remove");
    assert!(!std::path::Path::new(&path).exists());
    let refused = session.write_file("/tmp/with space", 0o600, b"x").await;
    assert!(refused.is_err(), "a path that needs quoting is refused");
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_streams_output_of_several_commands() {
    let keys = tempfile::tempdir().expect("dir");
    let (private_key, public_key) = servos_lab::client_key(keys.path());
    let lab = Lab::up(
        &LabOptions {
            hosts: 1,
            docker: false,
        },
        &public_key,
    )
    .expect("a lab host (needs root and openssh-server, iproute2)");
    let host = &lab.hosts()[0];
    let target = Target {
        address: host.address.to_string(),
        port: host.ssh_port,
        user: host.user.clone(),
        private_key: SecretText::new(private_key),
        passphrase: None,
        pinned: Some(host.host_key_fingerprint()),
    };
    let session = ssh::connect(&target, servos_api::config::defaults::ssh_timeouts())
        .await
        .expect("connect to the lab host");
    let mut chunks = Vec::new();
    let status = session
        .run_streaming(
            "echo out-1; echo err-1 >&2; echo out-2; exit 3",
            None,
            |stream, bytes| chunks.push((stream, String::from_utf8_lossy(bytes).into_owned())),
        )
        .await
        .expect("the command runs");
    assert_eq!(status, Some(3));
    let text = |wanted: ssh::Stream| -> String {
        chunks
            .iter()
            .filter(|(stream, _)| *stream == wanted)
            .map(|(_, text)| text.as_str())
            .collect()
    };
    assert_eq!(text(ssh::Stream::Stdout), "out-1\nout-2\n");
    assert_eq!(text(ssh::Stream::Stderr), "err-1\n");
    let failed = session
        .run("exit 7", None)
        .await
        .expect("runs")
        .success("a failing step");
    assert!(
        failed.is_err_and(|e| e.to_string().contains("a failing step failed")),
        "a non-zero exit is an error naming the step"
    );
    let again = session.run("echo same-session", None).await.expect("runs");
    assert_eq!(again.stdout, b"same-session\n");
    assert_eq!(
        host.sshd_log().matches("Accepted publickey").count(),
        1,
        "every command used the one connection"
    );
    session.close().await;
}
