//! Process start-up: logging, master key, database, setup token, and the
//! HTTP(S) server; plus the offline `audit verify` command.

use std::os::unix::fs::DirBuilderExt as _;
use std::process::ExitCode;

use anyhow::Context as _;
use servos_common::master_key::{MasterKey, MASTER_KEY_VAR};

use crate::accounts::setup;
use crate::config::{Config, LogFormat, Settings, TlsFiles};
use crate::http::app::app;
use crate::state::AppState;
use crate::store::{self, sessions};

/// How often expired sessions are swept.
const SESSION_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Initialises tracing (`RUST_LOG` filters, default `info`) and routes
/// panics to the log.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // The surrounding span names what panicked; each catches its own:
        // a request is answered with a generic 500, a deployment is failed.
        tracing::error!(location, "panic");
    }));
}

/// Reads and checks a master key from `var` before anything touches data.
pub fn master_key_from(var: &str) -> anyhow::Result<MasterKey> {
    let raw = std::env::var(var).ok();
    MasterKey::parse(raw.as_deref())
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace(MASTER_KEY_VAR, var)))
}

fn master_key() -> anyhow::Result<MasterKey> {
    master_key_from(MASTER_KEY_VAR)
}

/// Opens the database with the master key from the environment.
pub fn open_state(settings: &Settings) -> anyhow::Result<AppState> {
    let master = master_key()?;
    // Everything ServOS creates (database, WAL, setup token) is private.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let config = Config::from_settings(settings).map_err(anyhow::Error::msg)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    tracing::info!(backend = config.database.backend_name(), "opening database");
    Ok(AppState::open(config, master)?)
}

/// `servos-api serve`.
pub fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let state = open_state(settings)?;
    let config = state.config.clone();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = config
        .public_origin
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{}", config.listen));
    {
        let mut conn = state.pool.get().context("database connection")?;
        if let Some(token) = setup::prepare(&mut conn, &config.data_dir)? {
            tracing::warn!(
                "first run: no admin exists. Create the first admin with POST {url}/api/v1/setup and setup token {} (also in {})",
                token.expose(),
                setup::token_path(&config.data_dir).display()
            );
        }
    }
    tracing::warn!(
        "the master key cannot be recovered: without it every stored secret is lost; keep a backup of {MASTER_KEY_VAR}"
    );
    let runtime = actix_web::rt::System::new();
    runtime.block_on(run_server(state, &url))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_server(state: AppState, url: &str) -> anyhow::Result<()> {
    let config = state.config.clone();
    actix_web::rt::spawn(sweep_sessions(state.clone()));
    actix_web::rt::spawn(crate::mesh::watch::poll_versions(state.clone()));
    let interrupted = state.db(crate::mesh::install::fail_interrupted).await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "agent installs a stopped process was running are marked failed"
        );
    }
    // Runs until the server stops; its running jobs then get the stop grace
    // to end (and one cut then is taken over at once by the next process).
    let _deploys =
        crate::deploy::Engine::start(state.clone()).context("cannot start the deploy workers")?;
    raise_open_files_limit();
    // Every phase of a connection is timed: the TLS handshake (actix-web's
    // 3 s), the first request's head, an idle connection, a closing one;
    // bodies and later heads by `request_body` and the connection watchdog.
    let http = config.http;
    let on_connect = crate::http::connections::on_connect(&state);
    let state_for_health = state.clone();
    let server = actix_web::HttpServer::new(move || app(state.clone()))
        .on_connect(on_connect)
        .client_request_timeout(http.request_timeout)
        .keep_alive(http.keep_alive)
        .client_disconnect_timeout(http.disconnect_timeout)
        .shutdown_timeout(10);
    let server = match &config.tls {
        Some(tls) => server.bind_rustls_0_23(config.listen, tls_config(tls)?),
        None => server.bind(config.listen),
    }
    .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!("ServOS API listening on {url}");
    let Some(address) = config.health_listen else {
        return server.run().await.context("HTTP server failed");
    };
    let health = crate::http::health_listener::bind(state_for_health, address)
        .with_context(|| format!("cannot listen on {address} (SERVOS_HEALTH_LISTEN)"))?;
    tracing::info!("health probes also answered at http://{address}/healthz and /readyz");
    tokio::try_join!(server.run(), health).context("HTTP server failed")?;
    Ok(())
}

/// Raises the soft limit on open files to the hard one (which systemd's
/// `LimitNOFILE` sets): each connection holds two descriptors (its socket
/// and its watchdog's duplicate), and a soft limit of 1,024, common outside
/// systemd, would run out long before connections are refused by address.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(limit = hard, "open files limit raised"),
            Err(e) => tracing::warn!(limit = soft, error = %e, "cannot raise the open files limit"),
        },
        Ok((soft, _)) => tracing::info!(limit = soft, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read the open files limit"),
    }
}

async fn sweep_sessions(state: AppState) {
    let idle = state.config.session_idle_timeout;
    let mut tick = tokio::time::interval(SESSION_SWEEP_EVERY);
    loop {
        tick.tick().await;
        let swept = state
            .db(move |conn| {
                let now = store::now();
                Ok(sessions::delete_expired(conn, now, now - idle)?)
            })
            .await;
        if let Err(e) = swept {
            tracing::warn!(error = %e, "session sweep failed");
        }
    }
}

fn tls_config(files: &TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let certs = rustls_pemfile::certs(&mut read(&files.cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .context("SERVOS_TLS_CERT is not a PEM certificate chain")?;
    let key = rustls_pemfile::private_key(&mut read(&files.key)?.as_slice())
        .context("SERVOS_TLS_KEY is not a PEM private key")?
        .context("SERVOS_TLS_KEY holds no private key")?;
    rustls::ServerConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")
}
