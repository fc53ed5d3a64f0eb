//! Forged form posts: without the CSRF token, with another session's token,
//! or from another site, every page POST is refused with 403 and nothing
//! changes; a direct POST from a viewer is refused by its tier.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use servos_api::http::routes::{self, Surface};
use servos_api::store::audit_log;
use servos_api::ui::csrf::token_for;

use super::{post, post_raw, sessions, world, World};
use crate::both_backends;
use crate::harness::{ip, request, send, Backend, TestApp};

/// A POST route pattern with the world's ids in it.
fn concrete_post(pattern: &str, w: &World) -> String {
    let id = if pattern.starts_with("/servers/") {
        &w.server
    } else if pattern.starts_with("/credentials/ssh-keys/") {
        &w.key
    } else if pattern.starts_with("/credentials/registries/") {
        &w.registry
    } else if pattern.starts_with("/credentials/git/") {
        &w.git
    } else if pattern.starts_with("/apps/") {
        &w.app
    } else if pattern.starts_with("/deployments/") {
        &w.deployment
    } else {
        "00000000-0000-4000-8000-000000000000"
    };
    pattern.replace("{id}", id)
}

/// What a forged request could have changed: the audit trail's length and
/// every list the API shows.
async fn snapshot<S, B>(app: &TestApp, svc: &S, token: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let entries = {
        let mut conn = app.state.pool.get().expect("conn");
        audit_log::chain_batch(&mut conn, 0, 100_000)
            .expect("audit")
            .len()
    };
    let mut state = format!("audit entries: {entries}\n");
    for path in [
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/servers",
        "/api/v1/ssh-keys",
        "/api/v1/registries",
        "/api/v1/git-credentials",
        "/api/v1/apps",
        "/api/v1/deployments",
    ] {
        let (status, _, body) = send(
            svc,
            request("GET", path, ip(10))
                .insert_header(("Authorization", format!("Bearer {token}"))),
        )
        .await;
        assert_eq!(status, 200, "GET {path}");
        let mut body = body;
        // Using the token to look is not a change.
        for item in body.as_array_mut().into_iter().flatten() {
            if let Some(fields) = item.as_object_mut() {
                fields.remove("last_used_at");
            }
        }
        state.push_str(&format!("{path}: {body}\n"));
    }
    state
}

