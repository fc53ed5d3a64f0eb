//! The audit trail: who did what to which resource, written in the same
//! transaction as the change, append-only and HMAC-chained.

pub mod chain;
pub mod export;
pub mod names;
pub mod read;
pub mod target;
pub mod verify;

use std::borrow::Cow;

use serde::Serialize;

use crate::store::audit_log::{self, AuditRow};
use crate::store::{self, tx, DbConn};
use chain::AuditChain;
use target::TargetType;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user.
    User {
        /// User id.
        id: String,
        /// Email.
        email: String,
    },
    /// A script or CI job with an API token.
    ApiToken {
        /// Token id.
        id: String,
        /// Token name and owner.
        label: String,
    },
    /// A node's agent, with its agent token.
    Agent {
        /// The node's id.
        node_id: String,
        /// The server it runs on.
        server: String,
    },
    /// A verified webhook delivery.
    Webhook {
        /// The application whose webhook it is.
        app_id: String,
        /// The provider that sent it (`github`, ...).
        provider: String,
    },
    /// ServOS itself.
    System,
    /// An unauthenticated caller (failed logins, setup).
    Anonymous,
}

impl Actor {
    /// Who acted, as people read it (an email, a token's name, `system`).
    pub fn label(&self) -> String {
        match self {
            Self::User { email, .. } => email.clone(),
            Self::ApiToken { label, .. } => format!("token {label}"),
            Self::System => "system".into(),
            Self::Agent { server, .. } => format!("agent of {server}"),
            Self::Webhook { provider, .. } => format!("{provider} webhook"),
            Self::Anonymous => "anonymous".into(),
        }
    }

    fn parts(&self) -> (&'static str, Option<String>, Option<String>) {
        match self {
            Self::User { id, email } => ("user", Some(id.clone()), Some(email.clone())),
            Self::ApiToken { id, label } => ("api_token", Some(id.clone()), Some(label.clone())),
            Self::Agent { node_id, server } => {
                ("agent", Some(node_id.clone()), Some(server.clone()))
            }
            Self::Webhook { app_id, provider } => {
                ("webhook", Some(app_id.clone()), Some(provider.clone()))
            }
            Self::System => ("system", None, None),
            Self::Anonymous => ("anonymous", None, None),
        }
    }
}

/// Where a change came from: the request that caused it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The request id (also in the logs and the `X-Request-Id` header).
    pub request_id: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
}

/// One thing that happened, before it is chained and stored.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Who.
    pub actor: Actor,
    /// What, `resource.verb` (`user.created`, `session.login_failed`).
    pub action: &'static str,
    /// Type of the resource acted on.
    pub target_type: Option<TargetType>,
    /// Id of the resource acted on.
    pub target_id: Option<String>,
    /// Names of the fields that changed or were shown (`env.DATABASE_URL`
    /// for a variable); never their values.
    pub fields: Vec<Cow<'static, str>>,
}

impl AuditEvent {
    /// An event on a resource.
    pub fn on(
        actor: Actor,
        action: &'static str,
        target_type: TargetType,
        target_id: impl AsRef<str>,
    ) -> Self {
        Self {
            actor,
            action,
            target_type: Some(target_type),
            target_id: Some(target_id.as_ref().to_owned()),
            fields: Vec::new(),
        }
    }

    /// Records which fields changed.
    pub fn with_fields(mut self, fields: Vec<&'static str>) -> Self {
        self.fields = fields.into_iter().map(Cow::Borrowed).collect();
        self
    }

    /// Records one more field by a name made at run time (a variable's).
    pub fn with_field(mut self, name: String) -> Self {
        self.fields.push(Cow::Owned(name));
        self
    }
}

/// Appends `event` to the chain. Call inside the write transaction of the
/// change it records, so both commit or neither does.
pub fn append(
    conn: &mut DbConn,
    chain: &AuditChain,
    origin: &Origin,
    event: AuditEvent,
) -> store::DbResult<AuditRow> {
    tx::serialize(conn, tx::LockPoint::AuditChain)?;
    let (seq, prev_hash) = match audit_log::last(conn)? {
        Some(last) => (last.seq + 1, last.hash),
        None => (1, chain::GENESIS.to_owned()),
    };
    let (actor_type, actor_id, actor_label) = event.actor.parts();
    let mut row = AuditRow {
        seq,
        id: uuid::Uuid::now_v7().to_string(),
        at: store::now(),
        actor_type: actor_type.to_owned(),
        actor_id,
        actor_label,
        action: event.action.to_owned(),
        target_type: event.target_type.map(|t| t.as_str().to_owned()),
        target_id: event.target_id,
        fields: event.fields.join(","),
        request_id: origin.request_id.clone(),
        client_ip: origin.client_ip.clone(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = chain.hash(&row);
    audit_log::insert(conn, &row)?;
    Ok(row)
}

/// An audit entry as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the chain.
    pub seq: i64,
    /// Entry id.
    pub id: String,
    /// Time, RFC 3339 UTC.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Actor kind.
    pub actor_type: String,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Actor label.
    pub actor_label: Option<String>,
    /// Action.
    pub action: String,
    /// Target type.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// The target's name when it has one (a deleted target's last name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    /// Whether the target still exists, when it has a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_live: Option<bool>,
    /// Changed field names.
    pub fields: Vec<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Client IP.
    pub client_ip: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        Self {
            seq: row.seq,
            id: row.id,
            at: row.at.and_utc(),
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            actor_label: row.actor_label,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            target_name: None,
            target_live: None,
            fields: row
                .fields
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            request_id: row.request_id,
            client_ip: row.client_ip,
        }
    }
}
