//! The deployment pages in-process: deploying, cancelling and rolling back
//! through forms, the application's history and current version, the list
//! with its filter and pages, a failed job's page with its reason, servers
//! and step log, and which controls each role sees.

use std::time::Duration;

use servos_api::deploy::Engine;

use super::{follow, get, post, queue_deployment, sessions, world, Page};
use crate::both_backends;
use crate::deployments::finished;
use crate::harness::{Backend, TestApp};

/// The deployment id a redirect leads to.
fn deployment_in(page: &Page) -> String {
    page.location()
        .strip_prefix("/deployments/")
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
        .unwrap_or_else(|| panic!("not a deployment page: {:?}", page.location()))
        .to_owned()
}

/// The form posts a page offers, by action.
fn form_actions(html: &str) -> Vec<&str> {
    html.match_indices("method=\"post\" action=\"")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            &rest[..rest.find('"').unwrap_or(0)]
        })
        .collect()
}

async fn deploy_cancel_and_a_failed_job_through_the_pages(backend: Backend) {
    let app = TestApp::with_config(backend, |c| c.deploy.poll = Duration::from_millis(100));
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let deployer = Some(s.deployer.as_str());
    let app_page = format!("/apps/{}", w.app);

    // The world's deployment waits in the queue: the application's page
    // lists it and has no current version yet.
    let shown = get(&svc, &app_page, deployer).await;
    assert_eq!(shown.status, 200, "{}", shown.html);
    assert!(shown.html.contains("Not deployed yet"), "{}", shown.html);
    assert!(shown
        .html
        .contains(&format!("href=\"/deployments/{}\"", w.deployment)));
    assert!(shown.html.contains("badge-pending\">queued<"));
    assert!(form_actions(&shown.html).contains(&format!("{app_page}/deploy").as_str()));

    // Deploying from the page queues another and opens it.
    let queued = post(&svc, &format!("{app_page}/deploy"), deployer, &[]).await;
    assert_eq!(queued.status, 303, "{}", queued.html);
    let second = deployment_in(&queued);
    let page = follow(&svc, &queued, deployer).await;
    assert!(
        page.html
            .contains("Deployment queued: ghcr.io/acme/shop:1.0 with environment version 0."),
        "{}",
        page.html
    );
    assert!(page.html.contains("<title>Deployment of shop"));
    assert!(
        page.html.contains("done\">0</span> of 1 done"),
        "{}",
        page.html
    );
    assert!(page.html.contains("data-server-name=\"web-1\""));
    assert!(page.html.contains("requested by deployer@example.com"));
    assert!(
        page.html.contains(&format!(
            "data-events=\"/api/v1/deployments/{second}/events?after=1\""
        )),
        "a running job's page follows its events after the lines shown"
    );
    let actions = form_actions(&page.html);
    assert!(actions.contains(&format!("/deployments/{second}/cancel").as_str()));
    assert!(
        page.html.contains("id=\"rollback-form\" hidden"),
        "rollback is offered only once it succeeds"
    );

    // Cancelling the queued one ends it at once; a second cancel and a
    // rollback to it are refused with the reason.
    let cancel = format!("/deployments/{}/cancel", w.deployment);
    let cancelled = post(&svc, &cancel, deployer, &[]).await;
    assert_eq!(
        cancelled.location(),
        format!("/deployments/{}", w.deployment)
    );
    let page = follow(&svc, &cancelled, deployer).await;
    assert!(page
        .html
        .contains("Deployment cancelled before it started."));
    assert!(page.html.contains("badge-neutral\">cancelled<"));
    assert!(page
        .html
        .contains("cancelled by deployer@example.com before it started"));
    assert!(
        !page.html.contains("data-events="),
        "an ended job is not followed"
    );
    assert!(!form_actions(&page.html).contains(&cancel.as_str()));
    let again = post(&svc, &cancel, deployer, &[]).await;
    let page = follow(&svc, &again, deployer).await;
    assert!(page
        .html
        .contains("Cancelling failed: this deployment has already ended"));
    let refused = post(
        &svc,
        &format!("/deployments/{}/rollback", w.deployment),
        deployer,
        &[],
    )
    .await;
    let page = follow(&svc, &refused, deployer).await;
    assert!(page
        .html
        .contains("Rolling back failed: only a succeeded deployment can be rolled back to"));

    // A worker fails the other: its server was never commissioned.
    let engine = Engine::start(app.state.clone()).expect("engine");
    let ended = finished(
        &svc,
        &s.who.deployer_token,
        &second,
        Duration::from_secs(30),
    )
    .await;
    drop(engine);
    assert_eq!(ended["state"], "failed", "{ended}");
    let page = get(&svc, &format!("/deployments/{second}"), deployer).await;
    assert!(page.html.contains("badge-bad\">failed<"), "{}", page.html);
    assert!(page.html.contains("done\">1</span> of 1 done"));
    assert!(page.html.contains("commission the server first"));
    assert!(page.html.contains("attempt 1 started by worker"));
    assert!(page
        .html
        .contains("<span class=\"log-server\">web-1</span>"));
    assert!(page.html.contains(">complete<"));
    assert!(form_actions(&page.html)
        .iter()
        .all(|a| !a.starts_with("/deployments/")));

    // The list: newest first, filtered by application, in pages.
    let list = get(&svc, "/deployments", deployer).await;
    assert_eq!(list.status, 200);
    let (newer, older) = (
        list.html.find(&second).expect("listed"),
        list.html.find(&w.deployment).expect("listed"),
    );
    assert!(newer < older, "newest first");
    assert!(list
        .html
        .contains("class=\"active\" aria-current=\"page\">Deployments<"));
    let other = format!("/deployments?app_id={}", uuid::Uuid::new_v4());
    assert!(get(&svc, &other, deployer)
        .await
        .html
        .contains("No deployments of this application yet"));
    let filtered = get(&svc, &format!("/deployments?app_id={}", w.app), deployer).await;
    assert!(filtered.html.contains(&second) && filtered.html.contains(&w.deployment));
    let rest = get(&svc, &format!("/deployments?before={second}"), deployer).await;
    assert!(!rest.html.contains(&format!("/deployments/{second}\"")));
    assert!(rest.html.contains(&w.deployment));
    assert!(rest.html.contains("← Newest"));
    let unknown = format!("/deployments/{}", uuid::Uuid::new_v4());
    assert_eq!(get(&svc, &unknown, deployer).await.status, 404);

    // The dashboard shows them to everyone.
    let dashboard = get(&svc, "/", Some(&s.viewer)).await;
    assert!(dashboard.html.contains("Recent deployments"));
    assert!(dashboard.html.contains(&second));
}

