//! A database of the schema before environment values were bound to their
//! identity (every migration before `env_append_only`), holding values as
//! that release sealed them (bound to their row's id), upgraded by the
//! current release: the remaining migrations apply, every value of every
//! version opens for its set, version and name, a second pass has nothing
//! left to do, and the append-only rules now refuse moving a value.

use std::collections::BTreeMap;
use std::path::PathBuf;

use diesel::backend::Backend as DieselBackend;
use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, PgConnection, SqliteConnection};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use servos_api::config::Config;
use servos_api::credentials::env_sets::open_version;
use servos_api::state::AppState;
use servos_api::store::{tx, DatabaseTarget, DbConn};
use servos_api::vault::{rebind, Vault, VaultError};
use servos_common::envelope::Aad;
use servos_common::master_key::MasterKey;

use crate::both_backends;
use crate::harness::{random_master_key, Backend, TestDb};

/// The first migration the previous release did not have.
const FIRST_NEW_MIGRATION: &str = "2026-12-05-000009";
/// The set the previous release stored.
const SET_ID: &str = "legacy-set";

/// Name → (value, file secret) of one version.
type Version = BTreeMap<&'static str, (&'static str, bool)>;

/// The set's versions as the previous release stored them.
fn history() -> BTreeMap<i64, Version> {
    BTreeMap::from([
        (
            1,
            BTreeMap::from([
                ("API_KEY", ("key-one", false)),
                ("PEM", ("-----BEGIN X-----\nAAA\n", true)),
            ]),
        ),
        (
            2,
            BTreeMap::from([
                ("API_KEY", ("key-two", false)),
                ("PEM", ("-----BEGIN X-----\nBBB\n", true)),
                ("ADDED", ("", false)),
            ]),
        ),
    ])
}

/// The migrations folder of `backend`.
fn migrations_dir(backend: Backend) -> PathBuf {
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(folder)
}

/// Applies, in order, the migrations of the previous release only.
fn migrate_to_previous<DB, C>(conn: &mut C, backend: Backend)
where
    DB: DieselBackend,
    C: MigrationHarness<DB>,
    FileBasedMigrations: diesel::migration::MigrationSource<DB>,
{
    let source = FileBasedMigrations::from_path(migrations_dir(backend)).expect("migrations");
    let mut pending = conn
        .pending_migrations(source)
        .expect("list the migrations");
    pending.sort_by_key(|m| m.name().to_string());
    let previous: Vec<_> = pending
        .iter()
        .filter(|m| m.name().to_string().as_str() < FIRST_NEW_MIGRATION)
        .collect();
    assert!(previous.len() >= 8, "the previous release's migrations");
    for migration in previous {
        conn.run_migration(&**migration)
            .unwrap_or_else(|e| panic!("migration {}: {e}", migration.name()));
    }
}

/// A connection at the previous schema, as that release left it.
fn previous_schema(db: &TestDb, backend: Backend) -> DbConn {
    match &db.target {
        DatabaseTarget::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("sqlite");
            migrate_to_previous(&mut conn, backend);
            DbConn::Sqlite(conn)
        }
        DatabaseTarget::Postgres(url) => {
            let mut conn = PgConnection::establish(url).expect("postgres");
            migrate_to_previous(&mut conn, backend);
            DbConn::Pg(conn)
        }
    }
}

/// Stores the set's versions as the previous release did: each value
/// sealed for its table, column and row id.
fn store_history(conn: &mut DbConn, master: &str) {
    let vault = Vault::open(conn, MasterKey::parse(Some(master)).expect("key")).expect("vault");
    let versions = history();
    let current = versions.keys().max().copied().expect("a version");
    conn.batch_execute(&format!(
        "INSERT INTO env_sets (id, name, current_version, created_at, updated_at) \
         VALUES ('{SET_ID}', 'legacy', {current}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    .expect("a set");
    for (version, vars) in versions {
        let version_id = format!("legacy-v{version}");
        conn.batch_execute(&format!(
            "INSERT INTO env_versions (id, env_set_id, version, created_at) \
             VALUES ('{version_id}', '{SET_ID}', {version}, CURRENT_TIMESTAMP)"
        ))
        .expect("a version");
        for (name, (value, file_secret)) in vars {
            let row_id = format!("{version_id}-{name}");
            let legacy = Aad {
                table: "env_values",
                column: "value",
                identity: &row_id,
            };
            let sealed = tx::write(conn, |conn| {
                vault.keyring().seal(conn, &legacy, value.as_bytes())
            })
            .expect("seal as the previous release did");
            conn.batch_execute(&format!(
                "INSERT INTO env_values (id, env_version_id, name, value, value_key_id, file_secret) \
                 VALUES ('{row_id}', '{version_id}', '{name}', '{}', '{}', {file_secret})",
                sealed.value, sealed.key_id
            ))
            .expect("a value");
        }
    }
}

async fn values_sealed_by_the_previous_release_open_after_the_upgrade(backend: Backend) {
    let db = TestDb::empty(backend);
    let master = random_master_key();
    store_history(&mut previous_schema(&db, backend), &master);

    std::fs::create_dir_all(db.data_dir()).expect("data dir");
    let config = Config::new(db.data_dir(), db.target.clone());
    let key = MasterKey::parse(Some(&master)).expect("key");
    let state = AppState::open(config, key).expect("the current release opens the old database");

    let mut conn = state.pool.get().expect("conn");
    for (version, expected) in history() {
        let vars = open_version(&mut conn, state.vault.keyring(), SET_ID, version)
            .unwrap_or_else(|e| panic!("version {version} opens: {e}"));
        let opened: BTreeMap<&str, (&str, bool)> = vars
            .iter()
            .map(|(name, var)| (name.as_str(), (var.value.expose(), var.file_secret)))
            .collect();
        assert_eq!(opened, expected, "version {version}");
    }
    let again = rebind::env_values(&mut conn, state.vault.keyring())
        .map_err(|e: VaultError| e.to_string())
        .expect("a second pass");
    assert_eq!(
        (again.rebound, again.failed.len()),
        (0, 0),
        "every value was bound at the start"
    );
    drop(conn);

    let moved = db.execute(
        "DELETE FROM env_values WHERE id = 'legacy-v1-API_KEY'; \
         INSERT INTO env_values (id, env_version_id, name, value, value_key_id, file_secret) \
         SELECT 'moved', 'legacy-v1', 'STOLEN', value, value_key_id, file_secret \
         FROM env_values WHERE id = 'legacy-v2-API_KEY'",
    );
    assert!(
        moved.is_err(),
        "the upgraded schema refuses deleting a value and writing into an old version"
    );
}

both_backends!(values_sealed_by_the_previous_release_open_after_the_upgrade);
