//! Running `cargo test` with its output passed through, and totalling the
//! `test result:` lines of every test binary it runs.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Test totals over every `test result:` line of a `cargo test` run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tests that ran and passed.
    pub passed: u64,
    /// Tests that ran and failed.
    pub failed: u64,
    /// Tests a name filter or `--skip` kept from running.
    pub filtered_out: u64,
}

impl Counts {
    /// Adds the numbers of one `test result: ok. 12 passed; 0 failed; ...` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (number, label) = match words.as_slice() {
                [.., number, "filtered", "out"] => (number, "filtered out"),
                [.., number, label] => (number, *label),
                _ => continue,
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += number,
                "failed" => self.failed += number,
                "filtered out" => self.filtered_out += number,
                _ => {}
            }
        }
    }

    /// Adds another run's totals to these.
    pub fn add(&mut self, other: &Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.filtered_out += other.filtered_out;
    }
}

/// Runs `cargo test`, passing its output through, and totals the results.
/// `shown` is the command line echoed first (the real one may be very long).
pub fn run_counting(command: &mut Command, shown: &str) -> Result<Counts> {
    let run = run_collecting(command, shown)?;
    if !run.succeeded {
        bail!(
            "cargo test failed: {} passed, {} failed",
            run.counts.passed,
            run.counts.failed
        );
    }
    Ok(run.counts)
}

/// What one `cargo test` run printed and how it ended.
pub struct TestRun {
    /// The totals of its `test result:` lines.
    pub counts: Counts,
    /// Each test's outcome by name (`ok`, `FAILED`, `ignored`), from its
    /// `test <name> ... <outcome>` line.
    pub outcomes: BTreeMap<String, String>,
    /// Whether cargo test exited successfully.
    pub succeeded: bool,
}

/// Runs `cargo test`, passing its output through, and collects the totals
/// and each test's outcome, whether or not it passed.
pub fn run_collecting(command: &mut Command, shown: &str) -> Result<TestRun> {
    eprintln!("$ {shown}");
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start cargo test")?;
    let mut counts = Counts::default();
    let mut outcomes = BTreeMap::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.context("reading cargo test's output")?;
            println!("{line}");
            counts.add_line(&line);
            if let Some((name, outcome)) = outcome_of(&line) {
                outcomes.insert(name.to_owned(), outcome.to_owned());
            }
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    Ok(TestRun {
        counts,
        outcomes,
        succeeded: status.success(),
    })
}

/// `test a::b ... ok` → (`a::b`, `ok`).
fn outcome_of(line: &str) -> Option<(&str, &str)> {
    let (name, outcome) = line.strip_prefix("test ")?.split_once(" ... ")?;
    Some((name, outcome.trim()))
}

#[cfg(test)]
mod tests {
    use super::{outcome_of, Counts};

    #[test]
    fn reads_each_tests_outcome() {
        assert_eq!(
            outcome_of("test hostile::a::sqlite ... ok"),
            Some(("hostile::a::sqlite", "ok"))
        );
        assert_eq!(outcome_of("test b ... FAILED"), Some(("b", "FAILED")));
        assert_eq!(outcome_of("test result: ok. 1 passed"), None);
    }

    #[test]
    fn totals_every_result_line() {
        let mut counts = Counts::default();
        counts.add_line("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 4 filtered out; finished in 0.53s");
        counts.add_line(
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        counts.add_line("running 3 tests");
        assert_eq!(
            counts,
            Counts {
                passed: 15,
                failed: 2,
                filtered_out: 4,
            }
        );
    }
}
