//! Deleting an application removes it from its servers first: refused
//! while it is being deployed; then its proxy route, containers and file
//! secrets go from every server it ran on, and another application on the
//! same servers keeps serving. A server that cannot be reached keeps the
//! application undeleted (naming that server, in the API's answer and on
//! the page) unless the delete is forced, which is audited with the server
//! left unclean; that server's next check removes what was left.

use std::path::Path;

use serde_json::{json, Value};

use super::unreachable::{link, LinkDown};
use super::{
    containers, create_app, deploy, deployed_web_app, deploys, queue_deploy, set_env,
    through_proxy, web_app, DEPLOY_WITHIN,
};
use crate::apps::call;
use crate::both_backends;
use crate::deployments::finished;
use crate::harness::Backend;
use crate::web::{follow, post};

/// The audit entries of `action` on `target_id`, newest first.
async fn audited<S, B>(svc: &S, admin: &str, action: &str, target_id: &str) -> Vec<Value>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let (status, page) = call(
        svc,
        "GET",
        &format!("/api/v1/audit?action={action}&target_id={target_id}"),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["entries"].as_array().cloned().unwrap_or_default()
}

/// The names of an audit entry's fields.
fn fields(entry: &Value) -> Vec<&str> {
    entry["fields"]
        .as_array()
        .map(|all| all.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

async fn deleting_removes_the_app_from_its_servers(backend: Backend) {
    let (fx, svc) = deploys(backend, 2).await;
    let deployer = fx.who.deployer_token.clone();
    let admin = fx.who.admin_token.clone();
    let gone = create_app(
        &svc,
        &deployer,
        web_app("gone", "servos-test/web:1", &fx.servers),
    )
    .await;
    set_env(
        &svc,
        &deployer,
        &gone,
        json!({"set": {"API_KEY": {"value": "file secret", "file_secret": true}}}),
    )
    .await;
    let kept = create_app(
        &svc,
        &deployer,
        web_app("kept", "servos-test/web:2", &fx.servers),
    )
    .await;
    let first = deploy(&svc, &deployer, &gone).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    let other = deploy(&svc, &deployer, &kept).await;
    assert_eq!(other["state"], "succeeded", "{other}");
    for host in fx.hosts() {
        assert_eq!(
            through_proxy(host, "gone.servos.internal").await,
            Ok((200, "v1".to_owned()))
        );
    }

    // Refused while a deployment of it is queued or running.
    let queued = queue_deploy(&svc, &deployer, &gone).await;
    let uri = format!("/api/v1/apps/{gone}");
    let (status, refused) = call(&svc, "DELETE", &uri, &admin, Value::Null).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("cancel")),
        "{refused}"
    );
    let second = finished(&svc, &deployer, &queued, DEPLOY_WITHIN).await;
    assert_eq!(second["state"], "succeeded", "{second}");

    let (status, body) = call(&svc, "DELETE", &uri, &admin, Value::Null).await;
    assert_eq!(status, 204, "{body}");
    for host in fx.hosts() {
        assert_eq!(
            containers(host, &gone),
            Vec::<String>::new(),
            "{}",
            host.name
        );
        let answer = through_proxy(host, "gone.servos.internal").await;
        assert!(
            !matches!(&answer, Ok((_, body)) if body == "v1"),
            "{} still serves the deleted application: {answer:?}",
            host.name
        );
        assert_eq!(
            through_proxy(host, "kept.servos.internal").await,
            Ok((200, "v2".to_owned())),
            "the other application on {} keeps serving",
            host.name
        );
        assert_eq!(containers(host, &kept).len(), 1);
    }
    for deployment in [&first, &second] {
        for target in deployment["targets"].as_array().expect("targets") {
            let dir = format!(
                "/run/servos/secrets/{}",
                target["id"].as_str().unwrap_or_default()
            );
            assert!(!Path::new(&dir).exists(), "{dir} is left");
        }
    }
    let (status, _) = call(&svc, "GET", &uri, &admin, Value::Null).await;
    assert_eq!(status, 404);
    let (_, listed) = call(&svc, "GET", "/api/v1/apps", &admin, Value::Null).await;
    assert!(!listed.to_string().contains(&gone), "{listed}");
    let entries = audited(&svc, &admin, "app.deleted", &gone).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let recorded = fields(&entries[0]);
    for field in ["deleted_at", "proxy_routes", "containers", "file_secrets"] {
        assert!(recorded.contains(&field), "{field} in {recorded:?}");
    }
    assert!(!recorded.contains(&"forced"));
}

