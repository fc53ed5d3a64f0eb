//! The real binary under attack: TLS cookies, secrets out of logs and
//! files, and `audit verify` against a tampered trail.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _};
use reqwest::StatusCode;
use serde_json::json;
use servos_api::store::DatabaseTarget;

use crate::both_backends;
use crate::harness::{random_master_key, Backend, TestDb};
use crate::process::{run_to_exit, Env, Server, TlsFiles};

use crate::client::*;

// --- 5. TLS -------------------------------------------------------------------

/// A self-signed certificate for `localhost` and 127.0.0.1, made with the
/// `openssl` command.
fn self_signed_cert(dir: &Path) -> TlsFiles {
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    // openssl marks a self-signed certificate as a CA by default; webpki
    // (rustls) refuses a CA certificate as a server's own.
    let output = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&files.key)
        .arg("-out")
        .arg(&files.cert)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the TLS test needs the `openssl` command (Debian package `openssl`; \
                 `cargo xtask test` installs it): {e}"
            )
        });
    assert!(
        output.status.success(),
        "openssl could not make a certificate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    files
}

async fn tls_makes_cookies_secure(backend: Backend) {
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let password = unique_password();
    let mut env = Env::for_db(&db, &random_master_key());
    env.tls = Some(self_signed_cert(scratch.path()));

    let server = Server::start(&env, &scratch.path().join("tls.log")).await;
    assert!(server.url.starts_with("https://"), "url {}", server.url);
    let (_, headers, _) = get(&server, "/healthz", None).await;
    let hsts = headers
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(hsts.contains("max-age="), "no HSTS under TLS: {headers:?}");
    assert_eq!(
        setup(&server, &read_setup_token(&env), &password).await,
        StatusCode::CREATED
    );

    let headers = login(&server, &password).await;
    let cookie = session_set_cookie(&headers);
    let attributes = cookie_attributes(&cookie);
    for wanted in ["secure", "httponly", "samesite=strict"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "session cookie lacks {wanted}: {cookie}"
        );
    }
    assert!(
        headers.contains_key("strict-transport-security"),
        "no HSTS on login"
    );
    let (status, _, _) = get(&server, "/api/v1/me", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the Secure cookie opens a session over HTTPS"
    );

    // The TLS port does not answer plain HTTP.
    let plain = reqwest::Client::new()
        .get(server.at("/healthz").replacen("https://", "http://", 1))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP answered on the TLS port: {plain:?}"
    );
    server.stop();

    env.tls = None;
    let server = Server::start(&env, &scratch.path().join("plain.log")).await;
    let headers = login(&server, &password).await;
    let cookie = session_set_cookie(&headers);
    let attributes = cookie_attributes(&cookie);
    assert!(
        !attributes.iter().any(|a| a == "secure"),
        "Secure cookie over plain HTTP: {cookie}"
    );
    for wanted in ["httponly", "samesite=strict"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "session cookie lacks {wanted}: {cookie}"
        );
    }
    assert!(
        !headers.contains_key("strict-transport-security"),
        "HSTS over plain HTTP"
    );
    server.stop();
}

both_backends!(tls_makes_cookies_secure);

// --- 6. secrets never in logs or files -------------------------------------------

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("list a data folder") {
            let path = entry.expect("a data folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path, bytes));
            }
        }
    }
    found
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

