//! Applications: what to run (a Docker image, its port, health check,
//! restart policy, limits and labels), where (target servers), under which
//! domain, and with which environment (`env`). Every change is validated
//! before it is stored and audited in the same transaction. Deleting one
//! removes it from its servers first (`removal`).

pub mod env;
pub mod health;
pub mod image;
pub mod model;
pub mod removal;
pub mod validate;

use std::collections::HashMap;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::credentials::env_sets as env_service;
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ids::{AppId, ServerId};
use crate::store::{self, apps, registries, servers, tx, DbConn};

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
        if !server.roles.split(',').any(|role| role == "run") {
            return Err(ServiceError::invalid(
                "server_ids",
                format!("server {id} does not have the run role"),
            ));
        }
    }
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
    Ok(App {
        spec: AppSpec::from_row(&row, server_ids)?,
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
    state
        .audited(origin, move |conn| {
            check_registry(conn, spec.registry_id.as_deref())?;
            check_servers(conn, &spec.server_ids)?;
            let id = AppId::random();
            check_unique(conn, &spec, &id)?;
            let env = env_service::create_for_app(conn, &id)?;
            let now = store::now();
            apps::insert(conn, &spec.to_row(&id, &env.id, now, now)?)?;
            apps::set_servers(conn, &id, &spec.server_ids)?;
            let event = AuditEvent::on(caller.actor(), "app.created", TARGET, &id)
                .with_fields(model::ALL_FIELDS.to_vec());
            let app = App {
                id,
                spec,
                env_version: 0,
                created_at: now,
                updated_at: now,
            };
            Ok((app, event))
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
            apps::list_live(conn)?
                .into_iter()
                .map(|(row, env_version)| {
                    let server_ids = servers_of.remove(&row.id).unwrap_or_default();
                    Ok(App {
                        spec: AppSpec::from_row(&row, server_ids)?,
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
    let fields = change.fields();
    if fields.is_empty() {
        return Err(ServiceError::invalid("body", "gives no field to change"));
    }
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
            let current = AppSpec::from_row(&row, apps::server_ids(conn, &id)?)?;
            let spec = change.apply(current);
            check_unique(conn, &spec, &id)?;
            apps::update(
                conn,
                &spec.to_row(&id, &row.env_set_id, row.created_at, store::now())?,
            )?;
            if let Some(server_ids) = &new_servers {
                apps::set_servers(conn, &id, server_ids)?;
            }
            let event =
                AuditEvent::on(caller.actor(), "app.updated", TARGET, &id).with_fields(fields);
            Ok((load(conn, &id)?, event))
        })
        .await
}
