//! The error answers an operation can give because of where it sits in the
//! route table and what it takes, whatever its handler does: the per-IP
//! request and connection limits (health probes are exempt), authentication
//! and roles by tier, the origin check on state-changing methods, the body
//! (its size and its time limit), the query and the path's id, and the
//! database (unavailable, or with no room to write). Handlers document only the answers of their own domain (a taken name, a server
//! that cannot be reached, ...). Every error answers the `ErrorBody`.

use actix_web::http::Method;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, Type};
use utoipa::Modify;

use crate::http::app::MAX_BODY_BYTES;
use crate::http::handlers::health;
use crate::http::routes::Tier;

/// Adds the common error answers to every operation of the route table.
pub struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let table = super::api_routes();
        for (method, path, operation) in super::operations_mut(doc) {
            let Some(spec) = table.get(&(method.clone(), path)) else {
                continue;
            };
            let shape = Shape::of(&method, path, operation);
            let responses = &mut operation.responses.responses;
            for (status, response) in common_errors(spec.tier, &shape) {
                responses
                    .entry(status.to_string())
                    .or_insert(response.into());
            }
        }
    }
}

/// What of an operation decides which errors it can answer.
struct Shape {
    /// A health probe: no per-IP limit applies.
    probe: bool,
    /// Not GET: the origin check applies.
    changes_state: bool,
    /// Takes a JSON body.
    body: bool,
    /// Takes query parameters.
    query: bool,
    /// Names a resource in its path.
    path_id: bool,
}

impl Shape {
    fn of(method: &Method, path: &str, operation: &Operation) -> Self {
        let takes = |place: ParameterIn| {
            operation
                .parameters
                .iter()
                .flatten()
                .any(|parameter| parameter.parameter_in == place)
        };
        Self {
            probe: health::is_probe(method, path),
            changes_state: !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS),
            body: operation.request_body.is_some(),
            query: takes(ParameterIn::Query),
            path_id: takes(ParameterIn::Path),
        }
    }
}

/// The errors an operation of `tier` with `shape` can answer, by status.
fn common_errors(tier: Tier, shape: &Shape) -> Vec<(u16, ResponseBuilder)> {
    let mut errors = Vec::new();
    if !shape.probe {
        errors.push((429, too_many_requests()));
    }
    if matches!(
        tier,
        Tier::Viewer | Tier::Deployer | Tier::Admin | Tier::Agent
    ) {
        errors.push((401, unauthenticated(tier)));
    }
    let role = matches!(tier, Tier::Deployer | Tier::Admin);
    let forbidden = match (role, shape.changes_state) {
        (true, true) => Some("The caller's role is too low, or the request came from another site"),
        (true, false) => Some("The caller's role is too low"),
        (false, true) => Some("The request came from another site (`Origin`, `Sec-Fetch-Site`)"),
        (false, false) => None,
    };
    if let Some(description) = forbidden {
        errors.push((403, error(description)));
    }
    let invalid = match (shape.body, shape.query) {
        (true, true) => Some("The body or a query parameter is invalid"),
        (true, false) => Some(
            "The body is invalid: not `application/json`, not a JSON object, \
             an unknown or missing field, or a field with a value it does not accept",
        ),
        (false, true) => Some("A query parameter is unknown or invalid"),
        (false, false) => None,
    };
    if let Some(description) = invalid {
        errors.push((400, error(description)));
    }
    if shape.body {
        let description = format!("The body is larger than {MAX_BODY_BYTES} bytes");
        errors.push((413, error(&description)));
        errors.push((
            408,
            error("The body did not arrive within the request time limit"),
        ));
    }
    if shape.path_id {
        errors.push((404, error("No such resource")));
    }
    if tier == Tier::Agent {
        errors.push((
            409,
            error("The agent speaks another protocol version (`agent_protocol_mismatch`)"),
        ));
    }
    if needs_database(tier, shape) {
        errors.push((503, database_unavailable()));
        if shape.changes_state {
            errors.push((
                507,
                error(
                    "The data directory's filesystem is full (`storage_full`): \
                     nothing was saved; free space on it and retry",
                ),
            ));
        }
    }
    errors
}

/// Whether an operation reaches the database whatever its handler does:
/// authentication reads it, and so does every public change.
fn needs_database(tier: Tier, shape: &Shape) -> bool {
    match tier {
        Tier::Viewer | Tier::Deployer | Tier::Admin | Tier::Agent => true,
        Tier::Public => shape.changes_state,
        Tier::Blocked => false,
    }
}

/// An error answer: `description`, with the `ErrorBody`.
fn error(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn too_many_requests() -> ResponseBuilder {
    error(
        "Too many requests from this address, too many connections open from it, \
         or too many failed sign-ins",
    )
    .header(
        "Retry-After",
        HeaderBuilder::new()
            .schema(utoipa::openapi::schema::Object::with_type(Type::Integer))
            .description(Some("Seconds until a retry may succeed"))
            .build(),
    )
}

fn database_unavailable() -> ResponseBuilder {
    error("The database is unavailable (`unavailable`), as while it restarts").header(
        "Retry-After",
        HeaderBuilder::new()
            .schema(utoipa::openapi::schema::Object::with_type(Type::Integer))
            .description(Some("Seconds until a retry may succeed"))
            .build(),
    )
}

fn unauthenticated(tier: Tier) -> ResponseBuilder {
    let description = if tier == Tier::Agent {
        "No agent token, or not the token of a live node"
    } else {
        "No session or API token, or one that is unknown, expired or revoked"
    };
    error(description).header(
        "WWW-Authenticate",
        HeaderBuilder::new()
            .schema(utoipa::openapi::schema::Object::with_type(Type::String))
            .build(),
    )
}
