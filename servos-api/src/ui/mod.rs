//! The web UI: server-rendered pages (askama templates compiled into the
//! binary from `templates/`) and the embedded CSS and JavaScript.
//!
//! Pages are routes of the one route table (`http/routes.rs`, surface
//! `Page`), so the access middleware enforces their tiers like the API's.
//! Handlers here are thin: they parse a form, call the same services the
//! JSON API calls, and render a template or redirect (303) with a flash
//! message. Every form POST carries the session's CSRF token (`csrf.rs`);
//! errors of page routes render as pages (`errors.rs`). No page shows a
//! stored secret value: only an explicit, audited reveal (a POST) does.

pub mod agents;
pub mod app_env;
pub mod app_form;
pub mod apps;
pub mod assets;
pub mod audit;
pub mod chrome;
pub mod credentials;
pub mod csrf;
pub mod dashboard;
pub mod deployments;
pub mod errors;
pub mod flash;
pub mod form;
pub mod mesh;
pub mod servers;
pub mod session;
pub mod ssh_keys;
pub mod tokens;
pub mod topology;
pub mod users;
pub mod views;
pub mod webhooks;
