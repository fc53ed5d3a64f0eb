//! Application pages: the list, the create and edit forms, and an
//! application's page with its settings, its environment editor (names and
//! flags shown, values never) and its deployments (the current version, the
//! Deploy button, the newest deployments).

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::apps::env::{self, MaskedEnv};
use crate::apps::git::BuildArgValue;
use crate::apps::health::HealthCheckSpec;
use crate::apps::{self, App};
use crate::credentials::{git as git_credentials, registries};
use crate::deploy::history::{self, AppDeploys};
use crate::http::error::ApiError;
use crate::mesh::apps::{self as mesh_apps, MeshApp};
use crate::servers;
use crate::state::AppState;
use crate::store::ids::{AppId, ServerId};
use crate::store::registries::RegistryRow;

use super::app_env::EnvEditor;
use super::app_form::{self, AppValues, RENAMES};
use super::chrome::Chrome;
use super::deployments::AppDeployments;
use super::flash::Flash;
use super::form::{FieldErrors, Form};
use super::views::{self, Status};

/// An application in a list.
#[derive(Debug)]
pub struct AppItem {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Names of its servers.
    pub servers: Vec<String>,
    /// Container port.
    pub port: u16,
    /// Domain, if any.
    pub domain: Option<String>,
    /// Current environment version.
    pub env_version: i64,
    /// What its servers run (the image by its short digest), once a
    /// deployment succeeded.
    pub running: Option<String>,
    /// Its newest deployment.
    pub last_deploy: Option<LastDeploy>,
}

/// An application's newest deployment, as a list shows it.
#[derive(Debug)]
pub struct LastDeploy {
    /// Deployment id.
    pub id: String,
    /// Its state.
    pub status: Status,
    /// When it was asked for.
    pub when: String,
}

impl AppItem {
    /// The list entry of `app`; `server_names` maps server ids to names.
    pub fn new(app: App, server_names: &HashMap<ServerId, String>) -> Self {
        let spec = app.spec;
        Self {
            servers: spec
                .server_ids
                .iter()
                .map(|id| {
                    server_names
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| id.to_string())
                })
                .collect(),
            id: app.id.to_string(),
            name: spec.name,
            image: match (&spec.image, &spec.git) {
                (Some(image), _) => image.to_string(),
                (None, Some(git)) => format!("built from {} ({})", git.url, git.branch),
                (None, None) => String::new(),
            },
            port: spec.container_port,
            domain: spec.domain,
            env_version: app.env_version,
            running: None,
            last_deploy: None,
        }
    }

    /// The same entry with its current version and newest deployment.
    pub fn with_deploys(mut self, deploys: &HashMap<AppId, AppDeploys>) -> Self {
        if let Some(deploys) = deploys.get(&AppId::from(self.id.as_str())) {
            self.running = deploys.current.as_ref().map(|row| {
                row.image_digest
                    .as_deref()
                    .map_or_else(|| row.image.clone(), views::short_digest)
            });
            self.last_deploy = deploys.last.as_ref().map(|row| LastDeploy {
                id: row.id.to_string(),
                status: views::deployment_status(row.state.as_str()),
                when: views::when(row.created_at),
            });
        }
        self
    }
}

/// A server the form offers (those with the `run` role, or the `build`
/// role as builders).
#[derive(Debug)]
struct ServerChoice {
    id: String,
    name: String,
    address: String,
}

/// A git credential the form offers.
#[derive(Debug)]
struct CredentialChoice {
    id: String,
    name: String,
    provider: String,
}

/// Where an application is built from, as its page shows it: a secret
/// build argument's value is never in it.
#[derive(Debug)]
pub(super) struct GitFacts {
    url: String,
    branch: String,
    dockerfile: String,
    context: String,
    builder: String,
    credential: Option<String>,
    /// Build arguments: name and value, `None` for a secret one.
    build_args: Vec<(String, Option<String>)>,
}

#[derive(Template)]
#[template(path = "apps/list.html")]
struct ListPage<'a> {
    chrome: &'a Chrome,
    apps: Vec<AppItem>,
}

#[derive(Template)]
#[template(path = "apps/form.html")]
struct FormPage<'a> {
    chrome: &'a Chrome,
    /// `None` for a new application.
    app_id: Option<String>,
    values: AppValues,
    servers: Vec<ServerChoice>,
    builders: Vec<ServerChoice>,
    git_credentials: Vec<CredentialChoice>,
    registries: Vec<RegistryRow>,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "apps/show.html")]
