//! Names beside ids in the audit trail: what each entry's target is called
//! (a deleted one by its last name), resolved when entries are read, so
//! the chained entries themselves never change.

use std::collections::{BTreeSet, HashMap};

use crate::store::names::{self, Named};
use crate::store::{DbConn, DbResult};

use super::target::TargetType;
use super::AuditEntry;

/// A target's name, and whether it still exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetName {
    /// Its name (a user's email; a deployment's application and short id).
    pub name: String,
    /// False once it was deleted (or, for a token, revoked).
    pub live: bool,
}

/// A query naming rows of one table by id.
type NameQuery = fn(&mut DbConn, &[String]) -> DbResult<Vec<Named>>;

/// The query that names targets of `target_type`, for the types with names.
fn namer(target_type: TargetType) -> Option<NameQuery> {
    Some(match target_type {
        TargetType::Server => names::servers_named,
        TargetType::App => names::apps_named,
        TargetType::User => names::users_named,
        TargetType::SshKey => names::ssh_keys_named,
        TargetType::Registry => names::registries_named,
        TargetType::GitCredential => names::git_credentials_named,
        TargetType::EnvSet => names::env_sets_named,
        TargetType::ApiToken => names::api_tokens_named,
        TargetType::Deployment => names::deployments_named,
        TargetType::MeshNode => names::mesh_nodes_named,
        TargetType::Account
        | TargetType::DataKey
        | TargetType::Keyring
        | TargetType::MeshPolicy
        | TargetType::MeshRule
        | TargetType::Route => return None,
    })
}

/// Fills in `target_name` (and `target_live`) of every entry whose target
/// has a name: one query per target type present.
pub fn fill(conn: &mut DbConn, entries: &mut [AuditEntry]) -> DbResult<()> {
    let mut wanted: HashMap<TargetType, BTreeSet<String>> = HashMap::new();
    for entry in entries.iter() {
        let (Some(kind), Some(id)) = (&entry.target_type, &entry.target_id) else {
            continue;
        };
        if let Ok(kind) = kind.parse::<TargetType>() {
            wanted.entry(kind).or_default().insert(id.clone());
        }
    }
    let mut found: HashMap<(TargetType, String), TargetName> = HashMap::new();
    for (kind, ids) in wanted {
        let Some(query) = namer(kind) else {
            continue;
        };
        let ids: Vec<String> = ids.into_iter().collect();
        for (id, name, live) in query(conn, &ids)? {
            found.insert((kind, id), TargetName { name, live });
        }
    }
    for entry in entries.iter_mut() {
        let (Some(kind), Some(id)) = (&entry.target_type, &entry.target_id) else {
            continue;
        };
        let Ok(kind) = kind.parse::<TargetType>() else {
            continue;
        };
        if let Some(named) = found.get(&(kind, id.clone())) {
            entry.target_name = Some(named.name.clone());
            entry.target_live = Some(named.live);
        }
    }
    Ok(())
}
