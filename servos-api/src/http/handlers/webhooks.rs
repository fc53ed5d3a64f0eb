//! Webhooks: providers post deliveries to `/hooks/{id}` (the application's
//! id); admins manage
//! an application's webhook under `/api/v1/apps/{id}/webhook`.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde::Serialize;

use crate::audit::Origin;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Viewer};
use crate::http::json::StrictJson;
use crate::state::AppState;
use crate::store::ids::{AppId, DeploymentId};
use crate::webhooks::hooks::{self, Webhook, WebhookBranch};
use crate::webhooks::receive::{self, Received};
use crate::webhooks::signature::Headers;

/// The headers a delivery is judged by (the rest are not read).
const DELIVERY_HEADERS: [&str; 18] = [
    "x-github-event",
    "x-github-delivery",
    "x-hub-signature-256",
    "x-forgejo-event",
    "x-forgejo-delivery",
    "x-forgejo-signature",
    "x-gitea-event",
    "x-gitea-delivery",
    "x-gitea-signature",
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "x-gitlab-token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-event-key",
    "x-request-uuid",
    "x-hub-signature",
];

/// The answer to an accepted delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAnswer {
    /// `queued`, `ignored` or `duplicate`.
    #[schema(pattern = "^(queued|ignored|duplicate)$")]
    pub verdict: String,
    /// Why.
    pub reason: String,
    /// The deployment queued.
    pub deployment_id: Option<DeploymentId>,
}

/// A webhook and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    /// The webhook.
    pub webhook: Webhook,
    /// The secret to give the provider; ServOS never shows it again.
    pub secret: String,
}

/// Reads the body, refusing one larger than `limit` before reading it
/// whole (and before any signature work).
async fn body_within(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadJson("body is unreadable".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A delivery from a git provider (GitHub, Gitea, Forgejo, GitLab,
/// Bitbucket), signed with the webhook's secret: a push to its branch
/// queues a deployment (202), a ping answers 200, other events and branches
/// 202 with the reason, a delivery or commit seen before 200.
#[utoipa::path(post, path = "/hooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Application id")),
    request_body(content = Object, description = "The provider's payload, as it sent it"),
    responses((status = 200, body = DeliveryAnswer, description = "A ping, or a delivery or commit seen before"),
    (status = 202, body = DeliveryAnswer, description = "Queued, or nothing to do and why"),
    (status = 401, body = ErrorBody, description = "No known provider, or a signature that does not hold"),
    (status = 409, body = ErrorBody, description = "The application cannot be deployed (no servers)")))]
pub async fn deliver(
    state: web::Data<AppState>,
    origin: Origin,
    req: HttpRequest,
    app_id: web::Path<AppId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if let Some(ip) = &origin.client_ip {
        state.limits.auth_failures.check(ip)?;
    }
    let body = body_within(&req, payload, state.config.webhooks.max_bytes).await?;
    let headers = Headers::new(DELIVERY_HEADERS.iter().filter_map(|name| {
        let value = req.headers().get(*name)?.to_str().ok()?;
        Some(((*name).to_owned(), value.to_owned()))
    }));
    let received: Received =
        receive::receive(&state, origin, app_id.into_inner(), headers, body).await?;
    let answer = DeliveryAnswer {
        verdict: received.verdict.as_str().to_owned(),
        reason: received.reason,
        deployment_id: received.deployment_id,
    };
    Ok(match received.verdict {
        receive::Verdict::Duplicate => HttpResponse::Ok().json(answer),
        _ if received.ping => HttpResponse::Ok().json(answer),
        _ => HttpResponse::Accepted().json(answer),
    })
}

/// The application's webhook and its last 50 deliveries.
#[utoipa::path(get, path = "/api/v1/apps/{id}/webhook", tag = "webhooks",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = Webhook)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(hooks::show(&state, id.into_inner()).await?))
}

/// Makes the application's webhook; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/apps/{id}/webhook", tag = "webhooks",
    params(("id" = String, Path, description = "Application id")),
    request_body = WebhookBranch,
    responses((status = 201, body = WebhookWithSecret),
    (status = 409, body = ErrorBody, description = "The application has a webhook")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
    body: StrictJson<WebhookBranch>,
) -> Result<HttpResponse, ApiError> {
    let (webhook, secret) = hooks::create(&state, origin, admin.0, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Created().json(WebhookWithSecret {
        webhook,
        secret: secret.expose().to_owned(),
    }))
}

/// Changes the branch whose pushes deploy.
#[utoipa::path(patch, path = "/api/v1/apps/{id}/webhook", tag = "webhooks",
    params(("id" = String, Path, description = "Application id")),
    request_body = WebhookBranch,
    responses((status = 200, body = Webhook)),
    security(("session" = []), ("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
    body: StrictJson<WebhookBranch>,
) -> Result<HttpResponse, ApiError> {
    let webhook = hooks::set_branch(&state, origin, admin.0, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(webhook))
}

/// A new secret, in this answer only; the previous one stays accepted for
/// `SERVOS_WEBHOOK_ROTATION_GRACE_HOURS`.
#[utoipa::path(post, path = "/api/v1/apps/{id}/webhook/secret", tag = "webhooks",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = WebhookWithSecret)),
    security(("session" = []), ("bearer" = [])))]
pub async fn rotate(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let (webhook, secret) = hooks::rotate(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(WebhookWithSecret {
        webhook,
        secret: secret.expose().to_owned(),
    }))
}

/// Removes the application's webhook: deliveries are refused from now on.
#[utoipa::path(delete, path = "/api/v1/apps/{id}/webhook", tag = "webhooks",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 204, description = "Removed")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    hooks::delete(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
