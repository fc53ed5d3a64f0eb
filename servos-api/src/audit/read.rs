//! Reading the audit trail for the API and the web UI alike: filtered
//! pages, newest first, and the CSV export, each on a connection the
//! caller holds.

use crate::error::ServiceError;
use crate::store::audit_log::{self, AuditFilter};
use crate::store::DbConn;

use super::{export, names, AuditEntry};

/// Most entries in one page.
pub const MAX_PAGE: i64 = 500;
/// Most entries in one CSV export.
pub const MAX_EXPORT: i64 = 100_000;

/// One page of entries, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    /// Entries.
    pub entries: Vec<AuditEntry>,
    /// The `before_seq` of the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// Up to `limit` (1 to [`MAX_PAGE`]) entries matching `filter`.
pub fn page(conn: &mut DbConn, filter: &AuditFilter, limit: i64) -> Result<Page, ServiceError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ServiceError::invalid(
            "limit",
            format!("must be 1 to {MAX_PAGE}"),
        ));
    }
    let rows = audit_log::list(conn, filter, limit + 1)?;
    let more = rows.len() as i64 > limit;
    let mut entries: Vec<AuditEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(AuditEntry::from)
        .collect();
    names::fill(conn, &mut entries)?;
    let next_before = if more {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Page {
        entries,
        next_before,
    })
}

/// Entries matching `filter` (at most [`MAX_EXPORT`]) as CSV.
pub fn csv(conn: &mut DbConn, filter: &AuditFilter) -> Result<Vec<u8>, ServiceError> {
    let rows = audit_log::list(conn, filter, MAX_EXPORT)?;
    export::to_csv(&rows).map_err(ServiceError::internal)
}
