//! Registry credentials: host, user name and a sealed password or token.

use servos_common::secret::SecretText;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store;
use crate::store::registries::{self, RegistryRow};

use super::validate;

const TABLE: &str = "registries";

/// A new registry credential.
#[derive(Debug)]
pub struct NewRegistry {
    /// Name.
    pub name: String,
    /// Registry host.
    pub host: String,
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: SecretText,
}

/// Stores a registry credential.
pub async fn create(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    new: NewRegistry,
) -> Result<RegistryRow, ServiceError> {
    let name = validate::name(&new.name)?;
    let host = validate::registry_host(&new.host)?;
    let username = validate::plain("username", &new.username)?;
    validate::secret("password", new.password.expose())?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            if registries::name_taken(conn, &name)? {
                return Err(ServiceError::conflict_on(
                    "name",
                    "a registry credential with this name exists",
                ));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let password = super::seal(
                conn,
                vault.keyring(),
                TABLE,
                "password",
                &id,
                new.password.expose().as_bytes(),
            )?;
            let now = store::now();
            let row = RegistryRow {
                id,
                name,
                host,
                username,
                password: password.value,
                password_key_id: password.key_id,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            registries::insert(conn, &row)?;
            let event = AuditEvent::on(
                admin.actor(),
                "registry.created",
                TargetType::Registry,
                &row.id,
            )
            .with_fields(vec!["name", "host", "username", "password"]);
            Ok((row, event))
        })
        .await
}

/// Every live registry credential.
pub async fn list(state: &AppState) -> Result<Vec<RegistryRow>, ServiceError> {
    state.db(|conn| Ok(registries::list_live(conn)?)).await
}

/// One live registry credential.
pub async fn get(state: &AppState, id: String) -> Result<RegistryRow, ServiceError> {
    state
        .db(move |conn| registries::find_live(conn, &id)?.ok_or(ServiceError::NotFound))
        .await
}

/// The revealable password.
pub const PASSWORD: super::SecretField = super::SecretField {
    table: TABLE,
    column: "password",
    target_type: TargetType::Registry,
    revealed: "registry.revealed",
    reveal_failed: "registry.reveal_failed",
    load: registries::sealed_password,
};

/// Deletes a registry credential (soft).
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: String,
) -> Result<(), ServiceError> {
    state
        .soft_delete(
            origin,
            admin.actor(),
            (TargetType::Registry, "registry.deleted"),
            registries::soft_delete,
            id,
        )
        .await
}
