//! Two clients creating the same name at the same moment: one is created,
//! the other is told which field conflicts (409), on both backends, never
//! a 500 (on PostgreSQL both pass the "name taken" check, and the unique
//! index refuses the second insert).

use futures_util::future::join_all;
use serde_json::json;

use crate::apps::call;
use crate::both_backends;
use crate::harness::{callers, Backend, TestApp};

/// Racing pairs per test: enough that on PostgreSQL both creates of some
/// pair pass the check before either inserts.
const PAIRS: usize = 12;

async fn concurrent_creates_of_one_name_give_one_201_and_one_409(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let admin = callers(&app, &svc).await.admin_token;
    let creates = (0..PAIRS).flat_map(|pair| {
        let body = json!({"name": format!("registry-{pair}"), "host": "registry.example.com",
            "username": "ci", "password": "not-a-real-password"});
        [body.clone(), body]
    });
    let answers =
        join_all(creates.map(|body| call(&svc, "POST", "/api/v1/registries", &admin, body))).await;
    for (pair, answers) in answers.chunks(2).enumerate() {
        let mut statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "pair {pair}: {answers:?}");
        let (_, refused) = answers
            .iter()
            .find(|(status, _)| *status == 409)
            .expect("a 409");
        assert_eq!(refused["error"], "conflict", "{refused}");
        assert_eq!(refused["field"], "name", "{refused}");
    }
}

both_backends!(concurrent_creates_of_one_name_give_one_201_and_one_409);
