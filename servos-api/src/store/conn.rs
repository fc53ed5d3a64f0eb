//! Connections to either backend, the pool, and migrations at start.
//!
//! Every dialect difference of the store lives in this file and `tx.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::StoreError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Advisory lock id that serialises migrations between API replicas.
const MIGRATION_LOCK_ID: i64 = 0x5e72_0500_0001;

pub use multi::DbConn;

#[allow(missing_docs)] // the derive generates undocumented helper items
mod multi {
    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// A connection to whichever backend is configured.
    #[derive(diesel::MultiConnection)]
    pub enum DbConn {
        /// PostgreSQL (`DATABASE_URL=postgres://...`).
        Pg(PgConnection),
        /// SQLite, the embedded default.
        Sqlite(SqliteConnection),
    }
}

/// Which backend a database URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A PostgreSQL connection URL.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
}

impl DatabaseTarget {
    /// `postgres://` or `postgresql://` URLs select PostgreSQL; absent means
    /// `servos.db` in the data directory.
    pub fn from_env(database_url: Option<&str>, data_dir: &Path) -> Self {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::Postgres(url.to_owned())
            }
            Some(path) if !path.is_empty() => {
                Self::Sqlite(path.strip_prefix("sqlite://").unwrap_or(path).into())
            }
            _ => Self::Sqlite(data_dir.join("servos.db")),
        }
    }

    /// A short name for logs: the backend, never the URL (it may hold a password).
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgresql",
            Self::Sqlite(_) => "sqlite",
        }
    }

    fn establish(&self) -> Result<DbConn, ConnectionError> {
        match self {
            Self::Postgres(url) => PgConnection::establish(url).map(DbConn::Pg),
            Self::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers run beside the single writer; the busy
                // timeout makes writers queue instead of failing at once.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// How long a connection that was in use counts as alive without asking
/// the database again. Checking every checkout doubled the round trips of a
/// read on PostgreSQL; a connection idle longer (the database may have
/// restarted meanwhile) is still asked before it is handed out.
const ALIVE_FOR: Duration = Duration::from_secs(1);

/// A pooled connection and when it last proved alive: when it was opened,
/// answered the checkout's question, or came back to the pool unbroken.
pub struct Pooled {
    conn: DbConn,
    alive_at: Instant,
    lost: bool,
}

impl Pooled {
    /// Marks the connection lost (a query found it closed, as a database
    /// restart leaves every connection): the pool drops it when it comes
    /// back instead of handing it out again within [`ALIVE_FOR`].
    pub fn mark_lost(&mut self) {
        self.lost = true;
    }
}

impl std::ops::Deref for Pooled {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// r2d2 manager that opens the configured backend with its settings.
#[derive(Debug)]
pub struct Manager(DatabaseTarget);

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = self.0.establish().map_err(r2d2::Error::ConnectionError)?;
        Ok(Pooled {
            conn,
            alive_at: Instant::now(),
            lost: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if pooled.alive_at.elapsed() < ALIVE_FOR {
            return Ok(());
        }
        pooled
            .conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)?;
        pooled.alive_at = Instant::now();
        Ok(())
    }

    /// Runs each time a connection is given back: a broken or lost one is
    /// dropped, a sound one counts as alive from now.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        let broken = pooled.lost || r2d2::R2D2Connection::is_broken(&mut pooled.conn);
        if !broken {
            pooled.alive_at = Instant::now();
        }
        broken
    }
}

/// The connection pool.
pub type Pool = r2d2::Pool<Manager>;

/// Asks the database a trivial question: does it answer?
pub fn ping(conn: &mut DbConn) -> super::DbResult<()> {
    conn.batch_execute("SELECT 1")
}

/// Opens a pool of connections to the target.
pub fn pool(target: &DatabaseTarget, max_size: u32) -> Result<Pool, StoreError> {
    r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        .build(Manager(target.clone()))
        .map_err(StoreError::Pool)
}

/// Applies pending migrations for the target's backend; replicas starting
/// together on PostgreSQL take turns.
pub fn migrate(target: &DatabaseTarget) -> Result<(), StoreError> {
    match target.establish()? {
        DbConn::Sqlite(mut conn) => conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(drop)
            .map_err(|e| StoreError::Migration(e.to_string())),
        DbConn::Pg(mut conn) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
            let result = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(drop)
                .map_err(|e| StoreError::Migration(e.to_string()));
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))?;
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_marked_lost_is_not_given_out_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manager = Manager(DatabaseTarget::Sqlite(dir.path().join("servos.db")));
        let mut pooled = manager.connect().expect("open SQLite");
        assert!(!manager.has_broken(&mut pooled));
        pooled.mark_lost();
        assert!(manager.has_broken(&mut pooled));
    }
}
