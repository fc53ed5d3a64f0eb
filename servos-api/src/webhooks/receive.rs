//! Receiving a delivery: the provider told by its headers, the signature
//! checked over the raw body against the webhook's secrets, and only then
//! the body read. A refused delivery is counted against the client's
//! address, recorded and audited (headers' verdict only, never the body).
//! A push to the webhook's branch queues a deployment, once per delivery
//! id and once per commit; pings are answered, everything else is recorded
//! with the reason it did nothing.

use crate::accounts;
use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::deploy::requests::queue_current;
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ids::{AppId, DeploymentId};
use crate::store::webhook_deliveries::{self, DeliveryRow};
use crate::store::{self, webhooks, DbConn};

use super::event::{self, Event, RefUpdate};
use super::hooks;
use super::signature::{self, Headers, Refusal, Sender};

/// What a delivery led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A deployment was queued.
    Queued,
    /// Nothing to do (a ping, another event, another branch).
    Ignored,
    /// This delivery, or this commit, came before.
    Duplicate,
}

impl Verdict {
    /// Its name in answers and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The answer to an accepted delivery.
#[derive(Debug, Clone)]
pub struct Received {
    /// What it led to.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
    /// True for a ping (answered 200; the rest 202 or 200 for duplicates).
    pub ping: bool,
    /// The deployment it queued.
    pub deployment_id: Option<DeploymentId>,
}

/// A delivery to application `app_id`'s webhook.
pub async fn receive(
    state: &AppState,
    origin: Origin,
    app_id: AppId,
    headers: Headers,
    body: Vec<u8>,
) -> Result<Received, ServiceError> {
    let vault = state.vault.clone();
    let lookup_app = app_id.clone();
    let secrets = state
        .db(move |conn| {
            let Some(row) = webhooks::of_app(conn, &lookup_app)? else {
                return Ok(None);
            };
            let keyring = vault.keyring();
            let mut secrets = vec![hooks::open_secret(conn, keyring, &row)?];
            secrets.extend(hooks::open_previous_secret(conn, keyring, &row)?);
            Ok(Some((row.branch, secrets)))
        })
        .await?;
    let Some((branch, secrets)) = secrets else {
        return Err(ServiceError::NotFound);
    };
    let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose()).collect();
    let checked = signature::identify(&headers).and_then(|sender| {
        signature::verify(
            sender.provider,
            &headers,
            &body,
            &keys,
            chrono::Utc::now().timestamp(),
        )
        .map(|()| sender)
    });
    drop(secrets);
    let sender = match checked {
        Ok(sender) => sender,
        Err(refusal) => {
            refuse(state, &origin, &app_id, &headers, &refusal).await;
            return Err(ServiceError::Unauthenticated);
        }
    };
    let event = match event::parse(sender.provider, &sender.event, &body) {
        Ok(event) => event,
        Err(bad) => return record(state, app_id, &sender, ignored(bad.to_string())).await,
    };
    let wanted = format!("refs/heads/{branch}");
    let outcome = match event {
        Event::Ping => Received {
            ping: true,
            ..ignored("ping".into())
        },
        Event::Other(name) => ignored(format!("{name} events do not deploy; only pushes do")),
        Event::Push(updates) => match updates.into_iter().find(|u| u.git_ref == wanted) {
            None => ignored(format!("the push is not to {wanted}")),
            Some(RefUpdate { commit: None, .. }) => ignored(format!("the push deleted {wanted}")),
            Some(update) => return deploy(state, origin, app_id, &sender, update).await,
        },
    };
    record(state, app_id, &sender, outcome).await
}

/// A delivery row of `sender` with `verdict`.
fn row_of(
    app_id: &AppId,
    sender: &Sender,
    update: Option<&RefUpdate>,
    verdict: &str,
    reason: String,
    deployment_id: Option<DeploymentId>,
) -> DeliveryRow {
    DeliveryRow {
        id: uuid::Uuid::now_v7().to_string(),
        app_id: app_id.clone(),
        provider: sender.provider.name().to_owned(),
        delivery: sender.delivery.clone(),
        event: Some(sender.event.clone()),
        git_ref: update.map(|u| u.git_ref.clone()),
        commit_sha: update.and_then(|u| u.commit.clone()),
        verdict: verdict.to_owned(),
        reason,
        deployment_id,
        received_at: store::now(),
    }
}

/// A delivery seen before, by its id: nothing is recorded again.
fn repeated(
    conn: &mut DbConn,
    app_id: &AppId,
    sender: &Sender,
) -> Result<Option<Received>, ServiceError> {
    let Some(delivery) = &sender.delivery else {
        return Ok(None);
    };
    Ok(
        webhook_deliveries::seen(conn, app_id, sender.provider.name(), delivery)?.map(|_| {
            Received {
                verdict: Verdict::Duplicate,
                reason: format!("delivery {delivery} was received before"),
                ping: false,
                deployment_id: None,
            }
        }),
    )
}

/// Records a delivery that queues nothing, unless it came before.
async fn record(
    state: &AppState,
    app_id: AppId,
    sender: &Sender,
    outcome: Received,
) -> Result<Received, ServiceError> {
    let sender = sender.clone();
    state
        .db(move |conn| {
            store::tx::write(conn, |conn| {
                if let Some(before) = repeated(conn, &app_id, &sender)? {
                    return Ok(before);
                }
                let row = row_of(
                    &app_id,
                    &sender,
                    None,
                    outcome.verdict.as_str(),
                    outcome.reason.clone(),
                    None,
                );
                webhook_deliveries::insert(conn, &row)?;
                Ok(outcome)
            })
        })
        .await
}

