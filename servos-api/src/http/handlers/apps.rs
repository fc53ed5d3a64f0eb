//! `/api/v1/apps` and `/api/v1/apps/{id}/env`: applications and their
//! versioned environment (values write-only, shown masked).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::apps::env::{self, MaskedEnv};
use crate::apps::git::{BuildArgValue, GitSource};
use crate::apps::health::HealthCheckSpec;
use crate::apps::validate::Limits;
use crate::apps::{self, App, AppPatch, NewApp};
use crate::audit::Origin;
use crate::credentials::env_sets::{EnvChange, VarEdit};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Deployer, Viewer};
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;
use crate::store::ids::{AppId, ServerId};

use super::env_sets::RevealVar;
use super::views::{Revealed, MASK};

/// An application.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = App)]
pub struct AppView {
    /// Id.
    pub id: AppId,
    /// Name.
    pub name: String,
    /// Docker image reference; `null` for an application built from git
    /// that is not built yet.
    pub image: Option<String>,
    /// Where the image is built from, for an application built from git.
    pub git: Option<GitSourceView>,
    /// Registry credential used to pull (and to push a built image to).
    pub registry_id: Option<String>,
    /// Target servers.
    pub server_ids: Vec<ServerId>,
    /// Port the container listens on.
    pub container_port: u16,
    /// Health check.
    pub health_check: HealthCheckSpec,
    /// Restart policy.
    pub restart_policy: String,
    /// Resource limits (`null` where unlimited).
    pub limits: Limits,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Public host name.
    pub domain: Option<String>,
    /// Current environment version (0 before the first change).
    pub env_version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<App> for AppView {
    fn from(app: App) -> Self {
        let spec = app.spec;
        Self {
            id: app.id,
            name: spec.name,
            image: spec.image.as_ref().map(ToString::to_string),
            git: spec.git.map(GitSourceView::from),
            registry_id: spec.registry_id,
            server_ids: spec.server_ids,
            container_port: spec.container_port,
            health_check: HealthCheckSpec::from(&spec.health_check),
            restart_policy: spec.restart_policy.to_string(),
            limits: spec.limits,
            labels: spec.labels,
            domain: spec.domain,
            env_version: app.env_version,
            created_at: app.created_at.and_utc(),
            updated_at: app.updated_at.and_utc(),
        }
    }
}

/// One build argument as shown: a secret one's value masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BuildArg)]
pub struct BuildArgView {
    /// The value, or `********` for a secret argument.
    pub value: String,
    /// Stored encrypted and never shown.
    pub secret: bool,
}

/// Where an application is built from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = GitSource)]
pub struct GitSourceView {
    /// Repository URL.
    pub url: String,
    /// Branch built.
    pub branch: String,
    /// Dockerfile path in the repository.
    pub dockerfile: String,
    /// Build context in the repository.
    pub context: String,
    /// Build arguments by name; secret values masked.
    pub build_args: BTreeMap<String, BuildArgView>,
    /// The server that builds.
    pub builder_server_id: ServerId,
    /// Git credential cloned with.
    pub git_credential_id: Option<String>,
}

impl From<GitSource> for GitSourceView {
    fn from(git: GitSource) -> Self {
        Self {
            url: git.url,
            branch: git.branch,
            dockerfile: git.dockerfile,
            context: git.context,
            build_args: git
                .build_args
                .into_iter()
                .map(|(name, value)| {
                    let view = match value {
                        BuildArgValue::Clear(value) => BuildArgView {
                            value,
                            secret: false,
                        },
                        BuildArgValue::NewSecret(_) | BuildArgValue::KeptSecret => BuildArgView {
                            value: MASK.to_owned(),
                            secret: true,
                        },
                    };
                    (name, view)
                })
                .collect(),
            builder_server_id: git.builder_server_id,
            git_credential_id: git.git_credential_id,
        }
    }
}

/// One variable as shown: its value masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = EnvVar)]
pub struct EnvVarView {
    /// Always `********`.
    pub value: &'static str,
    /// Delivered to the container as a file rather than in its environment.
    pub file_secret: bool,
}

/// An application's current environment, values masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AppEnv)]
pub struct AppEnvView {
    /// The application.
    pub app_id: AppId,
    /// Current version (0 before the first change).
    pub version: i64,
    /// Variables by name.
    pub vars: BTreeMap<String, EnvVarView>,
}

impl From<MaskedEnv> for AppEnvView {
    fn from(env: MaskedEnv) -> Self {
        Self {
            app_id: env.app_id,
            version: env.version,
            vars: env
                .vars
                .into_iter()
                .map(|var| {
                    let view = EnvVarView {
                        value: MASK,
                        file_secret: var.file_secret,
                    };
                    (var.name, view)
                })
                .collect(),
        }
    }
}

/// An edit of one variable; what is left out keeps its current setting.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VarEditBody {
    /// New value (required for a new variable; stored encrypted, never returned).
    #[serde(default)]
    #[schema(schema_with = fields::env_value_or_null)]
    pub value: Option<SecretText>,
    /// Deliver as a file rather than in the environment (a new variable defaults to `false`).
    #[serde(default)]
    pub file_secret: Option<bool>,
}

