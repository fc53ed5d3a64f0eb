//! The names of rows by id, deleted ones included (a soft-deleted row keeps
//! its last name), for pages that show names beside ids: each query
//! returns `(id, name, live)`.

use diesel::prelude::*;

use super::schema::{api_tokens, apps, deployments, env_sets, git_credentials};
use super::schema::{mesh_nodes, registries, servers, ssh_keys, users};
use super::DbConn;

/// One named row: its id, name and whether it is live (not deleted).
pub type Named = (String, String, bool);

macro_rules! names_of {
    ($(#[$doc:meta])* $fn:ident, $table:ident, $name:ident, $gone:ident) => {
        $(#[$doc])*
        pub fn $fn(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Named>> {
            $table::table
                .filter($table::id.eq_any(ids))
                .select(($table::id, $table::$name, $table::$gone.is_null()))
                .load(conn)
        }
    };
}

names_of!(
    /// Servers by id.
    servers_named, servers, name, deleted_at
);
names_of!(
    /// Applications by id.
    apps_named, apps, name, deleted_at
);
names_of!(
    /// Users by id: their email.
    users_named, users, email, deleted_at
);
names_of!(
    /// SSH keys by id.
    ssh_keys_named, ssh_keys, name, deleted_at
);
names_of!(
    /// Registry credentials by id.
    registries_named, registries, name, deleted_at
);
names_of!(
    /// Git credentials by id.
    git_credentials_named, git_credentials, name, deleted_at
);
names_of!(
    /// Environment sets by id.
    env_sets_named, env_sets, name, deleted_at
);
names_of!(
    /// API tokens by id (a revoked token counts as gone).
    api_tokens_named, api_tokens, name, revoked_at
);

/// Deployments by id, each named after its application and its id's
/// first characters (`shop #0193c2a1`); live while its application is.
pub fn deployments_named(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Named>> {
    let rows: Vec<(String, String, bool)> = deployments::table
        .inner_join(apps::table)
        .filter(deployments::id.eq_any(ids))
        .select((deployments::id, apps::name, apps::deleted_at.is_null()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, app, live)| {
            let short: String = id.chars().take(8).collect();
            (id, format!("{app} #{short}"), live)
        })
        .collect())
}

/// Mesh nodes by id, each named after its server.
pub fn mesh_nodes_named(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<Named>> {
    mesh_nodes::table
        .inner_join(servers::table)
        .filter(mesh_nodes::id.eq_any(ids))
        .select((
            mesh_nodes::id,
            servers::name,
            mesh_nodes::deleted_at.is_null(),
        ))
        .load(conn)
}
