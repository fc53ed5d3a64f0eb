//! `cargo xtask schemathesis`: the real `servos-api` against its own OpenAPI
//! document. schemathesis (pinned, in a virtualenv under the target folder)
//! generates requests for every operation and checks that none is answered
//! with a 5xx, and that every status, content type and body is the one the
//! document declares. The rules of the run are in `xtask/schemathesis/schemathesis.toml`.

mod report;
mod venv;

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::api_server::ApiServer;
use crate::scratch::ScratchDir;
use crate::{checks, cmd, debian, project_root, target_dir};
use report::Summary;

/// Debian packages the check needs: venv for schemathesis, curl for the setup calls.
pub const REQUIREMENTS: [debian::Requirement; 2] = [debian::PYTHON3_VENV, debian::CURL];
/// The run's configuration, relative to the workspace root.
const CONFIG: &str = "xtask/schemathesis/schemathesis.toml";
/// The variable the configuration reads the API token from (never argv).
const TOKEN_VAR: &str = "SERVOS_SCHEMATHESIS_TOKEN";
/// Settings of the server under test, on top of the very high general rate
/// limit the server always gets. Every request comes from 127.0.0.1, so the
/// per-IP limit on failed authentication (which the run provokes on purpose)
/// would otherwise answer 429 to everything after a few seconds. The servers
/// the run registers do not exist: short SSH timeouts keep each check and
/// commissioning of one to seconds.
const SETTINGS: [(&str, &str); 3] = [
    ("SERVOS_AUTH_FAILURE_LIMIT", "100000/1"),
    ("SERVOS_SSH_CONNECT_TIMEOUT", "2"),
    ("SERVOS_SSH_COMMAND_TIMEOUT", "5"),
];

/// The `schemathesis` task: installs what it needs, builds the workspace, runs the check.
pub fn main(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask schemathesis");
    }
    let mut needed = REQUIREMENTS.to_vec();
    needed.extend(debian::BUILD);
    debian::ensure(&needed)?;
    checks::build()?;
    check_built()
}

/// Runs the check against the `servos-api` binary of the last workspace
/// build; fails when schemathesis finds anything.
pub fn check_built() -> Result<()> {
    let schemathesis = venv::install()?;
    let binary = target_dir().join("debug").join("servos-api");
    let scratch = ScratchDir::create(target_dir().join("servos-schemathesis"))?;
    let report = target_dir().join("schemathesis-report.json");
    if report.exists() {
        std::fs::remove_file(&report)
            .with_context(|| format!("could not remove the old {}", report.display()))?;
    }

    let mut server = ApiServer::start(&binary, &scratch.path, None, &SETTINGS)?;
    server.wait_healthy()?;
    let token = server.api_token("admin")?;
    let mut run = Command::new(&schemathesis);
    run.arg("--config-file")
        .arg(project_root().join(CONFIG))
        .args([
            "run",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
        ])
        .arg(&report)
        .arg(format!("{}/api/v1/openapi.json", server.origin()))
        .env(TOKEN_VAR, token)
        // Whatever it leaves in its working folder goes with the scratch folder.
        .current_dir(&scratch.path)
        .stdin(Stdio::null());
    eprintln!("$ {}", cmd::display(&run));
    let status = run
        .status()
        .with_context(|| format!("could not start {}", schemathesis.display()))?;
    server.stop()?;

    let summary = Summary::read(&report)?;
    summary.print();
    if !summary.passed() || !status.success() {
        bail!(
            "schemathesis found the API and its OpenAPI document disagreeing ({status}); \
             each failure above comes with a curl line that reproduces it"
        );
    }
    Ok(())
}
