//! The route table: every route, its handler and its access tier, in one
//! place. Registration and enforcement both read this table, so a route
//! cannot exist without a tier.

use std::collections::{HashMap, HashSet};

use actix_web::http::Method;
use actix_web::{web, Route};

use crate::ui;

use super::handlers::{
    agent, agent_installs, apps, audit, deployments, env_sets, git_credentials, health, me, mesh,
    openapi, registries, servers, session, setup, ssh_keys, tokens, users, webhooks,
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Anyone, unauthenticated (health, setup, login).
    Public,
    /// Any signed-in user or token (`viewer` or higher).
    Viewer,
    /// `deployer` or higher.
    Deployer,
    /// `admin` only.
    Admin,
    /// A node's agent, with its agent token (and the agent protocol header).
    Agent,
    /// Nobody: explicitly denied.
    Blocked,
}

/// One row of the table.
#[derive(Debug)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path pattern, actix syntax (`/api/v1/users/{id}`).
    pub path: &'static str,
    /// Access tier.
    pub tier: Tier,
    /// Builds the actix route (method guard and handler).
    pub route: fn() -> Route,
    /// The handler's path (`apps::show`); the OpenAPI document names the
    /// operation after it.
    pub handler: &'static str,
    /// The JSON API or a page of the web UI.
    pub surface: Surface,
}

/// What a route serves. Pages are HTML for browsers: their errors render as
/// pages, their forms carry a CSRF token, and the OpenAPI document leaves
/// them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// The JSON API (and health probes).
    Api,
    /// A page, form action or asset of the web UI (`ui/`).
    Page,
}

macro_rules! route_list {
    ($name:ident, $surface:ident, $($method:ident $path:literal => $tier:ident, $handler:path;)*) => {
        fn $name() -> Vec<RouteSpec> {
            vec![$(RouteSpec {
                method: Method::$method,
                path: $path,
                tier: Tier::$tier,
                route: || web::route().method(Method::$method).to($handler),
                handler: stringify!($handler),
                surface: Surface::$surface,
            }),*]
        }
    };
}

macro_rules! routes {
    ($($rows:tt)*) => { route_list!(api_routes, Api, $($rows)*); };
}

macro_rules! pages {
    ($($rows:tt)*) => { route_list!(page_routes, Page, $($rows)*); };
}

/// Every route: the API's, then the web UI's.
pub fn table() -> Vec<RouteSpec> {
    let mut all = api_routes();
    all.extend(page_routes());
    all
}

