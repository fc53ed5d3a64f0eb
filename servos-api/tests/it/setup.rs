//! First-run setup: token file, wrong and right tokens, single use, races.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::json;
use servos_api::store::users;

use crate::both_backends;
use crate::client::altered_token;
use crate::harness::{ip, json_req, send, Backend, TestApp, PASSWORD};

fn admins(app: &TestApp) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    users::count_live_admins(&mut conn).expect("count")
}

async fn setup_token_is_single_use(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let token = app.setup_token();
    let file = app.state.config.data_dir.join("setup_token");
    let mode = std::fs::metadata(&file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&file).expect("read").trim(), token);

    let body =
        |token: &str| json!({"token": token, "email": "root@example.com", "password": PASSWORD});
    let wrong = altered_token(&token);
    let (status, _, _) = send(&svc, json_req("POST", "/api/v1/setup", ip(1), body(&wrong))).await;
    assert_eq!(status, 401);
    assert_eq!(admins(&app), 0, "wrong token creates no admin");
    assert!(file.exists());

    let (status, _, user) =
        send(&svc, json_req("POST", "/api/v1/setup", ip(1), body(&token))).await;
    assert_eq!(status, 201);
    assert_eq!(user["role"], "admin");
    assert!(!file.exists(), "token file removed after use");
    assert_eq!(admins(&app), 1);

    for attempt in [token.as_str(), wrong.as_str(), "anything"] {
        let (status, _, _) = send(
            &svc,
            json_req("POST", "/api/v1/setup", ip(1), body(attempt)),
        )
        .await;
        assert_eq!(status, 410, "setup after an admin exists");
    }
    let mut conn = app.state.pool.get().expect("conn");
    let again = servos_api::accounts::setup::prepare(&mut conn, &app.state.config.data_dir)
        .expect("prepare");
    assert!(again.is_none(), "no new token once an admin exists");
    assert!(!file.exists());
}

async fn concurrent_setups_create_one_admin(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let token = app.setup_token();
    let attempts = (0..6u8).map(|i| {
        let svc = &svc;
        let token = token.clone();
        async move {
            send(
                svc,
                json_req(
                    "POST",
                    "/api/v1/setup",
                    ip(i),
                    json!({"token": token, "email": format!("admin{i}@example.com"), "password": PASSWORD}),
                ),
            )
            .await
            .0
        }
    });
    let mut statuses = futures_util::future::join_all(attempts).await;
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 410, 410, 410, 410, 410]);
    assert_eq!(admins(&app), 1);
}

both_backends!(
    setup_token_is_single_use,
    concurrent_setups_create_one_admin
);
