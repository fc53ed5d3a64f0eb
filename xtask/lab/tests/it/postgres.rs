//! The private PostgreSQL cluster: it starts in the given folder, keeps its
//! data and port across a restart, and stops when dropped. Needs the Debian
//! package postgresql.

use std::process::Command;

use servos_lab::postgres::Cluster;

/// Runs one statement through `psql` and returns what it printed.
fn psql(cluster: &Cluster, sql: &str) -> String {
    let output = Command::new(cluster.binaries().tool("psql"))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            cluster.url(),
        ])
        .args(["-c", sql])
        .output()
        .expect("psql (Debian package postgresql-client) runs");
    assert!(
        output.status.success(),
        "psql -c {sql:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_cluster_keeps_its_data_and_port_across_a_restart_and_stops_when_dropped() {
    let dir = tempfile::tempdir().expect("a temporary folder for the cluster");
    let cluster = Cluster::start(dir.path())
        .unwrap_or_else(|error| panic!("the cluster did not start: {error}"));
    assert!(cluster.accepts_connections());
    assert!(dir.path().join("data").join("PG_VERSION").is_file());
    psql(
        &cluster,
        "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)",
    );
    let port = cluster.port();

    cluster
        .restart()
        .unwrap_or_else(|error| panic!("the cluster did not restart: {error}"));
    assert_eq!(cluster.port(), port);
    assert!(cluster.accepts_connections(), "not back after the restart");
    assert_eq!(psql(&cluster, "SELECT n FROM kept"), "7");

    let binaries = cluster.binaries().clone();
    drop(cluster);
    assert!(
        !dir.path().join("data").join("postmaster.pid").exists(),
        "the server still runs after the drop"
    );
    let still_answers = Command::new(binaries.tool("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .status()
        .is_ok_and(|status| status.success());
    assert!(!still_answers, "port {port} still accepts connections");
}