/// A change of the environment, saved as a new version.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAppEnv {
    /// Variables to add or edit, by name.
    #[serde(default)]
    #[schema(schema_with = fields::env_edits)]
    pub set: BTreeMap<String, VarEditBody>,
    /// Names of variables to remove.
    #[serde(default)]
    #[schema(schema_with = fields::env_names)]
    pub remove: Vec<String>,
}

impl From<ChangeAppEnv> for EnvChange {
    fn from(body: ChangeAppEnv) -> Self {
        Self {
            set: body
                .set
                .into_iter()
                .map(|(name, edit)| {
                    let edit = VarEdit {
                        value: edit.value,
                        file_secret: edit.file_secret,
                    };
                    (name, edit)
                })
                .collect(),
            unset: body.remove,
        }
    }
}

/// Lists applications.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", responses((status = 200, body = [AppView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _caller: Viewer) -> Result<HttpResponse, ApiError> {
    let rows = apps::list(&state).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(AppView::from).collect::<Vec<_>>()))
}

/// Creates an application (its environment starts empty, at version 0).
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", request_body = NewApp,
    responses((status = 201, body = AppView),
    (status = 409, body = ErrorBody, description = "Another application has this name or domain")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Deployer,
    body: StrictJson<NewApp>,
) -> Result<HttpResponse, ApiError> {
    let app = apps::create(&state, origin, caller.0, body.0).await?;
    Ok(HttpResponse::Created().json(AppView::from(app)))
}

/// One application.
#[utoipa::path(get, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = AppView)), security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let app = apps::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AppView::from(app)))
}

/// Changes the fields given (a partial update); `null` clears an optional field.
#[utoipa::path(patch, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = String, Path, description = "Application id")),
    request_body = AppPatch, responses((status = 200, body = AppView),
    (status = 409, body = ErrorBody, description = "Another application has this name or domain")),
    security(("session" = []), ("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Deployer,
    id: web::Path<AppId>,
    body: StrictJson<AppPatch>,
) -> Result<HttpResponse, ApiError> {
    let app = apps::update(&state, origin, caller.0, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(AppView::from(app)))
}

/// How to delete an application.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Delete it even if some server could not be cleaned (unreachable,
    /// host key changed); those servers are audited as left unclean.
    pub force: Option<bool>,
}

/// Removes an application from its servers (proxy route, containers, file
/// secrets), then deletes it; its environment versions are kept. 409 while
/// one of its deployments is queued or running; 502, deleting nothing,
/// when a server could not be cleaned (unless `force`).
#[utoipa::path(delete, path = "/api/v1/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "Application id"), DeleteQuery),
    responses((status = 204, description = "Deleted"),
    (status = 409, body = ErrorBody, description = "One of its deployments is queued or running"),
    (status = 502, body = ErrorBody, description = "A server could not be cleaned; nothing was deleted")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let force = query.force.unwrap_or(false);
    apps::delete(&state, origin, admin.0, id.into_inner(), force).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The current environment: names, flags and version; values masked.
#[utoipa::path(get, path = "/api/v1/apps/{id}/env", tag = "apps", params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = AppEnvView)), security(("session" = []), ("bearer" = [])))]
pub async fn show_env(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let env = env::show(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AppEnvView::from(env)))
}

/// Shows one variable's current value once; the reveal is audited.
#[utoipa::path(post, path = "/api/v1/apps/{id}/env/reveal", tag = "apps", params(("id" = String, Path, description = "Application id")),
    request_body = RevealVar, responses((status = 200, body = Revealed),
    (status = 422, body = ErrorBody, description = "The stored value cannot be decrypted; set it again")),
    security(("session" = []), ("bearer" = [])))]
pub async fn reveal_env(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<AppId>,
    body: StrictJson<RevealVar>,
) -> Result<HttpResponse, ApiError> {
    let value = env::reveal(&state, origin, admin.0, id.into_inner(), body.0.name).await?;
    Ok(HttpResponse::Ok().json(Revealed::from(value)))
}

/// Adds, edits or removes variables, saved as a new version; variables not
/// named keep their values, so none has to be sent back.
#[utoipa::path(patch, path = "/api/v1/apps/{id}/env", tag = "apps", params(("id" = String, Path, description = "Application id")),
    request_body = ChangeAppEnv, responses((status = 200, body = AppEnvView),
    (status = 422, body = ErrorBody, description = "A stored value cannot be decrypted; set it again")),
    security(("session" = []), ("bearer" = [])))]
pub async fn change_env(
    state: web::Data<AppState>,
    origin: Origin,
    caller: Deployer,
    id: web::Path<AppId>,
    body: StrictJson<ChangeAppEnv>,
) -> Result<HttpResponse, ApiError> {
    let env = env::change(&state, origin, caller.0, id.into_inner(), body.0.into()).await?;
    Ok(HttpResponse::Ok().json(AppEnvView::from(env)))
}