/// Every row of every table of a PostgreSQL database, as text.
fn pg_rows(url: &str) -> String {
    let mut conn = diesel::PgConnection::establish(url).expect("connect to the test database");
    let tables: Vec<TextRow> = diesel::sql_query(
        "SELECT table_name::text AS text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .load(&mut conn)
    .expect("list tables");
    assert!(
        tables.iter().any(|t| t.text == "audit_log"),
        "no ServOS tables found"
    );
    let mut all = String::new();
    for table in tables {
        let rows: Vec<TextRow> =
            diesel::sql_query(format!("SELECT t::text AS text FROM \"{}\" t", table.text))
                .load(&mut conn)
                .expect("read a table");
        for row in rows {
            all.push_str(&row.text);
            all.push('\n');
        }
    }
    all
}

/// Fails when any of `secrets` occurs in the data directory's files (or,
/// on PostgreSQL, in the database's rows).
pub(crate) fn assert_stored_nowhere(db: &TestDb, env: &Env, secrets: &[(&str, &[u8])], when: &str) {
    let files = files_under(&env.data_dir);
    if matches!(db.target, DatabaseTarget::Sqlite(_)) {
        assert!(
            files.iter().any(|(p, _)| p.ends_with("servos.db")),
            "{when}: no SQLite database among {:?}",
            files.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
    for (path, bytes) in &files {
        for (name, secret) in secrets {
            assert!(
                !contains_bytes(bytes, secret),
                "{when}: the {name} is in {}",
                path.display()
            );
        }
    }
    if let DatabaseTarget::Postgres(url) = &db.target {
        let rows = pg_rows(url);
        for (name, secret) in secrets {
            assert!(
                !contains_bytes(rows.as_bytes(), secret),
                "{when}: the {name} is in a database row"
            );
        }
    }
}

async fn secrets_stay_out_of_logs_and_files(backend: Backend) {
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let master_key = random_master_key();
    let master_key_bytes = base64::engine::general_purpose::STANDARD
        .decode(&master_key)
        .expect("decode the master key");
    let mut env = Env::for_db(&db, &master_key);
    // Everything every crate logs, not only what the default level shows.
    env.log_filter = "trace".into();
    let password = unique_password();
    let wrong_password = unique_password();

    let server = Server::start(&env, &scratch.path().join("first.log")).await;
    let setup_token = read_setup_token(&env);
    assert_eq!(
        setup(&server, &setup_token, &password).await,
        StatusCode::CREATED
    );
    let (status, _, _) = post(
        &server,
        "/api/v1/login",
        json!({"email": ADMIN_EMAIL, "password": wrong_password}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "login with a wrong password"
    );
    let headers = login(&server, &password).await;
    let set_cookie = session_set_cookie(&headers);
    let session = set_cookie
        .trim_start_matches("servos_session=")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(session.len() > 20, "session cookie value {session:?}");
    let api_token = create_api_token(&server).await;
    let (status, _, page) = get(&server, "/api/v1/audit", Some(&api_token)).await;
    assert_eq!(status, StatusCode::OK, "audit with the API token: {page}");

    let never_anywhere: [(&str, &[u8]); 6] = [
        ("master key", master_key.as_bytes()),
        ("master key bytes", &master_key_bytes),
        ("password", password.as_bytes()),
        ("wrong password", wrong_password.as_bytes()),
        ("API token", api_token.as_bytes()),
        ("session cookie", session.as_bytes()),
    ];
    let mut not_stored = never_anywhere.to_vec();
    not_stored.push(("setup token", setup_token.as_bytes()));
    assert_stored_nowhere(&db, &env, &not_stored, "while running");

    let first_log = server.stop();
    let second_log = Server::start(&env, &scratch.path().join("second.log"))
        .await
        .stop();
    assert_stored_nowhere(&db, &env, &not_stored, "after stopping");

    for (which, log) in [("first", &first_log), ("second", &second_log)] {
        for (name, secret) in never_anywhere {
            assert!(
                !contains_bytes(log.as_bytes(), secret),
                "the {name} is in the {which} run's log:\n{log}"
            );
        }
    }
    assert!(
        !second_log.contains(&setup_token),
        "the used setup token was logged again"
    );
}

both_backends!(secrets_stay_out_of_logs_and_files);

// --- 7. audit verify ----------------------------------------------------------------

/// A database with a few audited actions, made through the binary; the
/// server is stopped again. Returns the environment and the entry count.
async fn audited_database(db: &TestDb, scratch: &Path, name: &str) -> (Env, u64) {
    let env = Env::for_db(db, &random_master_key());
    let server = Server::start(&env, &scratch.join(format!("{name}.log"))).await;
    let password = unique_password();
    assert_eq!(
        setup(&server, &read_setup_token(&env), &password).await,
        StatusCode::CREATED
    );
    login(&server, &password).await;
    create_api_token(&server).await;
    let (status, _, page) = get(&server, "/api/v1/audit", None).await;
    assert_eq!(status, StatusCode::OK, "audit page: {page}");
    let entries = page["entries"].as_array().expect("entries").len() as u64;
    assert!(
        entries >= 3,
        "expected setup, login and token entries: {page}"
    );
    server.stop();
    (env, entries)
}

fn verify(env: &Env, log: &Path) -> crate::process::Finished {
    run_to_exit(env, &["audit", "verify"], log)
}

fn drop_append_only_triggers(db: &TestDb) {
    let sql = match db.target {
        DatabaseTarget::Sqlite(_) => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
        }
        DatabaseTarget::Postgres(_) => "DROP TRIGGER audit_log_no_update ON audit_log;",
    };
    db.execute(sql).expect("drop the append-only triggers");
}

async fn audit_verify_names_the_tampered_entry(backend: Backend) {
    let scratch = scratch_dir();

    let edited = TestDb::new(backend);
    let (env, entries) = audited_database(&edited, scratch.path(), "edited").await;
    let run = verify(&env, &scratch.path().join("verify-intact.log"));
    assert_eq!(
        run.status.code(),
        Some(0),
        "verify of an untouched trail:\n{}",
        run.output
    );
    assert!(
        run.output.contains(&format!("intact: {entries} entries")),
        "verify does not report {entries} intact entries:\n{}",
        run.output
    );
    assert!(
        edited
            .execute("UPDATE audit_log SET action='x' WHERE seq=2")
            .is_err(),
        "the database allowed an UPDATE of audit_log"
    );
    assert!(
        edited.execute("DELETE FROM audit_log WHERE seq=2").is_err(),
        "the database allowed a DELETE from audit_log"
    );
    let run = verify(&env, &scratch.path().join("verify-refused.log"));
    assert_eq!(
        run.status.code(),
        Some(0),
        "verify after refused tampering:\n{}",
        run.output
    );

    drop_append_only_triggers(&edited);
    edited
        .execute("UPDATE audit_log SET action='x' WHERE seq=2")
        .expect("edit entry 2 without the trigger");
    let run = verify(&env, &scratch.path().join("verify-edited.log"));
    assert_eq!(
        run.status.code(),
        Some(1),
        "verify of an edited trail:\n{}",
        run.output
    );
    assert!(
        run.output.contains("entry #2 was edited"),
        "edit not named:\n{}",
        run.output
    );

    let deleted = TestDb::new(backend);
    let (env, _) = audited_database(&deleted, scratch.path(), "deleted").await;
    drop_append_only_triggers(&deleted);
    deleted
        .execute("DELETE FROM audit_log WHERE seq=2")
        .expect("delete entry 2 without the trigger");
    let run = verify(&env, &scratch.path().join("verify-deleted.log"));
    assert_eq!(
        run.status.code(),
        Some(1),
        "verify of a trail with a hole:\n{}",
        run.output
    );
    assert!(
        run.output.contains("entry #2 is missing"),
        "deletion not named:\n{}",
        run.output
    );
}

both_backends!(audit_verify_names_the_tampered_entry);
