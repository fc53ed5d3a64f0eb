//! Applications: what to run (a Docker image or a git repository to build
//! one from (`git`), its port, health check, restart policy, limits and
//! labels), where (target servers), under which domain, and with which
//! environment (`env`). Every change is validated before it is stored and
//! audited in the same transaction. Deleting one removes it from its
//! servers first (`removal`).

pub mod env;
pub mod git;
pub mod health;
/// The image reference grammar (shared with the fuzz targets).
pub use servos_common::image_ref as image;
pub mod model;
pub mod removal;
pub mod validate;

use std::collections::HashMap;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::credentials::{self, env_sets as env_service};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::build_args::{self, BuildArgRow};
use crate::store::ids::{AppId, ServerId};
use crate::store::{self, apps, git_credentials, git_sources, registries, servers, tx, DbConn};
use crate::vault::keyring::Keyring;

use git::{BuildArgValue, GitSource};

/// Applications named in a refusal: at most this many, then a count.
const NAMED_APPS: usize = 20;

/// `name (id), …` of `apps`, the first 20 and then how many more, for a
/// refusal that names the applications in the way.
pub fn named<'a>(apps: impl ExactSizeIterator<Item = (&'a AppId, &'a str)>) -> String {
    let total = apps.len();
    let mut named: Vec<String> = apps
        .take(NAMED_APPS)
        .map(|(id, name)| format!("{name} ({id})"))
        .collect();
    if total > NAMED_APPS {
        named.push(format!("{} more", total - NAMED_APPS));
    }
    named.join(", ")
}

pub use model::{App, AppPatch, AppSpec, NewApp, SpecChange};
pub use removal::{delete, Removal};

/// Audit target type of applications.
const TARGET: TargetType = TargetType::App;

/// Refuses a registry credential that does not exist.
fn check_registry(conn: &mut DbConn, registry_id: Option<&str>) -> Result<(), ServiceError> {
    if let Some(id) = registry_id {
        registries::find_live(conn, id)?.ok_or_else(|| {
            ServiceError::invalid("registry_id", "no registry credential has this id")
        })?;
    }
    Ok(())
}

/// Refuses target servers that do not exist or do not run applications.
fn check_servers(conn: &mut DbConn, server_ids: &[ServerId]) -> Result<(), ServiceError> {
    // Until this transaction ends, no server can be deleted under it.
    tx::serialize(conn, tx::LockPoint::ServerTargets)?;
    for id in server_ids {
        let server = servers::find_live(conn, id)?
            .ok_or_else(|| ServiceError::invalid("server_ids", format!("no server has id {id}")))?;
        if !has_role(&server, "run") {
            return Err(ServiceError::invalid(
                "server_ids",
                format!("server {id} does not have the run role"),
            ));
        }
    }
    Ok(())
}

/// The table and column secret build arguments are sealed in (their AAD).
const BUILD_ARGS_TABLE: &str = "app_build_args";
/// The column of sealed build argument values.
const SEALED_VALUE: &str = "sealed_value";

/// True when live server `server` has `role`.
fn has_role(server: &servers::ServerRow, role: &str) -> bool {
    server.roles.split(',').any(|r| r == role)
}

/// Refuses a builder server that does not exist or does not build, and a
/// git credential that does not exist.
fn check_git(conn: &mut DbConn, git: &GitSource) -> Result<(), ServiceError> {
    const BUILDER: &str = "git.builder_server_id";
    let id = &git.builder_server_id;
    let server = servers::find_live(conn, id)?
        .ok_or_else(|| ServiceError::invalid(BUILDER, format!("no server has id {id}")))?;
    if !has_role(&server, "build") {
        return Err(ServiceError::invalid(
            BUILDER,
            format!("server {id} does not have the build role"),
        ));
    }
    if let Some(id) = &git.git_credential_id {
        git_credentials::find_live(conn, id)?.ok_or_else(|| {
            ServiceError::invalid("git.git_credential_id", "no git credential has this id")
        })?;
    }
    Ok(())
}

/// Stores application `app_id`'s git source and build arguments (none for
/// an application run from an image): secret values sealed for the
/// application and the name, a secret given without a value kept as stored.
fn store_source(
    conn: &mut DbConn,
    keyring: &Keyring,
    app_id: &AppId,
    spec: &AppSpec,
) -> Result<(), ServiceError> {
    git_sources::replace(conn, app_id, spec.git_row(app_id).as_ref())?;
    let git = spec.git.as_ref();
    let stored = build_args::of_app(conn, app_id)?;
    let mut rows = Vec::new();
    for (name, value) in git.map(|g| &g.build_args).into_iter().flatten() {
        let (clear, sealed) = match value {
            BuildArgValue::Clear(text) => (Some(text.clone()), None),
            BuildArgValue::NewSecret(secret) => {
                let identity = build_args::identity(app_id.as_str(), name);
                let sealed = credentials::seal(
                    conn,
                    keyring,
                    BUILD_ARGS_TABLE,
                    SEALED_VALUE,
                    &identity,
                    secret.expose().as_bytes(),
                )?;
                (None, Some((sealed.value, sealed.key_id)))
            }
            BuildArgValue::KeptSecret => {
                let kept = stored
                    .iter()
                    .find(|row| row.name == *name)
                    .and_then(|row| {
                        row.sealed_value
                            .clone()
                            .zip(row.sealed_value_key_id.clone())
                    })
                    .ok_or_else(|| {
                        ServiceError::invalid(
                            "git.build_args",
                            format!("{name}: a new secret argument needs a value"),
                        )
                    })?;
                (None, Some(kept))
            }
        };
        let (sealed_value, sealed_value_key_id) = sealed.unzip();
        rows.push(BuildArgRow {
            id: uuid::Uuid::new_v4().to_string(),
            app_id: app_id.clone(),
            name: name.clone(),
            value: clear,
            sealed_value,
            sealed_value_key_id,
        });
    }
    build_args::replace_all(conn, app_id, &rows)?;
    Ok(())
}

