//! Deployment pages: the Deploy button's action on an application's page,
//! the list of deployments (newest first, optionally of one application),
//! and a deployment's page: its servers and progress, cancel and rollback,
//! and its step log rendered in full. While the job runs, `static/app.js`
//! appends new lines from the event stream and shows the final state when
//! it ends.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::apps;
use crate::deploy::history;
use crate::deploy::requests::{self, Deployment};
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store;
use crate::store::deployment_targets::{TargetRow, TargetTimings};
use crate::store::deployments::DeploymentRow;
use crate::store::ids::{AppId, DeploymentId, ServerId};
use crate::store::states::DeploymentState;

use super::apps::server_names;
use super::chrome::Chrome;
use super::flash::{failure, Flash};
use super::form::Form;
use super::views::{self, Status};

/// Deployments per page of the list.
const PAGE_SIZE: i64 = 50;
/// Deployments an application's page lists.
const APP_HISTORY: i64 = 10;
/// Deployments the dashboard lists.
const RECENT: i64 = 6;

/// A deployment as a row of a table, or the head of its page.
#[derive(Debug)]
pub struct DeploymentItem {
    /// Id.
    pub id: String,
    /// The application's id.
    pub app_id: String,
    /// The application's name (its id when it is gone).
    pub app: String,
    /// State and its colour.
    pub status: Status,
    /// The image as requested.
    pub image: String,
    /// What the image resolved to after the pull.
    pub digest: Option<String>,
    /// The digest cut short for tables, or `""`.
    pub digest_short: String,
    /// The environment version deployed.
    pub env_version: i64,
    /// Who asked for it.
    pub requested_by: String,
    /// When it was asked for.
    pub created: String,
    /// The same time for `<time datetime>`.
    pub created_at: String,
    /// How long it ran (so far, while it runs).
    pub duration: Option<String>,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// The deployment it rolls back to.
    pub rollback_of: Option<String>,
    /// It succeeded: a rollback may return to it.
    pub succeeded: bool,
    /// It has ended.
    pub finished: bool,
    /// A cancel was asked for.
    pub cancel_requested: bool,
    /// Times a worker started it.
    pub attempt: i32,
}

impl DeploymentItem {
    /// The row of `row`; `app_names` maps application ids to names.
    pub fn new(row: DeploymentRow, app_names: &HashMap<AppId, String>) -> Self {
        let finished = row.is_finished();
        let end = row.finished_at.unwrap_or_else(store::now);
        Self {
            app: app_names
                .get(&row.app_id)
                .cloned()
                .unwrap_or_else(|| row.app_id.to_string()),
            status: views::deployment_status(row.state.as_str()),
            digest_short: row
                .image_digest
                .as_deref()
                .map(views::short_digest)
                .unwrap_or_default(),
            created: views::when(row.created_at),
            created_at: views::machine_time(row.created_at),
            duration: row.started_at.map(|start| views::duration(start, end)),
            succeeded: row.state == DeploymentState::Succeeded,
            finished,
            id: row.id.to_string(),
            app_id: row.app_id.to_string(),
            image: row.image,
            digest: row.image_digest,
            env_version: row.env_version,
            requested_by: row.requested_by,
            reason: row.reason,
            rollback_of: row.rollback_of.map(String::from),
            cancel_requested: row.cancel_requested,
            attempt: row.attempt,
        }
    }

