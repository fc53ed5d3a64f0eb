//! Scratch folders for one run of a task, under the target folder and removed afterwards.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// `<parent>/<xtask pid>/`, created empty and removed when dropped.
pub struct ScratchDir {
    /// The folder itself.
    pub path: PathBuf,
}

impl ScratchDir {
    /// Creates the folder, first removing one a dead xtask with the same pid left.
    pub fn create(parent: PathBuf) -> Result<Self> {
        let path = parent.join(std::process::id().to_string());
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            eprintln!(
                "xtask: warning: could not remove {}: {err}",
                self.path.display()
            );
        }
    }
}
