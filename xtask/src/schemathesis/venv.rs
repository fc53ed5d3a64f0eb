//! The virtualenv under the target folder that holds schemathesis at the
//! versions `xtask/schemathesis/requirements.txt` pins; nothing outside the
//! repository is installed to.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::{cmd, target_dir};

/// The pinned requirements, relative to the workspace root.
const REQUIREMENTS: &str = "xtask/schemathesis/requirements.txt";
/// The copy of the requirements a finished install leaves in the virtualenv.
const STAMP: &str = "xtask-requirements.txt";

/// Makes the virtualenv when it is missing or holds other versions, and
/// returns the path of its `schemathesis` program.
pub fn install() -> Result<PathBuf> {
    let requirements = crate::project_root().join(REQUIREMENTS);
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("could not read {}", requirements.display()))?;
    let venv = target_dir().join("schemathesis-venv");
    let program = venv.join("bin").join("schemathesis");
    let stamp = venv.join(STAMP);
    if program.is_file() && fs::read_to_string(&stamp).is_ok_and(|had| had == wanted) {
        eprintln!("xtask: schemathesis present in {}", venv.display());
        return Ok(program);
    }
    create(&venv, &requirements)?;
    // Written last: a failed install is redone on the next run.
    fs::write(&stamp, wanted).with_context(|| format!("could not write {}", stamp.display()))?;
    Ok(program)
}

fn create(venv: &Path, requirements: &Path) -> Result<()> {
    if venv.exists() {
        fs::remove_dir_all(venv)
            .with_context(|| format!("could not remove the old {}", venv.display()))?;
    }
    cmd::run(Command::new("python3").args(["-m", "venv"]).arg(venv))
        .context("making the virtualenv needs python3 with venv (Debian package python3-venv)")?;
    cmd::run(
        Command::new(venv.join("bin").join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--requirement")
            .arg(requirements),
    )
    .context("installing schemathesis from PyPI")
}