    /// The first characters of the id, enough to tell deployments apart.
    pub fn short_id(&self) -> &str {
        short_id(&self.id)
    }
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// An application's deployments as its page shows them.
#[derive(Debug)]
pub struct AppDeployments {
    /// What its servers run: the newest succeeded deployment.
    pub current: Option<DeploymentItem>,
    /// The newest deployments.
    pub recent: Vec<DeploymentItem>,
    /// Older ones exist (on the list page).
    pub more: bool,
}

impl AppDeployments {
    /// The deployments of application `app_id`, named `name`.
    pub async fn load(state: &AppState, app_id: &AppId, name: &str) -> Result<Self, ApiError> {
        let names = HashMap::from([(app_id.clone(), name.to_owned())]);
        let (rows, next) = requests::list(state, Some(app_id.clone()), None, APP_HISTORY).await?;
        let current = history::current(state, app_id.clone()).await?;
        Ok(Self {
            current: current.map(|row| DeploymentItem::new(row, &names)),
            recent: rows
                .into_iter()
                .map(|row| DeploymentItem::new(row, &names))
                .collect(),
            more: next.is_some(),
        })
    }
}

/// The newest deployments of every application, for the dashboard.
pub async fn recent(
    state: &AppState,
    app_names: &HashMap<AppId, String>,
) -> Result<Vec<DeploymentItem>, ApiError> {
    let (rows, _) = requests::list(state, None, None, RECENT).await?;
    Ok(rows
        .into_iter()
        .map(|row| DeploymentItem::new(row, app_names))
        .collect())
}

/// One server of a deployment.
#[derive(Debug)]
struct TargetItem {
    id: String,
    server_id: String,
    server: String,
    status: Status,
    container: Option<String>,
    /// Where its time went, once it ended.
    took: Option<String>,
    reason: Option<String>,
}

impl TargetItem {
    fn new(row: TargetRow, server_names: &HashMap<ServerId, String>) -> Self {
        Self {
            server: server_names
                .get(&row.server_id)
                .cloned()
                .unwrap_or_else(|| row.server_id.to_string()),
            status: views::deployment_status(row.state.as_str()),
            id: row.id.to_string(),
            server_id: row.server_id.to_string(),
            took: time_spent(&row.timings),
            container: row.container,
            reason: row.reason,
        }
    }
}

/// `2.40 s (Docker 1.90 s, ServOS 0.40 s)` (as `static/app.js` shows it
/// from the API), once the target ended.
fn time_spent(timings: &TargetTimings) -> Option<String> {
    let seconds = |ms: i64| format!("{:.2} s", ms as f64 / 1000.0);
    Some(format!(
        "{} (Docker {}, ServOS {})",
        seconds(timings.total_ms?),
        seconds(timings.docker_ms?),
        seconds(timings.servos_ms()?)
    ))
}

/// One line of the step log.
#[derive(Debug)]
struct LineItem {
    at: String,
    server: Option<String>,
    text: String,
}

#[derive(Template)]
#[template(path = "deployments/list.html")]
struct ListPage<'a> {
    chrome: &'a Chrome,
    deployments: Vec<DeploymentItem>,
    apps: Vec<(String, String)>,
    app_id: String,
    newer: Option<String>,
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "deployments/show.html")]
struct ShowPage<'a> {
    chrome: &'a Chrome,
    deployment: DeploymentItem,
    /// The commit it builds, for an application built from git.
    commit: Option<String>,
    targets: Vec<TargetItem>,
    /// Servers where it has ended.
    done: usize,
    lines: Vec<LineItem>,
    /// The event stream after the lines shown.
    events: String,
}

/// The list's filters and page, from the query string.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    app_id: Option<String>,
    before: Option<String>,
}

fn page_of(id: &DeploymentId) -> String {
    format!("/deployments/{id}")
}

/// `GET /deployments`.
pub async fn list(
    state: web::Data<AppState>,
    chrome: Chrome,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("deployments");
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let app_id = query.app_id.filter(|id| !id.is_empty());
    let before = query.before.filter(|id| !id.is_empty());
    let (rows, next) = requests::list(
        &state,
        app_id.clone().map(AppId::from),
        before.clone().map(DeploymentId::from),
        PAGE_SIZE,
    )
    .await?;
    let apps: Vec<(AppId, String)> = apps::list(&state)
        .await?
        .into_iter()
        .map(|app| (app.id, app.spec.name))
        .collect();
    let names: HashMap<AppId, String> = apps.iter().cloned().collect();
    let link = |before: Option<&str>| {
        let pairs: Vec<(&str, &str)> = app_id
            .iter()
            .map(|id| ("app_id", id.as_str()))
            .chain(before.map(|id| ("before", id)))
            .collect();
        match serde_urlencoded::to_string(pairs) {
            Ok(q) if !q.is_empty() => format!("/deployments?{q}"),
            _ => "/deployments".to_owned(),
        }
    };
    let page = ListPage {
        chrome: &chrome,
        deployments: rows
            .into_iter()
            .map(|row| DeploymentItem::new(row, &names))
            .collect(),
        newer: before.as_ref().map(|_| link(None)),
        older: next.as_ref().map(|id| link(Some(id.as_str()))),
        app_id: app_id.unwrap_or_default(),
        apps: apps
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
    };
    chrome.ok(&page)
}

