//! The ServOS node agent as a library: what the `servos-agent` binary runs, and what its tests drive.
//!
//! `join` enrolls the node ([`join`]); `run` starts as root, makes the mesh
//! interface, attaches the policy classifier to it ([`classifier`]), drops
//! privileges ([`privileges`]) and then keeps both configured from the API
//! ([`daemon`]); `status`, `rotate-key` and `supervise` are the operator's
//! and installer's helpers.

pub mod api;
pub mod classifier;
pub mod cli;
pub mod daemon;
mod error_text;
pub mod facts;
pub mod join;
pub mod keys;
pub mod netlink;
pub mod privileges;
pub mod rotate_key;
pub mod startup;
pub mod state;
pub mod status;
pub mod supervise;
pub mod sysctl;
pub mod tls;
pub mod wg;
