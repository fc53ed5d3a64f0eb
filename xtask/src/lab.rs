//! `cargo xtask lab`: bring the test lab up and leave it running for manual work, or tear labs down.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use servos_lab::{client_key, Lab, LabOptions};

use crate::{debian, target_dir};

const USAGE: &str = "usage: cargo xtask lab up N [--no-docker] | cargo xtask lab down [NAME]";

/// Runs `lab up` or `lab down` as `args` say.
pub fn main(args: &[String]) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["up", hosts] => up(parse_hosts(hosts)?, true),
        ["up", hosts, "--no-docker"] | ["up", "--no-docker", hosts] => {
            up(parse_hosts(hosts)?, false)
        }
        ["down"] => {
            Lab::down_all()?;
            remove_stale_key_files()?;
            eprintln!("xtask: every lab no running process owns is down");
            Ok(())
        }
        ["down", name] => {
            Lab::down(name)?;
            remove_key_files(name)?;
            eprintln!("xtask: lab {name} is down");
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

fn parse_hosts(text: &str) -> Result<usize> {
    text.parse()
        .with_context(|| format!("N must be a number of hosts, not {text:?}; {USAGE}"))
}

/// Where the kept labs' client keys and known_hosts files go.
fn key_dir() -> PathBuf {
    target_dir().join("servos-lab")
}

fn key_path(lab: &str) -> PathBuf {
    key_dir().join(format!("{lab}-root-ed25519"))
}

fn known_hosts_path(lab: &str) -> PathBuf {
    key_dir().join(format!("{lab}-known_hosts"))
}

/// Brings up a lab of `hosts` hosts with a fresh client key for root, prints how to
/// reach each host, and leaves it running.
fn up(hosts: usize, docker: bool) -> Result<()> {
    let mut needed = debian::LAB_BASE.to_vec();
    if docker {
        needed.extend(debian::LAB_DOCKER);
    }
    debian::ensure(&needed)?;
    let scratch = key_dir().join(format!(".keygen-{}", std::process::id()));
    let (private, public) = client_key(&scratch);
    fs::remove_dir_all(&scratch).with_context(|| format!("remove {}", scratch.display()))?;

    let started = Instant::now();
    let lab = Lab::up(&LabOptions { hosts, docker }, &public)?;
    let elapsed = started.elapsed();
    let name = lab.name().to_owned();
    let key = key_path(&name);
    write_private(&key, &private)?;
    let known_hosts = known_hosts_path(&name);
    let lines: Vec<String> = lab
        .hosts()
        .iter()
        .map(|host| host.known_hosts_line())
        .collect();
    fs::write(&known_hosts, lines.join("\n") + "\n")
        .with_context(|| format!("write {}", known_hosts.display()))?;

    let kind = if docker {
        "sshd and Docker"
    } else {
        "sshd only"
    };
    let mut report = format!(
        "lab {name}: {hosts} host(s), {kind}, up in {:.2}s\n\
         client key for root: {}\n\
         known hosts:         {}\n",
        elapsed.as_secs_f64(),
        key.display(),
        known_hosts.display()
    );
    for host in lab.hosts() {
        let docker = host
            .docker_socket
            .as_ref()
            .map(|socket| format!("  DOCKER_HOST=unix://{}", socket.display()))
            .unwrap_or_default();
        report.push_str(&format!(
            "{:<10} {:<15} port {}{docker}\n",
            host.name, host.address, host.ssh_port
        ));
    }
    if let Some(first) = lab.hosts().first() {
        report.push_str(&format!(
            "connect:   ssh -i {} -o UserKnownHostsFile={} root@{}\n",
            key.display(),
            known_hosts.display(),
            first.address
        ));
    }
    report.push_str(&format!("tear down: cargo xtask lab down {name}\n"));
    // Kept before printing: the lab stays up even if the output goes nowhere.
    lab.keep();
    print!("{report}");
    Ok(())
}

/// Writes a private key readable by its owner only (ssh refuses others).
fn write_private(path: &Path, key: &str) -> Result<()> {
    // The mode applies only to a new file.
    let _ = fs::remove_file(path);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(key.as_bytes()))
        .with_context(|| format!("write {}", path.display()))
}

fn remove_key_files(lab: &str) -> Result<()> {
    for path in [key_path(lab), known_hosts_path(lab)] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("remove {}", path.display())),
        }
    }
    Ok(())
}

/// Removes the key files of labs that no longer exist.
fn remove_stale_key_files() -> Result<()> {
    let Ok(entries) = fs::read_dir(key_dir()) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(lab) = file
            .strip_suffix("-root-ed25519")
            .or_else(|| file.strip_suffix("-known_hosts"))
        else {
            continue;
        };
        if !Path::new(&format!("/run/servos-lab/{lab}.slot")).exists() {
            remove_key_files(lab)?;
        }
    }
    Ok(())
}
