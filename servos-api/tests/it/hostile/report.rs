//! What a hostile scenario injected, what it checked and what it measured,
//! written for `cargo xtask hostile`'s report: one JSON file per test in the
//! folder `SERVOS_HOSTILE_REPORT_DIR` names, written when the scenario is
//! dropped, so a failing test still reports how far it got. Without the
//! variable (a plain `cargo test`) nothing is written.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::PathBuf;

use serde_json::json;

use crate::harness::Backend;

/// The variable naming the folder the reports go to.
pub const DIR_VAR: &str = "SERVOS_HOSTILE_REPORT_DIR";

/// One scenario's entry in the report.
pub struct Scenario {
    test: String,
    injected: String,
    checked: String,
    figures: BTreeMap<String, String>,
}

impl Scenario {
    /// The scenario of the test `test` (its libtest name, e.g.
    /// `hostile::slow_clients::one_address::sqlite`): what it injects and
    /// what it checks afterwards, in a sentence each.
    pub fn new(test: impl Into<String>, injected: &str, checked: &str) -> Self {
        Self {
            test: test.into(),
            injected: injected.to_owned(),
            checked: checked.to_owned(),
            figures: BTreeMap::new(),
        }
    }

    /// Records a measured figure (`"probe p99" = "12 ms"`); the last value
    /// recorded under a name wins.
    pub fn figure(&mut self, name: &str, value: impl Display) {
        self.figures.insert(name.to_owned(), value.to_string());
    }

    fn path(&self) -> Option<PathBuf> {
        let dir = std::env::var_os(DIR_VAR)?;
        Some(PathBuf::from(dir).join(format!("{}.json", self.test.replace("::", "."))))
    }
}

/// The libtest name of the test that `both_backends!` makes of `function`
/// for `backend`, in the module `module` names as `module_path!()` does
/// there: `deploy_lab::jobs::<function>::sqlite`.
pub fn test_name(module: &str, function: &str, backend: Backend) -> String {
    // `module_path!()` starts with the test binary's crate name.
    let module = module.split_once("::").map_or("", |(_, path)| path);
    let suffix = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    format!("{module}::{function}::{suffix}")
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let Some(path) = self.path() else { return };
        let entry = json!({
            "test": self.test,
            "injected": self.injected,
            "checked": self.checked,
            "figures": self.figures,
        });
        // A report that cannot be written is said, never a second panic.
        if let Err(err) = std::fs::write(&path, entry.to_string()) {
            eprintln!("hostile report {}: {err}", path.display());
        }
    }
}
