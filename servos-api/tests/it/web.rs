//! The web UI in-process, on both backends: pages per role, CSRF, viewers
//! without edit controls, forms that keep input and show errors, the
//! deployment pages, and canary secrets that never reach a page. Helpers
//! shared by these tests and the route walk in `tiers.rs` live here.

mod accounts;
mod audit_names;
mod canaries;
mod csrf;
mod deployments;
pub(crate) mod file_secrets;
mod forms;
mod git_apps;
mod pages;
mod session;

use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use serde_json::json;
use servos_api::ui::csrf::{token_for, FORM_COOKIE};

use crate::harness::{callers, ip, json_req, login, send, Callers, TestApp};

/// A page as a browser gets it.
#[derive(Debug)]
pub(crate) struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    /// The `Location` of a redirect, or `""`.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// True when the answer sets cookie `name` (with any value).
    pub fn sets_cookie(&self, name: &str) -> bool {
        self.headers
            .get_all("set-cookie")
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value of cookie `name` this answer sets, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    }

    /// True for an HTML answer.
    pub fn is_html(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    }
}

/// What a test sends besides the path: the session cookie, if any.
pub(crate) fn with_session(req: TestRequest, session: Option<&str>) -> TestRequest {
    match session {
        Some(value) => req.cookie(Cookie::new("servos_session", value.to_owned())),
        None => req,
    }
}

/// Sends `req` and reads the answer as text.
pub(crate) async fn fetch<S, B>(svc: &S, req: TestRequest) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = match svc.call(req.to_request()).await {
        Ok(res) => res,
        Err(e) => {
            let res = e.error_response();
            return Page {
                status: res.status().as_u16(),
                headers: res.headers().clone(),
                html: String::new(),
            };
        }
    };
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    Page {
        status,
        headers,
        html: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `GET path` as the holder of `session` (anonymous when `None`).
pub(crate) async fn get<S, B>(svc: &S, path: &str, session: Option<&str>) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = TestRequest::get()
        .uri(path)
        .peer_addr(ip(7))
        .insert_header(("Accept", "text/html"));
    fetch(svc, with_session(req, session)).await
}

/// Follows a redirect as a browser would: `GET` its `Location` with the
/// session and the flash message cookie the redirect set.
pub(crate) async fn follow<S, B>(svc: &S, redirect: &Page, session: Option<&str>) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    assert_eq!(redirect.status, 303, "not a redirect: {}", redirect.html);
    let mut req = TestRequest::get()
        .uri(redirect.location())
        .peer_addr(ip(7))
        .insert_header(("Accept", "text/html"));
    if let Some(flash) = redirect.cookie("servos_flash") {
        req = req.cookie(Cookie::new("servos_flash", flash));
    }
    fetch(svc, with_session(req, session)).await
}

/// A form POST with exactly the cookies and fields given (no token added).
pub(crate) async fn post_raw<S, B>(
    svc: &S,
    path: &str,
    cookies: &[(&str, &str)],
    fields: &[(&str, &str)],
) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    post_from(svc, ip(8), path, cookies, fields).await
}

/// [`post_raw`] from client address `peer`.
pub(crate) async fn post_from<S, B>(
    svc: &S,
    peer: std::net::SocketAddr,
    path: &str,
    cookies: &[(&str, &str)],
    fields: &[(&str, &str)],
) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = TestRequest::post()
        .uri(path)
        .peer_addr(peer)
        .insert_header(("Accept", "text/html"))
        .set_form(fields);
    for (name, value) in cookies {
        req = req.cookie(Cookie::new(name.to_string(), value.to_string()));
    }
    fetch(svc, req).await
}

/// A form POST as a browser showing the form would send it: the session
/// (or, without one, a pre-session cookie) and its CSRF token.
pub(crate) async fn post<S, B>(
    svc: &S,
    path: &str,
    session: Option<&str>,
    fields: &[(&str, &str)],
) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let form_secret = "test-pre-session-cookie";
    let (cookie, secret) = match session {
        Some(value) => (("servos_session", value), value),
        None => ((FORM_COOKIE, form_secret), form_secret),
    };
    let token = token_for(secret);
    let mut all = vec![("csrf", token.as_str())];
    all.extend_from_slice(fields);
    post_raw(svc, path, &[cookie], &all).await
}

/// Browser sessions of the three roles, beside the API callers.
pub(crate) struct Sessions {
    pub who: Callers,
    pub admin: String,
    pub deployer: String,
    pub viewer: String,
}