async fn forged_posts_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let before = snapshot(&app, &svc, &s.who.admin_token).await;
    let posts: Vec<_> = routes::table()
        .into_iter()
        .filter(|r| r.surface == Surface::Page && r.method == "POST")
        .collect();
    assert!(posts.len() >= 25, "{} form actions", posts.len());
    let someone_elses = token_for(&s.deployer);
    // Fields that would make each form do something if it were accepted.
    let fields = [
        ("name", "forged"),
        ("email", "forged@example.com"),
        ("password", "forged password 123"),
        ("role", "admin"),
        ("address", "192.0.2.99"),
        ("user", "root"),
        ("port", "22"),
        ("ssh_key_id", w.key.as_str()),
        ("roles", "run"),
        ("new.0.name", "FORGED"),
        ("new.0.value", "forged"),
    ];
    for spec in &posts {
        let path = concrete_post(spec.path, &w);
        let (cookie_name, secret) = if spec.tier == routes::Tier::Public {
            ("servos_form", "a-pre-session-cookie")
        } else {
            ("servos_session", s.admin.as_str())
        };
        let cookies = [(cookie_name, secret)];
        let without = post_raw(&svc, &path, &cookies, &fields).await;
        assert_eq!(without.status, 403, "POST {path} without a token");
        assert!(
            without.html.contains("reload the page"),
            "POST {path}: {}",
            without.html
        );
        let mut wrong = vec![("csrf", someone_elses.as_str())];
        wrong.extend_from_slice(&fields);
        let forged = post_raw(&svc, &path, &cookies, &wrong).await;
        assert_eq!(
            forged.status, 403,
            "POST {path} with another session's token"
        );
        let mut empty = vec![("csrf", "")];
        empty.extend_from_slice(&fields);
        assert_eq!(
            post_raw(&svc, &path, &cookies, &empty).await.status,
            403,
            "POST {path} with an empty token"
        );
        // The right token without the cookie it is bound to.
        let mut right = vec![("csrf", token_for(secret))];
        right.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
        let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            post_raw(&svc, &path, &[], &right).await.status,
            if spec.tier == routes::Tier::Public {
                403
            } else {
                303
            },
            "POST {path} without its cookie"
        );
    }
    assert_eq!(
        before,
        snapshot(&app, &svc, &s.who.admin_token).await,
        "a forged post changed something"
    );

    // A real form from another site is refused even with the right token.
    let foreign = super::fetch(
        &svc,
        actix_web::test::TestRequest::post()
            .uri("/servers")
            .peer_addr(ip(11))
            .insert_header(("Origin", "https://evil.example"))
            .cookie(actix_web::cookie::Cookie::new(
                "servos_session",
                s.admin.clone(),
            ))
            .set_form([("csrf", token_for(&s.admin).as_str()), ("name", "forged")]),
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert!(foreign.is_html());
    // Under the no-referrer policy browsers send `Origin: null`; the fetch
    // metadata then decides.
    for (site, expected) in [
        (Some("same-origin"), 201),
        (Some("cross-site"), 403),
        (None, 403),
    ] {
        let mut req = actix_web::test::TestRequest::post()
            .uri("/tokens")
            .peer_addr(ip(12))
            .insert_header(("Origin", "null"))
            .cookie(actix_web::cookie::Cookie::new(
                "servos_session",
                s.admin.clone(),
            ))
            .set_form([
                ("csrf", token_for(&s.admin).as_str()),
                ("name", "null-origin"),
                ("role", "viewer"),
            ]);
        if let Some(site) = site {
            req = req.insert_header(("Sec-Fetch-Site", site));
        }
        let page = super::fetch(&svc, req).await;
        assert_eq!(
            page.status, expected,
            "Origin: null, Sec-Fetch-Site: {site:?}"
        );
    }

    // The same form with the right token goes through.
    let ok = post(
        &svc,
        "/tokens",
        Some(&s.admin),
        &[("name", "real"), ("role", "viewer")],
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.html);
}

async fn viewer_posts_are_refused_by_tier(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let before = snapshot(&app, &svc, &s.who.admin_token).await;
    let server = format!("/servers/{}", w.server);
    let app_path = format!("/apps/{}", w.app);
    for path in [
        "/servers".to_owned(),
        format!("{server}/commission"),
        format!("{server}/check"),
        format!("{server}/host-key/reset"),
        format!("{server}/delete"),
        "/credentials/ssh-keys".to_owned(),
        format!("/credentials/ssh-keys/{}/reveal", w.key),
        format!("/credentials/registries/{}/reveal", w.registry),
        format!("/credentials/git/{}/reveal", w.git),
        "/apps".to_owned(),
        app_path.clone(),
        format!("{app_path}/env"),
        format!("{app_path}/env/reveal"),
        format!("{app_path}/delete"),
        format!("{app_path}/deploy"),
        format!("/deployments/{}/cancel", w.deployment),
        format!("/deployments/{}/rollback", w.deployment),
        "/users".to_owned(),
    ] {
        // A valid token for the viewer's own session: only the tier refuses.
        let page = post(
            &svc,
            &path,
            Some(&s.viewer),
            &[
                ("name", "viewer-was-here"),
                ("new.0.name", "X"),
                ("new.0.value", "y"),
            ],
        )
        .await;
        assert_eq!(page.status, 403, "POST {path} as a viewer");
        assert!(page.is_html(), "POST {path}");
    }
    let after = snapshot(&app, &svc, &s.who.admin_token).await;
    // Refusals are audited (access.denied); nothing else changed.
    let strip = |text: &str| text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&before), strip(&after));
    // A deployer may change applications but not servers.
    let page = post(&svc, &format!("{server}/delete"), Some(&s.deployer), &[]).await;
    assert_eq!(page.status, 403);
}

both_backends!(
    forged_posts_are_refused_and_change_nothing,
    viewer_posts_are_refused_by_tier
);
