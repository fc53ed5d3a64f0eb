//! The hostile suite: clients that stall or flood, and faults injected into
//! a running control plane (a killed process, a restarted database, a full
//! disk, a lossy link). Each scenario describes itself to the report
//! `cargo xtask hostile` prints (`report.rs`); the fault tests, here and
//! elsewhere, end with the same checks (`aftermath.rs`). The full test tier
//! leaves these tests to that command so that they run once.

pub mod aftermath;
mod api;
mod disk_full;
mod lossy_link;
mod pg_restart;
pub mod report;
mod slow_clients;
mod sqlite_full;
