//! The tests' PostgreSQL: the caller's `SERVOS_TEST_PG_URL`, or a private throwaway cluster.

mod cluster;

use std::io;
use std::process::Command;

use anyhow::{bail, Result};

pub use cluster::{watchdog_main, Cluster};
use servos_lab::postgres::Binaries;

use crate::cmd;

/// The variable the test suite reads its PostgreSQL server URL from.
pub const URL_VAR: &str = "SERVOS_TEST_PG_URL";
/// The hidden task name of the cluster's watchdog process.
pub const WATCHDOG_TASK: &str = "pg-watchdog";

/// A PostgreSQL server to test against, with the URL of its `postgres` database.
pub enum TestPostgres {
    /// Given by the caller in `SERVOS_TEST_PG_URL`; left as it is.
    External(String),
    /// Started by this process; stopped and removed when dropped.
    Private(Cluster),
}

impl TestPostgres {
    /// Uses `SERVOS_TEST_PG_URL` when it is set, else starts a private cluster.
    pub fn from_env_or_start() -> Result<Self> {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => {
                eprintln!("xtask: using the PostgreSQL server in {URL_VAR}");
                Ok(Self::External(url))
            }
            _ => Ok(Self::Private(Cluster::start()?)),
        }
    }

    /// The server URL, naming its `postgres` (or the caller's) database.
    pub fn url(&self) -> &str {
        match self {
            Self::External(url) => url,
            Self::Private(cluster) => cluster.url(),
        }
    }

    /// Runs `work` with the URL of a new empty database
    /// `<prefix>_<xtask pid>`, and drops the database afterwards, whatever
    /// `work` returned (a failed drop is only warned about).
    pub fn with_scratch_database<T>(
        &self,
        prefix: &str,
        work: impl FnOnce(&str) -> Result<T>,
    ) -> Result<T> {
        let name = format!("{prefix}_{}", std::process::id());
        self.admin_sql(&name, "CREATE")?;
        let done = work(&with_database(self.url(), &name));
        if let Err(err) = self.admin_sql(&name, "DROP") {
            eprintln!("xtask: warning: could not drop {name}: {err:#}");
        }
        done
    }

    fn admin_sql(&self, name: &str, verb: &str) -> Result<()> {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            bail!("database name {name:?} must be lowercase letters, digits and `_`");
        }
        let psql = Binaries::find().map_or_else(|_| "psql".into(), |b| b.tool("psql"));
        cmd::run_quiet(
            Command::new(psql)
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url()])
                .arg("-c")
                .arg(format!("{verb} DATABASE {name}")),
        )
    }
}

/// The `pg` task: starts a cluster for hand-run tests and keeps it until end of input.
pub fn serve_until_eof() -> Result<()> {
    let cluster = Cluster::start()?;
    println!("export {URL_VAR}={}", cluster.url());
    eprintln!("xtask: the cluster runs until end of input (Ctrl-D) or Ctrl-C");
    // Any end of the read, even an error, means nobody is waiting any more.
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    drop(cluster);
    Ok(())
}

/// The same server URL with its database (the path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |at| at + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |at| authority + at);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_replaces_the_path_only() {
        assert_eq!(
            with_database("postgres://servos@127.0.0.1:5432/postgres", "b1"),
            "postgres://servos@127.0.0.1:5432/b1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "b1"),
            "postgres://u:p@h/b1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "b1"), "postgres://h:1/b1");
    }
}
