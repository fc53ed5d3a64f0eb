//! The SQLite data directory on a full filesystem: the real binary with its
//! data directory on a 16 MiB tmpfs that a filler file fills. Every write
//! that needs room answers 507 `storage_full` (never a bare 500), reads and
//! `/healthz` keep answering, and once the filler is gone the same writes
//! succeed, the database passes `PRAGMA integrity_check`, every secret
//! stored before reveals as it was, and `audit verify` passes. Needs root
//! (it mounts the tmpfs).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _, SqliteConnection};
use reqwest::Method;
use serde_json::{json, Value};

use super::api::{admin_token, answer, stop_and_verify_audit, Answer};
use super::report::Scenario;
use crate::client::scratch_dir;
use crate::harness::random_master_key;
use crate::process::{Env, Server};

/// The size of the data directory's filesystem.
const DISK_BYTES: u64 = 16 * 1024 * 1024;
/// A value big enough to need new pages, small enough for a 64 KiB body.
const BIG_VALUE_BYTES: usize = 40 * 1024;

/// A tmpfs of its own, unmounted when dropped (after a failure too).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().expect("a mount point");
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("run mount (Debian package mount)");
        assert!(
            output.status.success(),
            "this test needs root to mount a tmpfs: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes an unprivileged writer may still use.
    fn free_bytes(&self) -> u64 {
        let output = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.path())
            .output()
            .expect("run stat (Debian package coreutils)");
        let text = String::from_utf8_lossy(&output.stdout);
        let numbers: Vec<u64> = text
            .split_whitespace()
            .map(|n| n.parse().expect("stat prints numbers"))
            .collect();
        numbers.iter().product()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Still busy (a process not yet reaped): detach it now.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Writes a filler file until the filesystem refuses another byte.
fn fill(path: &Path) -> File {
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)
        .expect("create the filler file");
    for chunk in [64 * 1024, 4096, 1] {
        let bytes = vec![0xa5u8; chunk];
        loop {
            match file.write_all(&bytes) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("write the filler file: {e}"),
            }
        }
    }
    file
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

fn open(db: &Path) -> SqliteConnection {
    SqliteConnection::establish(&db.to_string_lossy()).expect("open the SQLite database")
}

/// A stored secret and how to reveal it.
struct Secret {
    path: String,
    body: Value,
    value: String,
}

/// A write that needs room, as a request.
struct Write {
    label: &'static str,
    method: Method,
    path: String,
    body: Value,
}

async fn created(server: &Server, token: &str, path: &str, body: Value) -> Value {
    let made = answer(server, (Method::POST, path), token, Some(&body)).await;
    assert_eq!(made.status, 201, "POST {path}: {made:?}");
    made.body
}

fn canary() -> String {
    format!("canary-{}", uuid::Uuid::new_v4().simple())
}

/// An application, an env set, a registry credential, each with secrets.
async fn store_data(server: &Server, token: &str) -> (Vec<Secret>, String, String) {
    let (registry_password, db_password, app_token) = (canary(), canary(), canary());
    let registry = created(
        server,
        token,
        "/api/v1/registries",
        json!({"name": "registry-full", "host": "registry.example.com", "username": "ci",
            "password": registry_password}),
    )
    .await;
    let set = created(
        server,
        token,
        "/api/v1/env-sets",
        json!({"name": "shared-full", "vars": {"DB_PASSWORD": db_password, "MODE": "full"}}),
    )
    .await;
    let app = created(
        server,
        token,
        "/api/v1/apps",
        json!({"name": "web-full", "image": "redis", "container_port": 6379,
            "health_check": {"command": ["redis-cli", "ping"]}}),
    )
    .await;
    let (registry, set, app) = (id(&registry), id(&set), id(&app));
    let env = json!({"set": {"APP_TOKEN": {"value": app_token}}});
    let path = format!("/api/v1/apps/{app}/env");
    let changed = answer(server, (Method::PATCH, &path), token, Some(&env)).await;
    assert_eq!(changed.status, 200, "PATCH {path}: {changed:?}");
    let secrets = vec![
        Secret {
            path: format!("/api/v1/registries/{registry}/reveal"),
            body: Value::Null,
            value: registry_password,
        },
        Secret {
            path: format!("/api/v1/env-sets/{set}/reveal"),
            body: json!({"name": "DB_PASSWORD"}),
            value: db_password,
        },
        Secret {
            path: format!("/api/v1/apps/{app}/env/reveal"),
            body: json!({"name": "APP_TOKEN"}),
            value: app_token,
        },
    ];
    (secrets, set, app)
}

fn id(made: &Value) -> String {
    made["id"].as_str().expect("an id").to_owned()
}

