//! Deleting an application removes it from the servers it ran on first, so
//! that a deleted application serves no more traffic: on every server where
//! one of its deployments had a target, over the pinned SSH connection and
//! in parallel, its proxy route goes (no request reaches it any more), then
//! every container labelled with it, with the file secrets of their targets,
//! verified gone. Only when every server was cleaned is the application
//! soft-deleted, unless the caller forces it; what a forced delete leaves
//! behind is audited server by server, and removed by the server's next
//! check that reaches it ([`sweep`]).

use std::collections::BTreeSet;

use futures_util::stream::{self, StreamExt};

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{self, Actor, AuditEvent, Origin};
use crate::deploy::docker;
use crate::deploy::remote::{self, TargetPaths};
use crate::deploy::retire::remove_container;
use crate::deploy::StepError;
use crate::error::ServiceError;
use crate::mesh;
use crate::proxy::caddy;
use crate::servers;
use crate::ssh::shell::quote;
use crate::ssh::Session;
use crate::state::AppState;
use crate::store::ids::{AppId, ServerId};
use crate::store::{self, apps, deployment_targets, deployments, DbConn};

/// Seconds `docker stop` gives the application's containers before they
/// are killed (their route is already gone: no request is in flight).
const STOP_TIMEOUT_SECS: u32 = 10;

/// What the application may have left on a server: the fields of the
/// `app.left_on_server` entry on that server, which shares its request id
/// with the `app.deleted` entry of the application.
const LEFT_FIELDS: [&str; 3] = ["proxy_route", "containers", "file_secrets"];

/// How a delete ended.
#[derive(Debug, Default)]
pub struct Removal {
    /// Names of the servers a forced delete could not clean.
    pub left_on: Vec<String>,
}

/// A server to clean.
#[derive(Debug)]
struct Server {
    id: ServerId,
    name: String,
}

/// What was removed from one server.
#[derive(Debug, Default)]
struct Removed {
    route: bool,
    containers: usize,
    file_secrets: usize,
}

impl Removed {
    /// The audit fields naming what went.
    fn fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.route {
            fields.push("proxy_routes");
        }
        if self.containers > 0 {
            fields.push("containers");
        }
        if self.file_secrets > 0 {
            fields.push("file_secrets");
        }
        fields
    }
}

/// Removes application `id` from its servers, then soft-deletes it.
///
/// Refused (409) while one of its deployments is queued or running. When a
/// server cannot be cleaned (unreachable, host key changed, a command
/// failed), nothing is deleted and the answer (502) names each such server
/// and why; with `force` the application is deleted regardless and the
/// servers left unclean are audited.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: AppId,
    force: bool,
) -> Result<Removal, ServiceError> {
    let app_id = id.clone();
    let servers = state
        .db(move |conn| servers_to_clean(conn, &app_id))
        .await?;
    let outcomes: Vec<(Server, Result<Removed, String>)> = stream::iter(servers)
        .map(|server| async {
            let outcome = clean(state, &server.id, &id).await;
            (server, outcome)
        })
        .buffer_unordered(state.config.deploy.server_parallelism.max(1))
        .collect()
        .await;
    let mut removed = Removed::default();
    let mut failed = Vec::new();
    for (server, outcome) in outcomes {
        match outcome {
            Ok(done) => {
                removed.route |= done.route;
                removed.containers += done.containers;
                removed.file_secrets += done.file_secrets;
            }
            Err(reason) => failed.push((server, reason)),
        }
    }
    failed.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    if !failed.is_empty() && !force {
        let each: Vec<String> = failed
            .iter()
            .map(|(server, reason)| format!("{}: {reason}", server.name))
            .collect();
        return Err(ServiceError::Upstream(format!(
            "the application was not deleted, because it could not be removed from \
             these servers: {}. Retry once they are back, or delete it anyway.",
            each.join("; ")
        )));
    }
    let chain = state.audit_chain.clone();
    let actor = admin.actor();
    let entry_origin = origin.clone();
    let (removal, mesh_version) = state
        .audited(origin, move |conn| {
            refuse_active(conn, &id)?;
            if apps::soft_delete(conn, &id, store::now())? == 0 {
                return Err(ServiceError::NotFound);
            }
            let mesh_version = mesh::apps::on_app_deleted(conn, &id, !failed.is_empty())?;
            for (server, _) in &failed {
                let left = AuditEvent::on(
                    actor.clone(),
                    "app.left_on_server",
                    TargetType::Server,
                    &server.id,
                )
                .with_fields(LEFT_FIELDS.to_vec());
                audit::append(conn, &chain, &entry_origin, left)?;
            }
            let event = AuditEvent::on(actor, "app.deleted", super::TARGET, &id)
                .with_fields(deleted_fields(&removed, !failed.is_empty()));
            let removal = Removal {
                left_on: failed.into_iter().map(|(server, _)| server.name).collect(),
            };
            Ok(((removal, mesh_version), event))
        })
        .await?;
    if let Some(version) = mesh_version {
        state.mesh_watch.saw(version);
    }
    Ok(removal)
}

