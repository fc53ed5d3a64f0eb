//! `join` against a local TLS server: a certificate other than the pinned one gets no byte of the request.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use servos_agent::tls::SpkiPin;
use servos_common::protocol::{EnrollRequest, ProtocolMismatch};
use servos_common::token::{self, ENROLLMENT_TOKEN_PREFIX};

/// A self-signed certificate for 127.0.0.1, made with openssl.
struct TestCert {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn make_cert(dir: &Path, name: &str) -> TestCert {
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key_path)
        .arg("-out")
        .arg(&cert_path)
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=servos-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .stderr(Stdio::null())
        .status()
        .expect("cannot run openssl (Debian package openssl)");
    assert!(status.success(), "openssl could not make a certificate");
    TestCert {
        cert: CertificateDer::from_pem_file(&cert_path).expect("certificate PEM"),
        key: PrivateKeyDer::from_pem_file(&key_path).expect("key PEM"),
    }
}

/// What the server saw of one connection.
struct Seen {
    handshake_done: bool,
    plaintext: Vec<u8>,
}

/// Serves one TLS connection: counts the plaintext received and, once a
/// whole request arrived, answers `409 agent_protocol_mismatch`.
fn serve_once(cert: &TestCert) -> (u16, JoinHandle<Seen>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.clone()], cert.key.clone_key())
    .expect("server config");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().expect("accept");
        let mut tls = rustls::ServerConnection::new(Arc::new(config)).expect("connection");
        let mut seen = Seen {
            handshake_done: false,
            plaintext: Vec::new(),
        };
        let mut buf = [0u8; 4096];
        loop {
            if tls.complete_io(&mut tcp).is_err() {
                return seen;
            }
            seen.handshake_done |= !tls.is_handshaking();
            match tls.reader().read(&mut buf) {
                Ok(0) => return seen,
                Ok(n) => seen.plaintext.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return seen,
            }
            if request_complete(&seen.plaintext) {
                let body =
                    serde_json::to_string(&ProtocolMismatch::new("1".to_owned()).to_error_body())
                        .expect("json");
                let answer = format!(
                    "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.writer().write_all(answer.as_bytes());
                let _ = tls.complete_io(&mut tcp);
                tls.send_close_notify();
                let _ = tls.complete_io(&mut tcp);
                return seen;
            }
        }
    });
    (port, handle)
}

fn request_complete(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(0);
    body.len() >= length
}

fn join(port: u16, pin: &SpkiPin, state_dir: &Path, token: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servos-agent"))
        .args([
            "join",
            "--api",
            &format!("https://127.0.0.1:{port}"),
            "--token-stdin",
        ])
        .args(["--pin", &pin.to_string()])
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("servos-agent");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(token.as_bytes())
        .expect("token on stdin");
    child.wait_with_output().expect("join output")
}

#[test]
fn a_certificate_other_than_the_pinned_one_receives_no_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = make_cert(dir.path(), "served");
    let pinned = make_cert(dir.path(), "pinned");
    let (port, server) = serve_once(&served);
    let token = token::generate(ENROLLMENT_TOKEN_PREFIX).expect("rng");
    let state_dir = dir.path().join("state");

    let output = join(
        port,
        &SpkiPin::of_certificate(&pinned.cert).expect("pin"),
        &state_dir,
        token.expose(),
    );
    let seen = server.join().expect("server thread");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(
        !output.status.success(),
        "join accepted a certificate that is not the pinned one"
    );
    assert!(
        stderr.contains("not the pinned"),
        "the refusal should say why:\n{stderr}"
    );
    assert!(
        !seen.handshake_done,
        "the handshake completed with the wrong certificate"
    );
    assert!(
        seen.plaintext.is_empty(),
        "the server received {} bytes of request",
        seen.plaintext.len()
    );
    assert!(!stderr.contains(token.expose()), "the token was printed");
    assert!(!state_dir.join("agent.token").exists() && !state_dir.join("settings.json").exists());
}

#[test]
fn the_pinned_certificate_gets_the_enrollment_and_a_version_mismatch_stops_join() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = make_cert(dir.path(), "served");
    let (port, server) = serve_once(&served);
    let token = token::generate(ENROLLMENT_TOKEN_PREFIX).expect("rng");
    let state_dir = dir.path().join("state");

    let output = join(
        port,
        &SpkiPin::of_certificate(&served.cert).expect("pin"),
        &state_dir,
        token.expose(),
    );
    let seen = server.join().expect("server thread");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let request = String::from_utf8_lossy(&seen.plaintext);

    assert!(seen.handshake_done);
    assert!(
        request.starts_with("POST /api/v1/agent/enroll HTTP/1.1\r\n"),
        "{request}"
    );
    let head = request.to_ascii_lowercase();
    assert!(head.contains("servos-agent-protocol: 1\r\n"), "{request}");
    assert!(head.contains(&format!(
        "authorization: bearer {}\r\n",
        token.expose().to_ascii_lowercase()
    )));
    let body = request
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    let enroll: EnrollRequest =
        serde_json::from_str(body).expect("the body is exactly an EnrollRequest");
    let pending =
        std::fs::read_to_string(state_dir.join("wg.key.next")).expect("the key waits beside");
    assert!(!body.contains(pending.trim()), "the private key was sent");
    assert_eq!(enroll.listen_port, 51820);

    assert!(!output.status.success());
    assert!(
        stderr.contains("protocol version"),
        "the mismatch message should be shown:\n{stderr}"
    );
    assert!(!stderr.contains(token.expose()), "the token was printed");
    assert!(
        !state_dir.join("agent.token").exists(),
        "nothing is stored from a refused enrollment"
    );
}
