//! Git credentials: a provider, an optional user name and a sealed token,
//! used later to clone private repositories on a builder.

use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store;
use crate::store::git_credentials::{self, GitCredentialRow};

use super::validate;

const TABLE: &str = "git_credentials";

/// Git hosting providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub.
    Github,
    /// GitLab.
    Gitlab,
    /// Gitea.
    Gitea,
    /// Forgejo.
    Forgejo,
    /// Anything else speaking git over HTTPS.
    Other,
}

impl Provider {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Gitea => "gitea",
            Self::Forgejo => "forgejo",
            Self::Other => "other",
        }
    }
}

/// A new git credential.
#[derive(Debug)]
pub struct NewGitCredential {
    /// Name.
    pub name: String,
    /// Provider.
    pub provider: Provider,
    /// Optional user name.
    pub username: Option<String>,
    /// Access token.
    pub token: SecretText,
}

/// The revealable token.
pub const TOKEN: super::SecretField = super::SecretField {
    table: TABLE,
    column: "token",
    target_type: TargetType::GitCredential,
    revealed: "git_credential.revealed",
    reveal_failed: "git_credential.reveal_failed",
    load: git_credentials::sealed_token,
};

/// Stores a git credential.
pub async fn create(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    new: NewGitCredential,
) -> Result<GitCredentialRow, ServiceError> {
    let name = validate::name(&new.name)?;
    let username = new
        .username
        .as_deref()
        .map(|u| validate::plain("username", u))
        .transpose()?;
    validate::secret("token", new.token.expose())?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            if git_credentials::name_taken(conn, &name)? {
                return Err(ServiceError::conflict_on(
                    "name",
                    "a git credential with this name exists",
                ));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let token = super::seal(
                conn,
                vault.keyring(),
                TABLE,
                "token",
                &id,
                new.token.expose().as_bytes(),
            )?;
            let now = store::now();
            let row = GitCredentialRow {
                id,
                name,
                provider: new.provider.as_str().into(),
                username,
                token: token.value,
                token_key_id: token.key_id,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            git_credentials::insert(conn, &row)?;
            let event = AuditEvent::on(
                admin.actor(),
                "git_credential.created",
                TargetType::GitCredential,
                &row.id,
            )
            .with_fields(vec!["name", "provider", "username", "token"]);
            Ok((row, event))
        })
        .await
}

/// Every live git credential.
pub async fn list(state: &AppState) -> Result<Vec<GitCredentialRow>, ServiceError> {
    state.db(|conn| Ok(git_credentials::list_live(conn)?)).await
}

/// One live git credential.
pub async fn get(state: &AppState, id: String) -> Result<GitCredentialRow, ServiceError> {
    state
        .db(move |conn| git_credentials::find_live(conn, &id)?.ok_or(ServiceError::NotFound))
        .await
}

/// Deletes a git credential (soft).
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
) -> Result<(), ServiceError> {
    state
        .audited(origin, move |conn| {
            let cloning = store::git_sources::live_apps_cloned_with(conn, &id)?;
            if !cloning.is_empty() {
                return Err(ServiceError::conflict_on(
                    "git_credential_id",
                    format!(
                        "applications clone with this credential: {}; give them another first",
                        crate::apps::named(cloning.iter().map(|(id, name)| (id, name.as_str())))
                    ),
                ));
            }
            if git_credentials::soft_delete(conn, &id, store::now())? == 0 {
                return Err(ServiceError::NotFound);
            }
            let event = AuditEvent::on(
                admin.actor(),
                "git_credential.deleted",
                TargetType::GitCredential,
                &id,
            )
            .with_fields(vec!["deleted_at"]);
            Ok(((), event))
        })
        .await
}
