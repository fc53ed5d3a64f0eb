//! Two first connections racing to pin a server's host key: exactly one key
//! is pinned, the others see that a pin exists, on both backends.

use std::sync::{Arc, Barrier};

use serde_json::json;
use servos_api::store::{self, servers, tx};

use crate::both_backends;
use crate::harness::{callers, ip, json_req, send, Backend, TestApp};
use crate::servers::import_server_key;
use servos_lab::client_key;

/// How many connections race for the pin.
const RACERS: usize = 8;

async fn racing_first_connections_pin_one_key(backend: Backend) {
    let app = TestApp::with_config(backend, |c| c.db_pool_size = RACERS as u32 + 1);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let dir = tempfile::tempdir().expect("dir");
    let (private_key, _) = client_key(dir.path());
    let key = import_server_key(&svc, &admin, &private_key).await;
    let (status, _, server) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/servers",
            ip(1),
            json!({"name": "raced", "address": "10.231.255.2", "port": 22, "user": "root", "ssh_key_id": key["id"]}),
        )
        .insert_header(admin.clone()),
    )
    .await;
    assert_eq!(status, 201, "{server}");
    let id = server["id"].as_str().expect("id").to_owned();

    let start = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|n| {
            let pool = app.state.pool.clone();
            let start = start.clone();
            let id = id.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("a connection per racer");
                let fingerprint = format!("SHA256:racer-{n}");
                start.wait();
                let won = tx::write(&mut conn, |c| {
                    servers::pin_if_unpinned(c, &id.as_str().into(), &fingerprint, store::now())
                })
                .expect("the conditional pin runs");
                (won, fingerprint)
            })
        })
        .collect();
    let results: Vec<(usize, String)> = racers
        .into_iter()
        .map(|racer| racer.join().expect("racer thread"))
        .collect();
    let winners: Vec<&String> = results
        .iter()
        .filter(|(won, _)| *won == 1)
        .map(|(_, fingerprint)| fingerprint)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one pin wins: {results:?}");
    let mut conn = app.state.pool.get().expect("conn");
    let pinned = servers::find_live(&mut conn, &id.as_str().into())
        .expect("read the server")
        .and_then(|s| s.host_key_fingerprint);
    assert_eq!(pinned.as_ref(), Some(winners[0]));
}

both_backends!(racing_first_connections_pin_one_key);
