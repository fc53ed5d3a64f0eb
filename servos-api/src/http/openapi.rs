//! The OpenAPI document, generated from the handlers' annotations. A test
//! checks that it lists exactly the routes of the route table.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;
use utoipa::OpenApi;

use crate::http::handlers::{
    apps, audit, deployments, env_sets, git_credentials, health, me, openapi, registries, servers,
    session, setup, ssh_keys, tokens, users,
};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "ServOS API", description = "Self-hosted deployment control plane."),
    paths(
        health::healthz, health::readyz, openapi::document,
        setup::complete, session::login, session::logout,
        me::show, me::change_password,
        users::list, users::create, users::show, users::update, users::delete,
        tokens::list, tokens::create, tokens::revoke,
        servers::list, servers::create, servers::show, servers::delete, servers::commission, servers::check,
        servers::confirm_host_key, servers::reset_host_key,
        ssh_keys::list, ssh_keys::create, ssh_keys::show, ssh_keys::delete, ssh_keys::reveal,
        registries::list, registries::create, registries::show, registries::delete, registries::reveal,
        git_credentials::list, git_credentials::create, git_credentials::show, git_credentials::delete, git_credentials::reveal,
        env_sets::list, env_sets::create, env_sets::show, env_sets::update, env_sets::delete, env_sets::versions, env_sets::reveal,
        apps::list, apps::create, apps::show, apps::update, apps::delete, apps::show_env, apps::change_env, apps::reveal_env,
        deployments::deploy, deployments::list, deployments::show, deployments::cancel, deployments::rollback, deployments::events,
        audit::list, audit::export_csv,
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("svs_ API token")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::accounts::sessions::COOKIE,
            ))),
        );
    }
}
