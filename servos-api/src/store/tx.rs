//! Write transactions that serialise correctly on both backends.
//!
//! SQLite: `BEGIN IMMEDIATE` takes the write lock up front, so a transaction
//! that reads and then writes (the audit chain, setup) never fails with a
//! stale snapshot. PostgreSQL: a plain transaction, plus a transaction-scoped
//! advisory lock where a change must see the latest committed state.

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::Connection;

use super::conn::DbConn;

/// Named serialisation points for PostgreSQL advisory locks.
#[derive(Debug, Clone, Copy)]
pub enum LockPoint {
    /// Appending to the audit chain.
    AuditChain = 1,
    /// Choosing the data key to seal with (shared) or retiring one (exclusive).
    Keyring = 2,
    /// Pointing applications at servers, or deleting a server they may
    /// target: each sees the other's committed change, so no application
    /// is left targeting a deleted server.
    ServerTargets = 3,
}

/// Runs `f` in a write transaction: committed when it returns `Ok`, rolled
/// back when it returns `Err`.
pub fn write<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
        }
        DbConn::Pg(inner) => AnsiTransactionManager::begin_transaction(inner)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            // The caller's error matters more than a failed rollback; a
            // connection left in a transaction is discarded by the pool.
            let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(err)
        }
    }
}

/// Inside a write transaction, waits until no other transaction holds
/// `point` (PostgreSQL). SQLite's write lock already serialises writers.
pub fn serialize(conn: &mut DbConn, point: LockPoint) -> Result<(), diesel::result::Error> {
    advisory_lock(conn, "pg_advisory_xact_lock", point)
}

/// Like [`serialize`], but other shared holders may proceed together; only
/// an exclusive holder waits for them (and they for it).
pub fn serialize_shared(conn: &mut DbConn, point: LockPoint) -> Result<(), diesel::result::Error> {
    advisory_lock(conn, "pg_advisory_xact_lock_shared", point)
}

fn advisory_lock(
    conn: &mut DbConn,
    function: &str,
    point: LockPoint,
) -> Result<(), diesel::result::Error> {
    match conn {
        DbConn::Pg(inner) => {
            inner.batch_execute(&format!("SELECT {function}({}, {})", 0x5e72, point as i32))
        }
        DbConn::Sqlite(_) => Ok(()),
    }
}
