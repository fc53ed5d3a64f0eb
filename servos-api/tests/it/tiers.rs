//! Walks every registered route as anonymous, viewer, deployer and admin
//! callers and checks each gets exactly what the route's tier allows; and
//! that the OpenAPI document lists exactly the routes of the table.

use std::collections::BTreeSet;

use serde_json::json;
use servos_api::http::routes::{self, Tier};

use crate::both_backends;
use crate::harness::{callers, ip, json_req, send, Backend, TestApp};

fn concrete(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{seq}", "1")
}

fn allowed(status: u16) -> bool {
    status != 401 && status != 403
}

async fn every_route_enforces_its_tier(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let table = routes::table();
    assert!(!table.is_empty());
    for (index, spec) in table.into_iter().enumerate() {
        let path = concrete(spec.path);
        let method = spec.method.as_str();
        let mut results = Vec::new();
        for bearer in [
            None,
            Some(&who.viewer_token),
            Some(&who.deployer_token),
            Some(&who.admin_token),
        ] {
            let mut req = json_req(method, &path, ip(100 + (index % 150) as u8), json!({}));
            if let Some(token) = bearer {
                req = req.insert_header(("Authorization", format!("Bearer {token}")));
            }
            let (status, _, _) = send(&svc, req).await;
            assert!(status < 500, "{method} {path} answered {status}");
            results.push(status);
        }
        let [anon, viewer, deployer, admin] = results[..] else {
            unreachable!("four callers")
        };
        let expect = |ok: [bool; 4]| {
            assert_eq!(
                [allowed(anon), allowed(viewer), allowed(deployer), allowed(admin)],
                ok,
                "{method} {} ({:?}) answered anon={anon} viewer={viewer} deployer={deployer} admin={admin}",
                spec.path,
                spec.tier
            );
        };
        match spec.tier {
            Tier::Public => expect([true; 4]),
            Tier::Viewer => {
                assert_eq!(anon, 401, "{method} {path}");
                expect([false, true, true, true]);
            }
            Tier::Deployer => {
                assert_eq!(anon, 401, "{method} {path}");
                expect([false, false, true, true]);
            }
            Tier::Admin => {
                assert_eq!(anon, 401, "{method} {path}");
                expect([false, false, false, true]);
            }
            Tier::Blocked => {
                assert_eq!([anon, viewer, deployer, admin], [403; 4], "{method} {path}")
            }
        }
    }
}

async fn unknown_routes_and_methods_fail_closed(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let auth = ("Authorization", format!("Bearer {}", who.admin_token));
    let (status, _, _) = send(
        &svc,
        json_req("GET", "/api/v1/nope", ip(9), json!({})).insert_header(auth.clone()),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = send(
        &svc,
        json_req("PUT", "/api/v1/users", ip(9), json!({})).insert_header(auth),
    )
    .await;
    assert_eq!(status, 405);
}

both_backends!(
    every_route_enforces_its_tier,
    unknown_routes_and_methods_fail_closed
);

#[test]
fn openapi_lists_exactly_the_routes_of_the_table() {
    use utoipa::OpenApi as _;
    let doc = serde_json::to_value(servos_api::http::openapi::ApiDoc::openapi()).expect("json");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let routed: BTreeSet<String> = routes::table()
        .into_iter()
        .filter(|r| r.tier != Tier::Blocked)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(documented, routed);
}

#[test]
fn every_route_is_registered_once() {
    let mut seen = BTreeSet::new();
    for spec in routes::table() {
        assert!(
            seen.insert((spec.method.to_string(), spec.path)),
            "{} {} twice",
            spec.method,
            spec.path
        );
    }
}