pub(super) struct ShowPage<'a> {
    pub(super) chrome: &'a Chrome,
    pub(super) app: AppItem,
    pub(super) registry: Option<String>,
    pub(super) git: Option<GitFacts>,
    pub(super) health: String,
    pub(super) restart_policy: String,
    pub(super) limits: String,
    pub(super) labels: Vec<(String, String)>,
    pub(super) updated: String,
    pub(super) env: MaskedEnv,
    pub(super) editor: EnvEditor,
    pub(super) deployments: AppDeployments,
    pub(super) mesh: Option<MeshApp>,
}

/// Server names by id.
pub(super) async fn server_names(state: &AppState) -> Result<HashMap<ServerId, String>, ApiError> {
    Ok(servers::list(state)
        .await?
        .into_iter()
        .map(|(row, _)| (row.id, row.name))
        .collect())
}

/// `GET /apps`.
pub async fn list(state: web::Data<AppState>, chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let names = server_names(&state).await?;
    let deploys = history::per_app(&state).await?;
    let apps = apps::list(&state)
        .await?
        .into_iter()
        .map(|app| AppItem::new(app, &names).with_deploys(&deploys))
        .collect();
    chrome.ok(&ListPage {
        chrome: &chrome,
        apps,
    })
}

async fn form_page<'a>(
    state: &AppState,
    chrome: &'a Chrome,
    app_id: Option<AppId>,
    values: AppValues,
    errors: FieldErrors,
) -> Result<FormPage<'a>, ApiError> {
    let all = servers::list(state).await?;
    let with_role = |role: &str| {
        all.iter()
            .filter(|(row, _)| row.roles.split(',').any(|r| r == role))
            .map(|(row, _)| ServerChoice {
                id: row.id.to_string(),
                name: row.name.clone(),
                address: row.address.clone(),
            })
            .collect()
    };
    let git_credentials = git_credentials::list(state)
        .await?
        .into_iter()
        .map(|row| CredentialChoice {
            id: row.id,
            name: row.name,
            provider: row.provider,
        })
        .collect();
    Ok(FormPage {
        chrome,
        app_id: app_id.map(String::from),
        values,
        servers: with_role("run"),
        builders: with_role("build"),
        git_credentials,
        registries: registries::list(state).await?,
        errors,
    })
}

/// `GET /apps/new`.
pub async fn new_form(
    state: web::Data<AppState>,
    chrome: Chrome,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let page = form_page(
        &state,
        &chrome,
        None,
        AppValues::default(),
        FieldErrors::default(),
    )
    .await?;
    chrome.ok(&page)
}

/// `POST /apps`: creates the application (its environment starts empty).
pub async fn create(
    state: web::Data<AppState>,
    chrome: Chrome,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let values = AppValues::from_form(&form);
    let mut errors = FieldErrors::default();
    let new = values.to_new_app(&mut errors);
    if errors.is_empty() {
        match apps::create(&state, chrome.origin.clone(), chrome.principal()?, new).await {
            Ok(app) => {
                let text = format!(
                    "Application {} created. Add its environment variables below.",
                    app.spec.name
                );
                return Ok(chrome.redirect(&format!("/apps/{}", app.id), Flash::success(text)));
            }
            Err(e) => errors = FieldErrors::from_service(e, &RENAMES)?,
        }
    }
    let page = form_page(&state, &chrome, None, values, errors).await?;
    chrome.invalid(&page)
}

/// `GET /apps/{id}/edit`.
pub async fn edit_form(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let app = apps::get(&state, id.into_inner()).await?;
    let values = AppValues::from_app(&app);
    let page = form_page(
        &state,
        &chrome,
        Some(app.id),
        values,
        FieldErrors::default(),
    )
    .await?;
    chrome.ok(&page)
}

/// `POST /apps/{id}`: saves the fields that changed.
pub async fn update(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let id = id.into_inner();
    let current = apps::get(&state, id.clone()).await?;
    let values = AppValues::from_form(&form);
    let mut errors = FieldErrors::default();
    let new = values.to_new_app(&mut errors);
    let back = format!("/apps/{id}");
    if errors.is_empty() {
        let patch = app_form::changes(new, &current);
        if app_form::is_empty(&patch) {
            return Ok(chrome.redirect(&back, Flash::info("Nothing changed.")));
        }
        match apps::update(
            &state,
            chrome.origin.clone(),
            chrome.principal()?,
            id.clone(),
            patch,
        )
        .await
        {
            Ok(app) => {
                let text = format!("Application {} saved.", app.spec.name);
                return Ok(chrome.redirect(&back, Flash::success(text)));
            }
            Err(e) => errors = FieldErrors::from_service(e, &RENAMES)?,
        }
    }
    let page = form_page(&state, &chrome, Some(id), values, errors).await?;
    chrome.invalid(&page)
}

