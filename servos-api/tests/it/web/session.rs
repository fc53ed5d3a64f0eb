//! Setup, login and logout pages; an ended session sends the browser back
//! to the login page with a notice.

use actix_web::test::TestRequest;
use servos_api::ui::csrf::{token_for, FORM_COOKIE};

use super::{fetch, get, post, post_raw, sessions};
use crate::both_backends;
use crate::client::altered_token;
use crate::harness::{ip, Backend, TestApp, PASSWORD};

fn setup_fields(token: &str) -> [(&str, &str); 4] {
    [
        ("token", token),
        ("email", "Root@Example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ]
}

async fn setup_page_creates_the_first_admin(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let token = app.setup_token();

    // Before setup, the dashboard sends to the login page, which points to setup.
    let home = get(&svc, "/", None).await;
    assert_eq!((home.status, home.location()), (303, "/login"));
    let login = get(&svc, "/login", None).await;
    assert!(login.html.contains("href=\"/setup\""), "{}", login.html);
    let form = get(&svc, "/setup", None).await;
    assert_eq!(form.status, 200);
    assert!(form.html.contains("name=\"token\""));
    // The public form starts a pre-session cookie its token is bound to.
    let form_cookie = form.cookie(FORM_COOKIE).expect("a pre-session cookie");
    assert_eq!(super::token_in(&form.html), Some(token_for(&form_cookie)));

    let wrong = altered_token(&token);
    let refused = post(&svc, "/setup", None, &setup_fields(&wrong)).await;
    assert_eq!(refused.status, 422);
    assert!(refused.html.contains("is not the setup token"));
    assert!(
        refused.html.contains("value=\"Root@Example.com\""),
        "email kept"
    );
    assert!(!refused.html.contains(&wrong), "the token is not echoed");
    assert!(
        !refused.html.contains(PASSWORD),
        "the password is not echoed"
    );

    let mismatch = post(
        &svc,
        "/setup",
        None,
        &[
            ("token", &token),
            ("email", "root@example.com"),
            ("password", PASSWORD),
            ("password_confirm", "something else entirely"),
        ],
    )
    .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.html.contains("does not match"));

    let done = post(&svc, "/setup", None, &setup_fields(&token)).await;
    assert_eq!(
        (done.status, done.location()),
        (303, "/login"),
        "{}",
        done.html
    );
    assert!(done.sets_cookie("servos_flash"));

    let after = get(&svc, "/setup", None).await;
    assert!(after.html.contains("Setup is complete"));
    assert!(!after.html.contains("name=\"token\""));
    let again = post(&svc, "/setup", None, &setup_fields(&token)).await;
    assert_eq!(again.status, 410);
}

async fn login_logout_and_ended_sessions(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    sessions(&app, &svc).await;

    let bad = post(
        &svc,
        "/login",
        None,
        &[
            ("email", "viewer@example.com"),
            ("password", "wrong password!!"),
        ],
    )
    .await;
    assert_eq!(bad.status, 401);
    assert!(bad.html.contains("Email or password is incorrect"));
    assert!(bad.html.contains("value=\"viewer@example.com\""));
    assert!(!bad.html.contains("wrong password!!"));

    // The login form returns to the page that asked for it, never elsewhere.
    let asked = get(&svc, "/apps?x=1", None).await;
    assert_eq!(asked.location(), "/login?next=%2Fapps%3Fx%3D1");
    let form = get(&svc, asked.location(), None).await;
    assert!(
        form.html.contains("name=\"next\" value=\"/apps?x=1\""),
        "{}",
        form.html
    );
    let good = post(
        &svc,
        "/login",
        None,
        &[
            ("email", "viewer@example.com"),
            ("password", PASSWORD),
            ("next", "/apps?x=1"),
        ],
    )
    .await;
    assert_eq!((good.status, good.location()), (303, "/apps?x=1"));
    let session = good.cookie("servos_session").expect("session cookie");
    let offsite = post(
        &svc,
        "/login",
        None,
        &[
            ("email", "viewer@example.com"),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(offsite.location(), "/");

    let home = get(&svc, "/", Some(&session)).await;
    assert_eq!(home.status, 200);
    assert!(home.html.contains("viewer@example.com"));

    // Logout ends the session: the cookie no longer opens a page.
    let out = post(&svc, "/logout", Some(&session), &[]).await;
    assert_eq!((out.status, out.location()), (303, "/login"));
    assert_eq!(out.cookie("servos_session").as_deref(), Some(""));
    let gone = get(&svc, "/", Some(&session)).await;
    assert_eq!(gone.status, 303);
    assert_eq!(gone.location(), "/login?expired=1");
    assert_eq!(
        gone.cookie("servos_session").as_deref(),
        Some(""),
        "the stale cookie is cleared"
    );
    let notice = get(&svc, gone.location(), None).await;
    assert!(notice.html.contains("Your session has ended"));

    // An expired session (here: removed server-side) does the same.
    let again = post(
        &svc,
        "/login",
        None,
        &[("email", "viewer@example.com"), ("password", PASSWORD)],
    )
    .await;
    let session = again.cookie("servos_session").expect("session cookie");
    app.db
        .execute("DELETE FROM sessions")
        .expect("end every session");
    let page = get(&svc, "/servers", Some(&session)).await;
    assert_eq!(page.location(), "/login?expired=1&next=%2Fservers");
    // A form posted with the ended session also goes to the login page.
    let posted = post(
        &svc,
        "/tokens",
        Some(&session),
        &[("name", "x"), ("role", "viewer")],
    )
    .await;
    assert_eq!(
        (posted.status, posted.location()),
        (303, "/login?expired=1")
    );

    // The login form without its pre-session cookie is refused.
    let raw = post_raw(
        &svc,
        "/login",
        &[],
        &[
            ("csrf", "x"),
            ("email", "viewer@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(raw.status, 403);
    // An API client still gets JSON 401, not a redirect.
    let api = fetch(&svc, TestRequest::get().uri("/api/v1/me").peer_addr(ip(3))).await;
    assert_eq!(api.status, 401);
    assert!(!api.is_html());
}

both_backends!(
    setup_page_creates_the_first_admin,
    login_logout_and_ended_sessions
);
