//! The mesh policy: allow rules from a source (any, a node, an
//! application) to a destination, for a protocol and port range, and the
//! default action for everything else (deny unless the operator chose
//! allow). Every change is audited and raises the mesh version, so agents
//! apply it within a second.

use serde::{Deserialize, Serialize};
use servos_common::protocol::{Policy, PolicyAction, PolicyRule, PortRange, Protocol};

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::mesh_rules::{self, RuleRow};
use crate::store::{self, apps, mesh_nodes, mesh_state, DbConn};

use super::identities::Identities;

/// One end of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Endpoint {
    /// Anything on the mesh.
    Any,
    /// One node (its mesh address).
    Node {
        /// The node's id.
        id: String,
    },
    /// One application (its containers on the mesh).
    App {
        /// The application's id.
        id: String,
    },
}

impl Endpoint {
    fn from_row(kind: &str, reference: Option<&str>) -> Result<Self, ServiceError> {
        match (kind, reference) {
            ("any", None) => Ok(Self::Any),
            ("node", Some(id)) => Ok(Self::Node { id: id.to_owned() }),
            ("app", Some(id)) => Ok(Self::App { id: id.to_owned() }),
            _ => Err(ServiceError::internal(format_args!(
                "a mesh rule has a damaged end ({kind})"
            ))),
        }
    }

    fn to_row(&self) -> (String, Option<String>) {
        match self {
            Self::Any => ("any".into(), None),
            Self::Node { id } => ("node".into(), Some(id.clone())),
            Self::App { id } => ("app".into(), Some(id.clone())),
        }
    }

    /// Refuses an end naming a node or application that does not exist.
    fn check(&self, conn: &mut DbConn, field: &'static str) -> Result<(), ServiceError> {
        let exists = match self {
            Self::Any => true,
            Self::Node { id } => mesh_nodes::find_live(conn, &id.as_str().into())?.is_some(),
            Self::App { id } => apps::find_live(conn, &id.as_str().into())?.is_some(),
        };
        if exists {
            Ok(())
        } else {
            Err(ServiceError::invalid(
                field,
                "names no live node or application",
            ))
        }
    }
}

/// A rule as the API shows and takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// Where traffic comes from.
    pub source: Endpoint,
    /// Where it goes.
    pub destination: Endpoint,
    /// `tcp`, `udp`, `icmp` or `any`.
    #[schema(value_type = String, pattern = "^(tcp|udp|icmp|any)$")]
    pub protocol: String,
    /// First and last port, 1 to 65535 (TCP and UDP only); none: every port.
    #[serde(default)]
    #[schema(value_type = Option<Vec<u16>>, min_items = 2, max_items = 2, minimum = 1)]
    pub ports: Option<[u16; 2]>,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rule {
    /// Its number (its counters are reported under it).
    pub id: i64,
    /// The rule.
    #[serde(flatten)]
    pub rule: NewRule,
}

impl Rule {
    fn from_row(row: RuleRow) -> Result<Self, ServiceError> {
        let ports = match (row.port_first, row.port_last) {
            (Some(first), Some(last)) => Some([
                u16::try_from(first).map_err(ServiceError::internal)?,
                u16::try_from(last).map_err(ServiceError::internal)?,
            ]),
            _ => None,
        };
        Ok(Self {
            id: row.id,
            rule: NewRule {
                source: Endpoint::from_row(&row.src_kind, row.src_ref.as_deref())?,
                destination: Endpoint::from_row(&row.dst_kind, row.dst_ref.as_deref())?,
                protocol: row.protocol,
                ports,
            },
        })
    }
}

fn protocol_of(text: &str) -> Option<Protocol> {
    match text {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "icmp" => Some(Protocol::Icmp),
        "any" => Some(Protocol::Any),
        _ => None,
    }
}

fn validate(rule: &NewRule) -> Result<(), ServiceError> {
    let protocol = protocol_of(&rule.protocol)
        .ok_or_else(|| ServiceError::invalid("protocol", "must be tcp, udp, icmp or any"))?;
    if let Some([first, last]) = rule.ports {
        if !matches!(protocol, Protocol::Tcp | Protocol::Udp) {
            return Err(ServiceError::invalid(
                "ports",
                "only tcp and udp rules have ports",
            ));
        }
        if first == 0 || first > last {
            return Err(ServiceError::invalid(
                "ports",
                "must be [first, last] with 1 <= first <= last <= 65535",
            ));
        }
    }
    Ok(())
}

