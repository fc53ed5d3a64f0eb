//! Key rotation through the real binary, killed at several points: after
//! each kill every secret still decrypts (and, for the data key, the
//! aftermath of the fault tests holds), and a re-run completes.

use std::collections::BTreeMap;

use servos_api::config::Config;
use servos_api::credentials;
use servos_api::error::ServiceError;
use servos_api::state::AppState;
use servos_api::store::registries::{self, RegistryRow};
use servos_api::store::{self, data_keys, tx};
use servos_common::master_key::MasterKey;

use crate::both_backends;
use crate::harness::{random_master_key, Backend, TestDb};
use crate::hostile::aftermath::Aftermath;
use crate::hostile::report::{test_name, Scenario};
use crate::process::{run_to_exit, Env};

/// How many secrets the rotations move.
const SECRETS: usize = 10_000;

fn open(db: &TestDb, key: &str) -> Result<AppState, servos_api::state::StartError> {
    let config = Config::new(db.data_dir(), db.target.clone());
    AppState::open(config, MasterKey::parse(Some(key)).expect("valid key"))
}

fn plaintext(i: usize) -> String {
    format!("rotation-secret-{i:05}")
}

/// Stores `SECRETS` registry passwords, sealed under the current data key.
fn seed(db: &TestDb, key: &str) {
    let state = open(db, key).expect("open");
    let mut conn = state.pool.get().expect("conn");
    let keyring = state.vault.keyring();
    tx::write(&mut conn, |conn| -> Result<(), ServiceError> {
        let now = store::now();
        for i in 0..SECRETS {
            let id = format!("{i:08}-0000-4000-8000-000000000000");
            let sealed = credentials::seal(
                conn,
                keyring,
                "registries",
                "password",
                &id,
                plaintext(i).as_bytes(),
            )?;
            registries::insert(
                conn,
                &RegistryRow {
                    name: format!("registry-{i}"),
                    host: "registry.example.com".into(),
                    username: "ci".into(),
                    password: sealed.value,
                    password_key_id: sealed.key_id,
                    created_at: now,
                    updated_at: now,
                    deleted_at: None,
                    id,
                },
            )?;
        }
        Ok(())
    })
    .expect("seed secrets");
}

/// Opens every secret with `key`; returns how many each data key seals.
fn decrypt_all(db: &TestDb, key: &str) -> BTreeMap<String, usize> {
    let state = open(db, key).unwrap_or_else(|e| panic!("the API must start with this key: {e}"));
    let mut conn = state.pool.get().expect("conn");
    let rows = registries::list_live(&mut conn).expect("rows");
    assert_eq!(rows.len(), SECRETS);
    let mut per_key = BTreeMap::new();
    for row in rows {
        let plain = credentials::open(
            &mut conn,
            state.vault.keyring(),
            "registries",
            "password",
            &row.id,
            &row.password,
            &row.password_key_id,
        )
        .unwrap_or_else(|e| panic!("{} does not decrypt: {e}", row.id));
        let index: usize = row
            .name
            .trim_start_matches("registry-")
            .parse()
            .expect("index");
        assert_eq!(plain.expose(), plaintext(index).as_bytes());
        *per_key.entry(row.password_key_id).or_insert(0) += 1;
    }
    per_key
}

fn data_key_count(db: &TestDb, key: &str) -> usize {
    let state = open(db, key).expect("open");
    let mut conn = state.pool.get().expect("conn");
    data_keys::all(&mut conn).expect("keys").len()
}

