//! The PostgreSQL template every test database is cloned from: migrated once
//! per migration set by the product's own `migrate`, shared by the test
//! threads of a process and by every test process on the same server.
//!
//! Its name carries a hash of the migration files, so a changed migration
//! makes a new template and a stale one is never cloned. Building it runs
//! under an advisory lock; it is built under a temporary name and renamed
//! only once migrated, so a build that died half-way is never used. It
//! refuses connections (`ALLOW_CONNECTIONS false`), because PostgreSQL
//! clones a database only while no other session is connected to it.
//! Each test process holds a shared advisory lock on its template for its
//! whole life; a template no process holds is dropped by the next build.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use diesel::connection::SimpleConnection as _;
use diesel::sql_types::Text;
use diesel::{Connection as _, PgConnection, QueryableByName, RunQueryDsl as _};
use servos_api::store::conn::migrate;
use servos_api::store::DatabaseTarget;

/// The prefix of every template's name (and of a template being built).
const PREFIX: &str = "servos_tpl_";
/// The suffix of a template while it is being built.
const BUILDING: &str = "_build";
/// Advisory lock (one 64-bit key) held while a template is checked or built.
const BUILD_LOCK: i64 = 0x5e72_7e57_0001;
/// First key of the two-key advisory locks that mark a template in use.
const IN_USE_CLASS: i32 = 0x5e72_7e57;

/// The template this process clones, and the connection holding it in use.
struct Template {
    name: String,
    /// Holds the shared "in use" lock until the process exits; never used again.
    _holder: Mutex<PgConnection>,
}

/// The name of the migrated template on the server at `base_url` (the URL
/// of a database the tests may connect to), building it the first time.
pub fn name(base_url: &str) -> &'static str {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    &TEMPLATE.get_or_init(|| ensure(base_url)).name
}

fn ensure(base_url: &str) -> Template {
    let name = format!("{PREFIX}{}", migrations_hash());
    let mut admin = PgConnection::establish(base_url)
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at SERVOS_TEST_PG_URL: {e}"));
    run(
        &mut admin,
        &format!("SELECT pg_advisory_lock({BUILD_LOCK})"),
    );
    if !database_names(&mut admin).contains(&name) {
        build(&mut admin, base_url, &name);
    }
    run(
        &mut admin,
        &format!(
            "SELECT pg_advisory_lock_shared({IN_USE_CLASS}, {})",
            in_use_key(&name)
        ),
    );
    drop_unused(&mut admin, &name);
    run(
        &mut admin,
        &format!("SELECT pg_advisory_unlock({BUILD_LOCK})"),
    );
    Template {
        name,
        _holder: Mutex::new(admin),
    }
}

/// Creates the template under its building name, migrates it with the
/// product's migrations, closes it to connections and gives it its name.
fn build(admin: &mut PgConnection, base_url: &str, name: &str) {
    let building = format!("{name}{BUILDING}");
    run(admin, &format!("DROP DATABASE IF EXISTS {building}"));
    run(admin, &format!("CREATE DATABASE {building}"));
    migrate(&DatabaseTarget::Postgres(super::with_database(
        base_url, &building,
    )))
    .unwrap_or_else(|e| panic!("migrating the template database {building}: {e}"));
    // `migrate` has closed its connection; the rename waits for the server
    // side of it to end, and nothing can connect afterwards.
    run(
        admin,
        &format!("ALTER DATABASE {building} WITH ALLOW_CONNECTIONS false"),
    );
    run(
        admin,
        &format!("ALTER DATABASE {building} RENAME TO {name}"),
    );
}

/// Drops every other template (and leftover build) that no process holds.
fn drop_unused(admin: &mut PgConnection, current: &str) {
    for other in database_names(admin) {
        if other == current || !other.starts_with(PREFIX) {
            continue;
        }
        let key = in_use_key(&other);
        if try_lock(admin, key) {
            // Only tidying: a template that cannot be dropped now is dropped
            // by a later build.
            if let Err(e) = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {other}")) {
                eprintln!("leaving the unused template {other}: {e}");
            }
            run(
                admin,
                &format!("SELECT pg_advisory_unlock({IN_USE_CLASS}, {key})"),
            );
        }
    }
}

/// Whether the exclusive "in use" lock of that key was free (it is now held).
fn try_lock(admin: &mut PgConnection, key: i32) -> bool {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    diesel::sql_query(format!(
        "SELECT pg_try_advisory_lock({IN_USE_CLASS}, {key}) AS taken"
    ))
    .get_result::<Taken>(admin)
    .unwrap_or_else(|e| panic!("pg_try_advisory_lock: {e}"))
    .taken
}

/// The lock key of a template: the first eight hex digits of its hash.
fn in_use_key(name: &str) -> i32 {
    let hex = name.trim_start_matches(PREFIX).get(..8).unwrap_or_default();
    u32::from_str_radix(hex, 16).map_or(0, |bits| bits as i32)
}

fn database_names(admin: &mut PgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Database {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    diesel::sql_query("SELECT datname FROM pg_database")
        .load::<Database>(admin)
        .unwrap_or_else(|e| panic!("listing databases: {e}"))
        .into_iter()
        .map(|db| db.datname)
        .collect()
}

fn run(admin: &mut PgConnection, sql: &str) {
    admin
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The first 16 hex digits of a SHA-256 over every PostgreSQL migration
/// file's path and contents, in path order.
fn migrations_hash() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
    let mut files = Vec::new();
    collect_files(&root, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no migrations under {}", root.display());
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        let contents =
            std::fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for part in [relative.to_string_lossy().as_bytes(), &contents] {
            digest.update(&(part.len() as u64).to_le_bytes());
            digest.update(part);
        }
    }
    digest.finish().as_ref()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}
