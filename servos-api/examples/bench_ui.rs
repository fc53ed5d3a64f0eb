//! Web UI render benchmark: the server-side time to answer each main page
//! (database reads, template rendering and the whole middleware stack,
//! in-process, no network) with 100 applications on 10 servers, 1,000
//! finished deployments (two servers and a dozen log lines each) and 1,000
//! audit entries, on SQLite and (when `SERVOS_BENCH_PG_URL` is set)
//! PostgreSQL.
//!
//! Run with `cargo run --release -p servos-api --example bench_ui`.

use std::time::{Duration, Instant};

use actix_web::cookie::Cookie;
use actix_web::test::{self, TestRequest};
use anyhow::{bail, Context as _};
use servos_api::accounts::principal::{Credential, Principal};
use servos_api::accounts::role::Role;
use servos_api::accounts::{sessions, setup};
use servos_api::apps::health::{HealthCheckSpec, HttpProbe};
use servos_api::apps::{self, NewApp};
use servos_api::audit::target::TargetType;
use servos_api::audit::{AuditEvent, Origin};
use servos_api::config::Config;
use servos_api::credentials::ssh_keys::{self, KeyKind, KeySource};
use servos_api::http::app::app;
use servos_api::servers::{self, NewServer};
use servos_api::state::AppState;
use servos_api::store::deployment_logs::{self, LogRow};
use servos_api::store::deployment_targets::{self, TargetRow, TargetTimings};
use servos_api::store::deployments::{self, DeploymentRow};
use servos_api::store::ids::{AppId, DeploymentId, ServerId, TargetId};
use servos_api::store::states::{DeploymentState, TargetState};
use servos_api::store::{self, DatabaseTarget, DbConn};
use servos_common::master_key::MasterKey;
use servos_common::secret::SecretText;

const APPS: usize = 100;
const SERVERS: usize = 10;
const AUDIT_ENTRIES: usize = 1_000;
const DEPLOYMENTS: usize = 1_000;
/// Log lines per server of a seeded deployment.
const LOG_LINES: usize = 6;
const ROUNDS: usize = 200;
const PASSWORD: &str = "a benchmark password";

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("temp dir")?;
    let mut targets = vec![(
        "sqlite",
        DatabaseTarget::Sqlite(scratch.path().join("bench.db")),
    )];
    if let Ok(url) = std::env::var("SERVOS_BENCH_PG_URL") {
        targets.push(("postgres", DatabaseTarget::Postgres(url)));
    }
    println!(
        "{APPS} applications on {SERVERS} servers, {DEPLOYMENTS} deployments, {AUDIT_ENTRIES} audit entries; {ROUNDS} requests per page, in-process"
    );
    println!(
        "{:<10} {:<12} {:>9} {:>9} {:>9} {:>9}",
        "backend", "page", "min ms", "p50 ms", "p95 ms", "KiB"
    );
    for (name, target) in targets {
        let (state, seeded) = seeded(scratch.path(), target).await?;
        let cookie = login(&state).await?;
        let svc = test::init_service(app(state.clone())).await;
        let pages = [
            ("dashboard", "/".to_owned()),
            ("apps list", "/apps".to_owned()),
            ("app", format!("/apps/{}", seeded.app)),
            ("deployments", "/deployments".to_owned()),
            ("deployment", format!("/deployments/{}", seeded.deployment)),
            ("audit log", "/audit".to_owned()),
        ];
        for (page, path) in pages {
            let path = path.as_str();
            let mut times = Vec::with_capacity(ROUNDS);
            let mut size = 0;
            for round in 0..ROUNDS + 10 {
                let req = TestRequest::get()
                    .uri(path)
                    .peer_addr(([127, 0, 0, 1], 40000 + (round % 1000) as u16).into())
                    .cookie(Cookie::new(sessions::COOKIE, cookie.clone()))
                    .to_request();
                let started = Instant::now();
                let res = test::call_service(&svc, req).await;
                let status = res.status();
                let body = test::read_body(res).await;
                let took = started.elapsed();
                if !status.is_success() {
                    bail!("GET {path} answered {status}");
                }
                size = body.len();
                if round >= 10 {
                    times.push(took);
                }
            }
            times.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "{name:<10} {page:<12} {:>9.2} {:>9.2} {:>9.2} {:>9.1}",
                ms(times[0]),
                ms(times[ROUNDS / 2]),
                ms(times[ROUNDS * 95 / 100]),
                size as f64 / 1024.0
            );
        }
    }
    Ok(())
}

