//! `cargo xtask hostile`: the hostile suite. Runs every fuzz target for a
//! fixed time on its working corpus and committed seeds, the hostile test
//! scenarios (faults injected into a running control plane, stalled and
//! flooding clients; `servos-api/tests/it/hostile/` and the kill tests named
//! in [`SCENARIOS`]), and a bounded load on an authenticated read and on
//! login, then prints a report of each: what was injected, what was checked,
//! pass or fail, and the figures. The full test tier runs it in place of the
//! plain fuzz step and leaves these scenarios out of its own test run, so
//! that each runs once.

mod load;
mod report;
mod scenarios;

use anyhow::{bail, Result};

use crate::pg::TestPostgres;
use crate::test_suite::counts::Counts;
use crate::{checks, debian, fuzz};

/// The test-name filters of the hostile scenarios.
pub const SCENARIOS: &[&str] = &[
    "hostile::",
    "rotation::data_key_rotation_survives_kills",
    "deploy_lab::jobs::a_job_whose_api_was_killed_ends_after_a_restart",
    "deploy_lab::builds::a_build_whose_api_was_killed_is_taken_over",
    "deploy_lab::unreachable::a_host_lost_mid_deploy_fails_alone",
];

/// `cargo xtask hostile [FUZZ_SECONDS]`: installs what it needs, builds,
/// and runs the suite with `FUZZ_SECONDS` per fuzz target (default
/// [`fuzz::DEFAULT_SECONDS`]).
pub fn main(args: &[String]) -> Result<()> {
    let seconds = match args {
        [] => fuzz::DEFAULT_SECONDS,
        [seconds] => seconds
            .parse()
            .map_err(|_| anyhow::anyhow!("{seconds:?} is not a whole number of seconds"))?,
        _ => bail!("usage: cargo xtask hostile [FUZZ_SECONDS]"),
    };
    let mut needed = vec![debian::POSTGRESQL, debian::CURL, debian::WRK];
    needed.extend(debian::BUILD);
    needed.extend(debian::LAB_BASE);
    needed.extend(debian::LAB_DOCKER);
    debian::ensure(&needed)?;
    fuzz::install()?;
    checks::build()?;
    let postgres = TestPostgres::from_env_or_start()?;
    run(seconds, &postgres).map(drop)
}

/// Runs the suite on the built workspace and `postgres` (fuzzing skipped
/// when `fuzz_seconds` is 0), prints the report, and fails when anything in
/// it failed; returns the scenarios' test totals.
pub fn run(fuzz_seconds: u32, postgres: &TestPostgres) -> Result<Counts> {
    let fuzzed = (fuzz_seconds > 0).then(|| fuzz::run_all(fuzz_seconds));
    let tested = scenarios::run(postgres)?;
    let loads = load::run_all(postgres);
    let fuzz_runs = match &fuzzed {
        Some(Ok(runs)) => Fuzzed::Ran(runs),
        Some(Err(_)) => Fuzzed::Failed,
        None => Fuzzed::Skipped,
    };
    report::print(&fuzz_runs, &tested, loads.as_deref().ok());
    if let Some(Err(err)) = fuzzed {
        return Err(err.context("fuzzing failed"));
    }
    let loads = loads?;
    let failures = tested.failed() + loads.iter().filter(|l| !l.passed()).count();
    if failures > 0 {
        bail!("the hostile suite failed: {failures} failure(s), see the report above");
    }
    Ok(tested.run.counts)
}

/// What became of the fuzzing part.
pub enum Fuzzed<'a> {
    /// Every target ran.
    Ran(&'a [fuzz::FuzzRun]),
    /// A target crashed or could not be built.
    Failed,
    /// Not asked for (0 seconds).
    Skipped,
}
