//! The hostile test scenarios: one `cargo test` run of the integration
//! tests named by [`super::SCENARIOS`], each test describing itself (what
//! it injected, what it checked, its figures) in a JSON file the run's
//! report folder collects (`servos-api/tests/it/hostile/report.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::pg::{TestPostgres, URL_VAR};
use crate::scratch::ScratchDir;
use crate::test_suite::counts::{run_collecting, TestRun};
use crate::{cmd, target_dir};

/// The variable naming the folder the scenarios write their reports to.
const REPORT_DIR_VAR: &str = "SERVOS_HOSTILE_REPORT_DIR";

/// One scenario's description and outcome.
pub struct Scenario {
    /// The test's name.
    pub test: String,
    /// `ok`, `FAILED` or `ignored`; `not run` when the run ended first.
    pub outcome: String,
    /// What it injected (empty when it wrote no report).
    pub injected: String,
    /// What it checked afterwards.
    pub checked: String,
    /// Its figures, by name.
    pub figures: BTreeMap<String, String>,
}

/// The scenarios' run.
pub struct Tested {
    /// Every test that ran, described where it wrote a report.
    pub scenarios: Vec<Scenario>,
    /// The run itself.
    pub run: TestRun,
}

impl Tested {
    /// Failed scenarios, plus one when cargo test failed without naming a
    /// failed test (a build error, a crash of the test binary).
    pub fn failed(&self) -> usize {
        let failed = self.scenarios.iter().filter(|s| s.outcome != "ok").count();
        failed + usize::from(failed == 0 && !self.run.succeeded)
    }
}

/// Runs the scenarios against `postgres` and collects their reports.
pub fn run(postgres: &TestPostgres) -> Result<Tested> {
    let reports = ScratchDir::create(target_dir().join("servos-hostile"))?;
    let mut command = cmd::cargo();
    command
        .args(["test", "-p", "servos-api", "--test", "it"])
        .args(cmd::locked_flag())
        .arg("--")
        .args(super::SCENARIOS)
        .env(URL_VAR, postgres.url())
        .env(REPORT_DIR_VAR, &reports.path);
    let shown = cmd::display(&command);
    let run = run_collecting(&mut command, &shown)?;
    let mut described = read_reports(&reports.path)?;
    let mut scenarios: Vec<Scenario> = run
        .outcomes
        .iter()
        .map(|(test, outcome)| {
            let report = described.remove(test).unwrap_or(Value::Null);
            scenario(test, outcome, &report)
        })
        .collect();
    // A test that reported but has no outcome line: its binary died first.
    scenarios.extend(
        described
            .iter()
            .map(|(test, report)| scenario(test, "not run", report)),
    );
    Ok(Tested { scenarios, run })
}

/// Every report in `dir`, by test name.
fn read_reports(dir: &Path) -> Result<BTreeMap<String, Value>> {
    let mut reports = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let report: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a scenario report", path.display()))?;
        if let Some(test) = report["test"].as_str() {
            reports.insert(test.to_owned(), report);
        }
    }
    Ok(reports)
}

fn scenario(test: &str, outcome: &str, report: &Value) -> Scenario {
    let text = |field: &str| report[field].as_str().unwrap_or_default().to_owned();
    let figures = report["figures"]
        .as_object()
        .map(|figures| {
            figures
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Scenario {
        test: test.to_owned(),
        outcome: outcome.to_owned(),
        injected: text("injected"),
        checked: text("checked"),
        figures,
    }
}
