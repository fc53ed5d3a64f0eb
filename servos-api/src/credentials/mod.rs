//! Credentials: SSH keys, registry and git credentials, and versioned
//! environment sets. Secret fields are sealed under the keyring, never
//! returned by list or get, and only shown by an audited reveal.

pub mod env_sets;
pub mod git;
pub mod registries;
pub mod ssh_keys;

pub mod validate;

use servos_common::envelope::Aad;
use servos_common::secret::{SecretBytes, SecretText};

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::state::AppState;

use crate::error::ServiceError;
use crate::store::DbConn;
use crate::vault::keyring::{Keyring, Sealed};
use crate::vault::VaultError;

/// Seals a secret field under the newest data key, bound to `identity`
/// (what it belongs to: see [`Aad::identity`]).
pub fn seal(
    conn: &mut DbConn,
    keyring: &Keyring,
    table: &'static str,
    column: &'static str,
    identity: &str,
    plaintext: &[u8],
) -> Result<Sealed, ServiceError> {
    let aad = Aad {
        table,
        column,
        identity,
    };
    keyring
        .seal(conn, &aad, plaintext)
        .map_err(ServiceError::internal)
}

/// Opens a secret field sealed for `identity`; a value that does not open
/// fails alone with a clear error naming the field, never the value.
pub fn open(
    conn: &mut DbConn,
    keyring: &Keyring,
    table: &'static str,
    column: &'static str,
    identity: &str,
    value: &str,
    key_id: &str,
) -> Result<SecretBytes, ServiceError> {
    let aad = Aad {
        table,
        column,
        identity,
    };
    keyring.open(conn, &aad, value, key_id).map_err(|e| match e {
        VaultError::Undecryptable(_) | VaultError::UnknownDataKey(_) | VaultError::Damaged { .. } => {
            tracing::error!(table, column, identity, error = %e, "stored secret cannot be decrypted");
            ServiceError::Undecryptable
        }
        other => ServiceError::internal(other),
    })
}

/// A decrypted value as text (every sealed credential is UTF-8).
pub fn text(plain: SecretBytes) -> Result<SecretText, ServiceError> {
    std::str::from_utf8(plain.expose())
        .map(|s| SecretText::new(s.to_owned()))
        .map_err(|_| ServiceError::Undecryptable)
}

/// Where a revealable secret lives and how to read it.
#[derive(Debug, Clone, Copy)]
pub struct SecretField {
    /// Table (part of the AAD).
    pub table: &'static str,
    /// Column (part of the AAD).
    pub column: &'static str,
    /// Audit target type (`registry`, `git_credential`, ...).
    pub target_type: TargetType,
    /// Audit action of a reveal.
    pub revealed: &'static str,
    /// Audit action of a reveal of a value that does not decrypt.
    pub reveal_failed: &'static str,
    /// Reads the sealed value and its data key id of a live row.
    pub load:
        fn(&mut DbConn, &str) -> crate::store::DbResult<Option<crate::store::sealed::SealedValue>>,
}

/// Returns one secret field's value, and records that it was shown (or,
/// when it does not decrypt, that a reveal failed).
pub async fn reveal(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    field: SecretField,
    id: String,
) -> Result<SecretText, ServiceError> {
    let vault = state.vault.clone();
    let event = AuditEvent::on(admin.actor(), field.revealed, field.target_type, &id)
        .with_fields(vec![field.column]);
    audited_reveal(state, origin, event, field.reveal_failed, move |conn| {
        let (value, key_id) = (field.load)(conn, &id)?.ok_or(ServiceError::NotFound)?;
        let (Some(value), Some(key_id)) = (value, key_id) else {
            return Err(ServiceError::invalid(
                "field",
                format!("{} has no {}", field.target_type, field.column),
            ));
        };
        let plain = open(
            conn,
            vault.keyring(),
            field.table,
            field.column,
            &id,
            &value,
            &key_id,
        )?;
        text(plain)
    })
    .await
}

/// Runs a reveal (`open`) and records `event` with it in one transaction.
/// When the value does not decrypt, the failed attempt is recorded as
/// `failed_action` (in a transaction of its own, since the reveal's rolled
/// back) and the answer is still `Undecryptable`.
pub async fn audited_reveal<F>(
    state: &AppState,
    origin: Origin,
    event: AuditEvent,
    failed_action: &'static str,
    open: F,
) -> Result<SecretText, ServiceError>
where
    F: FnOnce(&mut DbConn) -> Result<SecretText, ServiceError> + Send + 'static,
{
    let shown = event.clone();
    match state
        .audited(origin.clone(), move |conn| Ok((open(conn)?, shown)))
        .await
    {
        Err(ServiceError::Undecryptable) => {
            let failed = AuditEvent {
                action: failed_action,
                ..event
            };
            state.audited(origin, move |_| Ok(((), failed))).await?;
            Err(ServiceError::Undecryptable)
        }
        other => other,
    }
}
