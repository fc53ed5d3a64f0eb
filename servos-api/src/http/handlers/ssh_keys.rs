//! `/api/v1/ssh-keys`: SSH keys to reach servers, generated or imported.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::audit::Origin;
use crate::credentials::ssh_keys::{self, KeyKind, KeySource};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Viewer};
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;
use crate::store::ssh_keys::SshKeyRow;

use super::views::{Revealed, MASK};

/// New SSH key: generated (Ed25519) when `private_key` is absent, imported otherwise.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSshKey {
    /// Name.
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// `server` or `builder`.
    pub kind: KeyKind,
    /// Ed25519 or RSA private key, OpenSSH or PEM format (stored encrypted, never returned).
    #[schema(value_type = Option<String>)]
    pub private_key: Option<SecretText>,
    /// The private key's passphrase, if it has one (stored encrypted).
    #[schema(value_type = Option<String>)]
    pub passphrase: Option<SecretText>,
}

/// Which secret field to reveal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SshKeyField {
    /// The private key.
    PrivateKey,
    /// Its passphrase.
    Passphrase,
}

/// Reveal request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealSshKey {
    /// The field to show.
    pub field: SshKeyField,
}

/// An SSH key: public half and fingerprint; secrets masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SshKey)]
pub struct SshKeyView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `server` or `builder`.
    pub kind: String,
    /// `ed25519` or `rsa`.
    pub algorithm: String,
    /// Public key, one `authorized_keys` line.
    pub public_key: String,
    /// `SHA256:...` fingerprint, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// The private key, masked.
    pub private_key: &'static str,
    /// Whether a passphrase is stored.
    pub has_passphrase: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<SshKeyRow> for SshKeyView {
    fn from(row: SshKeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            kind: row.kind,
            algorithm: row.algorithm,
            public_key: row.public_key,
            fingerprint: row.fingerprint,
            private_key: MASK,
            has_passphrase: row.passphrase.is_some(),
            created_at: row.created_at.and_utc(),
        }
    }
}

/// Lists SSH keys (public halves only).
#[utoipa::path(get, path = "/api/v1/ssh-keys", tag = "credentials", responses((status = 200, body = [SshKeyView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _caller: Viewer) -> Result<HttpResponse, ApiError> {
    let rows = ssh_keys::list(&state).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(SshKeyView::from).collect::<Vec<_>>()))
}

/// Generates or imports an SSH key.
#[utoipa::path(post, path = "/api/v1/ssh-keys", tag = "credentials", request_body = CreateSshKey,
    responses((status = 201, body = SshKeyView),
    (status = 409, body = ErrorBody, description = "An SSH key has this name")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<CreateSshKey>,
) -> Result<HttpResponse, ApiError> {
    let CreateSshKey {
        name,
        kind,
        private_key,
        passphrase,
    } = body.0;
    let source = KeySource::from_parts(private_key, passphrase)?;
    let row = ssh_keys::create(&state, origin, admin.0, &name, kind, source).await?;
    Ok(HttpResponse::Created().json(SshKeyView::from(row)))
}

/// One SSH key (public half only).
#[utoipa::path(get, path = "/api/v1/ssh-keys/{id}", tag = "credentials", params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = SshKeyView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = ssh_keys::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SshKeyView::from(row)))
}

/// Deletes an SSH key.
#[utoipa::path(delete, path = "/api/v1/ssh-keys/{id}", tag = "credentials", params(("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Deleted")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ssh_keys::delete(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Shows the private key or passphrase once; the reveal is audited.
#[utoipa::path(post, path = "/api/v1/ssh-keys/{id}/reveal", tag = "credentials", params(("id" = String, Path, description = "Key id")),
    request_body = RevealSshKey, responses((status = 200, body = Revealed),
    (status = 422, body = ErrorBody, description = "The stored secret cannot be decrypted; enter it again")),
    security(("session" = []), ("bearer" = [])))]
pub async fn reveal(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
    body: StrictJson<RevealSshKey>,
) -> Result<HttpResponse, ApiError> {
    let field = match body.0.field {
        SshKeyField::PrivateKey => ssh_keys::PRIVATE_KEY,
        SshKeyField::Passphrase => ssh_keys::PASSPHRASE,
    };
    let value = crate::credentials::reveal(&state, origin, admin.0, field, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Revealed::from(value)))
}
