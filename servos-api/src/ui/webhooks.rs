//! An application's webhook page: the URL to give the git provider, the
//! branch that deploys, the secret (shown once, when made or rotated), and
//! the last 50 deliveries with their verdict and the deployment each
//! queued. Admins make, change, rotate and remove it here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::apps;
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::ids::AppId;
use crate::webhooks::hooks::{self, Webhook, WebhookBranch};

use super::chrome::Chrome;
use super::flash::{self, Flash};
use super::form::{FieldErrors, Form};
use super::views;

/// One delivery as the page lists it.
#[derive(Debug)]
struct DeliveryLine {
    received: String,
    provider: String,
    event: String,
    git_ref: String,
    commit: String,
    verdict: String,
    tone: &'static str,
    reason: String,
    deployment_id: Option<String>,
}

impl From<hooks::Delivery> for DeliveryLine {
    fn from(d: hooks::Delivery) -> Self {
        let tone = match d.verdict.as_str() {
            "queued" => "ok",
            "rejected" => "bad",
            _ => "neutral",
        };
        Self {
            received: views::when(d.received_at.naive_utc()),
            provider: d.provider,
            event: d.event.unwrap_or_default(),
            git_ref: d.git_ref.unwrap_or_default(),
            commit: d
                .commit
                .map(|c| c.chars().take(12).collect())
                .unwrap_or_default(),
            verdict: d.verdict,
            tone,
            reason: d.reason,
            deployment_id: d.deployment_id.map(String::from),
        }
    }
}

#[derive(Template)]
#[template(path = "apps/webhook.html")]
struct WebhookPage<'a> {
    chrome: &'a Chrome,
    app_id: String,
    app_name: String,
    /// The absolute URL providers post to.
    url: String,
    branch: String,
    /// Until when the secret before the last rotation is accepted.
    previous_until: Option<String>,
    exists: bool,
    deliveries: Vec<DeliveryLine>,
    /// The secret, in the one answer that shows it.
    secret: Option<&'a str>,
    errors: FieldErrors,
}

/// Where this API is reached: the public URL when set, else the address
/// the browser used.
fn base_url(state: &AppState, req: &HttpRequest) -> String {
    state.config.public_origin.clone().unwrap_or_else(|| {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    })
}

/// The application's webhook, or `None` when it has none (404 when the
/// application does not exist).
async fn current(state: &AppState, app_id: &AppId) -> Result<Option<Webhook>, ApiError> {
    match hooks::show(state, app_id.clone()).await {
        Ok(hook) => Ok(Some(hook)),
        Err(ServiceError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn page<'a>(
    state: &AppState,
    req: &HttpRequest,
    chrome: &'a Chrome,
    app_id: AppId,
    secret: Option<&'a str>,
    errors: FieldErrors,
) -> Result<WebhookPage<'a>, ApiError> {
    let app = apps::get(state, app_id.clone()).await?;
    let hook = current(state, &app_id).await?;
    let url = format!("{}{}", base_url(state, req), hooks::path_of(&app_id));
    let exists = hook.is_some();
    let (branch, previous_until, deliveries) = match hook {
        Some(hook) => (
            hook.branch,
            hook.previous_secret_until
                .map(|until| views::when(until.naive_utc())),
            hook.deliveries
                .into_iter()
                .map(DeliveryLine::from)
                .collect(),
        ),
        // What the form to make one starts with.
        None => ("main".to_owned(), None, Vec::new()),
    };
    Ok(WebhookPage {
        chrome,
        app_id: app_id.to_string(),
        app_name: app.spec.name,
        url,
        branch,
        previous_until,
        exists,
        deliveries,
        secret: secret.filter(|_| exists),
        errors,
    })
}

/// `GET /apps/{id}/webhook`.
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    chrome: Chrome,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let page = page(
        &state,
        &req,
        &chrome,
        id.into_inner(),
        None,
        FieldErrors::default(),
    )
    .await?;
    chrome.ok(&page)
}

/// `POST /apps/{id}/webhook`: makes the webhook and shows its secret, once,
/// in this answer.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    chrome: Chrome,
    id: web::Path<AppId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let id = id.into_inner();
    let branch = WebhookBranch {
        branch: form.text("branch"),
    };
    let made = hooks::create(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
        branch,
    )
    .await;
    match made {
        Ok((_, secret)) => {
            let page = page(
                &state,
                &req,
                &chrome,
                id,
                Some(secret.expose()),
                FieldErrors::default(),
            )
            .await?;
            chrome.render(StatusCode::CREATED, &page)
        }
        Err(e) => {
            let errors = FieldErrors::from_service(e, &[])?;
            let page = page(&state, &req, &chrome, id, None, errors).await?;
            chrome.invalid(&page)
        }
    }
}

/// `POST /apps/{id}/webhook/branch`.
pub async fn set_branch(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let branch = WebhookBranch {
        branch: form.text("branch"),
    };
    let flash = match hooks::set_branch(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
        branch,
    )
    .await
    {
        Ok(hook) => Flash::success(format!("Pushes to {} now deploy.", hook.branch)),
        Err(e) => flash::failure("Changing the branch", e)?,
    };
    Ok(chrome.redirect(&format!("/apps/{id}/webhook"), flash))
}

/// `POST /apps/{id}/webhook/rotate`: a new secret, shown once in this
/// answer; the previous one stays accepted for the grace period.
pub async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    chrome: Chrome,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let id = id.into_inner();
    let (_, secret) = hooks::rotate(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await?;
    let page = page(
        &state,
        &req,
        &chrome,
        id,
        Some(secret.expose()),
        FieldErrors::default(),
    )
    .await?;
    chrome.ok(&page)
}

/// `POST /apps/{id}/webhook/delete`.
pub async fn delete(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    hooks::delete(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await?;
    Ok(chrome.redirect(
        &format!("/apps/{id}"),
        Flash::success("Webhook removed: its URL now refuses every delivery."),
    ))
}
