//! `/api/v1/env-sets`: versioned environment variables for deploys.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servos_common::secret::SecretText;

use crate::audit::Origin;
use crate::credentials::env_sets::{self, EnvChange, EnvSetSummary, VarEdit};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Admin, Viewer};
use crate::http::json::StrictJson;
use crate::http::openapi::fields;
use crate::state::AppState;
use crate::store::env_sets::EnvSetRow;

use super::views::{Revealed, MASK};

/// New environment set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvSet {
    /// Name.
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// Variables: name → value (stored encrypted, never returned).
    #[serde(default)]
    #[schema(schema_with = fields::env_vars)]
    pub vars: BTreeMap<String, SecretText>,
}

/// A change, saved as a new version.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvSet {
    /// Variables to add or replace: name → value.
    #[serde(default)]
    #[schema(schema_with = fields::env_vars)]
    pub set: BTreeMap<String, SecretText>,
    /// Names to remove.
    #[serde(default)]
    #[schema(schema_with = fields::env_names)]
    pub unset: Vec<String>,
}

/// Which variable to reveal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealVar {
    /// Variable name.
    #[schema(schema_with = fields::env_name)]
    pub name: String,
}

/// A set; values masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = EnvSet)]
pub struct EnvSetView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Current version.
    pub version: i64,
    /// Current variables, values masked.
    pub vars: BTreeMap<String, &'static str>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<EnvSetSummary> for EnvSetView {
    fn from(summary: EnvSetSummary) -> Self {
        let EnvSetSummary { set, names } = summary;
        Self {
            vars: names.into_iter().map(|n| (n, MASK)).collect(),
            ..Self::from(set)
        }
    }
}

impl From<EnvSetRow> for EnvSetView {
    fn from(set: EnvSetRow) -> Self {
        Self {
            id: set.id,
            name: set.name,
            version: set.current_version,
            vars: BTreeMap::new(),
            created_at: set.created_at.and_utc(),
            updated_at: set.updated_at.and_utc(),
        }
    }
}

/// One version's variable names.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = EnvVersion)]
pub struct EnvVersionView {
    /// Version number.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Variable names.
    pub names: Vec<String>,
}

/// Lists environment sets (no variables).
#[utoipa::path(get, path = "/api/v1/env-sets", tag = "credentials", responses((status = 200, body = [EnvSetView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, _caller: Viewer) -> Result<HttpResponse, ApiError> {
    let rows = env_sets::list(&state).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(EnvSetView::from).collect::<Vec<_>>()))
}

/// Creates an environment set (version 1).
#[utoipa::path(post, path = "/api/v1/env-sets", tag = "credentials", request_body = CreateEnvSet,
    responses((status = 201, body = EnvSetView),
    (status = 409, body = ErrorBody, description = "An environment set has this name")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    body: StrictJson<CreateEnvSet>,
) -> Result<HttpResponse, ApiError> {
    let CreateEnvSet { name, vars } = body.0;
    let summary = env_sets::create(&state, origin, admin.0, &name, vars).await?;
    Ok(HttpResponse::Created().json(EnvSetView::from(summary)))
}

/// One set with its current variable names (values masked).
#[utoipa::path(get, path = "/api/v1/env-sets/{id}", tag = "credentials", params(("id" = String, Path, description = "Set id")),
    responses((status = 200, body = EnvSetView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let summary = env_sets::get(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(EnvSetView::from(summary)))
}

/// Adds, changes or removes variables as a new version.
#[utoipa::path(patch, path = "/api/v1/env-sets/{id}", tag = "credentials", params(("id" = String, Path, description = "Set id")),
    request_body = UpdateEnvSet, responses((status = 200, body = EnvSetView),
    (status = 422, body = ErrorBody, description = "A stored value cannot be decrypted; set it again")),
    security(("session" = []), ("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
    body: StrictJson<UpdateEnvSet>,
) -> Result<HttpResponse, ApiError> {
    let UpdateEnvSet { set, unset } = body.0;
    let set = set
        .into_iter()
        .map(|(name, value)| {
            let edit = VarEdit {
                value: Some(value),
                file_secret: None,
            };
            (name, edit)
        })
        .collect();
    let summary = env_sets::update(
        &state,
        origin,
        admin.0,
        id.into_inner(),
        EnvChange { set, unset },
    )
    .await?;
    Ok(HttpResponse::Ok().json(EnvSetView::from(summary)))
}

/// Every version with its variable names, newest first.
#[utoipa::path(get, path = "/api/v1/env-sets/{id}/versions", tag = "credentials", params(("id" = String, Path, description = "Set id")),
    responses((status = 200, body = [EnvVersionView])), security(("session" = []), ("bearer" = [])))]
pub async fn versions(
    state: web::Data<AppState>,
    _caller: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let versions = env_sets::versions(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(
        versions
            .into_iter()
            .map(|(v, names)| EnvVersionView {
                version: v.version,
                created_at: v.created_at.and_utc(),
                names,
            })
            .collect::<Vec<_>>(),
    ))
}

/// Shows one variable's value once; the reveal is audited.
#[utoipa::path(post, path = "/api/v1/env-sets/{id}/reveal", tag = "credentials", params(("id" = String, Path, description = "Set id")),
    request_body = RevealVar, responses((status = 200, body = Revealed),
    (status = 422, body = ErrorBody, description = "The stored value cannot be decrypted; set it again")),
    security(("session" = []), ("bearer" = [])))]
pub async fn reveal(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
    body: StrictJson<RevealVar>,
) -> Result<HttpResponse, ApiError> {
    let value = env_sets::reveal(&state, origin, admin.0, id.into_inner(), body.0.name).await?;
    Ok(HttpResponse::Ok().json(Revealed::from(value)))
}

/// Deletes a set (its versions stay for the deployments that used them).
#[utoipa::path(delete, path = "/api/v1/env-sets/{id}", tag = "credentials", params(("id" = String, Path, description = "Set id")),
    responses((status = 204, description = "Deleted")),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    origin: Origin,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    env_sets::delete(&state, origin, admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