async fn an_unreachable_server_keeps_the_app_unless_forced(backend: Backend) {
    let (fx, svc) = deploys(backend, 2).await;
    let admin = fx.who.admin_token.clone();
    let app_id = deployed_web_app(&svc, &fx, "stranded", "servos-test/web:1").await;
    let (reachable, lost) = (&fx.hosts()[0], &fx.hosts()[1]);
    link(lost, "down");
    let restore = LinkDown(lost);

    let uri = format!("/api/v1/apps/{app_id}");
    let (status, refused) = call(&svc, "DELETE", &uri, &admin, Value::Null).await;
    assert_eq!(status, 502, "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("web-2"), "names the server: {message}");
    assert!(!message.contains("web-1"), "only the failed one: {message}");
    let (status, _) = call(&svc, "GET", &uri, &admin, Value::Null).await;
    assert_eq!(status, 200, "the application stays");
    assert!(audited(&svc, &admin, "app.deleted", &app_id)
        .await
        .is_empty());
    // The page says the same on the application's page.
    let session = fx.who.admin_cookie.clone();
    let refused = post(&svc, &format!("/apps/{app_id}/delete"), Some(&session), &[]).await;
    assert_eq!(refused.location(), format!("/apps/{app_id}"));
    let shown = follow(&svc, &refused, Some(&session)).await;
    assert!(
        shown.html.contains("Deleting failed") && shown.html.contains("web-2"),
        "{}",
        shown.html
    );

    let (status, body) = call(
        &svc,
        "DELETE",
        &format!("{uri}?force=true"),
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = call(&svc, "GET", &uri, &admin, Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(containers(reachable, &app_id), Vec::<String>::new());
    let entries = audited(&svc, &admin, "app.deleted", &app_id).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(fields(&entries[0]).contains(&"forced"), "{entries:?}");
    let left = audited(&svc, &admin, "app.left_on_server", &fx.servers[1]).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(audited(&svc, &admin, "app.left_on_server", &fx.servers[0])
        .await
        .is_empty());

    // Back on the network, the server's next check removes what was left.
    drop(restore);
    assert_eq!(containers(lost, &app_id).len(), 1, "left while away");
    let deployer = fx.who.deployer_token.clone();
    let check = format!("/api/v1/servers/{}/check", fx.servers[1]);
    for round in 1..=2 {
        let (status, checked) = call(&svc, "POST", &check, &deployer, Value::Null).await;
        assert_eq!(status, 200, "{checked}");
        assert_eq!(checked["status"], "ready", "{checked}");
        assert_eq!(checked["error"], Value::Null, "check {round}: {checked}");
        assert_eq!(containers(lost, &app_id), Vec::<String>::new());
        let answer = through_proxy(lost, "stranded.servos.internal").await;
        assert!(
            !matches!(&answer, Ok((_, body)) if body == "v1"),
            "still serves the deleted application: {answer:?}"
        );
        let cleaned = audited(&svc, &admin, "app.leftovers_removed", &app_id).await;
        assert_eq!(cleaned.len(), 1, "after check {round}: {cleaned:?}");
        let recorded = fields(&cleaned[0]);
        assert!(
            recorded.contains(&"containers") && recorded.contains(&"proxy_routes"),
            "{cleaned:?}"
        );
    }
}

both_backends!(
    deleting_removes_the_app_from_its_servers,
    an_unreachable_server_keeps_the_app_unless_forced
);
