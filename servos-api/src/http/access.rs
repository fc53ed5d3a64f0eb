//! Enforces each route's tier before any handler runs: authenticates the
//! caller (bearer API token or session cookie) and checks the role.
//!
//! Fails closed: a path or method missing from the route table is answered
//! here (404/405) and never reaches a handler.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage as _, HttpRequest, ResponseError as _};
use servos_common::protocol;
use servos_common::secret::SecretText;

use crate::accounts::principal::Principal;
use crate::accounts::role::Role;
use crate::accounts::{failures, sessions, tokens};
use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent};
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::http::extract::origin_of;
use crate::http::routes::{Tier, TierTable};
use crate::mesh::agents::{self, AgentNode};
use crate::state::AppState;

/// The middleware function.
pub async fn middleware<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    match authorize(&req).await {
        Ok(Some(Caller::User(principal))) => {
            req.extensions_mut().insert(principal);
        }
        Ok(Some(Caller::Agent(agent))) => {
            req.extensions_mut().insert(agent);
        }
        Ok(None) => {}
        Err(e) => {
            let response = e.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Who a request was authenticated as.
enum Caller {
    /// A user, by session or API token.
    User(Principal),
    /// A node's agent.
    Agent(AgentNode),
}

async fn authorize(req: &ServiceRequest) -> Result<Option<Caller>, ApiError> {
    let (Some(table), Some(state)) = (
        req.app_data::<web::Data<TierTable>>(),
        req.app_data::<web::Data<AppState>>(),
    ) else {
        return Err(ApiError::internal("route table or state missing"));
    };
    let pattern = req.match_pattern().ok_or_else(ApiError::not_found)?;
    let tier = table
        .tier(req.method(), &pattern)
        .map_err(|allowed| match allowed {
            Some(allow) => ApiError::MethodNotAllowed { allow },
            None => ApiError::not_found(),
        })?;
    let required = match tier {
        Tier::Public => return Ok(None),
        Tier::Blocked => return Err(ApiError::Blocked),
        Tier::Agent => {
            return authenticate_agent(req, state)
                .await
                .map(|a| Some(Caller::Agent(a)))
        }
        Tier::Viewer => Role::Viewer,
        Tier::Deployer => Role::Deployer,
        Tier::Admin => Role::Admin,
    };
    let principal = authenticate(req, state).await?;
    if principal.role < required {
        tracing::warn!(
            role = principal.role.as_str(),
            "role too low for this route"
        );
        let event = AuditEvent::on(
            principal.actor(),
            "access.denied",
            TargetType::Route,
            format!("{} {pattern}", req.method()),
        );
        state
            .audited(origin_of(req.request()), move |_| Ok(((), event)))
            .await?;
        return Err(ServiceError::Forbidden.into());
    }
    Ok(Some(Caller::User(principal)))
}

/// An agent's request: the protocol version it speaks must be this API's
/// (`409` otherwise, before any authentication), then its token must be a
/// live node's (`401`, audited and counted, otherwise).
async fn authenticate_agent(req: &ServiceRequest, state: &AppState) -> Result<AgentNode, ApiError> {
    check_agent_protocol(req.request())?;
    let origin = origin_of(req.request());
    if let Some(ip) = &origin.client_ip {
        state.limits.auth_failures.check(ip)?;
    }
    let bearer = bearer_of(req.request()).unwrap_or_default();
    let found = state
        .db(move |conn| Ok(agents::authenticate(conn, bearer.expose())?))
        .await?;
    match found {
        Some(agent) => Ok(agent),
        None => {
            agents::refused(state, &origin).await;
            Err(ServiceError::Unauthenticated.into())
        }
    }
}

/// Refuses a request of an agent that speaks another protocol version.
pub fn check_agent_protocol(req: &HttpRequest) -> Result<(), ApiError> {
    let header = req
        .headers()
        .get(protocol::HEADER)
        .and_then(|v| v.to_str().ok());
    protocol::check_request_header(header).map_err(ApiError::AgentProtocol)
}

/// The bearer token of a request, if it has one.
pub fn bearer_of(req: &HttpRequest) -> Option<SecretText> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| SecretText::new(v.strip_prefix("Bearer ").unwrap_or("").trim().to_owned()))
}

async fn authenticate(req: &ServiceRequest, state: &AppState) -> Result<Principal, ServiceError> {
    let origin = origin_of(req.request());
    if let Some(bearer) = bearer_of(req.request()) {
        if let Some(ip) = &origin.client_ip {
            state.limits.auth_failures.check(ip)?;
        }
        let found = state
            .db(move |conn| Ok(tokens::authenticate(conn, bearer.expose())?))
            .await?;
        return match found {
            Some(principal) => Ok(principal),
            None => {
                failures::record(
                    state,
                    &origin,
                    AuditEvent {
                        actor: Actor::Anonymous,
                        action: "api_token.rejected",
                        target_type: None,
                        target_id: None,
                        fields: Vec::new(),
                    },
                )
                .await;
                Err(ServiceError::Unauthenticated)
            }
        };
    }
    let Some(cookie) = req.cookie(sessions::COOKIE) else {
        return Err(ServiceError::Unauthenticated);
    };
    let idle = state.config.session_idle_timeout;
    let value = cookie.value().to_owned();
    state
        .db(move |conn| Ok(sessions::authenticate(conn, &value, idle)?))
        .await?
        .ok_or(ServiceError::Unauthenticated)
}