/// The writes tried while the disk is full, and again once it is not.
fn writes(set: &str, app: &str, round: usize, secret: &Secret) -> Vec<Write> {
    let big = "x".repeat(BIG_VALUE_BYTES);
    let write = |label, method, path: String, body| Write {
        label,
        method,
        path,
        body,
    };
    vec![
        write(
            "create an application",
            Method::POST,
            "/api/v1/apps".into(),
            json!({"name": format!("worker-{round}"), "image": "redis", "container_port": 6379,
                "health_check": {"command": ["redis-cli", "ping"]}}),
        ),
        write(
            "create a registry credential",
            Method::POST,
            "/api/v1/registries".into(),
            json!({"name": format!("registry-{round}"), "host": "r.example.com",
                "username": "u", "password": canary()}),
        ),
        write(
            "create an env set with a big value",
            Method::POST,
            "/api/v1/env-sets".into(),
            json!({"name": format!("big-{round}"), "vars": {"BIG": big}}),
        ),
        write(
            "set a big value in an env set",
            Method::PATCH,
            format!("/api/v1/env-sets/{set}"),
            json!({"set": {"BIG": big}}),
        ),
        write(
            "set a big value in an application's environment",
            Method::PATCH,
            format!("/api/v1/apps/{app}/env"),
            json!({"set": {"BIG": {"value": big}}}),
        ),
        write(
            "reveal a secret (audited)",
            Method::POST,
            secret.path.clone(),
            secret.body.clone(),
        ),
    ]
}

async fn send(server: &Server, token: &str, write: &Write) -> Answer {
    let body = (!write.body.is_null()).then_some(&write.body);
    answer(server, (write.method.clone(), &write.path), token, body).await
}

#[actix_web::test]
async fn sqlite_data_dir_on_a_full_filesystem() {
    let mut scenario = Scenario::new(
        "hostile::sqlite_full::sqlite_data_dir_on_a_full_filesystem",
        "the SQLite data directory's filesystem (a 16 MiB tmpfs) filled by a filler file",
        "writes answer 507 `storage_full`, reads and /healthz keep answering; once the filler \
         is gone the writes succeed, integrity_check is ok, every secret reveals, audit verify passes",
    );
    let disk = Tmpfs::mount(DISK_BYTES);
    let scratch = scratch_dir();
    let data_dir: PathBuf = disk.path().join("data");
    let env = Env::new(data_dir.clone(), Some(random_master_key()))
        .with_var("SERVOS_RATE_LIMIT", "100000/1");
    let server = Server::start(&env, &scratch.path().join("serve.log")).await;
    let token = admin_token(&server, &env).await;
    let (secrets, set, app) = store_data(&server, &token).await;

    // No slack left in the write-ahead log: every write needs new space.
    let db = data_dir.join("servos.db");
    open(&db)
        .batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint the write-ahead log");
    let filler_path = disk.path().join("filler");
    let filler = fill(&filler_path);
    let free = disk.free_bytes();
    scenario.figure("bytes free when the writes were tried", free);

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let full_writes = writes(&set, &app, 1, &secrets[0]);
    for write in &full_writes {
        let refused = send(&server, &token, write).await;
        *statuses.entry(refused.status).or_default() += 1;
        assert_eq!(
            (refused.status, refused.code.as_deref()),
            (507, Some("storage_full")),
            "{} on a full disk: {refused:?}",
            write.label
        );
        let message = refused.body["message"].as_str().unwrap_or_default();
        assert!(message.contains("data directory is full"), "{message}");
        assert!(
            !message.contains("canary") && !message.contains("xxxx"),
            "{message}"
        );
    }
    for path in [
        "/api/v1/me".to_owned(),
        "/api/v1/apps".to_owned(),
        format!("/api/v1/apps/{app}/env"),
        format!("/api/v1/env-sets/{set}"),
        "/api/v1/registries".to_owned(),
    ] {
        let read = answer(&server, (Method::GET, &path), &token, None).await;
        assert_eq!(read.status, 200, "GET {path} on a full disk: {read:?}");
    }
    let health = server
        .client
        .get(server.at("/healthz"))
        .send()
        .await
        .expect("/healthz on a full disk");
    assert_eq!(health.status(), 200, "/healthz on a full disk");
    scenario.figure("statuses of the refused writes", format!("{statuses:?}"));
    scenario.figure("refused writes", full_writes.len());
    eprintln!(
        "sqlite full: {free} bytes free, {} writes refused: {statuses:?}",
        full_writes.len()
    );

    drop(filler);
    std::fs::remove_file(&filler_path).expect("remove the filler file");
    for write in writes(&set, &app, 2, &secrets[0]) {
        let done = send(&server, &token, &write).await;
        assert!(
            matches!(done.status, 200 | 201),
            "{} once there is room again: {done:?}",
            write.label
        );
    }
    let checks = diesel::sql_query("PRAGMA integrity_check")
        .load::<IntegrityCheck>(&mut open(&db))
        .expect("run PRAGMA integrity_check");
    let checks: Vec<&str> = checks.iter().map(|c| c.integrity_check.as_str()).collect();
    assert_eq!(checks, ["ok"], "integrity_check after the full disk");
    for secret in &secrets {
        let body = (!secret.body.is_null()).then_some(&secret.body);
        let revealed = answer(&server, (Method::POST, &secret.path), &token, body).await;
        assert_eq!(revealed.status, 200, "POST {}: {revealed:?}", secret.path);
        assert!(
            revealed.body["value"].as_str() == Some(secret.value.as_str()),
            "POST {} revealed another value",
            secret.path
        );
    }
    stop_and_verify_audit(
        server,
        &env,
        &scratch.path().join("verify.log"),
        "the full disk",
    );
}
