//! Deleting a server, in-process on both backends: refused (409, field
//! `server_ids`, naming the applications) while applications target it,
//! with nothing changed; forced, it is taken out of their servers and each
//! detachment is audited beside the deletion; a server no application
//! targets is deleted as before. The page's form does the same.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::{json, Value};

use crate::apps::{audit_entries, call, fixture, Fixture};
use crate::both_backends;
use crate::harness::{Backend, TestApp};
use crate::web::{follow, post};

/// Creates application `name` targeting `servers`; returns its id.
async fn app_on<S, B>(svc: &S, f: &Fixture, name: &str, servers: &[&str]) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = json!({"name": name, "image": "ghcr.io/acme/web:1", "server_ids": servers,
        "container_port": 8080, "health_check": {"http": {"path": "/up"}}});
    let (status, created) = call(svc, "POST", "/api/v1/apps", &f.who.deployer_token, body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

/// The target servers of application `app`, as the API shows them.
async fn servers_of<S, B>(svc: &S, token: &str, app: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, body) = call(
        svc,
        "GET",
        &format!("/api/v1/apps/{app}"),
        token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["server_ids"].clone()
}

async fn a_targeted_server_is_deleted_only_when_forced(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let admin = f.who.admin_token.as_str();
    let web = app_on(&svc, &f, "web", &[&f.server, &f.other_server]).await;
    let blog = app_on(&svc, &f, "blog", &[&f.server]).await;
    let uri = format!("/api/v1/servers/{}", f.server);
    let (web_before, blog_before) = (
        servers_of(&svc, admin, &web).await,
        servers_of(&svc, admin, &blog).await,
    );

    for query in ["", "?force=false"] {
        let (status, refused) =
            call(&svc, "DELETE", &format!("{uri}{query}"), admin, Value::Null).await;
        assert_eq!(status, 409, "{query}: {refused}");
        assert_eq!(refused["error"], "conflict");
        assert_eq!(refused["field"], "server_ids");
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("2 applications target this server")
                && message.contains(&format!("blog ({blog})"))
                && message.contains(&format!("web ({web})")),
            "{message}"
        );
    }
    let (status, _) = call(&svc, "GET", &uri, admin, Value::Null).await;
    assert_eq!(status, 200, "the server stays");
    assert_eq!(
        servers_of(&svc, admin, &web).await,
        web_before,
        "applications unchanged"
    );
    assert_eq!(servers_of(&svc, admin, &blog).await, blog_before);
    assert!(audit_entries(&svc, admin, "server.deleted")
        .await
        .is_empty());
    assert!(audit_entries(&svc, admin, "app.server_detached")
        .await
        .is_empty());

    let (status, body) = call(
        &svc,
        "DELETE",
        &format!("{uri}?force=true"),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = call(&svc, "GET", &uri, admin, Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(servers_of(&svc, admin, &web).await, json!([f.other_server]));
    assert_eq!(servers_of(&svc, admin, &blog).await, json!([]));
    let deleted = audit_entries(&svc, admin, "server.deleted").await;
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0]["target_id"], f.server.as_str());
    assert_eq!(deleted[0]["fields"], json!(["deleted_at", "apps"]));
    let detached = audit_entries(&svc, admin, "app.server_detached").await;
    let mut listed: Vec<(String, String)> = detached
        .iter()
        .map(|e| {
            assert_eq!(e["target_type"], "app", "{e}");
            assert_eq!(e["fields"], json!(["server_ids"]), "{e}");
            assert_eq!(
                e["request_id"], deleted[0]["request_id"],
                "one request: {e}"
            );
            let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
            (text("target_id"), text("target_name"))
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (blog.clone(), "blog".to_owned()),
        (web.clone(), "web".to_owned()),
    ];
    expected.sort();
    assert_eq!(
        listed, expected,
        "each application detached, by id and name"
    );

    // A server no application targets goes without force, as before.
    let uri = format!("/api/v1/servers/{}", f.builder);
    let (status, body) = call(&svc, "DELETE", &uri, admin, Value::Null).await;
    assert_eq!(status, 204, "{body}");
    let deleted = audit_entries(&svc, admin, "server.deleted").await;
    assert_eq!(deleted.len(), 2);
    assert_eq!(deleted[0]["target_id"], f.builder.as_str());
    assert_eq!(deleted[0]["fields"], json!(["deleted_at"]));
    assert_eq!(
        audit_entries(&svc, admin, "app.server_detached")
            .await
            .len(),
        2
    );
    let (status, _) = call(&svc, "DELETE", &uri, admin, Value::Null).await;
    assert_eq!(status, 404, "deleted once");
}

async fn the_page_refuses_then_deletes_anyway(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let f = fixture(&app, &svc).await;
    let admin = f.who.admin_token.as_str();
    let web = app_on(&svc, &f, "web", &[&f.server]).await;
    let session = Some(f.who.admin_cookie.as_str());
    let path = format!("/servers/{}/delete", f.server);

    let refused = post(&svc, &path, session, &[]).await;
    assert_eq!(refused.status, 303, "{}", refused.html);
    assert_eq!(refused.location(), format!("/servers/{}", f.server));
    let page = follow(&svc, &refused, session).await;
    assert!(
        page.html
            .contains("1 application targets this server: web ("),
        "the flash names the application"
    );
    assert!(
        page.html.contains("name=\"force\""),
        "Delete anyway offered"
    );
    assert_eq!(
        servers_of(&svc, admin, &web).await,
        json!([f.server]),
        "nothing changed"
    );

    let forced = post(&svc, &path, session, &[("force", "on")]).await;
    assert_eq!(forced.status, 303, "{}", forced.html);
    assert_eq!(forced.location(), "/servers");
    let list = follow(&svc, &forced, session).await;
    assert!(
        list.html
            .contains("Server deleted; it was taken out of the servers of web."),
        "{}",
        list.html
    );
    assert_eq!(servers_of(&svc, admin, &web).await, json!([]));
}

both_backends!(
    a_targeted_server_is_deleted_only_when_forced,
    the_page_refuses_then_deletes_anyway
);