routes! {
    GET    "/healthz"                   => Public,  health::healthz;
    GET    "/readyz"                    => Public,  health::readyz;
    GET    "/api/v1/openapi.json"       => Public,  openapi::document;
    POST   "/api/v1/setup"              => Public,  setup::complete;
    POST   "/api/v1/login"              => Public,  session::login;
    POST   "/api/v1/logout"             => Viewer,  session::logout;
    GET    "/api/v1/me"                 => Viewer,  me::show;
    PUT    "/api/v1/me/password"        => Viewer,  me::change_password;
    GET    "/api/v1/users"              => Admin,   users::list;
    POST   "/api/v1/users"              => Admin,   users::create;
    GET    "/api/v1/users/{id}"         => Admin,   users::show;
    PATCH  "/api/v1/users/{id}"         => Admin,   users::update;
    DELETE "/api/v1/users/{id}"         => Admin,   users::delete;
    GET    "/api/v1/tokens"             => Viewer,  tokens::list;
    POST   "/api/v1/tokens"             => Viewer,  tokens::create;
    DELETE "/api/v1/tokens/{id}"        => Viewer,  tokens::revoke;
    GET    "/api/v1/servers"            => Viewer,  servers::list;
    POST   "/api/v1/servers"            => Admin,   servers::create;
    GET    "/api/v1/servers/{id}"       => Viewer,  servers::show;
    DELETE "/api/v1/servers/{id}"       => Admin,   servers::delete;
    POST   "/api/v1/servers/{id}/commission" => Admin, servers::commission;
    POST   "/api/v1/servers/{id}/check" => Deployer, servers::check;
    POST   "/api/v1/servers/{id}/host-key/confirm" => Admin, servers::confirm_host_key;
    POST   "/api/v1/servers/{id}/host-key/reset" => Admin, servers::reset_host_key;
    POST   "/api/v1/servers/{id}/enrollment-tokens" => Admin, mesh::issue_enrollment_token;
    POST   "/api/v1/servers/{id}/agent" => Admin,   agent_installs::start;
    GET    "/api/v1/agent-installs/{id}" => Viewer, agent_installs::show;
    GET    "/api/v1/agent-installs/{id}/events" => Viewer, agent_installs::events;
    GET    "/api/v1/ssh-keys"           => Viewer,  ssh_keys::list;
    POST   "/api/v1/ssh-keys"           => Admin,   ssh_keys::create;
    GET    "/api/v1/ssh-keys/{id}"      => Viewer,  ssh_keys::show;
    DELETE "/api/v1/ssh-keys/{id}"      => Admin,   ssh_keys::delete;
    POST   "/api/v1/ssh-keys/{id}/reveal" => Admin, ssh_keys::reveal;
    GET    "/api/v1/registries"         => Viewer,  registries::list;
    POST   "/api/v1/registries"         => Admin,   registries::create;
    GET    "/api/v1/registries/{id}"    => Viewer,  registries::show;
    DELETE "/api/v1/registries/{id}"    => Admin,   registries::delete;
    POST   "/api/v1/registries/{id}/reveal" => Admin, registries::reveal;
    GET    "/api/v1/git-credentials"    => Viewer,  git_credentials::list;
    POST   "/api/v1/git-credentials"    => Admin,   git_credentials::create;
    GET    "/api/v1/git-credentials/{id}" => Viewer, git_credentials::show;
    DELETE "/api/v1/git-credentials/{id}" => Admin, git_credentials::delete;
    POST   "/api/v1/git-credentials/{id}/reveal" => Admin, git_credentials::reveal;
    GET    "/api/v1/env-sets"           => Viewer,  env_sets::list;
    POST   "/api/v1/env-sets"           => Admin,   env_sets::create;
    GET    "/api/v1/env-sets/{id}"      => Viewer,  env_sets::show;
    PATCH  "/api/v1/env-sets/{id}"      => Admin,   env_sets::update;
    DELETE "/api/v1/env-sets/{id}"      => Admin,   env_sets::delete;
    GET    "/api/v1/env-sets/{id}/versions" => Viewer, env_sets::versions;
    POST   "/api/v1/env-sets/{id}/reveal" => Admin, env_sets::reveal;
    GET    "/api/v1/apps"               => Viewer,  apps::list;
    POST   "/api/v1/apps"               => Deployer, apps::create;
    GET    "/api/v1/apps/{id}"          => Viewer,  apps::show;
    PATCH  "/api/v1/apps/{id}"          => Deployer, apps::update;
    DELETE "/api/v1/apps/{id}"          => Admin,   apps::delete;
    GET    "/api/v1/apps/{id}/env"      => Viewer,  apps::show_env;
    PATCH  "/api/v1/apps/{id}/env"      => Deployer, apps::change_env;
    POST   "/api/v1/apps/{id}/env/reveal" => Admin, apps::reveal_env;
    POST   "/api/v1/apps/{id}/deploy"   => Deployer, deployments::deploy;
    GET    "/api/v1/apps/{id}/webhook"  => Viewer,  webhooks::show;
    POST   "/api/v1/apps/{id}/webhook"  => Admin,   webhooks::create;
    PATCH  "/api/v1/apps/{id}/webhook"  => Admin,   webhooks::update;
    DELETE "/api/v1/apps/{id}/webhook"  => Admin,   webhooks::delete;
    POST   "/api/v1/apps/{id}/webhook/secret" => Admin, webhooks::rotate;
    POST   "/hooks/{id}"                => Public,  webhooks::deliver;
    GET    "/api/v1/deployments"        => Viewer,  deployments::list;
    GET    "/api/v1/deployments/{id}"   => Viewer,  deployments::show;
    POST   "/api/v1/deployments/{id}/cancel" => Deployer, deployments::cancel;
    POST   "/api/v1/deployments/{id}/rollback" => Deployer, deployments::rollback;
    GET    "/api/v1/deployments/{id}/events" => Viewer, deployments::events;
    GET    "/api/v1/mesh/nodes"         => Viewer,  mesh::list_nodes;
    GET    "/api/v1/mesh/nodes/{id}"    => Viewer,  mesh::show_node;
    DELETE "/api/v1/mesh/nodes/{id}"    => Admin,   mesh::remove_node;
    POST   "/api/v1/mesh/nodes/{id}/revoke" => Admin, mesh::revoke_node;
    GET    "/api/v1/mesh/apps"          => Viewer,  mesh::list_apps;
    PUT    "/api/v1/mesh/apps/{id}"     => Admin,   mesh::join_app;
    DELETE "/api/v1/mesh/apps/{id}"     => Admin,   mesh::leave_app;
    GET    "/api/v1/mesh/policies"      => Viewer,  mesh::policy;
    POST   "/api/v1/mesh/policies"      => Admin,   mesh::create_rule;
    PUT    "/api/v1/mesh/policies/default" => Admin, mesh::set_default;
    DELETE "/api/v1/mesh/policies/{id}" => Admin,   mesh::delete_rule;
    POST   "/api/v1/agent/enroll"       => Public,  agent::enroll;
    GET    "/api/v1/agent/config"       => Agent,   agent::config;
    POST   "/api/v1/agent/heartbeat"    => Agent,   agent::heartbeat;
    POST   "/api/v1/agent/key"          => Agent,   agent::rotate_key;
    GET    "/api/v1/audit"              => Admin,   audit::list;
    GET    "/api/v1/audit.csv"          => Admin,   audit::export_csv;
    DELETE "/api/v1/audit"              => Blocked, audit::refuse_change;
    PUT    "/api/v1/audit/{seq}"        => Blocked, audit::refuse_change;
    DELETE "/api/v1/audit/{seq}"        => Blocked, audit::refuse_change;
}

