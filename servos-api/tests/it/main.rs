//! Integration tests of servos-api: in-process HTTP tests on both backends
//! and tests of the real binary.

mod audit;
mod binary;
mod binary_security;
mod client;
mod harness;
mod limits;
mod process;
mod sessions;
mod setup;
mod tiers;
mod vault;