/// Completes setup, creates a deployer and a viewer, and signs each in.
pub(crate) async fn sessions<S, B>(app: &TestApp, svc: &S) -> Sessions
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let who = callers(app, svc).await;
    Sessions {
        admin: who.admin_cookie.clone(),
        deployer: login(svc, "deployer@example.com").await,
        viewer: login(svc, "viewer@example.com").await,
        who,
    }
}

/// One resource of each kind, made through the API.
pub(crate) struct World {
    pub key: String,
    pub server: String,
    pub app: String,
    pub registry: String,
    pub git: String,
    /// A queued deployment of the application.
    pub deployment: String,
    /// An agent install on the server (set by tests that need one: installs
    /// need SSH, so they are stored directly).
    pub install: String,
}

async fn created<S, B>(svc: &S, token: &str, path: &str, body: serde_json::Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, _, body) = send(
        svc,
        json_req("POST", path, ip(9), body)
            .insert_header(("Authorization", format!("Bearer {token}"))),
    )
    .await;
    assert_eq!(status, 201, "POST {path}: {body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Queues a deployment of application `app` through the API; returns its id.
pub(crate) async fn queue_deployment<S, B>(svc: &S, token: &str, app: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let path = format!("/api/v1/apps/{app}/deploy");
    let (status, _, body) = send(
        svc,
        json_req("POST", &path, ip(9), json!({}))
            .insert_header(("Authorization", format!("Bearer {token}"))),
    )
    .await;
    assert_eq!(status, 202, "POST {path}: {body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Creates the world as the admin of `sessions`.
pub(crate) async fn world<S, B>(svc: &S, sessions: &Sessions) -> World
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let admin = sessions.who.admin_token.as_str();
    let key = created(
        svc,
        admin,
        "/api/v1/ssh-keys",
        json!({"name": "deploy", "kind": "server"}),
    )
    .await;
    let server = created(
        svc,
        admin,
        "/api/v1/servers",
        json!({"name": "web-1", "address": "192.0.2.10", "user": "deploy", "ssh_key_id": key}),
    )
    .await;
    let registry = created(
        svc,
        admin,
        "/api/v1/registries",
        json!({"name": "ghcr", "host": "ghcr.io", "username": "ci", "password": "registry-pw"}),
    )
    .await;
    let git = created(
        svc,
        admin,
        "/api/v1/git-credentials",
        json!({"name": "forge", "provider": "gitea", "token": "git-token"}),
    )
    .await;
    let app = created(
        svc,
        admin,
        "/api/v1/apps",
        json!({"name": "shop", "image": "ghcr.io/acme/shop:1.0", "registry_id": registry,
            "server_ids": [server], "container_port": 8080,
            "health_check": {"http": {"path": "/up"}}}),
    )
    .await;
    let deployment = queue_deployment(svc, &sessions.who.deployer_token, &app).await;
    World {
        key,
        server,
        app,
        registry,
        git,
        deployment,
        install: String::new(),
    }
}

/// Stores a finished agent install on `server` (an install needs SSH, so
/// page tests store one directly); returns its id.
pub(crate) fn stored_install(app: &TestApp, server: &str) -> String {
    use servos_api::store::agent_installs::{self, InstallLogRow, InstallRow};
    let id = servos_api::store::ids::InstallId::random();
    let now = servos_api::store::now();
    let mut conn = app.state.pool.get().expect("conn");
    let row = InstallRow {
        id: id.clone(),
        server_id: server.into(),
        state: "failed".into(),
        reason: Some("no heartbeat from the agent within 60 s".into()),
        requested_by: "admin@example.com".into(),
        created_at: now,
        finished_at: Some(now),
    };
    agent_installs::insert(&mut conn, &row).expect("store the install");
    let line = InstallLogRow {
        install_id: id.clone(),
        seq: 1,
        at: now,
        text: "connecting over the pinned SSH session".into(),
    };
    agent_installs::append(&mut conn, &line).expect("store a line");
    id.to_string()
}

/// A GET page pattern of the route table with the world's ids in it.
pub(crate) fn concrete(pattern: &str, world: &World) -> String {
    let id = if pattern.starts_with("/servers/") {
        &world.server
    } else if pattern.starts_with("/credentials/ssh-keys/") {
        &world.key
    } else if pattern.starts_with("/apps/") {
        &world.app
    } else if pattern.starts_with("/deployments/") {
        &world.deployment
    } else if pattern.starts_with("/agent-installs/") {
        &world.install
    } else {
        ""
    };
    pattern.replace("{id}", id).replace("{file}", "app.css")
}

/// The CSRF token hidden in a page's forms.
pub(crate) fn token_in(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}
