//! The dashboard: servers with their health, applications with what they
//! run and how their last deployment went, the newest deployments, and (for admins) the
//! newest audit entries; each empty section says what to do next.

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::apps;
use crate::audit::read;
use crate::deploy::history;
use crate::http::error::ApiError;
use crate::servers;
use crate::state::AppState;
use crate::store::audit_log::AuditFilter;

use super::apps::AppItem;
use super::audit::EntryItem;
use super::chrome::Chrome;
use super::deployments::{self, DeploymentItem};
use super::servers::ServerItem;

/// How many audit entries the dashboard shows.
const RECENT_ENTRIES: i64 = 8;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    chrome: &'a Chrome,
    servers: Vec<ServerItem>,
    apps: Vec<AppItem>,
    deployments: Vec<DeploymentItem>,
    entries: Vec<EntryItem>,
    ready: usize,
    attention: usize,
}

/// `GET /`.
pub async fn show(state: web::Data<AppState>, chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("dashboard");
    let page = load(&state, &chrome).await?;
    chrome.ok(&page)
}

async fn load<'a>(state: &AppState, chrome: &'a Chrome) -> Result<Dashboard<'a>, ApiError> {
    let server_rows = servers::list(state).await?;
    let names = server_rows
        .iter()
        .map(|(row, _)| (row.id.clone(), row.name.clone()))
        .collect();
    let servers: Vec<ServerItem> = server_rows
        .into_iter()
        .map(|(row, check)| ServerItem::new(row, check.as_ref()))
        .collect();
    let app_rows = apps::list(state).await?;
    let app_names = app_rows
        .iter()
        .map(|app| (app.id.clone(), app.spec.name.clone()))
        .collect();
    let deployments = deployments::recent(state, &app_names).await?;
    let deploys = history::per_app(state).await?;
    let apps = app_rows
        .into_iter()
        .map(|app| AppItem::new(app, &names).with_deploys(&deploys))
        .collect();
    let entries = if chrome.is_admin() {
        state
            .db(|conn| read::page(conn, &AuditFilter::default(), RECENT_ENTRIES))
            .await?
            .entries
            .into_iter()
            .map(EntryItem::from)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Dashboard {
        chrome,
        ready: servers.iter().filter(|s| s.status.tone == "ok").count(),
        attention: servers.iter().filter(|s| s.status.tone == "bad").count(),
        servers,
        apps,
        deployments,
        entries,
    })
}
