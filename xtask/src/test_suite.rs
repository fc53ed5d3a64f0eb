//! `cargo xtask test`: install what the tests need, then fmt, clippy, build, the whole test suite and the fuzzers.

use anyhow::{Context, Result};

use crate::pg::{TestPostgres, URL_VAR};
use crate::{cmd, debian, fuzz};

/// Runs every check in order and stops at the first that fails. `cargo_test_args`
/// (a test name filter, `-- --nocapture`, ...) go to `cargo test` as they are.
pub fn main(cargo_test_args: &[String]) -> Result<()> {
    let locked = cmd::locked_flag();
    let fuzz_seconds = fuzz::seconds_from_env()?;

    step("install missing Debian packages", || {
        let mut needed = vec![
            debian::POSTGRESQL,
            debian::OPENSSL,
            debian::OPENSSH_CLIENT,
            debian::OPENSSH_SERVER,
        ];
        needed.extend(debian::BUILD);
        // The lab's tests (and the end-to-end tests that use the lab).
        needed.extend(debian::LAB_BASE);
        needed.extend(debian::LAB_DOCKER);
        // The web UI's browser tests (headless Chromium through ChromeDriver).
        needed.extend(debian::BROWSER);
        debian::ensure(&needed)
    })?;
    step("check formatting (cargo fmt --all fixes it)", || {
        cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))?;
        cmd::run(&mut fuzz::fmt_check()).context(
            "the fuzz crate is outside the workspace: \
             `cargo fmt --manifest-path servos-common/fuzz/Cargo.toml` fixes it",
        )
    })?;
    step("clippy", || {
        cmd::run(
            cmd::cargo()
                .args(["clippy", "--workspace", "--all-targets"])
                .args(locked)
                .args(["--", "-D", "warnings"]),
        )
    })?;
    step("build", || {
        cmd::run(
            cmd::cargo()
                .args(["build", "--workspace", "--all-targets"])
                .args(locked),
        )
    })?;

    let postgres = step(
        "start PostgreSQL for the tests",
        TestPostgres::from_env_or_start,
    )?;
    let tested = step("test", || {
        run_counting(
            cmd::cargo()
                .args(["test", "--workspace"])
                .args(locked)
                .args(cargo_test_args)
                .env(URL_VAR, postgres.url()),
        )
    });
    drop(postgres);
    let counts = tested?;

    if fuzz_seconds == 0 {
        eprintln!("\nxtask: fuzzing skipped ({}=0)", fuzz::SECONDS_VAR);
    } else {
        step("install what fuzzing needs", fuzz::install)?;
        step(&format!("fuzz, {fuzz_seconds}s per target"), || {
            fuzz::run_all(fuzz_seconds)
        })?;
    }
    eprintln!("xtask: all checks passed");
    // The closing line CI reads: the totals over every test binary.
    println!("xtask: {} passed, {} failed", counts.passed, counts.failed);
    Ok(())
}

/// Test totals over every `test result:` line of a `cargo test` run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
}

impl Counts {
    /// Adds the numbers of one `test result: ok. 12 passed; 0 failed; ...` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += number,
                "failed" => self.failed += number,
                _ => {}
            }
        }
    }
}

/// Runs `cargo test`, passing its output through, and totals the results.
fn run_counting(command: &mut std::process::Command) -> Result<Counts> {
    use std::io::BufRead as _;
    eprintln!("$ {}", cmd::display(command));
    let mut child = command
        .stdout(std::process::Stdio::piped())
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
        anyhow::bail!(
            "cargo test failed ({status}): {} passed, {} failed",
            counts.passed,
            counts.failed
        );
    }
    Ok(counts)
}

/// Announces a step, runs it, and names it in the error when it fails.
fn step<T>(name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\nxtask: == {name} ==");
    run().with_context(|| format!("step \"{name}\""))
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn totals_every_result_line() {
        let mut counts = Counts::default();
        counts.add_line("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.53s");
        counts.add_line(
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        counts.add_line("running 3 tests");
        assert_eq!(
            counts,
            Counts {
                passed: 15,
                failed: 2
            }
        );
    }
}
