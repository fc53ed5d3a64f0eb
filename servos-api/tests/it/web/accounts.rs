//! Accounts, API tokens and the audit log through their pages: users are
//! created, changed and deleted, a token is shown once, and the audit log
//! filters, pages and exports what happened.

use super::{follow, get, post, sessions};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

async fn users_tokens_and_the_audit_log(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let admin = Some(s.admin.as_str());

    let short = post(
        &svc,
        "/users",
        admin,
        &[
            ("email", "ops@example.com"),
            ("password", "short"),
            ("role", "deployer"),
        ],
    )
    .await;
    assert_eq!(short.status, 422);
    assert!(short.html.contains("at least 12 characters"));
    assert!(short.html.contains("value=\"ops@example.com\""));
    let made = post(
        &svc,
        "/users",
        admin,
        &[
            ("email", "ops@example.com"),
            ("password", "a long enough password"),
            ("role", "deployer"),
        ],
    )
    .await;
    assert_eq!(made.status, 303);
    let users = get(&svc, "/users", admin).await;
    assert!(users.html.contains("ops@example.com"));
    let ops_id = {
        let mut conn = app.state.pool.get().expect("conn");
        servos_api::store::users::find_live_by_email(&mut conn, "ops@example.com")
            .expect("query")
            .expect("user")
            .id
            .to_string()
    };
    let role = post(
        &svc,
        &format!("/users/{ops_id}/role"),
        admin,
        &[("role", "viewer")],
    )
    .await;
    assert_eq!(role.status, 303);
    let last_admin = post(
        &svc,
        &format!("/users/{}/role", s.who.admin_id),
        admin,
        &[("role", "viewer")],
    )
    .await;
    let listed = follow(&svc, &last_admin, admin).await;
    assert!(
        listed.html.contains("this is the last admin"),
        "the refusal is shown"
    );
    let deleted = post(&svc, &format!("/users/{ops_id}/delete"), admin, &[]).await;
    assert_eq!(deleted.status, 303);
    assert!(!get(&svc, "/users", admin)
        .await
        .html
        .contains("ops@example.com"));

    // A token is shown once, in the answer that creates it.
    let created = post(
        &svc,
        "/tokens",
        Some(&s.viewer),
        &[
            ("name", "ci"),
            ("role", "viewer"),
            ("expires_in_days", "30"),
        ],
    )
    .await;
    assert_eq!(created.status, 201);
    let token = created
        .html
        .split("value=\"svs_")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|t| format!("svs_{t}"))
        .expect("the new token");
    let later = get(&svc, "/tokens", Some(&s.viewer)).await;
    assert!(later.html.contains(">ci<"));
    assert!(!later.html.contains(&token), "shown only once");
    let too_high = post(
        &svc,
        "/tokens",
        Some(&s.viewer),
        &[("name", "x"), ("role", "admin")],
    )
    .await;
    assert_eq!(too_high.status, 422);
    let row = later
        .html
        .split("/tokens/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("a revoke form")
        .to_owned();
    let revoked = post(&svc, &format!("/tokens/{row}/revoke"), Some(&s.viewer), &[]).await;
    assert_eq!(revoked.status, 303);

    // The audit log: filters, paging, CSV of the same filters.
    let all = get(&svc, "/audit", admin).await;
    assert!(all.html.contains("user.created") && all.html.contains("api_token.revoked"));
    let filtered = get(&svc, "/audit?action=user.deleted", admin).await;
    assert!(filtered.html.contains(&ops_id));
    assert!(!filtered.html.contains("api_token.revoked</a>"));
    let csv_link = filtered
        .html
        .split("href=\"/api/v1/audit.csv?")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSV link")
        .replace("&amp;", "&");
    let csv = get(&svc, &format!("/api/v1/audit.csv?{csv_link}"), admin).await;
    assert_eq!(csv.status, 200);
    assert!(csv.html.starts_with("seq,id,at,"));
    assert_eq!(
        csv.html.lines().count(),
        2,
        "header and the one deletion:\n{}",
        csv.html
    );
    let by_actor = get(&svc, &format!("/audit?actor_id={}", s.who.admin_id), admin).await;
    assert!(by_actor.html.contains("user.created"));
    let ranged = get(
        &svc,
        "/audit?since=2000-01-01T00:00&until=2000-01-02T00:00",
        admin,
    )
    .await;
    assert!(ranged.html.contains("No entries match"));
    let bad_time = get(&svc, "/audit?since=yesterday", admin).await;
    assert!(bad_time.html.contains("must be a date and time"));
    for i in 0..60 {
        let made = post(
            &svc,
            "/tokens",
            admin,
            &[("name", &format!("t{i}")), ("role", "viewer")],
        )
        .await;
        assert_eq!(made.status, 201);
    }
    let first = get(&svc, "/audit", admin).await;
    let older = first
        .html
        .split("href=\"/audit?before=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an older page");
    let second = get(
        &svc,
        &format!("/audit?before={}", older.replace("&amp;", "&")),
        admin,
    )
    .await;
    assert_eq!(second.status, 200);
    assert!(second.html.contains("Newest"));
    assert!(
        second.html.contains("setup.completed"),
        "the oldest entries are on the second page"
    );
}

both_backends!(users_tokens_and_the_audit_log);