/// `GET /apps/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let page = show_page(&state, &chrome, id.into_inner(), EnvEditor::default()).await?;
    chrome.ok(&page)
}

/// The application's page, its environment editor in state `editor`.
pub(super) async fn show_page<'a>(
    state: &AppState,
    chrome: &'a Chrome,
    id: AppId,
    editor: EnvEditor,
) -> Result<ShowPage<'a>, ApiError> {
    let app = apps::get(state, id.clone()).await?;
    let env = env::show(state, id.clone()).await?;
    let deployments = AppDeployments::load(state, &id, &app.spec.name).await?;
    let registry = match &app.spec.registry_id {
        Some(registry_id) => Some(
            registries::get(state, registry_id.clone())
                .await
                .map_or_else(
                    |_| registry_id.clone(),
                    |r| format!("{} ({})", r.name, r.host),
                ),
        ),
        None => None,
    };
    let names = server_names(state).await?;
    let git = match &app.spec.git {
        Some(git) => {
            let credential = match &git.git_credential_id {
                Some(id) => Some(
                    git_credentials::get(state, id.clone())
                        .await
                        .map_or_else(|_| id.clone(), |c| c.name),
                ),
                None => None,
            };
            Some(GitFacts {
                url: git.url.clone(),
                branch: git.branch.clone(),
                dockerfile: git.dockerfile.clone(),
                context: git.context.clone(),
                builder: names
                    .get(&git.builder_server_id)
                    .cloned()
                    .unwrap_or_else(|| git.builder_server_id.to_string()),
                credential,
                build_args: git
                    .build_args
                    .iter()
                    .map(|(name, value)| {
                        let shown = match value {
                            BuildArgValue::Clear(text) => Some(text.clone()),
                            BuildArgValue::NewSecret(_) | BuildArgValue::KeptSecret => None,
                        };
                        (name.clone(), shown)
                    })
                    .collect(),
            })
        }
        None => None,
    };
    let spec = &app.spec;
    let health = health_text(&HealthCheckSpec::from(&spec.health_check));
    let limits = match (spec.limits.memory_bytes, spec.limits.milli_cpus) {
        (None, None) => "none".to_owned(),
        (memory, cpus) => [
            memory.map(|b| format!("memory {}", views::bytes(b))),
            cpus.map(|m| format!("{} CPU", views::cpus(m))),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
    };
    Ok(ShowPage {
        chrome,
        registry,
        git,
        health,
        restart_policy: spec.restart_policy.to_string(),
        limits,
        labels: spec.labels.clone().into_iter().collect(),
        updated: views::when(app.updated_at),
        app: AppItem::new(app, &names),
        env,
        editor,
        deployments,
        mesh: mesh_apps::of_app(state, id).await?,
    })
}

fn health_text(spec: &HealthCheckSpec) -> String {
    let probe = match (&spec.http, &spec.command) {
        (Some(http), _) => format!("HTTP GET {}", http.path),
        (None, Some(command)) => format!("command {}", command.join(" ")),
        (None, None) => "none".to_owned(),
    };
    format!(
        "{probe}, every {}s, timeout {}s, {} retries",
        spec.interval_secs, spec.timeout_secs, spec.retries
    )
}

/// `POST /apps/{id}/delete` (admins): removes the application from its
/// servers and deletes it; "Delete anyway" (`force`) deletes it even when
/// a server could not be cleaned. A refusal comes back as a message on the
/// application's page.
pub async fn delete(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let done = apps::delete(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.clone(),
        form.checked("force"),
    )
    .await;
    match done {
        Ok(removal) if removal.left_on.is_empty() => {
            Ok(chrome.redirect("/apps", Flash::success("Application deleted.")))
        }
        Ok(removal) => Ok(chrome.redirect(
            "/apps",
            Flash::error(format!(
                "Application deleted, but it may still run on {}: they could not be cleaned.",
                removal.left_on.join(", ")
            )),
        )),
        Err(e) => {
            let flash = super::flash::failure("Deleting", e)?;
            Ok(chrome.redirect(&format!("/apps/{id}"), flash))
        }
    }
}