/// `GET /deployments/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<DeploymentId>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("deployments");
    let id = id.into_inner();
    let Deployment {
        row,
        targets,
        source_commit,
    } = requests::get(&state, id.clone()).await?;
    let log = history::log(&state, id.clone()).await?;
    let servers = server_names(&state).await?;
    let app_name = match apps::get(&state, row.app_id.clone()).await {
        Ok(app) => app.spec.name,
        Err(ServiceError::NotFound) => row.app_id.to_string(),
        Err(e) => return Err(e.into()),
    };
    let names = HashMap::from([(row.app_id.clone(), app_name)]);
    let after = log.last().map_or(0, |line| line.seq);
    let lines = log
        .into_iter()
        .map(|line| LineItem {
            at: views::clock(line.at),
            server: line.server_id.map(|server| {
                servers
                    .get(&server)
                    .cloned()
                    .unwrap_or_else(|| server.to_string())
            }),
            text: line.text,
        })
        .collect();
    let page = ShowPage {
        chrome: &chrome,
        deployment: DeploymentItem::new(row, &names),
        commit: source_commit,
        done: targets.iter().filter(|t| t.is_finished()).count(),
        targets: targets
            .into_iter()
            .map(|t| TargetItem::new(t, &servers))
            .collect(),
        lines,
        events: format!("/api/v1/deployments/{id}/events?after={after}"),
    };
    chrome.ok(&page)
}

/// `POST /apps/{id}/deploy`: queues a deployment of the application as it
/// is now and opens its page.
pub async fn deploy(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let app_id = id.into_inner();
    let queued = requests::deploy(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        app_id.clone(),
    )
    .await;
    let back = format!("/apps/{app_id}");
    open_queued(&chrome, queued, "Deployment", "Deploying", &back)
}

/// Opens the page of a deployment just queued (`what` names it in the
/// flash), or goes `back` saying why `action` failed.
fn open_queued(
    chrome: &Chrome,
    queued: Result<Deployment, ServiceError>,
    what: &str,
    action: &str,
    back: &str,
) -> Result<HttpResponse, ApiError> {
    Ok(match queued {
        Ok(Deployment { row, .. }) => {
            let text = format!(
                "{what} queued: {} with environment version {}.",
                row.image, row.env_version
            );
            chrome.redirect(&page_of(&row.id), Flash::success(text))
        }
        Err(e) => chrome.redirect(back, failure(action, e)?),
    })
}

/// `POST /deployments/{id}/cancel`.
pub async fn cancel(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<DeploymentId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let cancelled = requests::cancel(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await;
    let flash = match cancelled {
        Ok(Deployment { row, .. }) if row.state == DeploymentState::Cancelled => {
            Flash::success("Deployment cancelled before it started.")
        }
        Ok(_) => Flash::info(
            "Cancel requested: the deployment stops at its next step. \
             Servers already switched keep the new version.",
        ),
        Err(e) => failure("Cancelling", e)?,
    };
    Ok(chrome.redirect(&page_of(&id), flash))
}

/// `POST /deployments/{id}/rollback`: queues a deployment of what this
/// succeeded one ran and opens its page.
pub async fn rollback(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<DeploymentId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let queued = requests::rollback(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await;
    let what = format!("Rollback to deployment {}", short_id(id.as_str()));
    open_queued(&chrome, queued, &what, "Rolling back", &page_of(&id))
}
