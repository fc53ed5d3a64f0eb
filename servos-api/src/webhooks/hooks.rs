//! An application's webhook as admins manage it: made with a generated
//! secret (shown once, sealed), its branch changed, its secret rotated (the
//! previous one accepted for `SERVOS_WEBHOOK_ROTATION_GRACE_HOURS`),
//! removed; shown with its last deliveries. Every change is audited.

use base64::Engine as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};
use servos_common::secret::{SecretBytes, SecretText};

use crate::accounts::principal::Principal;
use crate::apps::git;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::credentials;
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ids::{AppId, DeploymentId};
use crate::store::webhook_deliveries::{self, DeliveryRow};
use crate::store::webhooks::{self, SecretChange, WebhookRow};
use crate::store::{self, apps, DbConn};
use crate::vault::keyring::{Keyring, Sealed};

use super::signature::SECRET_PREFIX;

/// The table and column secrets are sealed in (their AAD).
const TABLE: &str = "webhooks";
/// The current secret's column.
const SECRET: &str = "secret";
/// The previous secret's column.
const PREVIOUS_SECRET: &str = "previous_secret";
/// How many deliveries a webhook shows.
const SHOWN_DELIVERIES: i64 = 50;

/// The branch a webhook deploys, as a client sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBranch {
    /// The branch whose pushes deploy (`main`, not `refs/heads/main`).
    #[schema(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9._/-]+$")]
    pub branch: String,
}

/// A webhook as the API shows it; never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    /// The path providers post to (`/hooks/<application id>`).
    pub path: String,
    /// The branch whose pushes deploy.
    pub branch: String,
    /// When it was made.
    #[schema(value_type = String)]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Until when the secret before the last rotation is still accepted.
    #[schema(value_type = Option<String>)]
    pub previous_secret_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The last 50 deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}

/// One delivery received.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `github`, `gitea`, `forgejo`, `gitlab`, `bitbucket` or `unknown`.
    pub provider: String,
    /// The provider's delivery id.
    pub delivery: Option<String>,
    /// The event name.
    pub event: Option<String>,
    /// The pushed ref.
    pub git_ref: Option<String>,
    /// The pushed commit.
    pub commit: Option<String>,
    /// `queued`, `ignored`, `duplicate` or `rejected`.
    pub verdict: String,
    /// Why.
    pub reason: String,
    /// The deployment it queued.
    pub deployment_id: Option<DeploymentId>,
    /// When it came.
    #[schema(value_type = String)]
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl From<DeliveryRow> for Delivery {
    fn from(row: DeliveryRow) -> Self {
        Self {
            provider: row.provider,
            delivery: row.delivery,
            event: row.event,
            git_ref: row.git_ref,
            commit: row.commit_sha,
            verdict: row.verdict,
            reason: row.reason,
            deployment_id: row.deployment_id,
            received_at: row.received_at.and_utc(),
        }
    }
}

/// The path providers post to for application `app_id`.
pub fn path_of(app_id: &AppId) -> String {
    format!("/hooks/{app_id}")
}

fn view(conn: &mut DbConn, row: WebhookRow) -> Result<Webhook, ServiceError> {
    let deliveries = webhook_deliveries::recent(conn, &row.app_id, SHOWN_DELIVERIES)?
        .into_iter()
        .map(Delivery::from)
        .collect();
    Ok(Webhook {
        path: path_of(&row.app_id),
        branch: row.branch,
        created_at: row.created_at.and_utc(),
        previous_secret_until: row
            .previous_until
            .filter(|until| *until > store::now())
            .map(|until| until.and_utc()),
        deliveries,
    })
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
fn new_secret() -> Result<SecretText, ServiceError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| ServiceError::internal("the system random number generator failed"))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.as_ref());
    Ok(SecretText::new(format!("{SECRET_PREFIX}{encoded}")))
}

/// Seals webhook secret `secret` into `column` of the webhook `identity`
/// names.
fn seal_secret(
    conn: &mut DbConn,
    keyring: &Keyring,
    column: &'static str,
    identity: &str,
    secret: &SecretText,
) -> Result<Sealed, ServiceError> {
    credentials::seal(
        conn,
        keyring,
        TABLE,
        column,
        identity,
        secret.expose().as_bytes(),
    )
}

/// Opens webhook `row`'s current secret.
pub(super) fn open_secret(
    conn: &mut DbConn,
    keyring: &Keyring,
    row: &WebhookRow,
) -> Result<SecretBytes, ServiceError> {
    let identity = webhooks::identity(row.app_id.as_str(), &row.id);
    credentials::open(
        conn,
        keyring,
        TABLE,
        SECRET,
        &identity,
        &row.secret,
        &row.secret_key_id,
    )
}

/// Opens webhook `row`'s previous secret while its grace period lasts.
pub(super) fn open_previous_secret(
    conn: &mut DbConn,
    keyring: &Keyring,
    row: &WebhookRow,
) -> Result<Option<SecretBytes>, ServiceError> {
    let (Some(value), Some(key_id), Some(until)) = (
        &row.previous_secret,
        &row.previous_secret_key_id,
        row.previous_until,
    ) else {
        return Ok(None);
    };
    if until <= store::now() {
        return Ok(None);
    }
    let identity = webhooks::identity(row.app_id.as_str(), &row.id);
    credentials::open(
        conn,
        keyring,
        TABLE,
        PREVIOUS_SECRET,
        &identity,
        value,
        key_id,
    )
    .map(Some)
}

