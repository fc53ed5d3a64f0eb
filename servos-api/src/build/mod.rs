//! Builds of applications from git. A build is the first phase of its
//! deployment job, so it has the job's guarantees: stored, leased, taken
//! over after a crash, cancellable, its steps in the job's live log, its
//! end audited. On the builder, over its pinned SSH session, the exact
//! commit is fetched (shallow; the git token reaches git only through an
//! askpass program that reads it from the step's environment, fed over
//! the channel), `docker build` runs with the application and commit as
//! labels (the builder's layers of the application's earlier builds are
//! its cache), and the image is delivered to every run server: pushed to
//! the application's registry, or streamed `docker save` → `docker load`
//! through the API's SSH sessions. A commit built before is not built
//! again.
//!
//! - `plan.rs`: what a build needs (its secrets opened in memory).
//! - `git.rs`: the scripts that ask git for a branch's head and fetch a
//!   commit, and how the token reaches them.
//! - `image.rs`: the built image's name and the `docker build` line.
//! - `deliver.rs`: to the registry, or `save | load` to each server.
//! - `phase.rs`: the phase inside a deployment job.
//! - `resolve.rs`: a branch's head commit, asked of the builder before a
//!   deployment of it is queued.

pub mod deliver;
pub mod git;
pub mod image;
pub mod phase;
pub mod plan;
pub mod resolve;

pub use plan::BuildPlan;

/// The folder of builds on a builder: one work tree per deployment,
/// removed when its build ends.
pub const BUILDS_DIR: &str = "/var/lib/servos/builds";
