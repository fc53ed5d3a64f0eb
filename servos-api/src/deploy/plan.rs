//! What one deployment job needs, loaded once when it starts: the
//! application, its servers, the env file rendered from the recorded
//! environment version, its file secrets, and the registry login. The
//! secret values live only here, in zeroizing memory, until the job ends.

use std::collections::HashMap;

use servos_common::env_file;
use servos_common::secret::SecretText;

use crate::apps::{self, App};
use crate::credentials;
use crate::error::ServiceError;
use crate::mesh;
use crate::mesh::addressing::{app_block, MeshCidr};
use crate::proxy::Route;
use crate::state::AppState;
use crate::store::deployment_targets::{self, TargetRow};
use crate::store::deployments::DeploymentRow;
use crate::store::ids::ServerId;
use crate::store::servers::{self, ServerRow};
use crate::store::{builds, mesh_nodes, registries, DbConn};

use super::mesh_net::{MeshPlan, MeshSpot};
use crate::build::BuildPlan;

/// Where file secrets appear inside the container.
pub const CONTAINER_SECRETS_DIR: &str = "/run/secrets";

/// A registry login: the password only ever goes to `docker login`'s stdin.
#[derive(Debug)]
pub struct RegistryLogin {
    /// Registry host.
    pub host: String,
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: SecretText,
}

/// Everything a job needs.
#[derive(Debug)]
pub struct Plan {
    /// The deployment as claimed.
    pub deployment: DeploymentRow,
    /// The application.
    pub app: App,
    /// Its proxy route.
    pub route: Route,
    /// The env file: variables, and `<NAME>_FILE` for each file secret.
    pub env_file: SecretText,
    /// File secrets: name and value.
    pub file_secrets: Vec<(String, SecretText)>,
    /// Registry login, when the application has a credential.
    pub registry: Option<RegistryLogin>,
    /// Servers by id.
    pub servers: HashMap<ServerId, ServerRow>,
    /// Targets, by server id.
    pub targets: Vec<TargetRow>,
    /// For a rollback: the image each server ran then, by server id.
    pub pinned_images: HashMap<ServerId, String>,
    /// For an application on the mesh: where its containers go.
    pub mesh: Option<MeshPlan>,
    /// For a deployment of a commit of an application built from git: its build.
    pub build: Option<BuildPlan>,
}

impl Plan {
    /// The image to run on `server_id`.
    pub fn image_for(&self, server_id: &ServerId) -> &str {
        self.pinned_images
            .get(server_id)
            .map_or(self.deployment.image.as_str(), String::as_str)
    }

    /// A server's name for log lines.
    pub fn server_name<'a>(&'a self, server_id: &'a ServerId) -> &'a str {
        self.servers
            .get(server_id)
            .map_or(server_id.as_str(), |s| s.name.as_str())
    }
}

/// Renders the env file: plain variables with their values, file secrets
/// as `<NAME>_FILE=/run/secrets/<NAME>`; and collects the file secrets.
fn render(
    vars: Vec<apps::env::OpenVar>,
) -> Result<(SecretText, Vec<(String, SecretText)>), ServiceError> {
    let mut entries: Vec<(String, SecretText)> = Vec::with_capacity(vars.len());
    let mut files = Vec::new();
    for var in vars {
        if var.file_secret {
            let path = SecretText::new(format!("{CONTAINER_SECRETS_DIR}/{}", var.name));
            entries.push((format!("{}_FILE", var.name), path));
            files.push((var.name, var.value));
        } else {
            entries.push((var.name, var.value));
        }
    }
    let refs: Vec<(&str, &SecretText)> = entries.iter().map(|(n, v)| (n.as_str(), v)).collect();
    let text = env_file::render(&refs).map_err(|e| {
        ServiceError::conflict(format!(
            "the environment cannot be written as an env file: {e}"
        ))
    })?;
    Ok((text, files))
}