// The web UI. A fixed path (`/servers/new`) comes before the pattern it
// would otherwise match (`/servers/{id}`).
pages! {
    GET    "/static/{file}"             => Public,  ui::assets::serve;
    GET    "/setup"                     => Public,  ui::session::setup_form;
    POST   "/setup"                     => Public,  ui::session::setup;
    GET    "/login"                     => Public,  ui::session::login_form;
    POST   "/login"                     => Public,  ui::session::login;
    POST   "/logout"                    => Viewer,  ui::session::logout;
    GET    "/"                          => Viewer,  ui::dashboard::show;
    GET    "/servers"                   => Viewer,  ui::servers::list;
    GET    "/servers/new"               => Admin,   ui::servers::new_form;
    POST   "/servers"                   => Admin,   ui::servers::create;
    GET    "/servers/{id}"              => Viewer,  ui::servers::show;
    POST   "/servers/{id}/commission"   => Admin,   ui::servers::commission;
    POST   "/servers/{id}/check"        => Deployer, ui::servers::check;
    POST   "/servers/{id}/host-key/confirm" => Admin, ui::servers::confirm_host_key;
    POST   "/servers/{id}/host-key/reset" => Admin, ui::servers::reset_host_key;
    POST   "/servers/{id}/delete"       => Admin,   ui::servers::delete;
    POST   "/servers/{id}/agent"        => Admin,   ui::agents::install;
    GET    "/agent-installs/{id}"       => Viewer,  ui::agents::show;
    GET    "/mesh"                      => Viewer,  ui::mesh::show;
    POST   "/mesh/rules"                => Admin,   ui::mesh::create_rule;
    POST   "/apps/{id}/mesh"            => Admin,   ui::mesh::app_membership;
    GET    "/apps/{id}/webhook"         => Viewer,  ui::webhooks::show;
    POST   "/apps/{id}/webhook"         => Admin,   ui::webhooks::create;
    POST   "/apps/{id}/webhook/branch"  => Admin,   ui::webhooks::set_branch;
    POST   "/apps/{id}/webhook/rotate"  => Admin,   ui::webhooks::rotate;
    POST   "/apps/{id}/webhook/delete"  => Admin,   ui::webhooks::delete;
    POST   "/mesh/rules/{id}/delete"    => Admin,   ui::mesh::delete_rule;
    POST   "/mesh/default"              => Admin,   ui::mesh::set_default;
    POST   "/mesh/nodes/{id}/remove"    => Admin,   ui::mesh::remove_node;
    POST   "/mesh/nodes/{id}/revoke"    => Admin,   ui::mesh::revoke_node;
    GET    "/credentials"               => Viewer,  ui::credentials::index;
    GET    "/credentials/ssh-keys/new"  => Admin,   ui::ssh_keys::new_form;
    POST   "/credentials/ssh-keys"      => Admin,   ui::ssh_keys::create;
    GET    "/credentials/ssh-keys/{id}" => Viewer,  ui::ssh_keys::show;
    POST   "/credentials/ssh-keys/{id}/reveal" => Admin, ui::ssh_keys::reveal;
    POST   "/credentials/ssh-keys/{id}/delete" => Admin, ui::ssh_keys::delete;
    GET    "/credentials/registries/new" => Admin,  ui::credentials::new_registry;
    POST   "/credentials/registries"    => Admin,   ui::credentials::create_registry;
    POST   "/credentials/registries/{id}/reveal" => Admin, ui::credentials::reveal_registry;
    POST   "/credentials/registries/{id}/delete" => Admin, ui::credentials::delete_registry;
    GET    "/credentials/git/new"       => Admin,   ui::credentials::new_git;
    POST   "/credentials/git"           => Admin,   ui::credentials::create_git;
    POST   "/credentials/git/{id}/reveal" => Admin, ui::credentials::reveal_git;
    POST   "/credentials/git/{id}/delete" => Admin, ui::credentials::delete_git;
    GET    "/apps"                      => Viewer,  ui::apps::list;
    GET    "/apps/new"                  => Deployer, ui::apps::new_form;
    POST   "/apps"                      => Deployer, ui::apps::create;
    GET    "/apps/{id}"                 => Viewer,  ui::apps::show;
    GET    "/apps/{id}/edit"            => Deployer, ui::apps::edit_form;
    POST   "/apps/{id}"                 => Deployer, ui::apps::update;
    POST   "/apps/{id}/delete"          => Admin,   ui::apps::delete;
    POST   "/apps/{id}/env"             => Deployer, ui::app_env::change;
    POST   "/apps/{id}/env/reveal"      => Admin,   ui::app_env::reveal;
    POST   "/apps/{id}/deploy"          => Deployer, ui::deployments::deploy;
    GET    "/deployments"               => Viewer,  ui::deployments::list;
    GET    "/deployments/{id}"          => Viewer,  ui::deployments::show;
    POST   "/deployments/{id}/cancel"   => Deployer, ui::deployments::cancel;
    POST   "/deployments/{id}/rollback" => Deployer, ui::deployments::rollback;
    GET    "/audit"                     => Admin,   ui::audit::list;
    GET    "/users"                     => Admin,   ui::users::list;
    POST   "/users"                     => Admin,   ui::users::create;
    POST   "/users/{id}/role"           => Admin,   ui::users::change_role;
    POST   "/users/{id}/delete"         => Admin,   ui::users::delete;
    GET    "/tokens"                    => Viewer,  ui::tokens::list;
    POST   "/tokens"                    => Viewer,  ui::tokens::create;
    POST   "/tokens/{id}/revoke"        => Viewer,  ui::tokens::revoke;
}

