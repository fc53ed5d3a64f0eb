//! Server pages: the list, the add form, and a server's page with its
//! pinned host key, commissioning, health checks and, when the host key
//! changed, both fingerprints with the admin's confirm and reset forms.

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::credentials::ssh_keys::{self as key_service, KeyKind};
use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::servers::{self, NewServer};
use crate::state::AppState;
use crate::store::ids::ServerId;
use crate::store::servers::{ServerCheckRow, ServerRow};
use crate::store::ssh_keys::SshKeyRow;

use super::chrome::Chrome;
use super::flash::{failure, Flash};
use super::form::{key_value_lines, FieldErrors, Form};
use super::views::{self, Status};

/// How many checks a server's page lists.
const RECENT_CHECKS: i64 = 10;

/// A server in a list.
#[derive(Debug)]
pub struct ServerItem {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `user@address:port`.
    pub target: String,
    /// Roles, `run` and/or `build`.
    pub roles: Vec<String>,
    /// Status and its colour.
    pub status: Status,
    /// Pinned host key, if any.
    pub fingerprint: Option<String>,
    /// Time of the newest check, if any.
    pub last_check: Option<String>,
}

impl ServerItem {
    /// The list entry of a server and its newest check.
    pub fn new(row: ServerRow, check: Option<&ServerCheckRow>) -> Self {
        Self {
            target: format!("{}@{}:{}", row.ssh_user, row.address, row.port),
            roles: roles(&row.roles),
            status: views::server_status(&row.status),
            fingerprint: row.host_key_fingerprint,
            last_check: check.map(|c| views::when(c.at)),
            id: row.id.to_string(),
            name: row.name,
        }
    }
}

fn roles(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One check on a server's page.
#[derive(Debug)]
struct CheckItem {
    at: String,
    status: Status,
    fingerprint: String,
    docker: String,
    disk: String,
    error: String,
}

impl From<ServerCheckRow> for CheckItem {
    fn from(row: ServerCheckRow) -> Self {
        Self {
            at: views::when(row.at),
            status: views::server_status(&row.status),
            fingerprint: row.fingerprint.unwrap_or_default(),
            docker: row.docker_version.unwrap_or_default(),
            disk: row.disk_free_bytes.map(views::bytes).unwrap_or_default(),
            error: row.error.unwrap_or_default(),
        }
    }
}

/// What the add form shows again after an error (nothing secret in it).
#[derive(Debug)]
struct ServerValues {
    name: String,
    address: String,
    port: String,
    user: String,
    ssh_key_id: String,
    roles: Vec<String>,
    labels: String,
}

impl ServerValues {
    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl Default for ServerValues {
    fn default() -> Self {
        Self {
            name: String::new(),
            address: String::new(),
            port: "22".into(),
            user: "root".into(),
            ssh_key_id: String::new(),
            roles: vec!["run".into()],
            labels: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "servers/list.html")]
struct ListPage<'a> {
    chrome: &'a Chrome,
    servers: Vec<ServerItem>,
}

#[derive(Template)]
#[template(path = "servers/new.html")]
struct NewPage<'a> {
    chrome: &'a Chrome,
    keys: Vec<SshKeyRow>,
    values: ServerValues,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "servers/show.html")]
struct ShowPage<'a> {
    chrome: &'a Chrome,
    server: ServerItem,
    user: String,
    labels: Vec<(String, String)>,
    pending: Option<String>,
    added: String,
    key: Option<SshKeyRow>,
    checks: Vec<CheckItem>,
    agent: super::agents::AgentItem,
}

/// `GET /servers`.
pub async fn list(state: web::Data<AppState>, chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("servers");
    let servers = servers::list(&state)
        .await?
        .into_iter()
        .map(|(row, check)| ServerItem::new(row, check.as_ref()))
        .collect();
    chrome.ok(&ListPage {
        chrome: &chrome,
        servers,
    })
}

async fn server_keys(state: &AppState) -> Result<Vec<SshKeyRow>, ApiError> {
    Ok(key_service::list(state)
        .await?
        .into_iter()
        .filter(|k| k.kind == KeyKind::Server.as_str())
        .collect())
}

/// `GET /servers/new` (admins).
pub async fn new_form(
    state: web::Data<AppState>,
    chrome: Chrome,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("servers");
    let keys = server_keys(&state).await?;
    let values = ServerValues {
        ssh_key_id: keys.first().map(|k| k.id.clone()).unwrap_or_default(),
        ..ServerValues::default()
    };
    chrome.ok(&NewPage {
        chrome: &chrome,
        keys,
        values,
        errors: FieldErrors::default(),
    })
}

