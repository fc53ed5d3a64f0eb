//! A bug that panics inside a running deployment fails that deployment
//! with a reason, after removing what it had started on its server; the
//! worker that ran it lives on, and the application deploys again at once.

use super::{containers, create_app, deploy, deploys, web_app};
use crate::both_backends;
use crate::harness::Backend;

async fn a_panicking_job_fails_cleanly_and_its_worker_lives_on(backend: Backend) {
    let (fx, svc) = deploys(backend, 1).await;
    let engine = fx.engine.as_ref().expect("this process runs workers");
    let workers = fx.app.state.config.deploy.workers;
    assert_eq!(engine.workers_alive(), workers);
    let token = &fx.who.deployer_token;
    let app_id = create_app(
        &svc,
        token,
        web_app("panics", "servos-test/web:1", &fx.servers),
    )
    .await;

    // The container has started when the bug strikes, before any switch.
    fx.app.state.failpoints.arm("deploy.container_started", 1);
    let failed = deploy(&svc, token, &app_id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the deploy engine failed unexpectedly"),
        "{failed}"
    );
    assert_eq!(failed["targets"][0]["state"], "failed", "{failed}");
    let host = &fx.hosts()[0];
    assert_eq!(
        containers(host, &app_id),
        Vec::<String>::new(),
        "the started container is removed"
    );
    assert_eq!(engine.workers_alive(), workers, "no worker died");

    let deployed = deploy(&svc, token, &app_id).await;
    assert_eq!(deployed["state"], "succeeded", "{deployed}");
    assert_eq!(containers(host, &app_id).len(), 1);
    assert_eq!(engine.workers_alive(), workers);
}

both_backends!(a_panicking_job_fails_cleanly_and_its_worker_lives_on);