/// The live rules, oldest first.
pub async fn list(state: &AppState) -> Result<Vec<Rule>, ServiceError> {
    state
        .db(|conn| {
            mesh_rules::list_live(conn)?
                .into_iter()
                .map(Rule::from_row)
                .collect()
        })
        .await
}

/// The default action: `deny` or `allow`.
pub async fn default_action(state: &AppState) -> Result<String, ServiceError> {
    state.db(|conn| Ok(mesh_state::default_action(conn)?)).await
}

/// Adds a rule.
pub async fn create(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    rule: NewRule,
) -> Result<Rule, ServiceError> {
    validate(&rule)?;
    let (rule, version) = state
        .audited(origin, move |conn| {
            rule.source.check(conn, "source")?;
            rule.destination.check(conn, "destination")?;
            let version = mesh_state::bump(conn)?;
            let (src_kind, src_ref) = rule.source.to_row();
            let (dst_kind, dst_ref) = rule.destination.to_row();
            let row = RuleRow {
                id: mesh_rules::next_id(conn)?,
                src_kind,
                src_ref,
                dst_kind,
                dst_ref,
                protocol: rule.protocol.clone(),
                port_first: rule.ports.map(|[first, _]| i32::from(first)),
                port_last: rule.ports.map(|[_, last]| i32::from(last)),
                created_at: store::now(),
                deleted_at: None,
            };
            mesh_rules::insert(conn, &row)?;
            let event = AuditEvent::on(
                caller.actor(),
                "mesh_rule.created",
                TargetType::MeshRule,
                row.id.to_string(),
            )
            .with_fields(vec!["source", "destination", "protocol", "ports"]);
            Ok(((Rule { id: row.id, rule }, version), event))
        })
        .await?;
    state.mesh_watch.saw(version);
    Ok(rule)
}

/// Removes rule `id`.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: i64,
) -> Result<(), ServiceError> {
    let version = state
        .audited(origin, move |conn| {
            if mesh_rules::soft_delete(conn, &id, store::now())? == 0 {
                return Err(ServiceError::NotFound);
            }
            let version = mesh_state::bump(conn)?;
            let event = AuditEvent::on(
                caller.actor(),
                "mesh_rule.deleted",
                TargetType::MeshRule,
                id.to_string(),
            )
            .with_fields(vec!["deleted_at"]);
            Ok((version, event))
        })
        .await?;
    state.mesh_watch.saw(version);
    Ok(())
}

/// Sets the default action: `deny` or `allow`.
pub async fn set_default_action(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    action: String,
) -> Result<(), ServiceError> {
    if action != "deny" && action != "allow" {
        return Err(ServiceError::invalid(
            "default_action",
            "must be deny or allow",
        ));
    }
    let version = state
        .audited(origin, move |conn| {
            mesh_state::set_default_action(conn, &action)?;
            let version = mesh_state::bump(conn)?;
            let event = AuditEvent::on(
                caller.actor(),
                "mesh_policy.updated",
                TargetType::MeshPolicy,
                "default",
            )
            .with_fields(vec!["default_action"]);
            Ok((version, event))
        })
        .await?;
    state.mesh_watch.saw(version);
    Ok(())
}

/// The policy as agents get it: each live rule whose ends still exist,
/// with its ends as identity numbers.
pub fn compiled(conn: &mut DbConn, identities: &Identities) -> Result<Policy, ServiceError> {
    let default_action = match mesh_state::default_action(conn)?.as_str() {
        "allow" => PolicyAction::Allow,
        _ => PolicyAction::Deny,
    };
    let number = |end: &Endpoint| match end {
        Endpoint::Any => Some(0),
        Endpoint::Node { id } => identities.nodes.get(&id.as_str().into()).copied(),
        Endpoint::App { id } => identities.apps.get(&id.as_str().into()).copied(),
    };
    let mut rules = Vec::new();
    for row in mesh_rules::list_live(conn)? {
        let rule = Rule::from_row(row)?;
        let (Some(src), Some(dst)) = (number(&rule.rule.source), number(&rule.rule.destination))
        else {
            continue;
        };
        let Some(protocol) = protocol_of(&rule.rule.protocol) else {
            continue;
        };
        rules.push(PolicyRule {
            id: u32::try_from(rule.id).map_err(ServiceError::internal)?,
            src,
            dst,
            protocol,
            ports: rule
                .rule
                .ports
                .and_then(|[first, last]| PortRange::new(first, last)),
        });
    }
    Ok(Policy {
        default_action,
        rules,
    })
}