/// Registers every route of the table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut resources: Vec<(&'static str, actix_web::Resource)> = Vec::new();
    for spec in table() {
        match resources.iter_mut().find(|(path, _)| *path == spec.path) {
            Some((_, resource)) => {
                let taken = std::mem::replace(resource, web::resource(spec.path));
                *resource = taken.route((spec.route)());
            }
            None => resources.push((spec.path, web::resource(spec.path).route((spec.route)()))),
        }
    }
    for (_, resource) in resources {
        cfg.service(resource);
    }
}

/// Tier lookup by method and matched path pattern.
#[derive(Debug)]
pub struct TierTable(
    HashMap<&'static str, HashMap<Method, Tier>>,
    HashSet<&'static str>,
);

impl TierTable {
    /// Builds the lookup from the route table.
    pub fn new() -> Self {
        let mut map: HashMap<&'static str, HashMap<Method, Tier>> = HashMap::new();
        let mut pages = HashSet::new();
        for spec in table() {
            map.entry(spec.path)
                .or_default()
                .insert(spec.method, spec.tier);
            if spec.surface == Surface::Page {
                pages.insert(spec.path);
            }
        }
        Self(map, pages)
    }

    /// True when the matched path pattern is a page of the web UI.
    pub fn is_page(&self, pattern: &str) -> bool {
        self.1.contains(pattern)
    }

    /// The tier of `method` on the path `pattern`; `Err(None)` when no
    /// such path exists, `Err(Some(allowed))` when the path exists but not
    /// with that method (`allowed` lists its methods for `Allow`).
    pub fn tier(&self, method: &Method, pattern: &str) -> Result<Tier, Option<String>> {
        let methods = self.0.get(pattern).ok_or(None)?;
        methods.get(method).copied().ok_or_else(|| {
            let mut allowed: Vec<&str> = methods.keys().map(Method::as_str).collect();
            allowed.sort_unstable();
            Some(allowed.join(", "))
        })
    }
}

impl Default for TierTable {
    fn default() -> Self {
        Self::new()
    }
}
