//! `/api/v1/mesh/*`: the mesh's nodes, applications and policy, and
//! enrollment tokens of servers (`/api/v1/servers/{id}/enrollment-tokens`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, Origin};
use crate::http::error::ApiError;
use crate::http::extract::{Admin, Viewer};
use crate::http::json::StrictJson;
use crate::mesh::apps::{self as mesh_apps, MeshApp};
use crate::mesh::counters::Totals;
use crate::mesh::enrollment;
use crate::mesh::nodes::{self, Node};
use crate::mesh::policy::{self, Endpoint, NewRule, Rule};
use crate::state::AppState;
use crate::store::ids::{AppId, NodeId, ServerId};
use servos_common::protocol::TrafficCounter;

/// Every node of the mesh.
#[utoipa::path(get, path = "/api/v1/mesh/nodes", tag = "mesh", responses((status = 200, body = [Node])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list_nodes(
    state: web::Data<AppState>,
    _caller: Viewer,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(nodes::list(&state).await?))
}

/// One node.
#[utoipa::path(get, path = "/api/v1/mesh/nodes/{id}", tag = "mesh",
    params(("id" = String, Path, description = "Node id")), responses((status = 200, body = Node)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show_node(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<NodeId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(nodes::get(&state, id.into_inner()).await?))
}

/// Removes a node: it leaves every peer list, its address is freed and its
/// agent's token stops working.
#[utoipa::path(delete, path = "/api/v1/mesh/nodes/{id}", tag = "mesh",
    params(("id" = String, Path, description = "Node id")),
    responses((status = 204, description = "Removed")), security(("session" = []), ("bearer" = [])))]
pub async fn remove_node(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<NodeId>,
) -> Result<HttpResponse, ApiError> {
    nodes::remove(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a node's agent token: it leaves every peer list until the
/// server is enrolled again.
#[utoipa::path(post, path = "/api/v1/mesh/nodes/{id}/revoke", tag = "mesh",
    params(("id" = String, Path, description = "Node id")),
    responses((status = 204, description = "Revoked")), security(("session" = []), ("bearer" = [])))]
pub async fn revoke_node(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<NodeId>,
) -> Result<HttpResponse, ApiError> {
    nodes::revoke(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The mesh policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Policy)]
pub struct PolicyView {
    /// What traffic no rule allows gets: `deny` or `allow`.
    #[schema(pattern = "^(deny|allow)$")]
    pub default_action: String,
    /// The allow rules.
    pub rules: Vec<RuleView>,
    /// Packets no rule matched that the default action dropped, summed over
    /// the nodes' last reports.
    pub denied_packets: u64,
    /// Their bytes.
    pub denied_bytes: u64,
}

/// A stored rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Rule)]
pub struct RuleView {
    /// Its number (its counters are reported under it).
    pub id: i64,
    /// Where traffic comes from.
    pub source: Endpoint,
    /// Where it goes.
    pub destination: Endpoint,
    /// `tcp`, `udp`, `icmp` or `any`.
    #[schema(pattern = "^(tcp|udp|icmp|any)$")]
    pub protocol: String,
    /// First and last port (TCP and UDP only); none: every port.
    #[schema(value_type = Option<Vec<u16>>, min_items = 2, max_items = 2, minimum = 1)]
    pub ports: Option<[u16; 2]>,
    /// Packets it let through, summed over the nodes' last reports (a
    /// packet between two nodes counts at both).
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl RuleView {
    fn of(Rule { id, rule }: Rule, counted: TrafficCounter) -> Self {
        Self {
            id,
            source: rule.source,
            destination: rule.destination,
            protocol: rule.protocol,
            ports: rule.ports,
            packets: counted.packets,
            bytes: counted.bytes,
        }
    }
}

/// The policy: its default action and rules.
#[utoipa::path(get, path = "/api/v1/mesh/policies", tag = "mesh", responses((status = 200, body = PolicyView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn policy(state: web::Data<AppState>, _caller: Viewer) -> Result<HttpResponse, ApiError> {
    let totals = Totals::of(&nodes::list(&state).await?);
    Ok(HttpResponse::Ok().json(PolicyView {
        default_action: policy::default_action(&state).await?,
        rules: policy::list(&state)
            .await?
            .into_iter()
            .map(|rule| {
                let counted = totals.rule(rule.id);
                RuleView::of(rule, counted)
            })
            .collect(),
        denied_packets: totals.default_denied.packets,
        denied_bytes: totals.default_denied.bytes,
    }))
}

/// Adds an allow rule; agents apply it within a second.
#[utoipa::path(post, path = "/api/v1/mesh/policies", tag = "mesh", request_body = NewRule,
    responses((status = 201, body = RuleView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create_rule(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<NewRule>,
) -> Result<HttpResponse, ApiError> {
    let rule = policy::create(&state, origin, admin.0, body.0).await?;
    Ok(HttpResponse::Created().json(RuleView::of(rule, TrafficCounter::default())))
}

/// Removes a rule.
#[utoipa::path(delete, path = "/api/v1/mesh/policies/{id}", tag = "mesh",
    params(("id" = i64, Path, description = "Rule number")),
    responses((status = 204, description = "Removed")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete_rule(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    policy::delete(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The default action.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultAction {
    /// `deny` or `allow`.
    #[schema(pattern = "^(deny|allow)$")]
    pub default_action: String,
}

/// Sets what traffic no rule allows gets.
#[utoipa::path(put, path = "/api/v1/mesh/policies/default", tag = "mesh", request_body = DefaultAction,
    responses((status = 204, description = "Set")),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_default(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<DefaultAction>,
) -> Result<HttpResponse, ApiError> {
    policy::set_default_action(&state, origin, admin.0, body.0.default_action).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new enrollment token: shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = IssuedToken)]
pub struct IssuedTokenView {
    /// The token (`aen_...`), for `servos-agent join --token-stdin`.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Makes a one-time enrollment token for the server (valid 15 minutes).
#[utoipa::path(post, path = "/api/v1/servers/{id}/enrollment-tokens", tag = "mesh",
    params(("id" = String, Path, description = "Server id")), responses((status = 201, body = IssuedTokenView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn issue_enrollment_token(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<ServerId>,
) -> Result<HttpResponse, ApiError> {
    let actor: Actor = admin.0.actor();
    let issued = enrollment::issue_token(&state, origin, actor, id.into_inner()).await?;
    Ok(HttpResponse::Created().json(IssuedTokenView {
        token: issued.token.expose().to_owned(),
        expires_at: issued.expires_at.and_utc(),
    }))
}

/// The applications on the mesh.
#[utoipa::path(get, path = "/api/v1/mesh/apps", tag = "mesh", responses((status = 200, body = [MeshApp])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list_apps(
    state: web::Data<AppState>,
    _caller: Viewer,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(mesh_apps::list(&state).await?))
}

/// Puts the application on the mesh (nothing changes for a member): it
/// gets its block of every node's container subnet, and its next deploy
/// runs its containers there.
#[utoipa::path(put, path = "/api/v1/mesh/apps/{id}", tag = "mesh",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = MeshApp)),
    security(("session" = []), ("bearer" = [])))]
pub async fn join_app(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let app = mesh_apps::join(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(app))
}

/// Takes the application off the mesh: rules naming it stop matching at
/// once; its next deploy takes its containers off the mesh network.
#[utoipa::path(delete, path = "/api/v1/mesh/apps/{id}", tag = "mesh",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 204, description = "Left")),
    security(("session" = []), ("bearer" = [])))]
pub async fn leave_app(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    mesh_apps::leave(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