/// Loads the plan of `deployment`.
pub async fn load(state: &AppState, deployment: DeploymentRow) -> Result<Plan, ServiceError> {
    let vault = state.vault.clone();
    let tls = state.config.deploy.proxy_tls;
    let cidr = state.config.mesh.cidr;
    state
        .db(move |conn| {
            let app = apps::load(conn, &deployment.app_id).map_err(|e| match e {
                ServiceError::NotFound => ServiceError::conflict("the application was deleted"),
                other => other,
            })?;
            let vars = apps::env::open(conn, vault.keyring(), &app.id, deployment.env_version)?;
            let (env_file, file_secrets) = render(vars)?;
            let registry = match &app.spec.registry_id {
                Some(id) => {
                    let row = registries::find_live(conn, id)?.ok_or_else(|| {
                        ServiceError::conflict("the application's registry credential was deleted")
                    })?;
                    let plain = credentials::open(
                        conn,
                        vault.keyring(),
                        "registries",
                        "password",
                        &row.id,
                        &row.password,
                        &row.password_key_id,
                    )?;
                    Some(RegistryLogin {
                        host: row.host,
                        username: row.username,
                        password: credentials::text(plain)?,
                    })
                }
                None => None,
            };
            let targets = deployment_targets::of_deployment(conn, &deployment.id)?;
            let mut servers_by_id = HashMap::new();
            let mut pinned_images = HashMap::new();
            for target in &targets {
                if let Some(server) = servers::find_live(conn, &target.server_id)? {
                    servers_by_id.insert(server.id.clone(), server);
                }
                if let Some(source) = &deployment.rollback_of {
                    if let Some(image) =
                        deployment_targets::succeeded_image(conn, source, &target.server_id)?
                    {
                        pinned_images.insert(target.server_id.clone(), image);
                    }
                }
            }
            let mesh = mesh_plan(conn, cidr, &app, &targets, &servers_by_id)?;
            let build = match builds::of_deployment(conn, &deployment.id)? {
                Some(row) => Some(crate::build::plan::load(
                    conn,
                    vault.keyring(),
                    &app,
                    &row.commit_sha,
                    &row.image,
                )?),
                None => None,
            };
            let route = Route::new(
                app.id.as_str(),
                &app.spec.name,
                app.spec.domain.as_deref(),
                tls,
            );
            Ok(Plan {
                deployment,
                app,
                route,
                env_file,
                file_secrets,
                registry,
                servers: servers_by_id,
                targets,
                pinned_images,
                mesh,
                build,
            })
        })
        .await
}

/// For an application on the mesh, its block on each target's node; a
/// target server without a node in the mesh fails the plan.
fn mesh_plan(
    conn: &mut DbConn,
    cidr: MeshCidr,
    app: &App,
    targets: &[TargetRow],
    servers: &HashMap<ServerId, ServerRow>,
) -> Result<Option<MeshPlan>, ServiceError> {
    let Some(member) = mesh::apps::membership(conn, &app.id)? else {
        return Ok(None);
    };
    let mut spots = HashMap::new();
    for target in targets {
        let name = servers
            .get(&target.server_id)
            .map_or(target.server_id.as_str(), |s| s.name.as_str());
        let place = mesh_nodes::of_server(conn, &target.server_id)?
            .filter(|node| node.revoked_at.is_none())
            .and_then(|node| cidr.place(node.address_index))
            .ok_or_else(|| {
                ServiceError::conflict(format!(
                    "the application is on the mesh, but server {name} is not: install the \
                     agent there, or take the application off the mesh"
                ))
            })?;
        let block = app_block(place.container_subnet, member.mesh_index).ok_or_else(|| {
            ServiceError::internal(format_args!(
                "mesh index {} has no block",
                member.mesh_index
            ))
        })?;
        spots.insert(
            target.server_id.clone(),
            MeshSpot {
                subnet: place.container_subnet,
                block,
            },
        );
    }
    Ok(Some(MeshPlan {
        mesh: cidr.net(),
        spots,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secrets_become_paths() {
        let var = |name: &str, value: &str, file_secret| apps::env::OpenVar {
            name: name.into(),
            value: SecretText::new(value.into()),
            file_secret,
        };
        let (text, files) =
            render(vec![var("A", "1", false), var("KEY", "s3cret", true)]).expect("render");
        assert_eq!(text.expose(), "A=1\nKEY_FILE=/run/secrets/KEY\n");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1.expose(), "s3cret");
        let clash = render(vec![var("KEY_FILE", "x", false), var("KEY", "y", true)]);
        assert!(clash.is_err());
    }
}
