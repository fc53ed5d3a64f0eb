//! Integration tests of servos-api: in-process HTTP tests on both backends,
//! tests of the real binary, and of the web UI in headless Chromium.

mod apps;
mod audit;
mod binary;
mod binary_canaries;
mod binary_security;
mod browser;
mod client;
mod conflicts;
mod credentials;
mod db_dump;
mod deploy_lab;
mod deployments;
mod env_binding;
mod git_server;
mod harness;
mod hostile;
mod limits;
mod mesh;
mod mesh_lab;
mod openapi;
mod process;
mod rotation;
mod schema_upgrade;
mod server_pins;
mod servers;
mod sessions;
mod setup;
mod ssh_keys;
mod ssh_transfer;
mod tiers;
mod vault;
mod web;
mod webhooks;