/// A delivery that does nothing, for `reason`.
fn ignored(reason: String) -> Received {
    Received {
        verdict: Verdict::Ignored,
        reason,
        ping: false,
        deployment_id: None,
    }
}

/// Queues a deployment of the pushed commit, unless this delivery or this
/// commit came before.
async fn deploy(
    state: &AppState,
    origin: Origin,
    app_id: AppId,
    sender: &Sender,
    update: RefUpdate,
) -> Result<Received, ServiceError> {
    let attempt = {
        let (sender, update, app_id) = (sender.clone(), update.clone(), app_id.clone());
        state
            .audited(origin, move |conn| {
                let actor = Actor::Webhook {
                    app_id: app_id.to_string(),
                    provider: sender.provider.name().to_owned(),
                };
                if let Some(before) = repeated(conn, &app_id, &sender)? {
                    let event = seen_event(actor, &app_id);
                    return Ok((before, event));
                }
                let commit = update.commit.clone().unwrap_or_default();
                if let Some(earlier) =
                    webhook_deliveries::queued_commit(conn, &app_id, &update.git_ref, &commit)?
                {
                    let reason = format!(
                        "commit {commit} was deployed already (deployment {})",
                        earlier
                            .deployment_id
                            .as_ref()
                            .map_or("unknown", |id| id.as_str())
                    );
                    let row = row_of(
                        &app_id,
                        &sender,
                        Some(&update),
                        "duplicate",
                        reason.clone(),
                        None,
                    );
                    webhook_deliveries::insert(conn, &row)?;
                    let event = seen_event(actor, &app_id);
                    return Ok((
                        Received {
                            verdict: Verdict::Duplicate,
                            reason,
                            ping: false,
                            deployment_id: None,
                        },
                        event,
                    ));
                }
                let (deployment, event) =
                    queue_current(conn, &app_id, actor, update.commit.as_deref())?;
                let reason = format!("{} at {commit}", update.git_ref);
                let row = row_of(
                    &app_id,
                    &sender,
                    Some(&update),
                    "queued",
                    reason.clone(),
                    Some(deployment.row.id.clone()),
                );
                webhook_deliveries::insert(conn, &row)?;
                Ok((
                    Received {
                        verdict: Verdict::Queued,
                        reason,
                        ping: false,
                        deployment_id: Some(deployment.row.id),
                    },
                    event,
                ))
            })
            .await
    };
    match attempt {
        Ok(received) => {
            if received.verdict == Verdict::Queued {
                state.deploy_signals.job_queued();
            }
            Ok(received)
        }
        // A twin delivery may have committed first (a unique index refused
        // this one): then this one is its duplicate.
        Err(e @ ServiceError::Conflict { .. }) => {
            let (sender, app_id) = (sender.clone(), app_id.clone());
            let twin = state
                .db(move |conn| {
                    let commit = update.commit.clone().unwrap_or_default();
                    let earlier =
                        webhook_deliveries::queued_commit(conn, &app_id, &update.git_ref, &commit)?;
                    Ok(repeated(conn, &app_id, &sender)?.is_some() || earlier.is_some())
                })
                .await?;
            if twin {
                Ok(Received {
                    verdict: Verdict::Duplicate,
                    reason: "the same delivery or commit arrived at the same time".into(),
                    ping: false,
                    deployment_id: None,
                })
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// The audit entry of a duplicate delivery.
fn seen_event(actor: Actor, app_id: &AppId) -> AuditEvent {
    AuditEvent::on(actor, "webhook.duplicate", TargetType::App, app_id.as_str())
}

/// Counts, records and audits a refused delivery: which headers it sent
/// and why it was refused, never its body.
async fn refuse(
    state: &AppState,
    origin: &Origin,
    app_id: &AppId,
    headers: &Headers,
    refusal: &Refusal,
) {
    let sender = signature::identify(headers).ok();
    let row = DeliveryRow {
        id: uuid::Uuid::now_v7().to_string(),
        app_id: app_id.clone(),
        provider: sender
            .as_ref()
            .map_or("unknown", |s| s.provider.name())
            .to_owned(),
        delivery: sender.as_ref().and_then(|s| s.delivery.clone()),
        event: sender.as_ref().map(|s| s.event.clone()),
        git_ref: None,
        commit_sha: None,
        verdict: "rejected".into(),
        reason: refusal.to_string(),
        deployment_id: None,
        received_at: store::now(),
    };
    let stored = state
        .db(move |conn| Ok(webhook_deliveries::insert(conn, &row)?))
        .await;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "cannot record a refused webhook delivery");
    }
    let event = AuditEvent::on(
        Actor::Anonymous,
        "webhook.rejected",
        TargetType::App,
        app_id.as_str(),
    )
    .with_fields(vec![refusal_field(refusal)]);
    accounts::failures::record(state, origin, event).await;
}

/// The audit field naming why a delivery was refused.
fn refusal_field(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownProvider => "provider",
        Refusal::Missing(header) | Refusal::Malformed(header) => header,
        Refusal::Mismatch => "signature",
        Refusal::Stale => "timestamp",
    }
}
