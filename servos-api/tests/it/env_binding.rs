//! Environment values are sealed for what they are (their set, version and
//! name), not only where they sit: a value moved into another
//! application's version under another name does not open there, even for
//! an attacker who can drop the tables' append-only rules; those rules
//! refuse deleting values or versions and writing into an old version; and
//! values sealed before were bound only to their row are sealed again for
//! their identity at start, once. A value that does not decrypt is repaired
//! by setting or removing it, everything else carried over; reveals name the
//! variable, and a failed one is audited.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::{json, Value};
use servos_api::store::env_sets::{self, EnvValueRow};
use servos_api::store::ids::AppId;
use servos_api::store::sealed::{SealedCell, ENV_VALUES};
use servos_api::store::{apps, tx};
use servos_common::envelope::Aad;

use crate::apps::{app_entries, call, fixture, full_app, Fixture};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

/// Makes an application named `name` with `vars` as its environment;
/// returns its id.
async fn app_with_env<S, B>(svc: &S, f: &Fixture, name: &str, vars: Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut body = full_app(f);
    body["name"] = json!(name);
    body["domain"] = json!(format!("{name}.example.com"));
    let (status, made) = call(svc, "POST", "/api/v1/apps", &f.who.deployer_token, body).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id").to_owned();
    let uri = format!("/api/v1/apps/{id}/env");
    let (status, env) = call(
        svc,
        "PATCH",
        &uri,
        &f.who.deployer_token,
        json!({"set": vars}),
    )
    .await;
    assert_eq!(status, 200, "{env}");
    id
}

/// The values of application `id`'s current environment version, and the
/// id of that version.
fn current_values(app: &TestApp, id: &str) -> (String, Vec<EnvValueRow>) {
    let mut conn = app.state.pool.get().expect("conn");
    let (row, version) = apps::find_live(&mut conn, &AppId::from(id.to_owned()))
        .expect("query")
        .expect("a live application");
    let values = env_sets::values(&mut conn, &row.env_set_id, version).expect("values");
    let version_id = values
        .first()
        .map(|v| v.env_version_id.clone())
        .expect("a value");
    (version_id, values)
}

async fn reveal<S, B>(svc: &S, f: &Fixture, app_id: &str, name: &str) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/apps/{app_id}/env/reveal");
    call(svc, "POST", &uri, &f.who.admin_token, json!({"name": name})).await
}

async fn a_value_moved_to_another_application_does_not_open(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let secret = "secret-of-alpha-51d2";
    let alpha = app_with_env(&svc, &f, "alpha", json!({"TOKEN": {"value": secret}})).await;
    let beta = app_with_env(&svc, &f, "beta", json!({"OTHER": {"value": "beta-value"}})).await;
    let (old_version, _) = current_values(&app, &beta);
    let uri = format!("/api/v1/apps/{beta}/env");
    let change = json!({"set": {"OTHER": {"value": "beta-value-2"}}});
    let (status, _) = call(&svc, "PATCH", &uri, &f.who.deployer_token, change).await;
    assert_eq!(status, 200);
    let (_, alpha_values) = current_values(&app, &alpha);
    let moved = &alpha_values[0].id;
    let (beta_version, _) = current_values(&app, &beta);

    // The append-only rules.
    for refused in [
        format!("DELETE FROM env_values WHERE id = '{moved}'"),
        format!("DELETE FROM env_versions WHERE id = '{old_version}'"),
        format!(
            "INSERT INTO env_values (id, env_version_id, name, value, value_key_id, file_secret) \
             SELECT 'forged-row', '{old_version}', 'LATE', value, value_key_id, file_secret \
             FROM env_values WHERE id = '{moved}'"
        ),
    ] {
        assert!(app.db.execute(&refused).is_err(), "refused: {refused}");
    }
    assert_eq!(
        current_values(&app, &alpha).1.len(),
        1,
        "nothing was deleted"
    );

    // An attacker who can change the schema drops them, deletes alpha's row
    // and inserts it again, same id and ciphertext, into beta's newest
    // version under another name.
    let drop_rules = match backend {
        Backend::Sqlite => {
            "DROP TRIGGER env_values_no_delete; DROP TRIGGER env_values_newest_version_only;"
        }
        Backend::Postgres => {
            "DROP TRIGGER env_values_no_delete ON env_values; \
             DROP TRIGGER env_values_newest_version_only ON env_values;"
        }
    };
    app.db
        .execute(&format!(
            "{drop_rules} \
             CREATE TEMP TABLE moved AS SELECT * FROM env_values WHERE id = '{moved}'; \
             DELETE FROM env_values WHERE id = '{moved}'; \
             INSERT INTO env_values (id, env_version_id, name, value, value_key_id, file_secret) \
             SELECT id, '{beta_version}', 'STOLEN', value, value_key_id, file_secret FROM moved;"
        ))
        .expect("move the row");
    let (status, answer) = reveal(&svc, &f, &beta, "STOLEN").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"], "undecryptable", "{answer}");
    assert!(!answer.to_string().contains(secret), "{answer}");
    let (status, other) = reveal(&svc, &f, &beta, "OTHER").await;
    assert_eq!((status, other), (200, json!({"value": "beta-value-2"})));
}

