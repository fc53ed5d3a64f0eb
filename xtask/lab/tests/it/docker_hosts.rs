//! A lab of two Docker hosts: SSH with a pinned host key, each host's own daemon and image, containers on the host network, traffic between hosts, and a complete teardown.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use servos_lab::{Host, TEST_IMAGE};

use crate::{lab, processes_naming, ssh, succeeded, ClientKey};

/// An HTTP GET of `http://127.0.0.1:<port>/` from inside `host`'s namespace
/// (bash's `/dev/tcp`, so that nothing else needs installing); the response or why not.
fn get_inside(host: &Host, port: u16) -> Result<String, String> {
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
    );
    let output = host.exec(&["bash", "-c", &script]);
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn two_docker_hosts_serve_ssh_and_docker_reach_each_other_and_leave_nothing_behind() {
    let key = ClientKey::new();
    let lab = lab(2, true, &key);
    let [first, second] = lab.hosts() else {
        panic!("two hosts asked for, got {:?}", lab.hosts());
    };
    assert_ne!(first.name, second.name);
    assert_ne!(first.address, second.address);
    for host in lab.hosts() {
        assert_eq!(host.address.octets()[..2], [10, 231]);
        assert_eq!(host.user, "root");
        assert!(host.host_key_fingerprint().starts_with("SHA256:"));
        assert!(host.host_public_key().starts_with("ssh-ed25519 "));
        let socket = host
            .docker_socket
            .as_ref()
            .expect("a Docker host has a socket");

        // SSH with the host key pinned, and the session points at this host's daemon.
        let pinned = key.pinned(host);
        succeeded("pinned ssh true", &ssh(host, &key, &pinned, "true"));
        let env = succeeded("ssh echo", &ssh(host, &key, &pinned, "echo $DOCKER_HOST"));
        assert_eq!(env.trim(), format!("unix://{}", socket.display()));
        let over_ssh = ssh(
            host,
            &key,
            &pinned,
            "docker image ls --format '{{.Repository}}:{{.Tag}}'",
        );
        assert!(succeeded("docker over ssh", &over_ssh).contains(TEST_IMAGE));
        assert!(host.publickey_attempts() >= 1, "{}", host.sshd_log());

        // The daemon answers the client directly, and holds the test image.
        succeeded("docker version", &host.docker(&["version"]));
        let images = host.docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
        assert!(succeeded("docker image ls", &images).contains(TEST_IMAGE));
        let inside = host.exec(&[
            "sh",
            "-c",
            "docker info --format '{{.Name}}' && ip -4 -o addr show eth0",
        ]);
        assert!(succeeded("exec", &inside).contains(&host.address.to_string()));
    }

    // A container on the host network serves inside its host's namespace only.
    let page = format!("served by {}", first.name);
    let serve = format!(
        "mkdir -p /www && echo '{page}' > /www/index.html && exec httpd -f -p 8080 -h /www"
    );
    let started = first.docker(&[
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        "web",
        TEST_IMAGE,
        "sh",
        "-c",
        &serve,
    ]);
    succeeded("docker run", &started);
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        match get_inside(first, 8080) {
            Ok(response) if response.contains(&page) => break response,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "the container never served: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    assert!(response.starts_with("HTTP/1."), "{response}");
    assert!(
        get_inside(second, 8080).is_err(),
        "the other host shares the port"
    );
    // A container without --network host runs too (its own namespace).
    let echo = first.docker(&["run", "--rm", TEST_IMAGE, "echo", "hello"]);
    assert_eq!(succeeded("docker run --rm", &echo).trim(), "hello");
    let sleeping = first.docker(&["run", "-d", TEST_IMAGE, "sleep", "600"]);
    let sleeping_id = succeeded("docker run sleep", &sleeping).trim().to_owned();

    // The first host reaches the second one's sshd through the root namespace.
    let scanned = first.exec(&[
        "ssh-keyscan",
        "-T",
        "5",
        "-t",
        "ed25519",
        &second.address.to_string(),
    ]);
    let second_key = second.host_public_key();
    let second_key_base64 = second_key.split_whitespace().nth(1).expect("key body");
    assert!(
        succeeded("ssh-keyscan from the first host", &scanned).contains(second_key_base64),
        "{}",
        String::from_utf8_lossy(&scanned.stderr)
    );
    // Nothing answers the unreachable address.
    let unreachable = SocketAddr::from((first.unreachable_address, 22));
    assert!(TcpStream::connect_timeout(&unreachable, Duration::from_secs(2)).is_err());

    let name = lab.name().to_owned();
    let dir = first
        .dir
        .parent()
        .expect("host dirs are in the lab dir")
        .to_owned();
    let hosts: Vec<String> = lab.hosts().iter().map(|host| host.name.clone()).collect();
    let mut daemons = processes_naming(&dir);
    assert!(
        daemons.len() >= 6,
        "sshd, containerd and dockerd per host: {daemons:?}"
    );
    for container in ["web", sleeping_id.as_str()] {
        let pid = first.docker(&["inspect", "--format", "{{.State.Pid}}", container]);
        let pid = succeeded("docker inspect", &pid);
        daemons.push(pid.trim().parse().expect("a container's pid"));
    }
    drop(lab);

    for host in &hosts {
        assert!(
            !Path::new("/run/netns").join(host).exists(),
            "netns {host} is left"
        );
        assert!(
            !Path::new("/sys/class/net").join(host).exists(),
            "veth {host} is left"
        );
    }
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(!Path::new(&format!("/run/servos-lab/{name}.slot")).exists());
    assert_eq!(processes_naming(&dir), Vec::<u32>::new());
    // The daemons and the containers' processes, with and without a namespace of their own.
    for pid in daemons {
        let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z"),
            "process {pid} is left: {state}"
        );
    }
    let rules = std::process::Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .output()
        .expect("iptables runs");
    let rules = String::from_utf8_lossy(&rules.stdout).replace('"', "");
    let comment = format!("--comment servos-lab:{name} ");
    assert!(
        !rules
            .lines()
            .any(|line| format!("{line} ").contains(&comment)),
        "{rules}"
    );
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&format!("{}/", dir.display())),
        "mounts are left"
    );
}
