//! The ServOS control plane: HTTP API, storage, accounts and audit trail.
//!
//! See `docs/ARCHITECTURE.md` for the map of this crate.

pub mod accounts;
pub mod apps;
pub mod audit;
pub mod build;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod deploy;
pub mod error;
pub mod failpoint;
pub mod http;
pub mod joblog;
pub mod limits;
pub mod maintenance;
pub mod mesh;
pub mod proxy;
pub mod serve;
pub mod servers;
pub mod ssh;
pub mod state;
pub mod store;
pub mod ui;
pub mod unique_json;
pub mod vault;
pub mod webhooks;
