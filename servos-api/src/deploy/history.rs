//! What the pages read of deployments besides one job and its servers: a
//! deployment's whole step log, and an application's current version (its
//! newest succeeded deployment) and last deployment, for one application
//! or all at once.

use std::collections::HashMap;

use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::deployment_logs::{self, LogRow};
use crate::store::deployments::{self, DeploymentRow};
use crate::store::ids::{AppId, DeploymentId};
use crate::store::states::DeploymentState;

/// Lines read per query.
const BATCH: i64 = 1000;

/// Every line of deployment `id`'s step log, in order.
pub async fn log(state: &AppState, id: DeploymentId) -> Result<Vec<LogRow>, ServiceError> {
    state
        .db(move |conn| {
            let mut lines: Vec<LogRow> = Vec::new();
            loop {
                let after = lines.last().map_or(0, |line| line.seq);
                let batch = deployment_logs::after(conn, &id, after, BATCH)?;
                let complete = (batch.len() as i64) < BATCH;
                lines.extend(batch);
                if complete {
                    return Ok(lines);
                }
            }
        })
        .await
}

/// The newest succeeded deployment of application `app_id`: what its
/// servers run.
pub async fn current(
    state: &AppState,
    app_id: AppId,
) -> Result<Option<DeploymentRow>, ServiceError> {
    state
        .db(move |conn| Ok(deployments::last_succeeded(conn, &app_id)?))
        .await
}

/// An application's deployments as lists of applications show them.
#[derive(Debug, Default)]
pub struct AppDeploys {
    /// The newest succeeded deployment: what its servers run.
    pub current: Option<DeploymentRow>,
    /// The newest deployment, in any state.
    pub last: Option<DeploymentRow>,
}

/// [`AppDeploys`] of every application that has deployments, by id (two
/// queries, whatever the number of applications).
pub async fn per_app(state: &AppState) -> Result<HashMap<AppId, AppDeploys>, ServiceError> {
    state
        .db(move |conn| {
            let mut apps: HashMap<AppId, AppDeploys> = HashMap::new();
            for row in deployments::newest_per_app(conn, DeploymentState::ALL)? {
                let app = apps.entry(row.app_id.clone()).or_default();
                app.last = Some(row);
            }
            for row in deployments::newest_per_app(conn, &[DeploymentState::Succeeded])? {
                let app = apps.entry(row.app_id.clone()).or_default();
                app.current = Some(row);
            }
            Ok(apps)
        })
        .await
}
