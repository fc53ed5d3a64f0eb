//! Running `cargo test` with its output passed through, and totalling the
//! `test result:` lines of every test binary it runs.

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
    eprintln!("$ {shown}");
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start cargo test")?;
    let mut counts = Counts::default();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.context("reading cargo test's output")?;
            println!("{line}");
            counts.add_line(&line);
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() {
        bail!(
            "cargo test failed ({status}): {} passed, {} failed",
            counts.passed,
            counts.failed
        );
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::Counts;

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
