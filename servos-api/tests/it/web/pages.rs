//! Every page renders for the roles its tier admits and is refused (as a
//! page) to the others; viewers see no edit controls; the frame, the
//! assets and the security headers are right.

use servos_api::http::routes::{self, Surface, Tier};

use super::{concrete, get, sessions, token_in, world};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

async fn every_page_renders_for_the_roles_it_admits(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let mut w = world(&svc, &s).await;
    w.install = super::stored_install(&app, &w.server);
    let pages: Vec<_> = routes::table()
        .into_iter()
        .filter(|r| r.surface == Surface::Page && r.method == "GET" && r.path != "/static/{file}")
        .collect();
    assert!(pages.len() >= 15, "{} pages", pages.len());
    for spec in pages {
        let path = concrete(spec.path, &w);
        for (role, session, rank) in [
            ("viewer", &s.viewer, 1),
            ("deployer", &s.deployer, 2),
            ("admin", &s.admin, 3),
        ] {
            let page = get(&svc, &path, Some(session)).await;
            let needed = match spec.tier {
                Tier::Public | Tier::Viewer => 1,
                Tier::Deployer => 2,
                Tier::Admin => 3,
                Tier::Agent | Tier::Blocked => 4,
            };
            assert!(page.is_html(), "GET {path} as {role}: not HTML");
            if rank >= needed {
                assert_eq!(page.status, 200, "GET {path} as {role}:\n{}", page.html);
                assert!(
                    page.html.contains("<main"),
                    "GET {path} as {role}: no layout"
                );
                if spec.tier != Tier::Public {
                    assert!(
                        page.html.contains(&format!("{role}@example.com")),
                        "GET {path} as {role}: the signed-in user is not shown"
                    );
                    assert_eq!(
                        token_in(&page.html).as_deref(),
                        Some(servos_api::ui::csrf::token_for(session).as_str()),
                        "GET {path} as {role}: forms carry the session's token"
                    );
                }
            } else {
                assert_eq!(page.status, 403, "GET {path} as {role}");
                assert!(
                    page.html.contains("Not allowed"),
                    "GET {path}: {}",
                    page.html
                );
            }
        }
        if spec.tier != Tier::Public {
            let anon = get(&svc, &path, None).await;
            assert_eq!(anon.status, 303, "GET {path} anonymously");
            assert!(
                anon.location().starts_with("/login"),
                "GET {path}: {}",
                anon.location()
            );
        }
    }
}

async fn viewers_see_no_edit_controls(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    for pattern in [
        "/",
        "/servers",
        "/servers/{id}",
        "/credentials",
        "/credentials/ssh-keys/{id}",
        "/apps",
        "/apps/{id}",
        "/deployments",
        "/deployments/{id}",
        "/tokens",
    ] {
        let path = concrete(pattern, &w);
        let page = get(&svc, &path, Some(&s.viewer)).await;
        assert_eq!(page.status, 200, "{path}");
        let posts: Vec<&str> = page
            .html
            .match_indices("method=\"post\" action=\"")
            .map(|(at, m)| {
                let rest = &page.html[at + m.len()..];
                &rest[..rest.find('"').unwrap_or(0)]
            })
            .collect();
        let allowed = ["/logout", "/tokens"];
        assert!(
            posts
                .iter()
                .all(|a| allowed.contains(a) || a.ends_with("/revoke")),
            "{path} shows a viewer the forms {posts:?}"
        );
        for control in [
            "/new\"",
            "/edit\"",
            ">Reveal<",
            ">Delete",
            ">Commission<",
            ">Run a health check<",
            ">Deploy<",
            ">Cancel<",
            ">Roll back",
        ] {
            assert!(
                !page.html.contains(control),
                "{path} shows a viewer {control:?}"
            );
        }
    }
    // The same pages show deployers and admins their controls.
    let deployer_app = get(&svc, &format!("/apps/{}", w.app), Some(&s.deployer)).await;
    assert!(deployer_app.html.contains(&format!("/apps/{}/edit", w.app)));
    assert!(deployer_app.html.contains(&format!("/apps/{}/env", w.app)));
    assert!(deployer_app
        .html
        .contains(&format!("/apps/{}/deploy", w.app)));
    let deployer_deployment = get(
        &svc,
        &format!("/deployments/{}", w.deployment),
        Some(&s.deployer),
    )
    .await;
    assert!(deployer_deployment
        .html
        .contains(&format!("/deployments/{}/cancel", w.deployment)));
    assert!(!deployer_app.html.contains("/delete"), "only admins delete");
    let admin_server = get(&svc, &format!("/servers/{}", w.server), Some(&s.admin)).await;
    assert!(admin_server.html.contains("Commission"));
    assert!(admin_server.html.contains("/delete"));
}

async fn frame_assets_and_headers(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let page = get(&svc, "/", Some(&s.admin)).await;
    assert_eq!(page.status, 200);
    let csp = page
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok());
    assert!(
        csp.is_some_and(|v| v.contains("default-src 'self'")),
        "{csp:?}"
    );
    assert_eq!(
        page.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(!page.html.contains("<script>"), "no inline script");
    assert!(!page.html.contains(" style="), "no inline style");
    assert!(page.html.contains("class=\"role role-admin\""));
    let css = page
        .html
        .split("href=\"")
        .find_map(|rest| {
            rest.split('"')
                .next()
                .filter(|l| l.starts_with("/static/app.css?v="))
        })
        .expect("a versioned stylesheet link")
        .to_owned();
    let asset = get(&svc, &css, None).await;
    assert_eq!(asset.status, 200);
    assert!(asset
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/css")));
    assert_eq!(
        asset
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=31536000, immutable")
    );
    let etag = asset
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_owned();
    let again = super::fetch(
        &svc,
        actix_web::test::TestRequest::get()
            .uri("/static/app.css")
            .insert_header(("If-None-Match", etag)),
    )
    .await;
    assert_eq!(again.status, 304);
    assert_eq!(get(&svc, "/static/nope.css", None).await.status, 404);

    // Unknown paths: a page for browsers, JSON for the API.
    let missing = get(&svc, "/no/such/page", Some(&s.admin)).await;
    assert_eq!(missing.status, 404);
    assert!(missing.is_html() && missing.html.contains("Not found"));
    let api = get(&svc, "/api/v1/no-such-thing", Some(&s.admin)).await;
    assert_eq!(api.status, 404);
    assert!(!api.is_html());
}

both_backends!(
    every_page_renders_for_the_roles_it_admits,
    viewers_see_no_edit_controls,
    frame_assets_and_headers
);
