//! Lab slots: parallel labs get distinct names and addresses; kept labs survive until `down`; what a dead process left is cleared.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use servos_lab::{Lab, LabError};

use crate::{lab, processes_naming, ssh, succeeded, trust_any_host, ClientKey};

#[test]
fn labs_started_at_once_get_distinct_names_and_addresses() {
    let key = ClientKey::new();
    let labs: Vec<Lab> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| lab(2, false, &key)))
            .collect();
        started
            .into_iter()
            .map(|thread| thread.join().expect("a lab thread"))
            .collect()
    });
    let names: HashSet<&str> = labs.iter().map(Lab::name).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let addresses: HashSet<_> = labs
        .iter()
        .flat_map(|lab| lab.hosts().iter().map(|host| host.address))
        .collect();
    assert_eq!(addresses.len(), 6);
    for lab in &labs {
        for host in lab.hosts() {
            succeeded("ssh", &ssh(host, &key, &trust_any_host(), "true"));
        }
    }
}

#[test]
fn a_kept_lab_runs_until_it_is_taken_down_by_name() {
    let key = ClientKey::new();
    let lab = lab(1, false, &key);
    let address = lab.hosts()[0].address;
    let name = lab.keep();
    let slot_file = format!("/run/servos-lab/{name}.slot");
    assert_eq!(
        fs::read_to_string(&slot_file)
            .expect("the slot file")
            .trim(),
        "kept"
    );
    assert!(answers_on_port_22(address), "a kept lab's sshd stopped");
    let daemons = processes_naming(Path::new(&format!("/run/servos-lab/{name}")));
    assert!(!daemons.is_empty());
    Lab::down(&name).unwrap_or_else(|error| panic!("down {name}: {error}"));
    // Other tests may claim the slot again at once: check this lab's own things.
    for pid in daemons {
        let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z"),
            "process {pid} is left: {state}"
        );
    }
    // Gone, unless a test running in parallel claimed the slot again.
    assert!(matches!(
        Lab::down(&name),
        Err(LabError::UnknownLab(_) | LabError::InUse { .. })
    ));
    assert!(matches!(
        Lab::down("not-a-lab"),
        Err(LabError::UnknownLab(_))
    ));
}

#[test]
fn what_a_dead_process_left_is_cleared_by_name() {
    // The last slot, which parallel tests reach only when 63 others are taken.
    let name = "svl63";
    let slot_file = format!("/run/servos-lab/{name}.slot");
    fs::create_dir_all("/run/servos-lab").expect("the lab root");
    if Path::new(&slot_file).exists() {
        eprintln!("{slot_file} is in use; skipping");
        return;
    }
    // A process that has exited: its pid and start time match no running process.
    fs::write(&slot_file, "pid 4194304 1\n").expect("write a stale slot file");
    let made = Command::new("ip")
        .args(["netns", "add", "svl63h0"])
        .status();
    assert!(made.is_ok_and(|status| status.success()), "ip netns add");
    fs::create_dir_all("/run/servos-lab/svl63/svl63h0").expect("a leftover directory");

    Lab::down(name).unwrap_or_else(|error| panic!("down {name}: {error}"));
    assert!(!Path::new(&slot_file).exists());
    assert!(!Path::new("/run/netns/svl63h0").exists());
    assert!(!Path::new("/run/servos-lab/svl63").exists());
}

/// Whether something answers SSH on port 22 of `address`.
fn answers_on_port_22(address: std::net::Ipv4Addr) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from((address, 22)),
        std::time::Duration::from_secs(2),
    )
    .is_ok()
}