/// Refuses a name or domain another live application has.
fn check_unique(conn: &mut DbConn, spec: &AppSpec, id: &AppId) -> Result<(), ServiceError> {
    if apps::name_taken(conn, &spec.name, id)? {
        return Err(ServiceError::conflict_on(
            "name",
            "an application with this name exists",
        ));
    }
    if let Some(domain) = &spec.domain {
        if apps::domain_taken(conn, domain, id)? {
            return Err(ServiceError::conflict_on(
                "domain",
                "another application uses this domain",
            ));
        }
    }
    Ok(())
}

/// One live application, for the API and the deploy code.
pub fn load(conn: &mut DbConn, id: &AppId) -> Result<App, ServiceError> {
    let (row, env_version) = apps::find_live(conn, id)?.ok_or(ServiceError::NotFound)?;
    let server_ids = apps::server_ids(conn, id)?;
    let git = git_sources::of_app(conn, id)?;
    let build_args = build_args::of_app(conn, id)?;
    Ok(App {
        spec: AppSpec::from_row(&row, server_ids, git.as_ref(), &build_args)?,
        id: row.id,
        env_version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Stores a new application with an empty environment (version 0).
pub async fn create(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    new: NewApp,
) -> Result<App, ServiceError> {
    let spec = AppSpec::from_new(new)?;
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            check_registry(conn, spec.registry_id.as_deref())?;
            check_servers(conn, &spec.server_ids)?;
            if let Some(git) = &spec.git {
                check_git(conn, git)?;
            }
            let id = AppId::random();
            check_unique(conn, &spec, &id)?;
            let env = env_service::create_for_app(conn, &id)?;
            let now = store::now();
            apps::insert(conn, &spec.to_row(&id, &env.id, now, now)?)?;
            apps::set_servers(conn, &id, &spec.server_ids)?;
            store_source(conn, vault.keyring(), &id, &spec)?;
            let event = AuditEvent::on(caller.actor(), "app.created", TARGET, &id)
                .with_fields(spec.created_fields());
            Ok((load(conn, &id)?, event))
        })
        .await
}

/// Every live application, by name.
pub async fn list(state: &AppState) -> Result<Vec<App>, ServiceError> {
    state
        .db(|conn| {
            let mut servers_of: HashMap<AppId, Vec<ServerId>> = HashMap::new();
            for (app_id, server_id) in apps::all_server_ids(conn)? {
                servers_of.entry(app_id).or_default().push(server_id);
            }
            let mut git_of: HashMap<AppId, _> = git_sources::of_live_apps(conn)?
                .into_iter()
                .map(|row| (row.app_id.clone(), row))
                .collect();
            let build_args = build_args::of_live_apps(conn)?;
            apps::list_live(conn)?
                .into_iter()
                .map(|(row, env_version)| {
                    let server_ids = servers_of.remove(&row.id).unwrap_or_default();
                    let git = git_of.remove(&row.id);
                    Ok(App {
                        spec: AppSpec::from_row(&row, server_ids, git.as_ref(), &build_args)?,
                        id: row.id,
                        env_version,
                        created_at: row.created_at,
                        updated_at: row.updated_at,
                    })
                })
                .collect()
        })
        .await
}

/// One live application.
pub async fn get(state: &AppState, id: AppId) -> Result<App, ServiceError> {
    state.db(move |conn| load(conn, &id)).await
}

/// Changes the fields a patch gives; the others keep their values.
pub async fn update(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: AppId,
    patch: AppPatch,
) -> Result<App, ServiceError> {
    let change = SpecChange::from_patch(patch)?;
    if change.fields().is_empty() {
        return Err(ServiceError::invalid("body", "gives no field to change"));
    }
    let vault = state.vault.clone();
    state
        .audited(origin, move |conn| {
            let (row, _) = apps::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            if let Some(registry_id) = change.registry_id() {
                check_registry(conn, registry_id.as_deref())?;
            }
            let new_servers = change.server_ids().map(<[ServerId]>::to_vec);
            if let Some(server_ids) = &new_servers {
                check_servers(conn, server_ids)?;
            }
            if let Some(git) = change.git() {
                check_git(conn, git)?;
            }
            let current = load(conn, &id)?.spec;
            let fields = change.audited_fields(&current);
            let source_given = change.fields().iter().any(|f| *f == "git" || *f == "image");
            let spec = change.apply(current);
            check_unique(conn, &spec, &id)?;
            apps::update(
                conn,
                &spec.to_row(&id, &row.env_set_id, row.created_at, store::now())?,
            )?;
            if let Some(server_ids) = &new_servers {
                apps::set_servers(conn, &id, server_ids)?;
            }
            if source_given {
                store_source(conn, vault.keyring(), &id, &spec)?;
            }
            let event =
                AuditEvent::on(caller.actor(), "app.updated", TARGET, &id).with_fields(fields);
            Ok((load(conn, &id)?, event))
        })
        .await
}
