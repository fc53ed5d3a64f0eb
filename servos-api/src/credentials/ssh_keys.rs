//! SSH keys: generated here (Ed25519) or imported (Ed25519/RSA, OpenSSH or
//! PEM, optionally with a passphrase). The private key and passphrase are
//! sealed; the public key and fingerprint are shown.

use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ssh_keys::{self, SshKeyRow};
use crate::store::{self, DbConn};
use crate::vault::keyring::Keyring;

use super::validate;
use crate::ssh::key::{self as ssh_key, KeyMaterial, SshKeyError};

const TABLE: &str = "ssh_keys";

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Reaches run servers.
    Server,
    /// Reaches build servers.
    Builder,
}

impl KeyKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Builder => "builder",
        }
    }
}

/// Where a new key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// Generate an Ed25519 key.
    Generate,
    /// Import a private key.
    Import {
        /// OpenSSH or PEM text.
        private_key: SecretText,
        /// Its passphrase, if it has one.
        passphrase: Option<SecretText>,
    },
}

impl KeySource {
    /// Generate when no private key is given, import otherwise; a
    /// passphrase only goes with an imported key.
    pub fn from_parts(
        private_key: Option<SecretText>,
        passphrase: Option<SecretText>,
    ) -> Result<Self, ServiceError> {
        match private_key {
            None if passphrase.is_some() => Err(ServiceError::invalid(
                "passphrase",
                "only an imported key has a passphrase",
            )),
            None => Ok(Self::Generate),
            Some(private_key) => Ok(Self::Import {
                private_key,
                passphrase,
            }),
        }
    }
}

/// The revealable private key.
pub const PRIVATE_KEY: super::SecretField = super::SecretField {
    table: TABLE,
    column: "private_key",
    target_type: TargetType::SshKey,
    revealed: "ssh_key.revealed",
    reveal_failed: "ssh_key.reveal_failed",
    load: ssh_keys::sealed_private_key,
};

/// The revealable passphrase.
pub const PASSPHRASE: super::SecretField = super::SecretField {
    table: TABLE,
    column: "passphrase",
    target_type: TargetType::SshKey,
    revealed: "ssh_key.revealed",
    reveal_failed: "ssh_key.reveal_failed",
    load: ssh_keys::sealed_passphrase,
};

fn import_error(e: SshKeyError) -> ServiceError {
    let field = match e {
        SshKeyError::PassphraseRequired | SshKeyError::WrongPassphrase => "passphrase",
        _ => "private_key",
    };
    ServiceError::invalid(field, e.to_string())
}

/// Generates or imports a key; nothing is stored unless the key is valid.
pub async fn create(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    name: &str,
    kind: KeyKind,
    source: KeySource,
) -> Result<SshKeyRow, ServiceError> {
    let name = validate::name(name)?;
    let comment = format!(
        "servos-{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
    );
    // Decoding runs the key's own KDF (bcrypt rounds, scrypt memory), chosen
    // by whoever made the key: bounded like password hashing.
    let (private_key, passphrase, material): (SecretText, Option<SecretText>, KeyMaterial) = state
        .hasher
        .run_bounded(move || match source {
            KeySource::Generate => ssh_key::generate_ed25519(&comment)
                .map(|(private_key, material)| (private_key, None, material))
                .map_err(ServiceError::internal),
            KeySource::Import {
                private_key,
                passphrase,
            } => {
                validate::secret("private_key", private_key.expose())?;
                let material =
                    ssh_key::inspect(&private_key, passphrase.as_ref()).map_err(import_error)?;
                Ok((
                    private_key,
                    passphrase.filter(|p| !p.expose().is_empty()),
                    material,
                ))
            }
        })
        .await??;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            if ssh_keys::name_taken(conn, &name)? {
                return Err(ServiceError::conflict_on(
                    "name",
                    "an SSH key with this name exists",
                ));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let sealed_key = super::seal(
                conn,
                vault.keyring(),
                TABLE,
                "private_key",
                &id,
                private_key.expose().as_bytes(),
            )?;
            let sealed_passphrase = passphrase
                .map(|p| {
                    super::seal(
                        conn,
                        vault.keyring(),
                        TABLE,
                        "passphrase",
                        &id,
                        p.expose().as_bytes(),
                    )
                })
                .transpose()?;
            let now = store::now();
            let mut fields = vec!["name", "kind", "public_key", "private_key"];
            if sealed_passphrase.is_some() {
                fields.push("passphrase");
            }
            let row = SshKeyRow {
                id,
                name,
                kind: kind.as_str().into(),
                algorithm: material.algorithm.as_str().into(),
                public_key: material.public_key,
                fingerprint: material.fingerprint,
                private_key: sealed_key.value,
                private_key_key_id: sealed_key.key_id,
                passphrase_key_id: sealed_passphrase.as_ref().map(|s| s.key_id.clone()),
                passphrase: sealed_passphrase.map(|s| s.value),
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            ssh_keys::insert(conn, &row)?;
            let event = AuditEvent::on(
                admin.actor(),
                "ssh_key.created",
                TargetType::SshKey,
                &row.id,
            )
            .with_fields(fields);
            Ok((row, event))
        })
        .await
}

/// Opens a key's private key and passphrase, in memory only, to connect with.
pub fn open_secrets(
    conn: &mut DbConn,
    keyring: &Keyring,
    key: &SshKeyRow,
) -> Result<(SecretText, Option<SecretText>), ServiceError> {
    let open = |conn: &mut DbConn, field: &super::SecretField, value: &str, key_id: &str| {
        super::text(super::open(
            conn,
            keyring,
            field.table,
            field.column,
            &key.id,
            value,
            key_id,
        )?)
    };
    let private_key = open(
        conn,
        &PRIVATE_KEY,
        &key.private_key,
        &key.private_key_key_id,
    )?;
    let passphrase = match (&key.passphrase, &key.passphrase_key_id) {
        (Some(value), Some(key_id)) => Some(open(conn, &PASSPHRASE, value, key_id)?),
        _ => None,
    };
    Ok((private_key, passphrase))
}

/// Every live key.
pub async fn list(state: &AppState) -> Result<Vec<SshKeyRow>, ServiceError> {
    state.db(|conn| Ok(ssh_keys::list_live(conn)?)).await
}

/// One live key.
pub async fn get(state: &AppState, id: String) -> Result<SshKeyRow, ServiceError> {
    state
        .db(move |conn| ssh_keys::find_live(conn, &id)?.ok_or(ServiceError::NotFound))
        .await
}

/// Deletes a key (soft).
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
            (TargetType::SshKey, "ssh_key.deleted"),
            ssh_keys::soft_delete,
            id,
        )
        .await
}
