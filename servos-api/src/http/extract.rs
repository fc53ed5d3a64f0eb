//! Extractors that make a handler's access visible in its signature
//! (`Viewer`, `Admin`, `Agent`) and give it the audit origin of the request.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};

use crate::accounts::principal::Principal;
use crate::accounts::role::Role;
use crate::audit::Origin;
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::http::request_context::RequestContext;
use crate::mesh::agents::AgentNode;

/// The audit origin (request id, client IP) of a request.
pub fn origin_of(req: &HttpRequest) -> Origin {
    req.extensions()
        .get::<RequestContext>()
        .map(|c| Origin {
            request_id: Some(c.request_id.clone()),
            client_ip: Some(c.client_ip.clone()),
        })
        .unwrap_or_default()
}

impl FromRequest for Origin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(origin_of(req)))
    }
}

fn principal_with(req: &HttpRequest, required: Role) -> Result<Principal, ApiError> {
    let principal = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(ApiError::unauthenticated)?;
    if principal.role < required {
        return Err(ServiceError::Forbidden.into());
    }
    Ok(principal)
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(principal_with(req, $role).map($name))
            }
        }
    };
}

role_extractor!(
    /// Any authenticated caller.
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// A deployer or admin.
    Deployer,
    Role::Deployer
);
role_extractor!(
    /// An admin.
    Admin,
    Role::Admin
);

/// A node's agent, authenticated by its agent token.
#[derive(Debug, Clone)]
pub struct Agent(pub AgentNode);

impl FromRequest for Agent {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<AgentNode>()
                .cloned()
                .map(Agent)
                .ok_or_else(ApiError::unauthenticated),
        )
    }
}
