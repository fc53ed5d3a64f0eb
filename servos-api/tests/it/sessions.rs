//! Login, throttling, cookies, logout, password changes and foreign origins.

use actix_web::cookie::Cookie;
use serde_json::json;

use crate::both_backends;
use crate::harness::{
    callers, ip, json_req, login, request, retry_after, send, session_cookie, Backend, TestApp,
    PASSWORD,
};

async fn wrong_password_is_throttled_per_account(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    callers(&app, &svc).await;
    for attempt in 1..=10 {
        let (status, _, body) = send(
            &svc,
            json_req(
                "POST",
                "/api/v1/login",
                ip(20 + attempt),
                json!({"email": "viewer@example.com", "password": "wrong password!"}),
            ),
        )
        .await;
        assert_eq!(status, 401, "attempt {attempt}");
        assert_eq!(body["error"], "invalid_credentials");
    }
    // The 11th, even with the right password and from another address.
    let (status, headers, body) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/login",
            ip(99),
            json!({"email": "viewer@example.com", "password": PASSWORD}),
        ),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "rate_limited");
    let retry = retry_after(&headers);
    assert!((1..=60).contains(&retry), "{retry}");
    // Other accounts are unaffected.
    let (status, _, _) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/login",
            ip(99),
            json!({"email": "deployer@example.com", "password": PASSWORD}),
        ),
    )
    .await;
    assert_eq!(status, 200);
}

async fn concurrent_logins_never_fail_with_5xx(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    callers(&app, &svc).await;
    let attempts = (0..32u8).map(|i| {
        let svc = &svc;
        async move {
            send(
                svc,
                json_req(
                    "POST",
                    "/api/v1/login",
                    ip(100 + i),
                    json!({"email": "admin@example.com", "password": PASSWORD}),
                ),
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
}

/// The `Set-Cookie` header of an admin login on `app`.
async fn admin_login_cookie(app: &TestApp) -> (String, bool) {
    let svc = app.service().await;
    callers(app, &svc).await;
    let (_, headers, _) = send(
        &svc,
        json_req(
            "POST",
            "/api/v1/login",
            ip(1),
            json!({"email": "admin@example.com", "password": PASSWORD}),
        ),
    )
    .await;
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_owned();
    (cookie, headers.contains_key("strict-transport-security"))
}

async fn cookies_are_hardened(backend: Backend) {
    let (cookie, hsts) = admin_login_cookie(&TestApp::new(backend)).await;
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure") && !hsts, "plain HTTP: {cookie}");

    let https = TestApp::with_config(backend, |c| {
        c.public_origin = Some("https://servos.example.com".into())
    });
    let (cookie, hsts) = admin_login_cookie(&https).await;
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(hsts, "HSTS under HTTPS");
}

async fn foreign_origin_posts_are_refused(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let cookie = Cookie::new("servos_session", who.admin_cookie.clone());
    let token_body = json!({"name": "x", "role": "viewer"});
    let (status, _, body) = send(
        &svc,
        json_req("POST", "/api/v1/tokens", ip(1), token_body.clone())
            .cookie(cookie.clone())
            .insert_header(("Host", "servos.local"))
            .insert_header(("Origin", "https://evil.example")),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("foreign_origin"))
    );
    let (status, _, _) = send(
        &svc,
        request("POST", "/api/v1/logout", ip(1))
            .cookie(cookie.clone())
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .insert_header(("Sec-Fetch-Site", "cross-site"))
            .set_payload("a=b"),
    )
    .await;
    assert_eq!(status, 403, "form post from another site");
    let (status, _, _) = send(
        &svc,
        json_req("POST", "/api/v1/tokens", ip(1), token_body)
            .cookie(cookie)
            .insert_header(("Host", "servos.local"))
            .insert_header(("Origin", "http://servos.local")),
    )
    .await;
    assert_eq!(status, 201, "same origin is fine");
}

async fn logout_and_password_change_end_sessions(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    callers(&app, &svc).await;
    let me = |cookie: &str| {
        request("GET", "/api/v1/me", ip(1)).cookie(Cookie::new("servos_session", cookie.to_owned()))
    };
    let first = login(&svc, "viewer@example.com").await;
    let second = login(&svc, "viewer@example.com").await;
    assert_eq!(send(&svc, me(&first)).await.0, 200);
    let (status, headers, _) = send(
        &svc,
        request("POST", "/api/v1/logout", ip(1))
            .cookie(Cookie::new("servos_session", first.clone())),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        session_cookie(&headers).as_deref(),
        Some(""),
        "cookie cleared"
    );
    assert_eq!(send(&svc, me(&first)).await.0, 401);
    assert_eq!(send(&svc, me(&second)).await.0, 200);
    let (status, _, _) = send(
        &svc,
        json_req(
            "PUT",
            "/api/v1/me/password",
            ip(1),
            json!({"current_password": PASSWORD, "new_password": "another long password"}),
        )
        .cookie(Cookie::new("servos_session", second.clone())),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        send(&svc, me(&second)).await.0,
        401,
        "password change ends every session"
    );
}

both_backends!(
    wrong_password_is_throttled_per_account,
    concurrent_logins_never_fail_with_5xx,
    cookies_are_hardened,
    foreign_origin_posts_are_refused,
    logout_and_password_change_end_sessions,
);
