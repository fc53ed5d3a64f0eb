//! Walks every registered route as anonymous, viewer, deployer and admin
//! callers and checks each gets exactly what the route's tier allows (API
//! routes with tokens, pages with browser sessions); and that the OpenAPI
//! document lists exactly the API routes of the table and no page.

use std::collections::BTreeSet;

use serde_json::json;
use servos_api::http::routes::{self, Surface, Tier};
use servos_api::ui::csrf::{token_for, FORM_COOKIE};

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
    let table: Vec<_> = routes::table()
        .into_iter()
        .filter(|r| r.surface == Surface::Api)
        .collect();
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
            if spec.tier == Tier::Agent {
                let version = servos_common::protocol::VERSION.to_string();
                req = req.insert_header((servos_common::protocol::HEADER, version));
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
            Tier::Agent => {
                // A user's token is no agent token.
                assert_eq!([anon, viewer, deployer, admin], [401; 4], "{method} {path}")
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
    let (status, headers, _) = send(
        &svc,
        json_req("PUT", "/api/v1/users", ip(9), json!({})).insert_header(auth),
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(
        headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST"),
        "a 405 names the methods the resource has"
    );
}

/// True when a page answer refuses the caller: 403, or the redirect to the
/// login page that stands for 401 on pages (a logout's own redirect to the
/// login page carries a flash message; this one does not).
fn page_refused(page: &crate::web::Page) -> bool {
    page.status == 403
        || (page.status == 303
            && page.location().starts_with("/login")
            && !page.sets_cookie("servos_flash"))
}

/// Walks every page route as anonymous, viewer, deployer and admin browser
/// sessions, each POST with a valid CSRF token, so that only the tier
/// decides. Logout comes last: it ends the session it is sent with.
async fn every_page_route_enforces_its_tier(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = crate::web::sessions(&app, &svc).await;
    let mut table: Vec<_> = routes::table()
        .into_iter()
        .filter(|r| r.surface == Surface::Page)
        .collect();
    table.sort_by_key(|r| r.path == "/logout");
    assert!(table.len() > 20, "{} page routes", table.len());
    for (index, spec) in table.into_iter().enumerate() {
        let path = concrete(spec.path);
        let method = spec.method.as_str();
        let mut refused = Vec::new();
        for session in [None, Some(&s.viewer), Some(&s.deployer), Some(&s.admin)] {
            let peer = ip(100 + (index % 150) as u8);
            let page = if method == "GET" {
                let req = actix_web::test::TestRequest::get()
                    .uri(&path)
                    .peer_addr(peer);
                crate::web::fetch(
                    &svc,
                    crate::web::with_session(req, session.map(String::as_str)),
                )
                .await
            } else {
                // Public forms are bound to the pre-session cookie, the
                // others to the session, as the browser got them.
                let form_secret = "page-walk";
                let token = match session {
                    Some(value) if spec.tier != Tier::Public => token_for(value),
                    _ => token_for(form_secret),
                };
                let mut cookies = vec![(FORM_COOKIE, form_secret)];
                if let Some(value) = session {
                    cookies.push(("servos_session", value.as_str()));
                }
                crate::web::post_from(&svc, peer, &path, &cookies, &[("csrf", &token)]).await
            };
            assert!(
                page.status < 500,
                "{method} {path} answered {}: {}",
                page.status,
                page.html
            );
            assert!(
                page.status != 401 || page.is_html(),
                "{method} {path}: a page answers 401 as a page or a redirect"
            );
            refused.push(page_refused(&page));
        }
        let expected = match spec.tier {
            Tier::Public => [false; 4],
            Tier::Viewer => [true, false, false, false],
            Tier::Deployer => [true, true, false, false],
            Tier::Admin => [true, true, true, false],
            Tier::Agent | Tier::Blocked => [true; 4],
        };
        assert_eq!(
            refused, expected,
            "{method} {} ({:?}) refused [anon, viewer, deployer, admin]",
            spec.path, spec.tier
        );
    }
}

both_backends!(
    every_route_enforces_its_tier,
    every_page_route_enforces_its_tier,
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
        .filter(|r| r.tier != Tier::Blocked && r.surface == Surface::Api)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(documented, routed);
}

#[test]
fn the_openapi_document_leaves_out_the_web_pages() {
    use utoipa::OpenApi as _;
    let doc = serde_json::to_value(servos_api::http::openapi::ApiDoc::openapi()).expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    let pages: Vec<_> = routes::table()
        .into_iter()
        .filter(|r| r.surface == Surface::Page)
        .collect();
    assert!(!pages.is_empty());
    for page in pages {
        assert!(
            !paths.contains_key(page.path),
            "page {} is in the API document",
            page.path
        );
        assert!(
            !page.path.starts_with("/api/"),
            "page {} is under /api/",
            page.path
        );
    }
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