/// Removes from a server what applications deleted with `force` left on
/// it (their route, containers and file secrets), once a check reaches it
/// again; each application cleaned is audited as `app.leftovers_removed`,
/// sharing its request id with the check's entry. Only applications this
/// installation knows as deleted are touched. Why not, when it fails.
pub async fn sweep(
    state: &AppState,
    origin: &Origin,
    actor: &Actor,
    session: &Session,
) -> Result<(), String> {
    let mut found: BTreeSet<String> = caddy::routed_apps(session)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let listed = docker::run(session, &docker::app_ids_command(), None)
        .await
        .and_then(|output| output.success("listing ServOS's containers"))
        .map_err(|e| e.to_string())?;
    found.extend(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
    );
    if found.is_empty() {
        return Ok(());
    }
    let found: Vec<AppId> = found.into_iter().map(AppId::from).collect();
    let deleted = state
        .db(move |conn| Ok(apps::deleted_among(conn, &found)?))
        .await
        .map_err(|e| e.to_string())?;
    for app_id in &deleted {
        let removed = remove_from(session, app_id.as_str())
            .await
            .map_err(|e| format!("application {app_id}: {e}"))?;
        let event = AuditEvent::on(
            actor.clone(),
            "app.leftovers_removed",
            super::TARGET,
            app_id,
        )
        .with_fields(removed.fields());
        state
            .audited(origin.clone(), move |_| Ok(((), event)))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The fields of the `app.deleted` entry: what went, and `forced` when
/// some server was left unclean.
fn deleted_fields(removed: &Removed, forced: bool) -> Vec<&'static str> {
    let mut fields = vec!["deleted_at"];
    fields.extend(removed.fields());
    if forced {
        fields.push("forced");
    }
    fields
}

/// 409 while a deployment of the application is queued or running.
fn refuse_active(conn: &mut DbConn, app_id: &AppId) -> Result<(), ServiceError> {
    match deployments::active_of_app(conn, app_id)? {
        Some(active) => Err(ServiceError::conflict(format!(
            "deployment {} of this application is {}; cancel it or wait for its end, \
             then delete the application",
            active.id, active.state
        ))),
        None => Ok(()),
    }
}

/// The live application's servers that may hold something of it: those
/// where one of its deployments had a target. A server never commissioned
/// (no pinned key) was never deployed to, and a deleted one is out of
/// reach; both are skipped.
fn servers_to_clean(conn: &mut DbConn, app_id: &AppId) -> Result<Vec<Server>, ServiceError> {
    apps::find_live(conn, app_id)?.ok_or(ServiceError::NotFound)?;
    refuse_active(conn, app_id)?;
    let mut servers = Vec::new();
    for server_id in deployment_targets::servers_of_app(conn, app_id)? {
        match store::servers::find_live(conn, &server_id)? {
            Some(row) if row.host_key_fingerprint.is_some() => servers.push(Server {
                id: row.id,
                name: row.name,
            }),
            _ => {}
        }
    }
    Ok(servers)
}

/// Cleans one server over its pinned connection; why not, otherwise.
async fn clean(state: &AppState, server_id: &ServerId, app_id: &AppId) -> Result<Removed, String> {
    let outcome = match servers::jobs::connect(state, server_id).await {
        Ok(session) => {
            let outcome = remove_from(&session, app_id.as_str()).await;
            session.close().await;
            outcome
        }
        Err(e) => Err(e.into()),
    };
    outcome.map_err(|e| {
        tracing::warn!(%server_id, %app_id, error = ?e, "cannot remove an application from a server");
        e.to_string()
    })
}

/// The route first (Caddy started if needed, so that the route it would
/// resume with is the one removed), then the containers and their file
/// secrets; verifies that no container of the application is left.
async fn remove_from(session: &Session, app_id: &str) -> Result<Removed, StepError> {
    caddy::ensure(session).await?;
    let route = caddy::remove_route(session, app_id).await?;
    let listed = docker::parse_list(&String::from_utf8_lossy(
        &docker::run(session, &docker::list_command(app_id), None)
            .await?
            .success("listing the application's containers")?
            .stdout,
    ));
    if !listed.is_empty() {
        let names: Vec<_> = listed.iter().map(|c| quote(&c.name)).collect();
        // A container that does not stop in time is removed by force below.
        docker::run(
            session,
            &format!(
                "docker stop -t {STOP_TIMEOUT_SECS} {} >/dev/null 2>&1",
                names.join(" ")
            ),
            None,
        )
        .await?;
    }
    let mut file_secrets = 0;
    for container in &listed {
        remove_container(session, &container.name).await?;
        if let Some(paths) = TargetPaths::of(&container.target) {
            remote::remove_dir(session, &paths.file_secrets).await?;
            file_secrets += 1;
        }
    }
    // Counted without parsing, so that no container escapes the check.
    let left = docker::run(
        session,
        &format!(
            "docker ps -aq --filter label={}={}",
            docker::APP_LABEL,
            quote(app_id)
        ),
        None,
    )
    .await?
    .success("verifying the application's containers are gone")?;
    let left = String::from_utf8_lossy(&left.stdout).lines().count();
    if left > 0 {
        return Err(StepError::failed(format!(
            "{left} container(s) of the application are still there after their removal"
        )));
    }
    Ok(Removed {
        route,
        containers: listed.len(),
        file_secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_names_what_went() {
        assert_eq!(deleted_fields(&Removed::default(), false), ["deleted_at"]);
        let removed = Removed {
            route: true,
            containers: 2,
            file_secrets: 1,
        };
        assert_eq!(
            deleted_fields(&removed, true),
            [
                "deleted_at",
                "proxy_routes",
                "containers",
                "file_secrets",
                "forced"
            ]
        );
    }
}