async fn values_bound_to_their_row_are_bound_again_once(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let id = app_with_env(&svc, &f, "gamma", json!({"OLD": {"value": "placeholder"}})).await;
    let (_, values) = current_values(&app, &id);
    let row = &values[0];

    // A value as it was sealed before: bound to its row's id only.
    let keyring = app.state.vault.keyring();
    let mut conn = app.state.pool.get().expect("conn");
    tx::write(
        &mut conn,
        |conn| -> Result<(), servos_api::vault::VaultError> {
            let legacy = Aad {
                table: "env_values",
                column: "value",
                identity: &row.id,
            };
            let sealed = keyring.seal(conn, &legacy, b"sealed-by-row-id")?;
            let cell = SealedCell {
                row_id: row.id.clone(),
                identity: row.id.clone(),
                value: row.value.clone(),
                key_id: row.value_key_id.clone(),
            };
            (ENV_VALUES.replace)(conn, &cell, &sealed.value, &sealed.key_id)?;
            Ok(())
        },
    )
    .expect("store a value bound to its row");
    let (status, answer) = reveal(&svc, &f, &id, "OLD").await;
    assert_eq!(
        status, 422,
        "the old binding is not accepted when reading: {answer}"
    );

    let report = servos_api::vault::rebind::env_values(&mut conn, keyring).expect("rebind");
    assert_eq!((report.rebound, report.failed.len()), (1, 0));
    let again = servos_api::vault::rebind::env_values(&mut conn, keyring).expect("rebind again");
    assert_eq!((again.rebound, again.failed.len()), (0, 0), "done once");
    let (status, answer) = reveal(&svc, &f, &id, "OLD").await;
    assert_eq!(
        (status, answer),
        (200, json!({"value": "sealed-by-row-id"}))
    );
}

/// Damages variable `name` of application `id`'s current version: its
/// value becomes another variable's ciphertext, which does not open there.
fn damage(app: &TestApp, id: &str, name: &str) {
    let (_, values) = current_values(app, id);
    let target = values
        .iter()
        .find(|v| v.name == name)
        .expect("the variable");
    let other = values
        .iter()
        .find(|v| v.name != name)
        .expect("another variable");
    app.db
        .execute(&format!(
            "UPDATE env_values SET value = '{}', value_key_id = '{}' WHERE id = '{}'",
            other.value, other.value_key_id, target.id
        ))
        .expect("damage a value");
}

/// The last audit entry of an application with its fields.
fn last_entry(app: &TestApp) -> (String, String) {
    let entry = app_entries(app).pop().expect("an entry");
    (entry.action, entry.fields)
}

async fn a_damaged_value_is_repaired_by_setting_or_removing_it(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let vars =
        json!({"ALPHA": {"value": "a-1"}, "BROKEN": {"value": "b-1"}, "GAMMA": {"value": "c-1"}});
    let id = app_with_env(&svc, &f, "delta", vars).await;
    damage(&app, &id, "BROKEN");

    let (status, answer) = reveal(&svc, &f, &id, "BROKEN").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("undecryptable"))
    );
    assert_eq!(
        last_entry(&app),
        ("app.env_reveal_failed".into(), "env.BROKEN".into()),
        "a failed reveal is audited, naming the variable"
    );
    let (status, _) = reveal(&svc, &f, &id, "ALPHA").await;
    assert_eq!(status, 200);
    assert_eq!(
        last_entry(&app),
        ("app.env_revealed".into(), "env.ALPHA".into())
    );

    let uri = format!("/api/v1/apps/{id}/env");
    let deployer = &f.who.deployer_token;
    for untouched in [
        json!({"set": {"ALPHA": {"value": "a-2"}}}),
        json!({"set": {"BROKEN": {"file_secret": true}}}),
    ] {
        let (status, answer) = call(&svc, "PATCH", &uri, deployer, untouched).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some("set")),
            "{answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains("BROKEN cannot be decrypted"), "{answer}");
    }
    let (status, answer) = call(
        &svc,
        "PATCH",
        &uri,
        deployer,
        json!({"set": {"BROKEN": {"value": "b-2"}}}),
    )
    .await;
    assert_eq!(
        (status, answer["version"].as_i64()),
        (200, Some(2)),
        "{answer}"
    );
    for (name, value) in [("ALPHA", "a-1"), ("BROKEN", "b-2"), ("GAMMA", "c-1")] {
        assert_eq!(
            reveal(&svc, &f, &id, name).await,
            (200, json!({"value": value})),
            "{name}"
        );
    }

    damage(&app, &id, "BROKEN");
    let (status, answer) = call(&svc, "PATCH", &uri, deployer, json!({"remove": ["BROKEN"]})).await;
    assert_eq!(
        (status, answer["version"].as_i64()),
        (200, Some(3)),
        "{answer}"
    );
    for (name, value) in [("ALPHA", "a-1"), ("GAMMA", "c-1")] {
        assert_eq!(
            reveal(&svc, &f, &id, name).await,
            (200, json!({"value": value})),
            "{name}"
        );
    }
}

both_backends!(
    a_value_moved_to_another_application_does_not_open,
    values_bound_to_their_row_are_bound_again_once,
    a_damaged_value_is_repaired_by_setting_or_removing_it,
);
