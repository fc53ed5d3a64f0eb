//! Integration tests of servos-api: in-process HTTP tests on both backends
//! and tests of the real binary.

mod audit;
mod harness;
mod limits;
mod sessions;
mod setup;
mod tiers;
mod vault;
