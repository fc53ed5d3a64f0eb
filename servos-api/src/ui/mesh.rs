//! The mesh page: nodes with their address, backend and last heartbeat,
//! each node's peers with handshake age and traffic, the topology picture,
//! and the policy (rules with their live counters, the default action and
//! what it denied), with the forms admins change them with.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::apps;
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::mesh::apps::{self as mesh_apps, MeshApp};
use crate::mesh::counters::Totals;
use crate::mesh::nodes::{self, Node};
use crate::mesh::policy::{self, Endpoint, NewRule, Rule};
use crate::state::AppState;
use crate::store::ids::{AppId, NodeId};

use super::chrome::Chrome;
use super::flash::{failure, Flash};
use super::form::Form;
use super::topology::{self, TopoLink, TopoNode, TopoRule};
use super::views;

/// A node as the page lists it.
#[derive(Debug)]
struct NodeItem {
    id: String,
    server_id: String,
    name: String,
    address: String,
    backend: String,
    version: String,
    heartbeat: String,
    revoked: bool,
    peers: Vec<PeerItem>,
}

/// One peer of a node, as its last heartbeat saw it.
#[derive(Debug)]
struct PeerItem {
    name: String,
    handshake: String,
    class: &'static str,
    traffic: String,
}

/// A rule with its counters.
#[derive(Debug)]
struct RuleItem {
    id: i64,
    source: String,
    destination: String,
    allows: String,
    packets: u64,
    bytes: String,
}

/// A choice of a rule's end in the form.
#[derive(Debug)]
struct EndChoice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "mesh.html")]
struct MeshPage<'a> {
    chrome: &'a Chrome,
    nodes: Vec<NodeItem>,
    topology: String,
    default_action: String,
    rules: Vec<RuleItem>,
    denied_packets: u64,
    denied_bytes: String,
    ends: Vec<EndChoice>,
    apps: Vec<MeshApp>,
}

/// Seconds since `node` last heard from `peer_key`, as of now.
fn handshake_age(node: &Node, peer_key: &str) -> Option<u64> {
    let status = node.status.as_ref()?;
    let peer = status
        .peers
        .iter()
        .find(|p| p.public_key.to_base64() == peer_key)?;
    let since_report = node
        .last_heartbeat_at
        .map(|at| (chrono::Utc::now() - at).num_seconds().max(0))
        .and_then(|s| u64::try_from(s).ok())?;
    peer.last_handshake_secs.map(|age| age + since_report)
}

fn allows(rule: &NewRule) -> String {
    match rule.ports {
        Some([first, last]) if first == last => format!("{}/{first}", rule.protocol),
        Some([first, last]) => format!("{}/{first}-{last}", rule.protocol),
        None => format!("{} (all ports)", rule.protocol),
    }
}

