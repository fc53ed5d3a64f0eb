//! The route table: every route, its handler and its access tier, in one
//! place. Registration and enforcement both read this table, so a route
//! cannot exist without a tier.

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{web, Route};

use super::handlers::{
    apps, audit, env_sets, git_credentials, health, me, openapi, registries, servers, session,
    setup, ssh_keys, tokens, users,
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
}

macro_rules! routes {
    ($($method:ident $path:literal => $tier:ident, $handler:path;)*) => {
        /// Every route of the API.
        pub fn table() -> Vec<RouteSpec> {
            vec![$(RouteSpec {
                method: Method::$method,
                path: $path,
                tier: Tier::$tier,
                route: || web::route().method(Method::$method).to($handler),
            }),*]
        }
    };
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
    GET    "/api/v1/audit"              => Admin,   audit::list;
    GET    "/api/v1/audit.csv"          => Admin,   audit::export_csv;
    DELETE "/api/v1/audit"              => Blocked, audit::refuse_change;
    PUT    "/api/v1/audit/{seq}"        => Blocked, audit::refuse_change;
    DELETE "/api/v1/audit/{seq}"        => Blocked, audit::refuse_change;
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
pub struct TierTable(HashMap<&'static str, HashMap<Method, Tier>>);

impl TierTable {
    /// Builds the lookup from the route table.
    pub fn new() -> Self {
        let mut map: HashMap<&'static str, HashMap<Method, Tier>> = HashMap::new();
        for spec in table() {
            map.entry(spec.path)
                .or_default()
                .insert(spec.method, spec.tier);
        }
        Self(map)
    }

    /// `Err(false)`: no such path; `Err(true)`: path exists, method does not.
    pub fn tier(&self, method: &Method, pattern: &str) -> Result<Tier, bool> {
        let methods = self.0.get(pattern).ok_or(false)?;
        methods.get(method).copied().ok_or(true)
    }
}

impl Default for TierTable {
    fn default() -> Self {
        Self::new()
    }
}
