//! The OpenAPI document, generated from the handlers' annotations and
//! completed from the route table: each operation is named after its
//! handler, documents the errors its tier and shape make possible
//! (`statuses.rs`), and links what it creates to the operations on it
//! (`links.rs`). Request types spell the server's checks in their schemas,
//! with `fields.rs` for the shared ones. Tests check the document against
//! the route table.

pub mod fields;
mod links;
mod statuses;

use std::collections::HashMap;

use actix_web::http::Method;
use serde_json::Value;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;
use utoipa::OpenApi;

use crate::http::error::ErrorBody;
use crate::http::handlers::{
    agent, agent_installs, apps, audit, deployments, env_sets, git_credentials, health, me, mesh,
    openapi, registries, servers, session, setup, ssh_keys, tokens, users, webhooks,
};
use crate::http::routes::{self, RouteSpec, Surface};
use fields::ServiceFields;
use links::ResourceLinks;
use statuses::CommonErrors;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "ServOS API", description = "Self-hosted deployment control plane."),
    paths(
        health::healthz, health::readyz, openapi::document,
        setup::complete, session::login, session::logout,
        me::show, me::change_password,
        users::list, users::create, users::show, users::update, users::delete,
        tokens::list, tokens::create, tokens::revoke,
        servers::list, servers::create, servers::show, servers::delete, servers::commission, servers::check,
        servers::confirm_host_key, servers::reset_host_key,
        ssh_keys::list, ssh_keys::create, ssh_keys::show, ssh_keys::delete, ssh_keys::reveal,
        registries::list, registries::create, registries::show, registries::delete, registries::reveal,
        git_credentials::list, git_credentials::create, git_credentials::show, git_credentials::delete, git_credentials::reveal,
        env_sets::list, env_sets::create, env_sets::show, env_sets::update, env_sets::delete, env_sets::versions, env_sets::reveal,
        apps::list, apps::create, apps::show, apps::update, apps::delete, apps::show_env, apps::change_env, apps::reveal_env,
        deployments::deploy, deployments::list, deployments::show, deployments::cancel, deployments::rollback, deployments::events,
        webhooks::deliver, webhooks::show, webhooks::create, webhooks::update, webhooks::rotate, webhooks::delete,
        mesh::list_nodes, mesh::show_node, mesh::remove_node, mesh::revoke_node,
        mesh::list_apps, mesh::join_app, mesh::leave_app,
        mesh::policy, mesh::create_rule, mesh::set_default, mesh::delete_rule, mesh::issue_enrollment_token,
        agent::enroll, agent::config, agent::heartbeat, agent::rotate_key,
        agent_installs::start, agent_installs::show, agent_installs::events,
        audit::list, audit::export_csv,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes, &ServiceFields, &OperationIds, &CommonErrors, &ResourceLinks),
)]
pub struct ApiDoc;

/// The document as JSON. utoipa 5 writes the fields of a link in snake case
/// (`operation_id`, `request_body`); clients read them as the specification
/// spells them (`operationId`, `requestBody`).
pub fn json() -> serde_json::Result<Value> {
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    let links = operations
        .filter_map(|operation| operation.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links")?.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
    Ok(doc)
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("svs_ API token")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "agent",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("agt_ agent token")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::accounts::sessions::COOKIE,
            ))),
        );
    }
}

/// Names every operation after its handler in the route table
/// (`apps.show`), so that operation ids are unique and links can name them.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let table = api_routes();
        for (method, path, operation) in operations_mut(doc) {
            if let Some(spec) = table.get(&(method, path)) {
                operation.operation_id = Some(operation_id(spec));
            }
        }
    }
}

/// The operation id of a route: its handler's path with dots (`apps.show`).
fn operation_id(spec: &RouteSpec) -> String {
    spec.handler.replace("::", ".")
}

/// The API's rows of the route table, by method and path.
fn api_routes() -> HashMap<(Method, &'static str), RouteSpec> {
    routes::table()
        .into_iter()
        .filter(|spec| spec.surface == Surface::Api)
        .map(|spec| ((spec.method.clone(), spec.path), spec))
        .collect()
}

/// Every operation of the document with its method and path.
fn operations_mut(
    doc: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (Method, &str, &mut Operation)> {
    doc.paths.paths.iter_mut().flat_map(|(path, item)| {
        let PathItem {
            get,
            put,
            post,
            delete,
            patch,
            ..
        } = item;
        [
            (Method::GET, get),
            (Method::PUT, put),
            (Method::POST, post),
            (Method::DELETE, delete),
            (Method::PATCH, patch),
        ]
        .into_iter()
        .filter_map(move |(method, operation)| {
            operation
                .as_mut()
                .map(|operation| (method, path.as_str(), operation))
        })
    })
}