/// `GET /mesh`.
pub async fn show(state: web::Data<AppState>, chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("mesh");
    let nodes = nodes::list(&state).await?;
    let rules = policy::list(&state).await?;
    let default_action = policy::default_action(&state).await?;
    let app_names: HashMap<String, String> = apps::list(&state)
        .await?
        .into_iter()
        .map(|app| (app.id.to_string(), app.spec.name))
        .collect();
    let node_names: HashMap<String, String> = nodes
        .iter()
        .map(|n| (n.id.to_string(), n.name.clone()))
        .collect();
    let end_name = |end: &Endpoint| match end {
        Endpoint::Any => "any".to_owned(),
        Endpoint::Node { id } => format!(
            "node {}",
            node_names.get(id).map_or(id.as_str(), String::as_str)
        ),
        Endpoint::App { id } => format!(
            "app {}",
            app_names.get(id).map_or(id.as_str(), String::as_str)
        ),
    };

    let totals = Totals::of(&nodes);
    let rule_items = rules
        .iter()
        .map(|rule: &Rule| {
            let counted = totals.rule(rule.id);
            RuleItem {
                id: rule.id,
                source: end_name(&rule.rule.source),
                destination: end_name(&rule.rule.destination),
                allows: allows(&rule.rule),
                packets: counted.packets,
                bytes: views::bytes(i64::try_from(counted.bytes).unwrap_or(i64::MAX)),
            }
        })
        .collect();

    let index: HashMap<&NodeId, usize> =
        nodes.iter().enumerate().map(|(i, n)| (&n.id, i)).collect();
    let mut links = Vec::new();
    for (a, node) in nodes.iter().enumerate() {
        for (b, other) in nodes.iter().enumerate().skip(a + 1) {
            if node.revoked || other.revoked {
                continue;
            }
            let age = [
                handshake_age(node, &other.public_key),
                handshake_age(other, &node.public_key),
            ]
            .into_iter()
            .flatten()
            .min();
            links.push(TopoLink {
                a,
                b,
                handshake_age: age,
            });
        }
    }
    let topo_rules = rules
        .iter()
        .filter_map(|rule| match (&rule.rule.source, &rule.rule.destination) {
            (Endpoint::Node { id: from }, Endpoint::Node { id: to }) => Some(TopoRule {
                from: *index.get(&NodeId::from(from.as_str()))?,
                to: *index.get(&NodeId::from(to.as_str()))?,
                label: allows(&rule.rule),
            }),
            _ => None,
        })
        .collect::<Vec<_>>();
    let topo_nodes: Vec<TopoNode> = nodes
        .iter()
        .map(|n| TopoNode {
            name: n.name.clone(),
            address: n.address.clone().unwrap_or_default(),
            healthy: !n.revoked && n.last_heartbeat_at.is_some(),
        })
        .collect();
    let picture = topology::render(&topo_nodes, &links, &topo_rules);

    let mut ends = vec![EndChoice {
        value: "any".to_owned(),
        label: "any".to_owned(),
    }];
    ends.extend(nodes.iter().map(|n| EndChoice {
        value: format!("node:{}", n.id),
        label: format!("node {}", n.name),
    }));
    let mut apps_sorted: Vec<(&String, &String)> = app_names.iter().collect();
    apps_sorted.sort_by(|a, b| a.1.cmp(b.1));
    ends.extend(apps_sorted.into_iter().map(|(id, name)| EndChoice {
        value: format!("app:{id}"),
        label: format!("app {name}"),
    }));

    let node_items = nodes.iter().map(|node| node_item(node, &nodes)).collect();
    chrome.ok(&MeshPage {
        chrome: &chrome,
        nodes: node_items,
        topology: picture,
        default_action,
        rules: rule_items,
        denied_packets: totals.default_denied.packets,
        denied_bytes: views::bytes(i64::try_from(totals.default_denied.bytes).unwrap_or(i64::MAX)),
        ends,
        apps: mesh_apps::list(&state).await?,
    })
}

fn node_item(node: &Node, all: &[Node]) -> NodeItem {
    let peers = all
        .iter()
        .filter(|other| other.id != node.id && !other.revoked)
        .map(|other| {
            let age = handshake_age(node, &other.public_key);
            let traffic = node
                .status
                .as_ref()
                .and_then(|s| {
                    s.peers
                        .iter()
                        .find(|p| p.public_key.to_base64() == other.public_key)
                })
                .map_or_else(
                    || "no traffic reported".to_owned(),
                    |p| {
                        format!(
                            "↓ {} ↑ {}",
                            views::bytes(i64::try_from(p.rx_bytes).unwrap_or(i64::MAX)),
                            views::bytes(i64::try_from(p.tx_bytes).unwrap_or(i64::MAX))
                        )
                    },
                );
            PeerItem {
                name: other.name.clone(),
                handshake: age.map_or_else(|| "never".to_owned(), |s| format!("{s} s ago")),
                class: topology::link_class(age),
                traffic,
            }
        })
        .collect();
    NodeItem {
        id: node.id.to_string(),
        server_id: node.server_id.to_string(),
        name: node.name.clone(),
        address: node
            .address
            .clone()
            .unwrap_or_else(|| "outside the mesh CIDR".to_owned()),
        backend: node.facts.backend.clone(),
        version: node.facts.agent_version.clone(),
        heartbeat: node
            .last_heartbeat_at
            .map_or_else(|| "never".to_owned(), |at| views::when(at.naive_utc())),
        revoked: node.revoked,
        peers,
    }
}

/// A rule's end from the form's `kind:id` value.
fn end_of(value: &str) -> Result<Endpoint, ServiceError> {
    match value.split_once(':') {
        None if value == "any" => Ok(Endpoint::Any),
        Some(("node", id)) => Ok(Endpoint::Node { id: id.to_owned() }),
        Some(("app", id)) => Ok(Endpoint::App { id: id.to_owned() }),
        _ => Err(ServiceError::invalid(
            "source",
            "pick any, a node or an application",
        )),
    }
}

