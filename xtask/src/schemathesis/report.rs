//! What a schemathesis run found, read from its JSON report, as a summary.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// The totals and failures of one run.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    /// Operations tested, of those in the document.
    pub tested: u64,
    /// Operations in the document.
    pub total: u64,
    /// Test cases generated.
    pub cases: u64,
    /// One line per kind of failure: code, title, count and operations.
    pub failures: Vec<String>,
    /// Operations that could not be tested at all (schema or network errors).
    pub errors: u64,
}

impl Summary {
    /// Reads the report schemathesis wrote with `--report json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("schemathesis wrote no report at {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("unreadable report {}", path.display()))
    }

    fn parse(text: &str) -> Result<Self> {
        let report: Value = serde_json::from_str(text)?;
        let number = |pointer: &str| report.pointer(pointer).and_then(Value::as_u64);
        let failures = report
            .get("failures")
            .and_then(Value::as_array)
            .map(|kinds| kinds.iter().map(failure_line).collect())
            .unwrap_or_default();
        Ok(Self {
            tested: number("/operations/tested").context("no operations.tested")?,
            total: number("/operations/total").context("no operations.total")?,
            cases: number("/test_cases/generated").context("no test_cases.generated")?,
            failures,
            errors: report
                .get("errors")
                .and_then(Value::as_array)
                .map_or(0, |errors| errors.len() as u64),
        })
    }

    /// Whether the run found nothing wrong.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.errors == 0
    }

    /// Prints the totals and one line per kind of failure.
    pub fn print(&self) {
        eprintln!(
            "xtask: schemathesis tested {} of {} operations with {} test cases: {} kind(s) of failure, {} error(s)",
            self.tested,
            self.total,
            self.cases,
            self.failures.len(),
            self.errors
        );
        for line in &self.failures {
            eprintln!("xtask:   {line}");
        }
    }
}

/// `ST103 Undocumented status code (19): GET /a, POST /b`.
fn failure_line(kind: &Value) -> String {
    let text = |field: &str| kind.get(field).and_then(Value::as_str).unwrap_or("?");
    let operations: Vec<&str> = kind
        .get("operations")
        .and_then(Value::as_array)
        .map(|all| all.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "{} {} ({}): {}",
        text("code"),
        text("title"),
        kind.get("count").and_then(Value::as_u64).unwrap_or(0),
        operations.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn reads_totals_and_failures() -> anyhow::Result<()> {
        let report = r#"{
            "operations": {"total": 61, "selected": 59, "tested": 59},
            "test_cases": {"generated": 2456},
            "failures": [{"code": "ST103", "title": "Undocumented status code", "count": 2,
                          "operations": ["POST /api/v1/login", "POST /api/v1/setup"]}],
            "errors": []
        }"#;
        let summary = Summary::parse(report)?;
        assert_eq!(
            summary,
            Summary {
                tested: 59,
                total: 61,
                cases: 2456,
                failures: vec![
                    "ST103 Undocumented status code (2): POST /api/v1/login, POST /api/v1/setup"
                        .to_owned()
                ],
                errors: 0,
            }
        );
        assert!(!summary.passed());
        let clean = r#"{"operations": {"total": 1, "tested": 1}, "test_cases": {"generated": 5},
                        "failures": [], "errors": []}"#;
        assert!(Summary::parse(clean)?.passed());
        Ok(())
    }
}
