//! Finding the newest PostgreSQL server programs that Debian installed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
const NEEDED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// The `bin` folder of the newest PostgreSQL under `/usr/lib/postgresql/<version>/`.
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the newest version folder holding `initdb`, `pg_ctl` and `postgres`.
    pub fn find() -> Result<Self> {
        let Ok(entries) = std::fs::read_dir(DEBIAN_ROOT) else {
            bail!("no PostgreSQL server under {DEBIAN_ROOT} (Debian package `postgresql`)");
        };
        let newest = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let version = version_of(&entry.file_name().to_string_lossy())?;
                let dir = entry.path().join("bin");
                NEEDED
                    .iter()
                    .all(|name| dir.join(name).is_file())
                    .then_some((version, dir))
            })
            .max_by(|a, b| a.0.cmp(&b.0));
        match newest {
            Some((_, dir)) => Ok(Self { dir }),
            None => bail!("no complete PostgreSQL server under {DEBIAN_ROOT}/*/bin"),
        }
    }

    /// The path of one of the programs in that folder.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The folder itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// `15` → `[15]`, `9.6` → `[9, 6]`; `None` for names that are not versions.
fn version_of(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::version_of;

    #[test]
    fn versions_order_numerically() {
        assert!(version_of("16") > version_of("9.6"));
        assert!(version_of("15") > version_of("9.6"));
        assert_eq!(version_of("common"), None);
    }
}