/// What the pages measured are about: one application and its newest
/// deployment.
struct Seeded {
    app: AppId,
    deployment: DeploymentId,
}

/// A fresh database with the admin, servers, applications, deployments and
/// audit entries.
async fn seeded(
    dir: &std::path::Path,
    target: DatabaseTarget,
) -> anyhow::Result<(AppState, Seeded)> {
    let data = dir.join(format!("data-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data)?;
    let mut config = Config::new(data.clone(), target);
    config.rate_limit.requests = 1_000_000;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let key = MasterKey::parse(Some(&base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        bytes,
    )))?;
    let state = AppState::open(config, key).context("open the database")?;
    let token = {
        let mut conn = state.pool.get()?;
        setup::prepare(&mut conn, &data)?.context("a setup token")?
    };
    let origin = Origin::default();
    let admin = setup::complete(
        &state,
        origin.clone(),
        token,
        "bench@example.com",
        SecretText::new(PASSWORD.into()),
    )
    .await?;
    let principal = Principal {
        user_id: admin.id.clone(),
        email: admin.email.clone(),
        role: Role::Admin,
        via: Credential::Session {
            id_hash: String::new(),
        },
    };
    let key = ssh_keys::create(
        &state,
        origin.clone(),
        principal.clone(),
        "bench",
        KeyKind::Server,
        KeySource::Generate,
    )
    .await?;
    let mut server_ids = Vec::new();
    let mut app_ids = Vec::new();
    for i in 0..SERVERS {
        let new = NewServer {
            name: format!("web-{i}"),
            address: format!("192.0.2.{}", i + 1),
            port: 22,
            user: "deploy".into(),
            ssh_key_id: key.id.clone(),
            roles: vec!["run".into()],
            labels: Default::default(),
        };
        server_ids.push(
            servers::create(&state, origin.clone(), principal.clone(), new)
                .await?
                .id,
        );
    }
    for i in 0..APPS {
        let new = NewApp {
            name: format!("app-{i:03}"),
            image: Some(format!("registry.example.com/team/app-{i}:1.{i}.0")),
            git: None,
            registry_id: None,
            server_ids: vec![
                server_ids[i % SERVERS].to_string(),
                server_ids[(i + 1) % SERVERS].to_string(),
            ],
            container_port: 8080,
            health_check: HealthCheckSpec {
                http: Some(HttpProbe {
                    path: "/healthz".into(),
                }),
                command: None,
                interval_secs: 10,
                timeout_secs: 5,
                retries: 3,
            },
            restart_policy: "unless-stopped".into(),
            limits: Default::default(),
            labels: Default::default(),
            domain: Some(format!("app-{i}.example.com")),
        };
        app_ids.push(
            apps::create(&state, origin.clone(), principal.clone(), new)
                .await?
                .id,
        );
    }
    let deployment = {
        let mut conn = state.pool.get()?;
        seed_deployments(&mut conn, &app_ids, &server_ids)?
    };
    let written = {
        let mut conn = state.pool.get()?;
        servos_api::store::audit_log::last(&mut conn)?.map_or(0, |row| row.seq as usize)
    };
    for _ in written..AUDIT_ENTRIES {
        let event = AuditEvent::on(
            principal.actor(),
            "app.updated",
            TargetType::App,
            uuid::Uuid::new_v4().to_string(),
        )
        .with_fields(vec!["image"]);
        state
            .audited(origin.clone(), move |_| Ok(((), event)))
            .await?;
    }
    let app = app_ids.first().context("no application")?.clone();
    Ok((state, Seeded { app, deployment }))
}

/// Stores [`DEPLOYMENTS`] finished deployments spread over the
/// applications (every tenth failed on its second server), each with its
/// targets and log; returns the id of the newest one of the first
/// application.
fn seed_deployments(
    conn: &mut DbConn,
    app_ids: &[AppId],
    server_ids: &[ServerId],
) -> anyhow::Result<DeploymentId> {
    let start = store::now() - chrono::Duration::days(30);
    let mut newest = DeploymentId::from("");
    store::tx::write(conn, |conn| -> anyhow::Result<()> {
        for n in 0..DEPLOYMENTS {
            let app = n % app_ids.len();
            let at = start + chrono::Duration::minutes(n as i64 * 30);
            let failed = n % 10 == 9;
            let id = DeploymentId::random();
            let digest = format!("registry.example.com/team/app-{app}@sha256:{n:064x}");
            deployments::insert(
                conn,
                &DeploymentRow {
                    id: id.clone(),
                    app_id: app_ids[app].clone(),
                    image: format!("registry.example.com/team/app-{app}:1.{n}.0"),
                    image_digest: Some(digest.clone()),
                    env_version: (n / app_ids.len()) as i64,
                    state: if failed {
                        DeploymentState::Failed
                    } else {
                        DeploymentState::Succeeded
                    },
                    reason: failed.then(|| "web-1: the health check failed 3 times".to_owned()),
                    rollback_of: None,
                    requested_by: "system".into(),
                    cancel_requested: false,
                    worker: None,
                    lease_until: None,
                    attempt: 1,
                    created_at: at,
                    started_at: Some(at),
                    finished_at: Some(at + chrono::Duration::seconds(40)),
                },
            )?;
            let servers = [
                &server_ids[app % server_ids.len()],
                &server_ids[(app + 1) % server_ids.len()],
            ];
            let mut seq = 0;
            for (i, server) in servers.into_iter().enumerate() {
                let target_failed = failed && i == 1;
                deployment_targets::insert(
                    conn,
                    &TargetRow {
                        id: TargetId::random(),
                        deployment_id: id.clone(),
                        server_id: server.clone(),
                        state: if target_failed {
                            TargetState::Failed
                        } else {
                            TargetState::Succeeded
                        },
                        container: Some(format!("servos-app-{app}-{n}")),
                        host_port: Some(32768 + n as i32 % 1000),
                        image_digest: Some(digest.clone()),
                        reason: target_failed.then(|| "the health check failed 3 times".to_owned()),
                        started_at: Some(at),
                        finished_at: Some(at + chrono::Duration::seconds(40)),
                        updated_at: at,
                        timings: TargetTimings {
                            total_ms: Some(2_400),
                            docker_ms: Some(1_900),
                            health_wait_ms: Some(60),
                            drain_ms: Some(40),
                        },
                    },
                )?;
                for line in 0..LOG_LINES {
                    seq += 1;
                    deployment_logs::append(
                        conn,
                        &LogRow {
                            deployment_id: id.clone(),
                            seq,
                            server_id: Some(server.clone()),
                            at: at + chrono::Duration::seconds(seq),
                            text: format!("step {line}: docker pull registry.example.com/team/app-{app}:1.{n}.0"),
                        },
                    )?;
                }
            }
            if app == 0 {
                newest = id;
            }
        }
        Ok(())
    })?;
    Ok(newest)
}

/// A session cookie for the admin.
async fn login(state: &AppState) -> anyhow::Result<String> {
    let (cookie, _) = sessions::login(
        state,
        Origin::default(),
        "bench@example.com",
        SecretText::new(PASSWORD.into()),
    )
    .await?;
    Ok(cookie.expose().to_owned())
}