fn port(form: &Form, name: &'static str) -> Result<Option<u16>, ServiceError> {
    form.optional(name)
        .map(|text| {
            text.parse::<u16>()
                .map_err(|_| ServiceError::invalid(name, "must be a port number, 1 to 65535"))
        })
        .transpose()
}

/// The rule the form describes.
fn rule_of(form: &Form) -> Result<NewRule, ServiceError> {
    let ports = match (port(form, "port_first")?, port(form, "port_last")?) {
        (Some(first), Some(last)) => Some([first, last]),
        (Some(only), None) | (None, Some(only)) => Some([only, only]),
        (None, None) => None,
    };
    Ok(NewRule {
        source: end_of(&form.text("source"))?,
        destination: end_of(&form.text("destination"))?,
        protocol: form.text("protocol"),
        ports,
    })
}

/// `POST /mesh/rules`.
pub async fn create_rule(
    state: web::Data<AppState>,
    chrome: Chrome,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let made = match rule_of(&form) {
        Ok(rule) => policy::create(&state, chrome.origin.clone(), chrome.principal()?, rule).await,
        Err(e) => Err(e),
    };
    let flash = match made {
        Ok(rule) => Flash::success(format!(
            "Rule #{} added; agents apply it within a second.",
            rule.id
        )),
        Err(e) => failure("Adding the rule", e)?,
    };
    Ok(chrome.redirect("/mesh", flash))
}

/// `POST /mesh/rules/{id}/delete`.
pub async fn delete_rule(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<i64>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let done = policy::delete(&state, chrome.origin.clone(), chrome.principal()?, id).await;
    let flash = match done {
        Ok(()) => Flash::success(format!("Rule #{id} removed.")),
        Err(e) => failure("Removing the rule", e)?,
    };
    Ok(chrome.redirect("/mesh", flash))
}

/// `POST /mesh/default`.
pub async fn set_default(
    state: web::Data<AppState>,
    chrome: Chrome,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let action = form.text("default_action");
    let done = policy::set_default_action(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        action.clone(),
    )
    .await;
    let flash = match done {
        Ok(()) => Flash::success(format!("Traffic no rule allows is now {action}ed.")),
        Err(e) => failure("Changing the default", e)?,
    };
    Ok(chrome.redirect("/mesh", flash))
}

/// `POST /apps/{id}/mesh`: `join` or `leave` the mesh, back to the
/// application's page.
pub async fn app_membership(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (origin, caller) = (chrome.origin.clone(), chrome.principal()?);
    let flash = match form.text("action").as_str() {
        "join" => match mesh_apps::join(&state, origin, caller, id.clone()).await {
            Ok(app) => Flash::success(format!(
                "{} is on the mesh (block {}); its next deploy puts its containers there.",
                app.name, app.mesh_index
            )),
            Err(e) => failure("Joining the mesh", e)?,
        },
        "leave" => match mesh_apps::leave(&state, origin, caller, id.clone()).await {
            Ok(()) => Flash::success(
                "The application left the mesh; rules naming it no longer match. \
                 Its next deploy takes its containers off the mesh network.",
            ),
            Err(e) => failure("Leaving the mesh", e)?,
        },
        _ => failure(
            "Changing the mesh membership",
            ServiceError::invalid("action", "must be join or leave"),
        )?,
    };
    Ok(chrome.redirect(&format!("/apps/{id}"), flash))
}

/// `POST /mesh/nodes/{id}/remove`.
pub async fn remove_node(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<NodeId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let done = nodes::remove(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
    )
    .await;
    let flash = match done {
        Ok(()) => Flash::success("Node removed from the mesh."),
        Err(e) => failure("Removing the node", e)?,
    };
    Ok(chrome.redirect("/mesh", flash))
}

/// `POST /mesh/nodes/{id}/revoke`.
pub async fn revoke_node(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<NodeId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let done = nodes::revoke(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
    )
    .await;
    let flash = match done {
        Ok(()) => Flash::success("The node's token is revoked; it left every peer list."),
        Err(e) => failure("Revoking the token", e)?,
    };
    Ok(chrome.redirect("/mesh", flash))
}
