//! The audit trail cannot be changed through the database unnoticed: the
//! chain check finds an edited entry.

use servos_api::audit::verify::{verify, Verdict};

use super::all_entries;
use crate::both_backends;
use crate::harness::{callers, Backend, TestApp};

async fn entries_cannot_be_changed_and_edits_are_detected(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    callers(&app, &svc).await;
    assert!(app
        .db
        .execute("UPDATE audit_log SET action = 'forged' WHERE seq = 2")
        .is_err());
    assert!(app
        .db
        .execute("DELETE FROM audit_log WHERE seq = 2")
        .is_err());
    if backend == Backend::Postgres {
        assert!(app.db.execute("TRUNCATE audit_log").is_err());
    }
    let chain = &app.state.audit_chain;
    let mut conn = app.state.pool.get().expect("conn");
    let total = all_entries(&app).len() as i64;
    assert_eq!(
        verify(&mut conn, chain).expect("verify"),
        Verdict::Intact { entries: total }
    );
    let drop_triggers = match backend {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log;",
    };
    app.db
        .execute(drop_triggers)
        .expect("drop triggers as an attacker would");
    app.db
        .execute("UPDATE audit_log SET actor_label = 'someone-else' WHERE seq = 3")
        .expect("edit");
    assert_eq!(
        verify(&mut conn, chain).expect("verify"),
        Verdict::Edited { seq: 3 }
    );
    app.db
        .execute("DELETE FROM audit_log WHERE seq = 3")
        .expect("delete");
    assert_eq!(
        verify(&mut conn, chain).expect("verify"),
        Verdict::Missing { seq: 3 }
    );
}

both_backends!(entries_cannot_be_changed_and_edits_are_detected,);
