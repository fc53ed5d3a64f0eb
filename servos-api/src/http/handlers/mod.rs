//! Request handlers, one file per resource. Handlers are thin: parse,
//! call the service, render.

pub mod agent;
pub mod agent_installs;
pub mod apps;
pub mod audit;
pub mod deployments;
pub mod env_sets;
pub mod git_credentials;
pub mod health;
pub mod me;
pub mod mesh;
pub mod openapi;
pub mod registries;
pub mod servers;
pub mod session;
pub mod setup;
pub mod ssh_keys;
pub mod tokens;
pub mod users;
pub mod views;
pub mod webhooks;
