//! Installing the agent on a commissioned server, over its pinned SSH
//! session, as a job with a step log the UI streams: the binary shipped
//! beside the API copied through the channel and its SHA-256 checked on the
//! server, the `servos` user and the state directory made, the server
//! enrolled with a fresh one-time token passed on standard input (never in
//! argv), and the agent started under systemd or its own supervisor.
//! Running it again upgrades the agent in place; an enrolled server keeps
//! its key, address and token.
//!
//! - `remote.rs`: the commands and the unit file.
//! - `steps.rs`: the install itself.

pub mod remote;
mod steps;

use std::path::Path;

use servos_common::pin::SpkiPin;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::config::Config;
use crate::error::ServiceError;
use crate::joblog::{End, JobLog, Line};
use crate::state::AppState;
use crate::store::agent_installs::{self, InstallLogRow, InstallRow};
use crate::store::ids::{InstallId, ServerId};
use crate::store::{self, servers, DbConn};

/// An install and its log.
#[derive(Debug, Clone)]
pub struct Install {
    /// The install.
    pub row: InstallRow,
    /// Its log, in order.
    pub lines: Vec<InstallLogRow>,
}

/// Where agents reach the API and how they check it: its URL and the pin
/// of its certificate's key.
#[derive(Debug, Clone)]
pub struct ApiAnchor {
    /// `https://...`.
    pub url: String,
    /// `SHA256:...`.
    pub pin: String,
}

/// The URL and pin agents enroll against; why not, when the settings do
/// not give them.
pub fn api_anchor(config: &Config) -> Result<ApiAnchor, ServiceError> {
    let url = config.mesh.api_url.clone().ok_or_else(|| {
        ServiceError::conflict(
            "set SERVOS_AGENT_API_URL to the https:// URL servers reach this API at",
        )
    })?;
    let pin = match (&config.mesh.api_pin, &config.tls) {
        (Some(pin), _) => pin
            .parse::<SpkiPin>()
            .map_err(|e| ServiceError::conflict(format!("SERVOS_AGENT_API_PIN: {e}")))?
            .to_string(),
        (None, Some(tls)) => pin_of(&tls.cert)?.to_string(),
        (None, None) => {
            return Err(ServiceError::conflict(
                "agents verify the API's certificate: serve HTTPS (SERVOS_TLS_CERT) or set \
                 SERVOS_AGENT_API_PIN to the pin of the certificate at SERVOS_AGENT_API_URL",
            ))
        }
    };
    Ok(ApiAnchor { url, pin })
}

/// The pin of the first certificate of a PEM file.
fn pin_of(path: &Path) -> Result<SpkiPin, ServiceError> {
    let pem = std::fs::read(path)
        .map_err(|e| ServiceError::internal(format_args!("reading {}: {e}", path.display())))?;
    let cert = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| {
            ServiceError::internal(format_args!("no certificate in {}", path.display()))
        })?;
    SpkiPin::of_certificate(cert.as_ref()).map_err(ServiceError::internal)
}

/// Starts installing the agent on commissioned server `server_id`; the
/// install runs on, its log readable while it does.
pub async fn start(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    server_id: ServerId,
) -> Result<InstallRow, ServiceError> {
    let anchor = api_anchor(&state.config)?;
    let binary = state.config.mesh.agent_binary.clone();
    if !binary.is_file() {
        return Err(ServiceError::conflict(format!(
            "the agent binary {} does not exist; set SERVOS_AGENT_BINARY",
            binary.display()
        )));
    }
    let actor = caller.actor();
    let row = InstallRow {
        id: InstallId::random(),
        server_id: server_id.clone(),
        state: "running".into(),
        reason: None,
        requested_by: actor.label(),
        created_at: store::now(),
        finished_at: None,
    };
    let stored = row.clone();
    state
        .audited(origin.clone(), move |conn| {
            let server = servers::find_live(conn, &server_id)?.ok_or(ServiceError::NotFound)?;
            if server.host_key_fingerprint.is_none() {
                return Err(ServiceError::conflict(
                    "commission the server first: no host key is pinned",
                ));
            }
            if agent_installs::running_on(conn, &server_id)?.is_some() {
                return Err(ServiceError::conflict(
                    "the agent is being installed on this server already",
                ));
            }
            agent_installs::insert(conn, &stored)?;
            let event = AuditEvent::on(
                actor,
                "agent.install_requested",
                TargetType::Server,
                &server_id,
            );
            Ok(((), event))
        })
        .await?;
    let job = steps::InstallJob {
        state: state.clone(),
        origin,
        caller,
        install: row.clone(),
        anchor,
        binary,
    };
    let span = tracing::info_span!(
        "agent_install",
        install_id = %row.id,
        server_id = %row.server_id,
    );
    tokio::spawn(tracing::Instrument::instrument(steps::run(job), span));
    Ok(row)
}

/// One install with its log.
pub async fn get(state: &AppState, id: InstallId) -> Result<Install, ServiceError> {
    state
        .db(move |conn| {
            let row = agent_installs::find(conn, &id)?.ok_or(ServiceError::NotFound)?;
            let lines = agent_installs::lines(conn, &id)?;
            Ok(Install { row, lines })
        })
        .await
}

/// The newest install on a server, if any.
pub async fn last_of_server(
    state: &AppState,
    server_id: ServerId,
) -> Result<Option<InstallRow>, ServiceError> {
    state
        .db(move |conn| Ok(agent_installs::last_of_server(conn, &server_id)?))
        .await
}

/// At start: installs a stopped process was running end as failed (their
/// server is left as far as they got; installing again finishes it).
pub fn fail_interrupted(conn: &mut DbConn) -> Result<usize, ServiceError> {
    Ok(agent_installs::fail_interrupted(
        conn,
        "the API process running the install stopped; install again",
        store::now(),
    )?)
}

/// An install's log, as the event stream reads it.
#[derive(Debug, Clone)]
pub struct InstallLog(pub InstallId);

impl JobLog for InstallLog {
    fn lines_after(
        &self,
        conn: &mut DbConn,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Line>, ServiceError> {
        Ok(agent_installs::lines(conn, &self.0)?
            .into_iter()
            .filter(|row| row.seq > after)
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|row| Line {
                seq: row.seq,
                at: row.at,
                server_id: None,
                text: row.text,
            })
            .collect())
    }

    fn end(&self, conn: &mut DbConn) -> Result<Option<End>, ServiceError> {
        let row = agent_installs::find(conn, &self.0)?.ok_or(ServiceError::NotFound)?;
        Ok((row.state != "running").then_some(End {
            state: row.state,
            reason: row.reason,
        }))
    }
}
