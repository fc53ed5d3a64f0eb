//! The agent on a server's page (its mesh node, its last install, the
//! install button), and the page that follows an install's step log live.

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::http::error::ApiError;
use crate::mesh::{install, nodes};
use crate::state::AppState;
use crate::store::ids::{InstallId, ServerId};

use super::chrome::Chrome;
use super::flash::{failure, Flash};
use super::form::Form;
use super::views::{self, Status};

/// What a server's page says of its agent.
#[derive(Debug, Default)]
pub struct AgentItem {
    /// Its mesh address, when it is a node.
    pub address: Option<String>,
    /// Its backend and version.
    pub backend: String,
    /// Its last heartbeat.
    pub heartbeat: String,
    /// Its token is revoked.
    pub revoked: bool,
    /// The newest install: its id and state.
    pub last_install: Option<(String, Status)>,
}

/// The agent of server `id`, for its page.
pub async fn of_server(state: &AppState, id: &ServerId) -> Result<AgentItem, ApiError> {
    let node = nodes::of_server(state, id.clone()).await?;
    let last = install::last_of_server(state, id.clone()).await?;
    let mut item = AgentItem {
        last_install: last.map(|row| (row.id.to_string(), views::deployment_status(&row.state))),
        ..AgentItem::default()
    };
    if let Some(node) = node {
        item.address = Some(node.address.unwrap_or_default());
        item.backend = format!("{} {}", node.facts.backend, node.facts.agent_version);
        item.heartbeat = node
            .last_heartbeat_at
            .map_or_else(|| "never".to_owned(), |at| views::when(at.naive_utc()));
        item.revoked = node.revoked;
    }
    Ok(item)
}

/// `POST /servers/{id}/agent`: installs the agent and opens the install's page.
pub async fn install(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<ServerId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let started = install::start(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await;
    Ok(match started {
        Ok(row) => chrome.redirect(
            &format!("/agent-installs/{}", row.id),
            Flash::success("Installing the agent."),
        ),
        Err(e) => chrome.redirect(
            &format!("/servers/{id}"),
            failure("Installing the agent", e)?,
        ),
    })
}

#[derive(Template)]
#[template(path = "agent_install.html")]
struct InstallPage<'a> {
    chrome: &'a Chrome,
    id: String,
    server_id: String,
    status: Status,
    running: bool,
    reason: Option<String>,
    requested_by: String,
    created: String,
    lines: Vec<String>,
}

/// `GET /agent-installs/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<InstallId>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("servers");
    let found = install::get(&state, id.into_inner()).await?;
    let row = found.row;
    chrome.ok(&InstallPage {
        chrome: &chrome,
        id: row.id.to_string(),
        server_id: row.server_id.to_string(),
        status: views::deployment_status(&row.state),
        running: row.state == "running",
        reason: row.reason,
        requested_by: row.requested_by,
        created: views::when(row.created_at),
        lines: found.lines.into_iter().map(|line| line.text).collect(),
    })
}
