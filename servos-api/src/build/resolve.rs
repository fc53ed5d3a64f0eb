//! The commit a "build and deploy now" builds: the head of the
//! application's branch, asked of its builder with `git ls-remote` (the
//! token fed as a build's fetch feeds it), before the deployment is queued.

use crate::apps::App;
use crate::error::ServiceError;
use crate::servers;
use crate::state::AppState;

use super::{git, BUILDS_DIR};

/// The head commit of `app`'s branch; an error says why it is unknown.
pub async fn head_commit(state: &AppState, app: &App) -> Result<String, ServiceError> {
    let source = app
        .spec
        .git
        .clone()
        .ok_or_else(|| ServiceError::conflict("the application is not built from git"))?;
    let keyring_source = source.clone();
    let vault = state.vault.clone();
    let login = state
        .db(move |conn| super::plan::git_login(conn, vault.keyring(), &keyring_source))
        .await?;
    let input = git::stdin_of(login.as_ref()).map_err(|e| ServiceError::conflict(e.to_string()))?;
    let builder = servers::jobs::connect(state, &source.builder_server_id)
        .await
        .map_err(|e| match e {
            ServiceError::Conflict { message, .. } => ServiceError::conflict_on(
                "git.builder_server_id",
                format!("the builder cannot be used: {message}"),
            ),
            other => other,
        })?;
    let dir = format!("{BUILDS_DIR}/resolve-{}", uuid::Uuid::new_v4());
    let asked = async {
        builder
            .ensure_private_dir(BUILDS_DIR)
            .await
            .map_err(|e| ServiceError::Upstream(e.to_string()))?;
        let script = git::script(&dir, true, &git::ls_remote(&source.url, &source.branch));
        builder
            .run(&script, Some(input.expose().as_bytes()))
            .await
            .map_err(|e| ServiceError::Upstream(e.to_string()))
    }
    .await;
    builder.close().await;
    let output = asked?;
    if output.exit_status != Some(0) {
        return Err(ServiceError::Upstream(format!(
            "git ls-remote on the builder failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    git::head_of(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
        ServiceError::conflict_on(
            "git.branch",
            format!("the repository has no branch {}", source.branch),
        )
    })
}
