//! Finding the newest PostgreSQL server programs that Debian installed.

use std::path::{Path, PathBuf};

use crate::LabError;

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
const NEEDED: [&str; 4] = ["initdb", "pg_ctl", "postgres", "pg_isready"];

/// The `bin` folder of the newest PostgreSQL under `/usr/lib/postgresql/<version>/`.
#[derive(Clone, Debug)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the newest version folder holding `initdb`, `pg_ctl`, `postgres`
    /// and `pg_isready`; fails naming the Debian package `postgresql`.
    pub fn find() -> Result<Self, LabError> {
        let missing = || LabError::MissingProgram {
            program: format!("{DEBIAN_ROOT}/<version>/bin/initdb"),
            package: "postgresql",
        };
        let entries = std::fs::read_dir(DEBIAN_ROOT).map_err(|_| missing())?;
        entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let version = version_of(&entry.file_name().to_string_lossy())?;
                let dir = entry.path().join("bin");
                NEEDED
                    .iter()
                    .all(|name| dir.join(name).is_file())
                    .then_some((version, dir))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, dir)| Self { dir })
            .ok_or_else(missing)
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
