//! The webhook page: the secret shown once, the deliveries listed, the
//! branch changed, the secret rotated, the webhook removed; controls for
//! admins only.

use super::{deliver, hmac_hex};
use crate::both_backends;
use crate::harness::{Backend, TestApp};

/// The secret between `value="` and `"` in the page's one-time field.
fn secret_on(html: &str) -> Option<String> {
    let field = html.find("id=\"new-secret\"")?;
    let start = html[field..].find("value=\"")? + field + "value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

async fn the_webhook_page_shows_the_secret_once_and_the_deliveries(backend: Backend) {
    use crate::web::{follow, get, post, sessions, world};
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let (admin, viewer) = (Some(s.admin.as_str()), Some(s.viewer.as_str()));
    let page_path = format!("/apps/{}/webhook", w.app);

    let none = get(&svc, &page_path, admin).await;
    assert_eq!(none.status, 200);
    assert!(none.html.contains("No webhook") && none.html.contains("webhook-create"));

    let bad = post(&svc, &page_path, admin, &[("branch", "refs/heads/main")]).await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.html.contains("must be a branch name"), "{}", bad.html);

    let made = post(&svc, &page_path, admin, &[("branch", "main")]).await;
    assert_eq!(made.status, 201, "{}", made.html);
    let secret = secret_on(&made.html).expect("the secret is shown");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(made.html.contains(&format!("/hooks/{}", w.app)), "the URL");

    // Shown once: not on the next visit, to anyone.
    for session in [admin, viewer] {
        let again = get(&svc, &page_path, session).await;
        assert_eq!(again.status, 200);
        assert!(
            !again.html.contains(&secret),
            "the secret is shown only once"
        );
        assert!(again.html.contains("No deliveries yet"));
    }
    let viewer_page = get(&svc, &page_path, viewer).await;
    assert!(
        !viewer_page.html.contains("/webhook/rotate"),
        "viewers get no controls"
    );

    // A ping signed with the shown secret is listed with its verdict.
    let body = br#"{"zen":"Design for failure.","hook_id":7}"#.to_vec();
    let headers = vec![
        ("X-GitHub-Event".to_owned(), "ping".to_owned()),
        ("X-GitHub-Delivery".to_owned(), "ui-ping-1".to_owned()),
        (
            "X-Hub-Signature-256".to_owned(),
            format!("sha256={}", hmac_hex(&secret, &body)),
        ),
    ];
    let (status, answer) = deliver(&svc, &w.app, &headers, body).await;
    assert_eq!(status, 200, "{answer}");
    let listed = get(&svc, &page_path, viewer).await;
    assert!(listed.html.contains("ping"), "{}", listed.html);
    assert!(!listed.html.contains("No deliveries yet"));

    let branch = post(
        &svc,
        &format!("{page_path}/branch"),
        admin,
        &[("branch", "release/2")],
    )
    .await;
    assert_eq!(branch.status, 303, "{}", branch.html);
    let shown = follow(&svc, &branch, admin).await;
    assert!(
        shown.html.contains("Pushes to release/2 now deploy."),
        "{}",
        shown.html
    );

    let rotated = post(&svc, &format!("{page_path}/rotate"), admin, &[]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.html);
    let fresh = secret_on(&rotated.html).expect("the new secret is shown");
    assert_ne!(fresh, secret);
    assert!(
        rotated.html.contains("still accepted until"),
        "the grace period is shown"
    );

    let refused = post(
        &svc,
        &format!("{page_path}/rotate"),
        Some(s.deployer.as_str()),
        &[],
    )
    .await;
    assert_eq!(refused.status, 403, "deployers cannot rotate");

    let removed = post(&svc, &format!("{page_path}/delete"), admin, &[]).await;
    assert_eq!(removed.status, 303);
    assert_eq!(removed.location(), format!("/apps/{}", w.app));
    assert!(get(&svc, &page_path, admin)
        .await
        .html
        .contains("No webhook"));
}

both_backends!(the_webhook_page_shows_the_secret_once_and_the_deliveries);