/// `POST /servers`: registers a server; nothing is connected yet.
pub async fn create(
    state: web::Data<AppState>,
    chrome: Chrome,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("servers");
    let values = ServerValues {
        name: form.text("name"),
        address: form.text("address"),
        port: form.text("port"),
        user: form.text("user"),
        ssh_key_id: form.text("ssh_key_id"),
        roles: form.all("roles"),
        labels: form.raw("labels").to_owned(),
    };
    let mut errors = FieldErrors::default();
    let port = values.port.parse::<u16>().unwrap_or_else(|_| {
        errors.add("port", "must be a number from 1 to 65535");
        0
    });
    let labels = key_value_lines(&values.labels).unwrap_or_else(|e| {
        errors.add("labels", e);
        Default::default()
    });
    if errors.is_empty() {
        let new = NewServer {
            name: values.name.clone(),
            address: values.address.clone(),
            port,
            user: values.user.clone(),
            ssh_key_id: values.ssh_key_id.clone(),
            roles: values.roles.clone(),
            labels,
        };
        match servers::create(&state, chrome.origin.clone(), chrome.principal()?, new).await {
            Ok(row) => {
                let text = format!(
                    "Server {} added. Put its SSH key in {}'s authorized_keys, then commission it.",
                    row.name, row.ssh_user
                );
                return Ok(chrome.redirect(&format!("/servers/{}", row.id), Flash::success(text)));
            }
            Err(e) => errors = FieldErrors::from_service(e, &[])?,
        }
    }
    let keys = server_keys(&state).await?;
    chrome.invalid(&NewPage {
        chrome: &chrome,
        keys,
        values,
        errors,
    })
}

/// `GET /servers/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<ServerId>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("servers");
    let id = id.into_inner();
    let (row, _) = servers::get(&state, id.clone()).await?;
    let checks = servers::recent_checks(&state, id, RECENT_CHECKS).await?;
    let key = match key_service::get(&state, row.ssh_key_id.clone()).await {
        Ok(key) => Some(key),
        Err(ServiceError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let labels = serde_json::from_str::<std::collections::BTreeMap<String, String>>(&row.labels)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let agent = super::agents::of_server(&state, &row.id).await?;
    let page = ShowPage {
        chrome: &chrome,
        agent,
        user: row.ssh_user.clone(),
        pending: row.pending_fingerprint.clone(),
        added: views::when(row.created_at),
        labels,
        key,
        server: ServerItem::new(row, checks.first()),
        checks: checks.into_iter().map(CheckItem::from).collect(),
    };
    chrome.ok(&page)
}

fn back(id: &ServerId) -> String {
    format!("/servers/{id}")
}

/// `POST /servers/{id}/commission`: first connection, pins the host key.
pub async fn commission(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<ServerId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let done = servers::commission(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await;
    let flash = match done {
        Ok(check) => Flash::success(format!(
            "Commissioned: host key {} pinned; Docker {}.",
            check.fingerprint.unwrap_or_default(),
            check.docker_version.as_deref().unwrap_or("not available")
        )),
        Err(e) => failure("Commissioning", e)?,
    };
    Ok(chrome.redirect(&back(&id), flash))
}

/// `POST /servers/{id}/check`: a health check over the pinned connection.
pub async fn check(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<ServerId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let done = servers::check(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await;
    let flash = match done {
        Ok(check) => Flash::success(format!(
            "Check done: {}.",
            views::server_status(&check.status).label
        )),
        Err(e) => failure("The check", e)?,
    };
    Ok(chrome.redirect(&back(&id), flash))
}

/// `POST /servers/{id}/host-key/confirm`: pins the new key the admin checked.
pub async fn confirm_host_key(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<ServerId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let fingerprint = form.text("fingerprint");
    let done = servers::confirm_host_key(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
        fingerprint,
    )
    .await;
    let flash = match done {
        Ok(_) => Flash::success("The new host key is pinned; connections are allowed again."),
        Err(e) => failure("Confirming the host key", e)?,
    };
    Ok(chrome.redirect(&back(&id), flash))
}

/// `POST /servers/{id}/host-key/reset`: forgets the pin.
pub async fn reset_host_key(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<ServerId>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    servers::reset_host_key(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
    )
    .await?;
    let flash = Flash::info(
        "The pinned host key is cleared; commission the server to pin the key it presents.",
    );
    Ok(chrome.redirect(&back(&id), flash))
}

/// `POST /servers/{id}/delete`: refused, with a flash naming them, while
/// applications target the server, unless "Delete anyway" (`force`) is
/// ticked, which detaches it from them.
pub async fn delete(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<ServerId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let done = servers::delete(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
        form.checked("force"),
    )
    .await;
    match done {
        Ok(detached) if detached.is_empty() => {
            Ok(chrome.redirect("/servers", Flash::success("Server deleted.")))
        }
        Ok(detached) => {
            let names: Vec<&str> = detached.iter().map(|app| app.name.as_str()).collect();
            let text = format!(
                "Server deleted; it was taken out of the servers of {}.",
                names.join(", ")
            );
            Ok(chrome.redirect("/servers", Flash::success(text)))
        }
        Err(e) => {
            let flash = failure("Deleting", e)?;
            Ok(chrome.redirect(&back(&id), flash))
        }
    }
}
