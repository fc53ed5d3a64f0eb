//! The hosts' sshd: the authorized key for root, each host key type, the publickey log, and a replaced host key that a pinned client refuses before offering its key.

use servos_lab::HostKeyType;

use crate::{lab, ssh, succeeded, trust_any_host, ClientKey};

#[test]
fn sshd_only_hosts_let_root_in_with_the_key_and_run_no_docker() {
    let key = ClientKey::new();
    let lab = lab(3, false, &key);
    assert_eq!(lab.hosts().len(), 3);
    for host in lab.hosts() {
        assert_eq!(host.docker_socket, None);
        assert_eq!(host.publickey_attempts(), 0, "{}", host.sshd_log());
        let pinned = key.pinned(host);
        let whoami = succeeded("pinned ssh", &ssh(host, &key, &pinned, "id -un"));
        assert_eq!(whoami.trim(), "root");
        assert!(host.publickey_attempts() >= 1, "{}", host.sshd_log());
        assert!(host.sshd_log().contains("Accepted publickey for root"));
        let no_docker = host.docker(&["version"]);
        assert!(!no_docker.status.success());
        assert!(String::from_utf8_lossy(&no_docker.stderr).contains("runs no Docker daemon"));
        // Commands run in the host's namespace, on its address.
        let route = succeeded(
            "exec ip route",
            &host.exec(&["ip", "-4", "route", "show", "default"]),
        );
        assert!(route.contains(&host.gateway.to_string()), "{route}");
    }
    // A wrong key is refused, and the attempt shows in the log.
    let stranger = ClientKey::new();
    let host = &lab.hosts()[0];
    let before = host.publickey_attempts();
    let refused = ssh(host, &stranger, &trust_any_host(), "true");
    assert!(!refused.status.success());
    assert!(host.publickey_attempts() > before, "{}", host.sshd_log());
}

#[test]
fn a_replaced_host_key_gets_no_client_key() {
    let key = ClientKey::new();
    let lab = lab(1, false, &key);
    let host = &lab.hosts()[0];
    let pinned = key.pinned(host);
    succeeded("pinned ssh", &ssh(host, &key, &pinned, "true"));
    let old = host.host_key_fingerprint();

    for (replacement, prefix) in [
        (HostKeyType::Ed25519, "ssh-ed25519 "),
        (HostKeyType::Rsa, "ssh-rsa "),
    ] {
        host.replace_host_key(replacement);
        assert_eq!(host.ssh_port, 22);
        assert!(host.host_public_key().starts_with(prefix));
        assert_ne!(host.host_key_fingerprint(), old);
        let before = host.publickey_attempts();
        let refused = ssh(host, &key, &pinned, "true");
        assert!(!refused.status.success(), "ssh trusted a replaced host key");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("Host key verification failed"), "{stderr}");
        assert_eq!(host.publickey_attempts(), before, "{}", host.sshd_log());
        succeeded(
            "ssh trusting any host",
            &ssh(host, &key, &trust_any_host(), "true"),
        );
        assert!(host.publickey_attempts() > before);
        // Pinned to the new key, the client gets in again.
        succeeded("re-pinned ssh", &ssh(host, &key, &key.pinned(host), "true"));
    }
}

#[test]
fn replacing_the_host_key_closes_open_sessions() {
    let key = ClientKey::new();
    let lab = lab(1, false, &key);
    let host = &lab.hosts()[0];
    let mut session = servos_lab::ssh_client(&key.path)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .arg(format!("root@{}", host.address))
        .arg("sleep 600")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ssh runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !host.sshd_log().contains("Accepted publickey for root") {
        assert!(std::time::Instant::now() < deadline, "{}", host.sshd_log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    host.replace_host_key(HostKeyType::Ed25519);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if session.try_wait().expect("wait for ssh").is_some() {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let _ = session.kill();
            panic!("the session outlived the old sshd");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
