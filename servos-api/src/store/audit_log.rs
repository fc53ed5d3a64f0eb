//! Queries on `audit_log`: append, read back in order, filter and page.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_log;
use super::DbConn;

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// UUID.
    pub id: String,
    /// Time (UTC).
    pub at: NaiveDateTime,
    /// `user`, `api_token`, `agent`, `webhook`, `system` or `anonymous`.
    pub actor_type: String,
    /// Id of the acting user, token, agent or webhook.
    pub actor_id: Option<String>,
    /// Human label of the actor (an email, a token name).
    pub actor_label: Option<String>,
    /// What happened, `resource.verb`.
    pub action: String,
    /// Type of the resource acted on.
    pub target_type: Option<String>,
    /// Id of the resource acted on.
    pub target_id: Option<String>,
    /// Comma-separated names of changed fields (never values).
    pub fields: String,
    /// Request id of the HTTP request that caused it.
    pub request_id: Option<String>,
    /// Client IP of that request.
    pub client_ip: Option<String>,
    /// `hash` of the previous entry.
    pub prev_hash: String,
    /// HMAC over this entry and `prev_hash`.
    pub hash: String,
}

/// Filters for listing entries; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact actor id.
    pub actor_id: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Exact target type.
    pub target_type: Option<String>,
    /// Exact target id.
    pub target_id: Option<String>,
    /// Entries at or after this time.
    pub since: Option<NaiveDateTime>,
    /// Entries before this time.
    pub until: Option<NaiveDateTime>,
    /// Entries with a sequence number below this (paging backwards).
    pub before_seq: Option<i64>,
}

/// The newest entry, if any.
pub fn last(conn: &mut DbConn) -> QueryResult<Option<AuditRow>> {
    audit_log::table
        .order(audit_log::seq.desc())
        .select(AuditRow::as_select())
        .first(conn)
        .optional()
}

/// Appends an entry.
pub fn insert(conn: &mut DbConn, row: &AuditRow) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Up to `limit` entries with `seq > after`, in chain order.
pub fn chain_batch(conn: &mut DbConn, after: i64, limit: i64) -> QueryResult<Vec<AuditRow>> {
    audit_log::table
        .filter(audit_log::seq.gt(after))
        .order(audit_log::seq.asc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)
}

/// Up to `limit` entries matching `filter`, newest first.
pub fn list(conn: &mut DbConn, filter: &AuditFilter, limit: i64) -> QueryResult<Vec<AuditRow>> {
    let mut query = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::seq.desc())
        .limit(limit)
        .into_boxed();
    if let Some(v) = &filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(v.clone()));
    }
    if let Some(v) = &filter.action {
        query = query.filter(audit_log::action.eq(v.clone()));
    }
    if let Some(v) = &filter.target_type {
        query = query.filter(audit_log::target_type.eq(v.clone()));
    }
    if let Some(v) = &filter.target_id {
        query = query.filter(audit_log::target_id.eq(v.clone()));
    }
    if let Some(v) = filter.since {
        query = query.filter(audit_log::at.ge(v));
    }
    if let Some(v) = filter.until {
        query = query.filter(audit_log::at.lt(v));
    }
    if let Some(v) = filter.before_seq {
        query = query.filter(audit_log::seq.lt(v));
    }
    query.load(conn)
}