/// The audit entry of a change to application `app_id`'s webhook.
fn change_of(caller: &Principal, action: &'static str, app_id: &AppId) -> AuditEvent {
    AuditEvent::on(caller.actor(), action, TargetType::App, app_id.as_str())
}

fn live_app(conn: &mut DbConn, app_id: &AppId) -> Result<(), ServiceError> {
    apps::find_live(conn, app_id)?
        .map(drop)
        .ok_or(ServiceError::NotFound)
}

/// Application `app_id`'s webhook with its last deliveries; 404 when it
/// has none.
pub async fn show(state: &AppState, app_id: AppId) -> Result<Webhook, ServiceError> {
    state
        .db(move |conn| {
            live_app(conn, &app_id)?;
            let row = webhooks::of_app(conn, &app_id)?.ok_or(ServiceError::NotFound)?;
            view(conn, row)
        })
        .await
}

/// Makes application `app_id`'s webhook; 409 when it has one. Returns it
/// and its secret, shown this once.
pub async fn create(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
    settings: WebhookBranch,
) -> Result<(Webhook, SecretText), ServiceError> {
    let branch = git::branch("branch", &settings.branch)?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            live_app(conn, &app_id)?;
            if webhooks::of_app(conn, &app_id)?.is_some() {
                return Err(ServiceError::conflict(
                    "the application has a webhook; rotate its secret or remove it",
                ));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let secret = new_secret()?;
            let identity = webhooks::identity(app_id.as_str(), &id);
            let sealed = seal_secret(conn, vault.keyring(), SECRET, &identity, &secret)?;
            let now = store::now();
            let row = WebhookRow {
                id,
                app_id: app_id.clone(),
                branch,
                secret: sealed.value,
                secret_key_id: sealed.key_id,
                previous_secret: None,
                previous_secret_key_id: None,
                previous_until: None,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            webhooks::insert(conn, &row)?;
            let event = change_of(&caller, "webhook.created", &app_id)
                .with_fields(vec!["branch", "secret"]);
            Ok(((view(conn, row)?, secret), event))
        })
        .await
}

/// Changes application `app_id`'s webhook branch.
pub async fn set_branch(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
    settings: WebhookBranch,
) -> Result<Webhook, ServiceError> {
    let branch = git::branch("branch", &settings.branch)?;
    state
        .audited(origin, move |conn| {
            live_app(conn, &app_id)?;
            let row = webhooks::of_app(conn, &app_id)?.ok_or(ServiceError::NotFound)?;
            webhooks::set_branch(conn, &row.id, &branch, store::now())?;
            let event = change_of(&caller, "webhook.updated", &app_id).with_fields(vec!["branch"]);
            Ok((view(conn, WebhookRow { branch, ..row })?, event))
        })
        .await
}

/// Gives application `app_id`'s webhook a new secret, shown this once; the
/// current one stays accepted for the grace period (the one before it no
/// longer).
pub async fn rotate(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
) -> Result<(Webhook, SecretText), ServiceError> {
    let vault = state.vault.clone();
    let grace = state.config.webhooks.rotation_grace;
    state
        .audited(origin, move |conn| {
            live_app(conn, &app_id)?;
            let row = webhooks::of_app(conn, &app_id)?.ok_or(ServiceError::NotFound)?;
            let identity = webhooks::identity(app_id.as_str(), &row.id);
            // The current secret moves to the previous column: opened and
            // sealed again there, since its AAD names the column. One that
            // no longer decrypts is dropped: rotating is how it is repaired.
            let keyring = vault.keyring();
            let previous = match open_secret(conn, keyring, &row) {
                Ok(current) => Some(credentials::seal(
                    conn,
                    keyring,
                    TABLE,
                    PREVIOUS_SECRET,
                    &identity,
                    current.expose(),
                )?),
                Err(ServiceError::Undecryptable) => None,
                Err(e) => return Err(e),
            };
            let secret = new_secret()?;
            let sealed = seal_secret(conn, keyring, SECRET, &identity, &secret)?;
            let now = store::now();
            let change = SecretChange {
                secret: sealed.value,
                secret_key_id: sealed.key_id,
                previous_until: previous.as_ref().map(|_| now + grace),
                previous_secret_key_id: previous.as_ref().map(|p| p.key_id.clone()),
                previous_secret: previous.map(|p| p.value),
                updated_at: now,
            };
            webhooks::set_secret(conn, &row.id, &change)?;
            let event = change_of(&caller, "webhook.secret_rotated", &app_id)
                .with_fields(vec!["secret", "previous_secret"]);
            let row = WebhookRow {
                secret: change.secret,
                secret_key_id: change.secret_key_id,
                previous_secret: change.previous_secret,
                previous_secret_key_id: change.previous_secret_key_id,
                previous_until: change.previous_until,
                updated_at: now,
                ..row
            };
            Ok(((view(conn, row)?, secret), event))
        })
        .await
}

/// Removes application `app_id`'s webhook: deliveries to it are refused.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
) -> Result<(), ServiceError> {
    state
        .audited(origin, move |conn| {
            live_app(conn, &app_id)?;
            if webhooks::soft_delete(conn, &app_id, store::now())? == 0 {
                return Err(ServiceError::NotFound);
            }
            let event =
                change_of(&caller, "webhook.deleted", &app_id).with_fields(vec!["deleted_at"]);
            Ok(((), event))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_base64_of_32_bytes() {
        let secret = new_secret().expect("a secret");
        let encoded = secret.expose().strip_prefix(SECRET_PREFIX).expect("prefix");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        assert_eq!(bytes.len(), 32);
        assert_ne!(new_secret().expect("another").expose(), secret.expose());
    }
}
