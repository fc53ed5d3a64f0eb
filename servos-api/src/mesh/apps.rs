//! Applications on the mesh: joining gives an application an index, its
//! `/30` block in every node's container subnet, which its containers take
//! their addresses from at the next deploy and which the classifier knows
//! it by. Leaving takes its identity away (rules naming it stop matching)
//! but keeps the index its own until the application is deleted, so a
//! container still holding an address of the block is never taken for
//! another application.

use serde::Serialize;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{AuditEvent, Origin};
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::ids::AppId;
use crate::store::mesh_apps::{self, MeshAppRow};
use crate::store::{self, apps, mesh_state, DbConn};

use super::addressing::{free_app_index, MAX_MESH_APPS};
use super::identities;

/// An application on the mesh, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MeshApp {
    /// The application's id.
    pub app_id: AppId,
    /// Its name.
    pub name: String,
    /// Its block in every node's container subnet (block `i` holds the
    /// subnet's addresses `4i` to `4i+3`).
    #[schema(minimum = 1, maximum = 63)]
    pub mesh_index: i64,
    /// The identity number policy counters and the classifier use.
    pub identity: u32,
}

impl MeshApp {
    fn of(row: &MeshAppRow, name: String) -> Result<Self, ServiceError> {
        Ok(Self {
            identity: identities::app_number(row.mesh_index)?,
            app_id: row.app_id.clone(),
            name,
            mesh_index: row.mesh_index,
        })
    }
}

/// The member applications, by index.
pub async fn list(state: &AppState) -> Result<Vec<MeshApp>, ServiceError> {
    state
        .db(|conn| {
            mesh_apps::members(conn)?
                .into_iter()
                .map(|(row, name)| MeshApp::of(&row, name))
                .collect()
        })
        .await
}

/// Application `app_id` on the mesh, when it is a member.
pub async fn of_app(state: &AppState, app_id: AppId) -> Result<Option<MeshApp>, ServiceError> {
    state
        .db(move |conn| {
            let Some((app, _)) = apps::find_live(conn, &app_id)? else {
                return Ok(None);
            };
            membership(conn, &app_id)?
                .map(|row| MeshApp::of(&row, app.name))
                .transpose()
        })
        .await
}

/// The mesh place of application `app_id`, when it is a member.
pub fn membership(conn: &mut DbConn, app_id: &AppId) -> Result<Option<MeshAppRow>, ServiceError> {
    Ok(mesh_apps::find(conn, app_id)?.filter(|row| row.member))
}

/// Makes application `app_id` a member (again, with its old index, when
/// it left before); nothing changes for a member.
pub async fn join(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
) -> Result<MeshApp, ServiceError> {
    if let Some(member) = of_app(state, app_id.clone()).await? {
        return Ok(member);
    }
    let (app, version) = state
        .audited(origin, move |conn| {
            let (app, _) = apps::find_live(conn, &app_id)?.ok_or(ServiceError::NotFound)?;
            // The bump first: it serialises index allocation.
            let version = mesh_state::bump(conn)?;
            let now = store::now();
            let row = match mesh_apps::find(conn, &app_id)? {
                Some(row) => {
                    mesh_apps::set_member(conn, &app_id, true, now)?;
                    MeshAppRow {
                        member: true,
                        ..row
                    }
                }
                None => {
                    let used = mesh_apps::used_indexes(conn)?;
                    let index = free_app_index(&used).ok_or_else(|| {
                        ServiceError::conflict(format!(
                            "all {MAX_MESH_APPS} mesh blocks are held; delete an application \
                             that left the mesh to free one"
                        ))
                    })?;
                    let row = MeshAppRow {
                        app_id: app_id.clone(),
                        mesh_index: index,
                        member: true,
                        joined_at: now,
                        updated_at: now,
                    };
                    mesh_apps::insert(conn, &row)?;
                    row
                }
            };
            let event = AuditEvent::on(
                caller.actor(),
                "app.mesh_joined",
                TargetType::App,
                app_id.as_str(),
            )
            .with_fields(vec!["mesh_index"]);
            Ok(((MeshApp::of(&row, app.name)?, version), event))
        })
        .await?;
    state.mesh_watch.saw(version);
    Ok(app)
}

/// Takes application `app_id` off the mesh: its identity goes at once; its
/// containers move off the mesh network at its next deploy.
pub async fn leave(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    app_id: AppId,
) -> Result<(), ServiceError> {
    let version = state
        .audited(origin, move |conn| {
            apps::find_live(conn, &app_id)?.ok_or(ServiceError::NotFound)?;
            if membership(conn, &app_id)?.is_none() {
                return Err(ServiceError::NotFound);
            }
            let version = mesh_state::bump(conn)?;
            mesh_apps::set_member(conn, &app_id, false, store::now())?;
            let event = AuditEvent::on(
                caller.actor(),
                "app.mesh_left",
                TargetType::App,
                app_id.as_str(),
            )
            .with_fields(vec!["mesh_index"]);
            Ok((version, event))
        })
        .await?;
    state.mesh_watch.saw(version);
    Ok(())
}

/// At the deletion of application `app_id`: frees its index when nothing
/// of it was left on a server, else keeps the index held (not a member).
/// Returns the mesh's new version when it changed.
pub fn on_app_deleted(
    conn: &mut DbConn,
    app_id: &AppId,
    left_behind: bool,
) -> Result<Option<i64>, ServiceError> {
    let changed = if left_behind {
        mesh_apps::set_member(conn, app_id, false, store::now())?
    } else {
        mesh_apps::delete(conn, app_id)?
    };
    Ok(if changed > 0 {
        Some(mesh_state::bump(conn)?)
    } else {
        None
    })
}
