//! The master key against the database: a wrong key is refused, and sealed
//! values moved to another row do not open.

use servos_api::config::Config;
use servos_api::state::{AppState, StartError};
use servos_api::vault::VaultError;
use servos_common::master_key::MasterKey;

use crate::both_backends;
use crate::harness::{random_master_key, Backend, TestDb};

fn open(db: &TestDb, key: &str) -> Result<AppState, StartError> {
    let config = Config::new(db.data_dir(), db.target.clone());
    AppState::open(config, MasterKey::parse(Some(key)).expect("valid key"))
}

async fn wrong_master_key_is_refused(backend: Backend) {
    let db = TestDb::new(backend);
    let key = random_master_key();
    drop(open(&db, &key).expect("first start"));
    match open(&db, &random_master_key()) {
        Err(StartError::Vault(e @ VaultError::WrongMasterKey { .. })) => {
            assert!(e
                .to_string()
                .contains("this master key does not open this database"));
        }
        other => panic!("expected a wrong-key refusal, got {:?}", other.map(|_| ())),
    }
    assert!(open(&db, &key).is_ok(), "the right key still opens it");
}

async fn sealed_value_moved_to_another_row_fails(backend: Backend) {
    let db = TestDb::new(backend);
    let key = random_master_key();
    drop(open(&db, &key).expect("first start"));
    db.execute(
        "UPDATE system_keys SET value = (SELECT value FROM system_keys WHERE name = 'audit_chain_key') \
         WHERE name = 'key_check'",
    )
    .expect("copy a ciphertext into another row");
    assert!(
        matches!(
            open(&db, &key),
            Err(StartError::Vault(VaultError::WrongMasterKey { .. }))
        ),
        "a ciphertext copied from another row must not open"
    );
}

both_backends!(
    wrong_master_key_is_refused,
    sealed_value_moved_to_another_row_fails
);
