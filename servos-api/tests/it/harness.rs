//! Test harness: a fresh database per test on either backend (on PostgreSQL
//! a clone of a template migrated once), an in-process app, and helpers to
//! act as anonymous, viewer, deployer or admin callers.

mod pg_template;

use std::net::SocketAddr;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{self, TestRequest};
use base64::Engine as _;
use diesel::connection::SimpleConnection as _;
use diesel::Connection as _;
use serde_json::{json, Value};
use servos_api::config::Config;
use servos_api::http::app::app;
use servos_api::state::AppState;
use servos_api::store::DatabaseTarget;
use servos_common::master_key::MasterKey;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both_backends!(name);`
/// expects `async fn name(backend: Backend)` in scope.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name($crate::harness::Backend::Postgres).await
            }
        }
    )*};
}

/// The PostgreSQL server URL the tests create their databases on.
pub fn pg_base_url() -> String {
    std::env::var("SERVOS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "PostgreSQL tests need SERVOS_TEST_PG_URL (a server URL whose user may CREATE DATABASE); \
             `cargo xtask test` installs PostgreSQL if needed and starts a private cluster"
        )
    })
}

fn with_database(base: &str, name: &str) -> String {
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => format!("{base}/{name}"),
    }
}

/// A database of its own for one test, already migrated, dropped afterwards.
pub struct TestDb {
    pub target: DatabaseTarget,
    pub dir: tempfile::TempDir,
    pg_database: Option<String>,
}

impl TestDb {
    /// A migrated database: on SQLite a file the app migrates when it
    /// opens it, on PostgreSQL a clone of the migrated template.
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::empty(backend),
            Backend::Postgres => {
                let template = pg_template::name(&pg_base_url());
                Self::postgres(&format!("TEMPLATE {template}"))
            }
        }
    }

    /// A database with no tables at all (for upgrade tests): on SQLite a
    /// file not made yet, on PostgreSQL a new empty database.
    pub fn empty(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                Self {
                    target: DatabaseTarget::Sqlite(dir.path().join("servos.db")),
                    dir,
                    pg_database: None,
                }
            }
            Backend::Postgres => Self::postgres(""),
        }
    }

    /// A new PostgreSQL database, made with `CREATE DATABASE <name> <options>`.
    fn postgres(options: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = pg_base_url();
        let name = format!("servos_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::PgConnection::establish(&base)
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at SERVOS_TEST_PG_URL: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .expect("create a test database");
        Self {
            target: DatabaseTarget::Postgres(with_database(&base, &name)),
            dir,
            pg_database: Some(name),
        }
    }

    /// The data directory of this test.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Runs raw SQL against the test database (for tamper tests).
    pub fn execute(&self, sql: &str) -> Result<(), diesel::result::Error> {
        match &self.target {
            DatabaseTarget::Postgres(url) => diesel::PgConnection::establish(url)
                .expect("connect")
                .batch_execute(sql),
            DatabaseTarget::Sqlite(path) => {
                diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .expect("connect")
                    .batch_execute(sql)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_database {
            if let Ok(mut admin) = diesel::PgConnection::establish(&pg_base_url()) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A random valid master key, as its base64 text.
pub fn random_master_key() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("rng");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Password used by every helper-created account.
pub const PASSWORD: &str = "correct horse battery staple";

/// An app over a fresh database, with helpers.
pub struct TestApp {
    pub state: AppState,
    pub db: TestDb,
}

/// Default client address of test requests.
pub fn ip(last: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, last], 40000))
}

impl TestApp {
    pub fn new(backend: Backend) -> Self {
        Self::with_config(backend, |_| {})
    }

    pub fn with_config(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new(backend);
        std::fs::create_dir_all(db.data_dir()).expect("data dir");
        let mut config = Config::new(db.data_dir(), db.target.clone());
        config.db_pool_size = 4;
        tweak(&mut config);
        let key = MasterKey::parse(Some(&random_master_key())).expect("key");
        let state = AppState::open(config, key).expect("open app state");
        Self { state, db }
    }

    /// Issues the setup token (as `serve` does at start) and returns it.
    pub fn setup_token(&self) -> String {
        let mut conn = self.state.pool.get().expect("conn");
        servos_api::accounts::setup::prepare(&mut conn, &self.state.config.data_dir)
            .expect("prepare setup")
            .map(|t| t.expose().to_owned())
            .expect("a setup token when no admin exists")
    }

    pub async fn service(
        &self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    > {
        test::init_service(app(self.state.clone())).await
    }
}

/// Sends a request and returns status, headers and JSON (or `Null`).
pub async fn send<S, B>(
    svc: &S,
    req: TestRequest,
) -> (u16, actix_web::http::header::HeaderMap, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let res = match svc.call(req.to_request()).await {
        Ok(res) => res,
        Err(e) => {
            let res = e.error_response();
            let status = res.status().as_u16();
            return (status, res.headers().clone(), Value::Null);
        }
    };
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, headers, json)
}

/// A JSON request from `peer`.
pub fn json_req(method: &str, uri: &str, peer: SocketAddr, body: Value) -> TestRequest {
    request(method, uri, peer).set_json(body)
}

/// A request without body from `peer`.
pub fn request(method: &str, uri: &str, peer: SocketAddr) -> TestRequest {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
    TestRequest::default()
        .method(method)
        .uri(uri)
        .peer_addr(peer)
}

/// The callers the tier tests use.
pub struct Callers {
    pub admin_token: String,
    pub deployer_token: String,
    pub viewer_token: String,
    pub admin_cookie: String,
    pub admin_id: String,
}

/// Completes setup, then creates a deployer and a viewer and a token for each.
pub async fn callers<S, B>(app: &TestApp, svc: &S) -> Callers
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let token = app.setup_token();
    let (status, _, admin) = send(
        svc,
        json_req(
            "POST",
            "/api/v1/setup",
            ip(1),
            json!({"token": token, "email": "admin@example.com", "password": PASSWORD}),
        ),
    )
    .await;
    assert_eq!(status, 201, "setup");
    let admin_cookie = login(svc, "admin@example.com").await;
    let admin_token = create_token(svc, &admin_cookie, "admin").await;
    let mut tokens = Vec::new();
    for role in ["deployer", "viewer"] {
        let email = format!("{role}@example.com");
        let (status, _, _) = send(
            svc,
            json_req(
                "POST",
                "/api/v1/users",
                ip(1),
                json!({"email": email, "password": PASSWORD, "role": role}),
            )
            .insert_header(("Authorization", format!("Bearer {admin_token}"))),
        )
        .await;
        assert_eq!(status, 201, "create {role}");
        let cookie = login(svc, &email).await;
        tokens.push(create_token(svc, &cookie, role).await);
    }
    Callers {
        admin_token,
        deployer_token: tokens[0].clone(),
        viewer_token: tokens[1].clone(),
        admin_cookie,
        admin_id: admin["id"].as_str().expect("admin id").to_owned(),
    }
}

/// Logs in and returns the session cookie value.
pub async fn login<S, B>(svc: &S, email: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let (status, headers, _) = send(
        svc,
        json_req(
            "POST",
            "/api/v1/login",
            ip(1),
            json!({"email": email, "password": PASSWORD}),
        ),
    )
    .await;
    assert_eq!(status, 200, "login {email}");
    session_cookie(&headers).expect("session cookie")
}

/// The session cookie's value from response headers.
pub fn session_cookie(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("servos_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Creates an API token with a session and returns it.
pub async fn create_token<S, B>(svc: &S, cookie: &str, role: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let (status, _, body) = send(
        svc,
        json_req(
            "POST",
            "/api/v1/tokens",
            ip(1),
            json!({"name": format!("{role}-token"), "role": role}),
        )
        .cookie(actix_web::cookie::Cookie::new(
            "servos_session",
            cookie.to_owned(),
        )),
    )
    .await;
    assert_eq!(status, 201, "create {role} token: {body}");
    body["token"].as_str().expect("token").to_owned()
}

/// The `Retry-After` seconds of a 429 response.
pub fn retry_after(headers: &actix_web::http::header::HeaderMap) -> u64 {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds")
}