async fn data_key_rotation_survives_kills(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(module_path!(), "data_key_rotation_survives_kills", backend),
        "SIGKILL of `servos-api rotate-data-key` (a failpoint) after 1, 1,700 and 6,500 of \
         10,000 re-sealed secrets",
        "after each kill every secret opens to its value and the aftermath holds \
         (every sealed value opens, audit verify); a re-run finishes and retires the old key",
    );
    let db = TestDb::new(backend);
    let key = random_master_key();
    seed(&db, &key);
    let env = Env::for_db(&db, &key);
    let log = db.dir.path().join("rotate.log");
    for kill_at in [1, 1_700, 6_500] {
        let killed = run_to_exit(
            &env.with_var(
                "SERVOS_FAILPOINT",
                &format!("rotate-data-key.row:{kill_at}"),
            ),
            &["rotate-data-key"],
            &log,
        );
        assert!(
            !killed.status.success(),
            "the failpoint kills the process: {}",
            killed.output
        );
        assert!(killed.output.contains("failpoint"), "{}", killed.output);
        let per_key = decrypt_all(&db, &key);
        assert_eq!(per_key.values().sum::<usize>(), SECRETS);
        Aftermath::new(&db, &key).check(&mut scenario).await;
    }
    let done = run_to_exit(&env, &["rotate-data-key"], &log);
    assert!(done.status.success(), "{}", done.output);
    assert!(
        done.output.contains("finished the data key rotation"),
        "{}",
        done.output
    );
    let per_key = decrypt_all(&db, &key);
    assert_eq!(
        per_key.len(),
        1,
        "every value is under the newest data key: {per_key:?}"
    );
    assert_eq!(data_key_count(&db, &key), 1, "the old data key is retired");

    let again = run_to_exit(&env, &["rotate-data-key"], &log);
    assert!(
        again.status.success() && again.output.contains("completed a data key rotation"),
        "{}",
        again.output
    );
    assert_eq!(decrypt_all(&db, &key).len(), 1);
    let verify = run_to_exit(&env, &["audit", "verify"], &log);
    assert!(verify.status.success(), "{}", verify.output);
}

async fn master_key_rotation_survives_kills(backend: Backend) {
    let db = TestDb::new(backend);
    let old = random_master_key();
    let new = random_master_key();
    seed(&db, &old);
    let env = Env::for_db(&db, &old).with_var("SERVOS_NEW_MASTER_KEY", &new);
    let log = db.dir.path().join("rotate.log");

    // An interrupted data key rotation leaves two data keys, so a kill can
    // fall between two re-wraps.
    let interrupted = run_to_exit(
        &Env::for_db(&db, &old).with_var("SERVOS_FAILPOINT", "rotate-data-key.row:10"),
        &["rotate-data-key"],
        &log,
    );
    assert!(!interrupted.status.success(), "{}", interrupted.output);
    assert_eq!(data_key_count(&db, &old), 2);
    for failpoint in [
        "rotate-master-key.rewrapped:1",
        "rotate-master-key.before-commit:1",
    ] {
        let killed = run_to_exit(
            &env.with_var("SERVOS_FAILPOINT", failpoint),
            &["rotate-master-key"],
            &log,
        );
        assert!(
            !killed.status.success() && killed.output.contains("failpoint"),
            "{failpoint}: {}",
            killed.output
        );
        decrypt_all(&db, &old);
        let refused = open(&db, &new)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            refused.contains("does not open this database")
                && refused.contains("needs the master key with id"),
            "{refused}"
        );
    }

    let done = run_to_exit(&env, &["rotate-master-key"], &log);
    assert!(
        done.status.success() && done.output.contains("master key rotated"),
        "{}",
        done.output
    );
    decrypt_all(&db, &new);
    let refused = open(&db, &old)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("does not open this database"),
        "the old key is refused: {refused}"
    );
    let served = run_to_exit(&Env::for_db(&db, &old), &["audit", "verify"], &log);
    assert!(
        !served.status.success() && served.output.contains("does not open this database"),
        "{}",
        served.output
    );

    let finished = run_to_exit(&Env::for_db(&db, &new), &["rotate-data-key"], &log);
    assert!(
        finished.status.success() && finished.output.contains("finished the data key rotation"),
        "{}",
        finished.output
    );
    assert_eq!(decrypt_all(&db, &new).len(), 1);
    let again = run_to_exit(&env, &["rotate-master-key"], &log);
    assert!(
        again.status.success() && again.output.contains("already rotated"),
        "{}",
        again.output
    );
    let verify = run_to_exit(&Env::for_db(&db, &new), &["audit", "verify"], &log);
    assert!(verify.status.success(), "{}", verify.output);
}

both_backends!(
    data_key_rotation_survives_kills,
    master_key_rotation_survives_kills
);
