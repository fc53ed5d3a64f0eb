//! `cargo xtask run`: the quick start, the control plane on SQLite with a development master key.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::{cmd, master_key, project_root};

/// The folder, in the workspace and ignored by git, that holds the dev key and data.
const DEV_DIR: &str = ".servos-dev";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Replaces xtask with `cargo run --release -p servos-api -- serve`, its
/// environment filled in wherever the caller has not set it.
pub fn main() -> Result<()> {
    let dev_dir = project_root().join(DEV_DIR);
    private_dir(&dev_dir)?;

    let mut serve = cmd::cargo();
    serve.args(["run", "--release", "-p", "servos-api", "--", "serve"]);
    if std::env::var_os("SERVOS_MASTER_KEY").is_none() {
        // In the child's environment only: never on a command line.
        serve.env(
            "SERVOS_MASTER_KEY",
            load_or_create_key(&dev_dir.join("master.key"))?,
        );
    }
    if std::env::var_os("SERVOS_DATA_DIR").is_none() {
        let data_dir = dev_dir.join("data");
        private_dir(&data_dir)?;
        serve.env("SERVOS_DATA_DIR", data_dir);
    }
    if std::env::var_os("SERVOS_LISTEN").is_none() {
        serve.env("SERVOS_LISTEN", DEFAULT_LISTEN);
    }
    eprintln!("$ {}", cmd::display(&serve));
    let err = serve.exec();
    Err(err).context("could not start cargo")
}

/// Creates the folder if needed and makes it readable by its owner only.
fn private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
        .with_context(|| format!("could not create {}", dir.display()))
}

/// Reads the dev key, or makes one the first time and says plainly what it is.
fn load_or_create_key(path: &Path) -> Result<String> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let key = master_key::generate()?;
            writeln!(file, "{key}")
                .and_then(|()| file.sync_all())
                .with_context(|| format!("could not write {}", path.display()))?;
            warn_new_key(path);
            Ok(key)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
        Err(err) => Err(err).with_context(|| format!("could not create {}", path.display())),
    }
}

fn read_key(path: &Path) -> Result<String> {
    let mode = fs::metadata(path)
        .with_context(|| format!("could not read {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} can be read by other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        );
    }
    let key =
        fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    if !master_key::is_valid(&key) {
        bail!(
            "{} does not hold a master key (base64 of 32 bytes); restore it from your backup, \
             or delete it together with {DEV_DIR}/data to start over",
            path.display()
        );
    }
    Ok(key.trim().to_owned())
}

fn warn_new_key(path: &Path) {
    eprintln!(
        "\n\
         warning: created a DEVELOPMENT master key in {}\n\
         warning: every secret this dev server stores is encrypted under it; lose or\n\
         warning: change the file and those secrets are gone for good.\n\
         warning: it is for local development only: in production, pass SERVOS_MASTER_KEY\n\
         warning: from a secret store, and keep a backup of it.\n",
        path.display()
    );
}