async fn succeeded_deployments_are_current_and_rolled_back_to(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let digest = format!("ghcr.io/acme/shop@sha256:{}", "ab".repeat(32));
    // As a worker would leave it: no server needed to show the pages.
    app.db
        .execute(&format!(
            "UPDATE deployments SET state = 'succeeded', image_digest = '{digest}', \
             started_at = created_at, finished_at = created_at WHERE id = '{id}';
             UPDATE deployment_targets SET state = 'succeeded', total_ms = 2400, docker_ms = 1900, \
             health_wait_ms = 60, drain_ms = 40 WHERE deployment_id = '{id}';",
            id = w.deployment
        ))
        .expect("mark the deployment succeeded");
    let app_page = format!("/apps/{}", w.app);
    let deployment_page = format!("/deployments/{}", w.deployment);
    let rollback = format!("{deployment_page}/rollback");

    let shown = get(&svc, &app_page, Some(&s.deployer)).await;
    assert!(
        shown.html.contains(&format!(
            "Running <a class=\"mono\" href=\"{deployment_page}\" title=\"{digest}\">\
             ghcr.io/acme/shop@sha256:abababababab…</a> with environment version 0"
        )),
        "{}",
        shown.html
    );
    assert!(form_actions(&shown.html).contains(&rollback.as_str()));
    let page = get(&svc, &deployment_page, Some(&s.deployer)).await;
    assert!(page.html.contains("badge-ok\">succeeded<"));
    assert!(page.html.contains("done\">1</span> of 1 done"));
    assert!(page.html.contains("every server runs it"));
    assert!(
        page.html.contains("2.40 s (Docker 1.90 s, ServOS 0.40 s)"),
        "where the server's time went: {}",
        page.html
    );
    assert!(
        page.html.contains("id=\"rollback-form\">"),
        "shown, not hidden"
    );
    assert!(!form_actions(&page.html)
        .iter()
        .any(|a| a.ends_with("/cancel")));

    // Viewers see the same history without a control.
    for path in [&app_page, &deployment_page, &"/deployments".to_owned()] {
        let viewed = get(&svc, path, Some(&s.viewer)).await;
        assert_eq!(viewed.status, 200, "{path}");
        assert_eq!(form_actions(&viewed.html), ["/logout"], "{path}");
        assert!(viewed.html.contains(&w.deployment), "{path}");
    }

    let queued = post(&svc, &rollback, Some(&s.deployer), &[]).await;
    assert_eq!(queued.status, 303, "{}", queued.html);
    let rolled = deployment_in(&queued);
    let page = follow(&svc, &queued, Some(&s.deployer)).await;
    assert!(
        page.html.contains(&format!(
            "Rollback to deployment {} queued: {digest} with environment version 0.",
            &w.deployment[..8]
        )),
        "{}",
        page.html
    );
    assert!(page
        .html
        .contains(&format!("href=\"{deployment_page}\" id=\"rollback-of\"")));
    assert!(page
        .html
        .contains(&format!("rollback to deployment {}", w.deployment)));
    let history = get(&svc, &app_page, Some(&s.viewer)).await;
    assert!(history.html.contains(&rolled));
    assert!(history.html.contains("<span class=\"tag\">rollback</span>"));

    // A later queued deployment does not change what runs.
    let newest = queue_deployment(&svc, &s.who.deployer_token, &w.app).await;
    let shown = get(&svc, &app_page, Some(&s.viewer)).await;
    assert!(shown
        .html
        .contains(&format!("href=\"{deployment_page}\" title=\"{digest}\">")));
    // Lists of applications show what runs and how the newest deployment is doing.
    for path in ["/apps", "/"] {
        let list = get(&svc, path, Some(&s.viewer)).await;
        let row = list
            .html
            .split("<tr>")
            .find(|row| row.contains(&format!("href=\"/apps/{}\"", w.app)))
            .unwrap_or_else(|| panic!("{path} lists the app: {}", list.html));
        assert!(
            row.contains("ghcr.io/acme/shop@sha256:abababababab…"),
            "{path}: {row}"
        );
        assert!(
            row.contains(&format!(
                "href=\"/deployments/{newest}\"><span class=\"badge badge-pending\">queued<"
            )),
            "{path}: {row}"
        );
    }
}

both_backends!(
    deploy_cancel_and_a_failed_job_through_the_pages,
    succeeded_deployments_are_current_and_rolled_back_to
);
