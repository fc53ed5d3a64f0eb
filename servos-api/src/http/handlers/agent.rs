//! `/api/v1/agent/*`: what node agents call (docs/agent-protocol.md).
//! Enrollment takes a one-time enrollment token; the other calls the node's
//! agent token. Every call must carry the agent protocol header of this
//! API's version (`409 agent_protocol_mismatch` otherwise).

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use servos_common::protocol::{EnrollRequest, Heartbeat, KeyRotation, MAX_CONFIG_WAIT_SECS};

use crate::audit::Origin;
use crate::http::access::{bearer_of, check_agent_protocol};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Agent;
use crate::http::json::StrictJson;
use crate::mesh::{agents, enrollment};
use crate::state::AppState;

/// Enrolls this server's node with a one-time enrollment token
/// (`Authorization: Bearer aen_...`): the answer carries the node's id, its
/// agent token (shown once) and its first configuration.
#[utoipa::path(post, path = "/api/v1/agent/enroll", tag = "agent",
    params(("Servos-Agent-Protocol" = u32, Header, description = "The agent protocol version the agent speaks")),
    request_body(content = Object, description = "EnrollRequest (docs/agent-protocol.md)"),
    responses((status = 201, description = "Enrollment (docs/agent-protocol.md)"),
    (status = 401, body = ErrorBody, description = "No enrollment token, or one that is unknown, used or expired"),
    (status = 409, body = ErrorBody, description = "The agent speaks another protocol version, or the node cannot be enrolled")))]
pub async fn enroll(
    state: web::Data<AppState>,
    origin: Origin,
    req: HttpRequest,
    body: StrictJson<EnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    check_agent_protocol(&req)?;
    if let Some(ip) = &origin.client_ip {
        state.limits.auth_failures.check(ip)?;
    }
    let bearer = bearer_of(&req).unwrap_or_default();
    let enrolled = enrollment::enroll(&state, origin, bearer, body.0).await?;
    Ok(HttpResponse::Created().json(enrolled))
}

/// The config long poll's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConfigQuery {
    /// The version the agent has; a newer one is answered at once.
    pub since: Option<u64>,
    /// Seconds to wait for a newer one (0 to 30).
    #[param(maximum = 30)]
    pub wait: Option<u32>,
}

/// The node's configuration when newer than `since`; otherwise waits up to
/// `wait` seconds for a change and answers `204` if none came.
#[utoipa::path(get, path = "/api/v1/agent/config", tag = "agent",
    params(ConfigQuery, ("Servos-Agent-Protocol" = u32, Header, description = "The agent protocol version the agent speaks")),
    responses((status = 200, description = "MeshConfig (docs/agent-protocol.md)"),
    (status = 204, description = "No newer configuration came within `wait` seconds")),
    security(("agent" = [])))]
pub async fn config(
    state: web::Data<AppState>,
    agent: Agent,
    query: web::Query<ConfigQuery>,
) -> Result<HttpResponse, ApiError> {
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_CONFIG_WAIT_SECS {
        return Err(ApiError::invalid(
            "wait",
            format!("must be 0 to {MAX_CONFIG_WAIT_SECS}"),
        ));
    }
    let since = query.since.unwrap_or(0);
    let wait = Duration::from_secs(u64::from(wait));
    Ok(
        match agents::config_after(&state, &agent.0, since, wait).await? {
            Some(config) => HttpResponse::Ok().json(config),
            None => HttpResponse::NoContent().finish(),
        },
    )
}

/// Records the node's heartbeat; answers the configuration version it should have.
#[utoipa::path(post, path = "/api/v1/agent/heartbeat", tag = "agent",
    params(("Servos-Agent-Protocol" = u32, Header, description = "The agent protocol version the agent speaks")),
    request_body(content = Object, description = "Heartbeat (docs/agent-protocol.md)"),
    responses((status = 200, description = "HeartbeatAnswer (docs/agent-protocol.md)")),
    security(("agent" = [])))]
pub async fn heartbeat(
    state: web::Data<AppState>,
    agent: Agent,
    body: StrictJson<Heartbeat>,
) -> Result<HttpResponse, ApiError> {
    let answer = agents::heartbeat(&state, &agent.0, body.0).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Replaces the node's key; the node keeps its address.
#[utoipa::path(post, path = "/api/v1/agent/key", tag = "agent",
    params(("Servos-Agent-Protocol" = u32, Header, description = "The agent protocol version the agent speaks")),
    request_body(content = Object, description = "KeyRotation (docs/agent-protocol.md)"),
    responses((status = 200, description = "MeshConfig (docs/agent-protocol.md)"),
    (status = 409, body = ErrorBody, description = "The agent speaks another protocol version, or another node has this key")),
    security(("agent" = [])))]
pub async fn rotate_key(
    state: web::Data<AppState>,
    origin: Origin,
    agent: Agent,
    body: StrictJson<KeyRotation>,
) -> Result<HttpResponse, ApiError> {
    let config = agents::rotate_key(&state, origin, &agent.0, body.0.public_key).await?;
    Ok(HttpResponse::Ok().json(config))
}
