//! Deployments through the API, without servers to reach: queueing (with
//! its refusals), listing with filters and pages, cancel, rollback rules,
//! the event stream of a finished deployment, the audit entries, and a
//! worker that fails a job whose server cannot be used, with the reason.
//! `deploy_lab.rs` deploys to real hosts.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::{json, Value};
use servos_api::deploy::Engine;

use crate::apps::{call, fixture};
use crate::both_backends;
use crate::harness::{ip, request, Backend, TestApp};

/// Reads the whole body of a request (an event stream that ends).
pub(crate) async fn read_all<S, B>(svc: &S, uri: &str, token: &str) -> (u16, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = request("GET", uri, ip(3))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .to_request();
    let res = svc.call(req).await.unwrap_or_else(|e| panic!("{uri}: {e}"));
    let status = res.status().as_u16();
    let body = actix_web::test::read_body(res).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn simple_app(name: &str, servers: &[&str]) -> Value {
    json!({"name": name, "image": "servos-test/web:1", "server_ids": servers,
        "container_port": 8080, "health_check": {"http": {"path": "/"}}})
}

fn audit_actions(app: &TestApp, prefix: &str) -> Vec<String> {
    let mut conn = app.state.pool.get().expect("conn");
    servos_api::store::audit_log::chain_batch(&mut conn, 0, 100_000)
        .expect("audit")
        .into_iter()
        .filter(|e| e.action.starts_with(prefix))
        .map(|e| e.action)
        .collect()
}

async fn deployments_are_queued_listed_and_cancelled(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let (deployer, viewer) = (&f.who.deployer_token, &f.who.viewer_token);

    let (status, lonely) = call(
        &svc,
        "POST",
        "/api/v1/apps",
        deployer,
        simple_app("lonely", &[]),
    )
    .await;
    assert_eq!(status, 201, "{lonely}");
    let uri = format!("/api/v1/apps/{}/deploy", lonely["id"].as_str().expect("id"));
    let (status, body) = call(&svc, "POST", &uri, deployer, Value::Null).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let missing = format!("/api/v1/apps/{}/deploy", uuid::Uuid::new_v4());
    let (status, _) = call(&svc, "POST", &missing, deployer, Value::Null).await;
    assert_eq!(status, 404);

    let (_, web) = call(
        &svc,
        "POST",
        "/api/v1/apps",
        deployer,
        simple_app("web", &[&f.server, &f.other_server]),
    )
    .await;
    let web_id = web["id"].as_str().expect("id").to_owned();
    let (_, other) = call(
        &svc,
        "POST",
        "/api/v1/apps",
        deployer,
        simple_app("other", &[&f.server]),
    )
    .await;
    let other_id = other["id"].as_str().expect("id").to_owned();
    let deploy = |id: &str| format!("/api/v1/apps/{id}/deploy");
    let (status, _) = call(&svc, "POST", &deploy(&web_id), viewer, Value::Null).await;
    assert_eq!(status, 403, "viewers do not deploy");

    let mut ids = Vec::new();
    for app_id in [&web_id, &other_id, &web_id] {
        let (status, queued) = call(&svc, "POST", &deploy(app_id), deployer, Value::Null).await;
        assert_eq!(status, 202, "{queued}");
        assert_eq!(queued["state"], "queued");
        assert_eq!(queued["image"], "servos-test/web:1");
        assert_eq!(queued["env_version"], 0);
        assert_eq!(
            queued["requested_by"],
            "token deployer-token (deployer@example.com)"
        );
        ids.push(queued["id"].as_str().expect("id").to_owned());
    }
    let (status, shown) = call(
        &svc,
        "GET",
        &format!("/api/v1/deployments/{}", ids[0]),
        viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let targets = shown["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t["state"] == "pending"));

    let (status, page) = call(
        &svc,
        "GET",
        "/api/v1/deployments?limit=2",
        viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let listed: Vec<&str> = page["deployments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()], "newest first");
    assert!(page["deployments"][0].get("targets").is_none());
    let next = page["next_before"].as_str().expect("a next page");
    let (_, rest) = call(
        &svc,
        "GET",
        &format!("/api/v1/deployments?limit=2&before={next}"),
        viewer,
        Value::Null,
    )
    .await;
    assert_eq!(rest["deployments"][0]["id"], ids[0].as_str());
    assert!(rest["next_before"].is_null());
    let (_, filtered) = call(
        &svc,
        "GET",
        &format!("/api/v1/deployments?app_id={other_id}"),
        viewer,
        Value::Null,
    )
    .await;
    assert_eq!(filtered["deployments"].as_array().map(Vec::len), Some(1));
    let (status, _) = call(
        &svc,
        "GET",
        "/api/v1/deployments?limit=0",
        viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &svc,
        "GET",
        "/api/v1/deployments?colour=red",
        viewer,
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "unknown parameters are refused");

    let cancel = format!("/api/v1/deployments/{}/cancel", ids[2]);
    let (status, cancelled) = call(&svc, "POST", &cancel, deployer, Value::Null).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(
        cancelled["reason"],
        "cancelled by token deployer-token (deployer@example.com)"
    );
    let (status, _) = call(&svc, "POST", &cancel, deployer, Value::Null).await;
    assert_eq!(status, 409, "an ended deployment cannot be cancelled");
    let (status, body) = call(
        &svc,
        "POST",
        &format!("/api/v1/deployments/{}/rollback", ids[2]),
        deployer,
        Value::Null,
    )
    .await;
    assert_eq!(
        status, 409,
        "only a succeeded deployment is a rollback target: {body}"
    );

    let (status, events) = read_all(
        &svc,
        &format!("/api/v1/deployments/{}/events", ids[2]),
        viewer,
    )
    .await;
    assert_eq!(status, 200);
    assert!(events.contains("event: log\ndata: {\"seq\":1,"), "{events}");
    assert!(events.contains("before it started"), "{events}");
    assert!(events.ends_with("event: end\ndata: {\"state\":\"cancelled\",\"reason\":\"cancelled by token deployer-token (deployer@example.com)\"}\n\n"), "{events}");
    let (_, resumed) = read_all(
        &svc,
        &format!("/api/v1/deployments/{}/events?after=1", ids[2]),
        viewer,
    )
    .await;
    assert!(
        !resumed.contains("\"seq\":1,") && resumed.contains("\"seq\":2,"),
        "{resumed}"
    );
    let (status, _) = read_all(
        &svc,
        &format!("/api/v1/deployments/{}/events", uuid::Uuid::new_v4()),
        viewer,
    )
    .await;
    assert_eq!(status, 404);

    assert_eq!(
        audit_actions(&app, "deployment."),
        [
            "deployment.requested",
            "deployment.requested",
            "deployment.requested",
            "deployment.cancel_requested"
        ]
    );
}

/// Waits until deployment `id` has ended; returns it.
pub(crate) async fn finished<S, B>(svc: &S, token: &str, id: &str, within: Duration) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let deadline = Instant::now() + within;
    loop {
        let (status, shown) = call(
            svc,
            "GET",
            &format!("/api/v1/deployments/{id}"),
            token,
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{shown}");
        if ["succeeded", "failed", "cancelled"]
            .contains(&shown["state"].as_str().unwrap_or_default())
        {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id} still {} after {within:?}: {shown}",
            shown["state"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_worker_fails_a_job_whose_server_is_not_commissioned(backend: Backend) {
    let app = TestApp::with_config(backend, |c| c.deploy.poll = Duration::from_millis(100));
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let deployer = &f.who.deployer_token;
    let (_, web) = call(
        &svc,
        "POST",
        "/api/v1/apps",
        deployer,
        simple_app("web", &[&f.server]),
    )
    .await;
    let uri = format!("/api/v1/apps/{}/deploy", web["id"].as_str().expect("id"));
    let (_, queued) = call(&svc, "POST", &uri, deployer, Value::Null).await;
    let id = queued["id"].as_str().expect("id").to_owned();
    let engine = Engine::start(app.state.clone()).expect("engine");
    let ended = finished(&svc, deployer, &id, Duration::from_secs(30)).await;
    drop(engine);
    assert_eq!(ended["state"], "failed", "{ended}");
    assert_eq!(ended["attempt"], 1);
    let reason = ended["reason"].as_str().expect("reason");
    assert!(
        reason.contains("web-1: cannot connect: commission the server first"),
        "{reason}"
    );
    assert_eq!(ended["targets"][0]["state"], "failed");
    let (_, events) = read_all(&svc, &format!("/api/v1/deployments/{id}/events"), deployer).await;
    assert!(events.contains("attempt 1 started by worker"), "{events}");
    assert!(events.contains("\"state\":\"failed\""), "{events}");
    assert_eq!(
        audit_actions(&app, "deployment."),
        ["deployment.requested", "deployment.failed"]
    );
}

both_backends!(
    deployments_are_queued_listed_and_cancelled,
    a_worker_fails_a_job_whose_server_is_not_commissioned
);
