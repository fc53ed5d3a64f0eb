//! `/api/v1/audit`: the audit trail, filtered and paged, and its CSV export.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::read;
use crate::audit::AuditEntry;
use crate::http::error::ApiError;
use crate::http::extract::Admin;
use crate::state::AppState;
use crate::store::audit_log::AuditFilter;

/// Filters and paging; all optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Actor id (user, token).
    pub actor_id: Option<String>,
    /// Action, e.g. `user.created`.
    pub action: Option<String>,
    /// Target type, e.g. `user`.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// From this time (RFC 3339), inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Until this time (RFC 3339), exclusive.
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this sequence number (from `next_before`).
    pub before: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

impl AuditQuery {
    fn filter(&self) -> AuditFilter {
        AuditFilter {
            actor_id: self.actor_id.clone(),
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            since: self.since.map(|t| t.naive_utc()),
            until: self.until.map(|t| t.naive_utc()),
            before_seq: self.before,
        }
    }
}

/// One page of entries, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Entries.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Lists entries matching the filters, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)), security(("session" = []), ("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, limit) = (query.filter(), query.limit.unwrap_or(50));
    let page = state
        .db(move |conn| read::page(conn, &filter, limit))
        .await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        entries: page.entries,
        next_before: page.next_before,
    }))
}

/// Exports entries matching the filters as CSV (at most 100,000).
#[utoipa::path(get, path = "/api/v1/audit.csv", tag = "audit", params(AuditQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "CSV, one entry per line")),
    security(("session" = []), ("bearer" = [])))]
pub async fn export_csv(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.filter();
    let csv = state.db(move |conn| read::csv(conn, &filter)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"servos-audit.csv\"",
        ))
        .body(csv))
}

/// Refuses any change to the audit trail: it is append-only. (The access
/// layer answers `blocked` before this runs; it is the last line.)
pub async fn refuse_change() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Blocked)
}
