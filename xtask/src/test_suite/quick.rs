//! `cargo xtask test --quick`: formatting, clippy, and the tests that need
//! nothing but the build, for the edit-compile-test loop: every crate's unit
//! tests and servos-api's in-process tests on SQLite.
//!
//! Tests that need root, the lab, a browser, PostgreSQL or the real binary
//! are left out by their full names (`--exact --skip`), so a test whose name
//! merely contains a left-out module's name still runs. They are counted and
//! reported as left out, never as passed; the full tier runs them. A new
//! test module that needs any of those belongs in `SUITES` below: until it
//! is there, the quick tier fails on it rather than passing it.

use std::process::Command;

use anyhow::{bail, Context, Result};

use super::counts::{run_counting, Counts};
use super::step;
use crate::pg::URL_VAR;
use crate::{checks, cmd, debian};

/// A group of tests the quick tier leaves out: names that start with
/// `prefix` and end with `suffix`, and what those tests need.
struct LeftOut {
    prefix: &'static str,
    suffix: &'static str,
    needs: &'static str,
}

impl LeftOut {
    const fn module(prefix: &'static str, needs: &'static str) -> Self {
        Self {
            prefix,
            suffix: "",
            needs,
        }
    }

    fn matches(&self, name: &str) -> bool {
        name.starts_with(self.prefix) && name.ends_with(self.suffix)
    }
}

/// One `cargo test` run of the quick tier.
struct Suite {
    name: &'static str,
    cargo_args: &'static [&'static str],
    left_out: &'static [LeftOut],
}

const SUITES: [Suite; 2] = [
    Suite {
        name: "unit tests of every crate",
        cargo_args: &["--workspace", "--lib", "--bins"],
        left_out: &[LeftOut::module(
            "proxy::handover::",
            "root (a network namespace)",
        )],
    },
    Suite {
        name: "servos-api's in-process tests on SQLite",
        cargo_args: &["-p", "servos-api", "--test", "it"],
        left_out: &[
            // The PostgreSQL half of every `both_backends!` test.
            LeftOut {
                prefix: "",
                suffix: "::postgres",
                needs: "PostgreSQL",
            },
            LeftOut::module("deploy_lab::", "the lab (root, Docker)"),
            LeftOut::module("mesh_lab::", "the lab (root)"),
            LeftOut::module("servers::", "the lab (root)"),
            LeftOut::module("ssh_transfer::", "the lab (root)"),
            LeftOut::module("browser::", "Chromium and the lab (root)"),
            LeftOut::module("binary::", "the real binary"),
            LeftOut::module("binary_canaries::", "the real binary"),
            LeftOut::module("binary_security::", "the real binary and openssl"),
            LeftOut::module("rotation::", "the real binary"),
        ],
    },
];

/// What the quick tier needs besides the Rust toolchain: the C libraries the
/// crates link and `ssh-keygen`, which the SSH key tests compare against.
/// Without root these are only checked, never installed.
fn requirements() -> Vec<debian::Requirement> {
    let mut needed = debian::BUILD.to_vec();
    needed.push(debian::OPENSSH_CLIENT);
    needed
}

/// Runs the quick tier; it needs no root, no PostgreSQL and no lab.
pub fn main() -> Result<()> {
    step("check the build's Debian packages", || {
        debian::ensure(&requirements())
    })?;
    step(
        "the mesh classifier's build tools (rust-src, bpf-linker)",
        crate::bpf::ensure_toolchain,
    )?;
    step(
        "check formatting (cargo fmt --all fixes it)",
        checks::format,
    )?;
    step("clippy", checks::clippy)?;
    let mut total = Counts::default();
    for suite in &SUITES {
        let counts = step(suite.name, || run(suite))?;
        total.add(&counts);
    }
    eprintln!("xtask: quick checks passed; `cargo xtask test` runs everything");
    println!(
        "xtask: quick: {} passed, {} failed, {} left out for the full tier",
        total.passed, total.failed, total.filtered_out
    );
    Ok(())
}

/// Lists the suite's tests, says which are left out and why, and runs the rest.
fn run(suite: &Suite) -> Result<Counts> {
    let names = list(suite)?;
    let mut skipped = Vec::new();
    // How many tests are left out for each reason, in the order first met.
    let mut reasons: Vec<(&str, usize)> = Vec::new();
    for name in &names {
        let Some(rule) = suite.left_out.iter().find(|rule| rule.matches(name)) else {
            continue;
        };
        skipped.push(name.as_str());
        match reasons.iter_mut().find(|(needs, _)| *needs == rule.needs) {
            Some((_, count)) => *count += 1,
            None => reasons.push((rule.needs, 1)),
        }
    }
    for (needs, count) in reasons {
        eprintln!("xtask: leaving out {count} test(s) that need {needs}");
    }
    let mut command = cargo_test(suite);
    command.args(["--", "--exact"]);
    for name in &skipped {
        command.args(["--skip", name]);
    }
    let shown = format!(
        "cargo test {} -- --exact --skip <each of the {} tests above>",
        suite.cargo_args.join(" "),
        skipped.len()
    );
    let counts = run_counting(&mut command, &shown)?;
    if counts.filtered_out != skipped.len() as u64 {
        bail!(
            "{} tests were left out, but libtest filtered out {}: \
             a name is in two test binaries",
            skipped.len(),
            counts.filtered_out
        );
    }
    Ok(counts)
}

/// The full names of the suite's tests (`cargo test -- --list`).
fn list(suite: &Suite) -> Result<Vec<String>> {
    let listing = cmd::read_stdout(cargo_test(suite).args(["--", "--list", "--format", "terse"]))
        .with_context(|| format!("listing the {}", suite.name))?;
    Ok(test_names(&listing))
}

fn test_names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// `cargo test` of the suite, without the PostgreSQL URL: a PostgreSQL test
/// that slipped through fails loudly instead of running.
fn cargo_test(suite: &Suite) -> Command {
    let mut command = cmd::cargo();
    command
        .arg("test")
        .args(suite.cargo_args)
        .args(cmd::locked_flag())
        .env_remove(URL_VAR);
    command
}

#[cfg(test)]
mod tests {
    use super::{test_names, SUITES};

    #[test]
    fn left_out_rules_match_whole_modules_and_the_postgres_half() {
        let it = &SUITES[1];
        let left_out = |name: &str| it.left_out.iter().any(|rule| rule.matches(name));
        assert!(left_out("apps::lifecycle::postgres"));
        assert!(left_out("servers::host_keys_are_pinned::sqlite"));
        assert!(left_out(
            "binary::quick_start_prints_the_setup_token_and_the_url"
        ));
        assert!(!left_out("apps::lifecycle::sqlite"));
        assert!(!left_out("web::pages::lists_servers::sqlite"));
        assert!(!left_out("deployments::postgres_like_name::sqlite"));
        assert!(!left_out("tiers::every_route_is_registered_once"));
    }

    #[test]
    fn listing_keeps_tests_only() {
        let listing = "a::b: test\nc::d::sqlite: test\nbench_x: benchmark\n\n";
        assert_eq!(test_names(listing), ["a::b", "c::d::sqlite"]);
    }
}
