//! Webhooks: a git push that deploys, and nothing else that does.
//!
//! - `hooks.rs`: an application's webhook as admins manage it (secret
//!   shown once and sealed, rotation with a grace period, branch, the last
//!   deliveries).
//! - `signature` (in `servos-common`): which provider sent a delivery and whether its
//!   signature holds, over the raw body.
//! - `event.rs`: what a verified delivery says (ping, push, other).
//! - `receive.rs`: a delivery from headers to verdict: refused, ignored,
//!   duplicate, or a deployment queued.

pub mod event;
pub mod hooks;
pub mod receive;
/// Who sent a delivery and whether its signature holds (shared with the fuzz targets).
pub use servos_common::webhook_signature as signature;
