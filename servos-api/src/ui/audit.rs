//! The audit log page (admins): filters by actor, action, target and time
//! range, pages of 50 newest first, and a CSV download of the same filters
//! through `GET /api/v1/audit.csv`.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::NaiveDateTime;

use crate::accounts::users;
use crate::audit::target::TargetType;
use crate::audit::{read, AuditEntry};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::audit_log::AuditFilter;

use super::chrome::Chrome;
use super::form::FieldErrors;
use super::views;

/// Entries per page.
const PAGE_SIZE: i64 = 50;

/// An audit entry as a table row.
#[derive(Debug)]
pub struct EntryItem {
    /// Position in the chain.
    pub seq: i64,
    /// Time.
    pub at: String,
    /// Who: email, token label, or the actor kind.
    pub actor: String,
    /// Actor id (a filter link), if any.
    pub actor_id: Option<String>,
    /// `resource.verb`.
    pub action: String,
    /// `type id`, or `""`.
    pub target: String,
    /// Target type, if any.
    pub target_type: Option<String>,
    /// Target id, if any.
    pub target_id: Option<String>,
    /// The target's name (its last one, once deleted), if it has one.
    pub target_name: Option<String>,
    /// The page of the target, while it exists and has one.
    pub target_href: Option<String>,
    /// Changed field names.
    pub fields: String,
    /// Client IP, or `""`.
    pub client_ip: String,
}

impl From<AuditEntry> for EntryItem {
    fn from(entry: AuditEntry) -> Self {
        let target = match (&entry.target_type, &entry.target_id) {
            (Some(t), Some(id)) => format!("{t} {id}"),
            (Some(t), None) => t.clone(),
            _ => String::new(),
        };
        let target_href = match (&entry.target_type, &entry.target_id, entry.target_live) {
            (Some(kind), Some(id), Some(true)) => kind
                .parse::<TargetType>()
                .ok()
                .and_then(|kind| page_of(kind, id)),
            _ => None,
        };
        Self {
            seq: entry.seq,
            at: views::when(entry.at.naive_utc()),
            actor: entry
                .actor_label
                .clone()
                .unwrap_or_else(|| entry.actor_type.clone()),
            actor_id: entry.actor_id,
            action: entry.action,
            target,
            target_type: entry.target_type,
            target_id: entry.target_id,
            target_name: entry.target_name,
            target_href,
            fields: entry.fields.join(", "),
            client_ip: entry.client_ip.unwrap_or_default(),
        }
    }
}

/// The page that shows a target of `kind`, if there is one.
fn page_of(kind: TargetType, id: &str) -> Option<String> {
    Some(match kind {
        TargetType::Server => format!("/servers/{id}"),
        TargetType::App => format!("/apps/{id}"),
        TargetType::Deployment => format!("/deployments/{id}"),
        TargetType::SshKey => format!("/credentials/ssh-keys/{id}"),
        TargetType::Registry | TargetType::GitCredential | TargetType::EnvSet => {
            "/credentials".to_owned()
        }
        TargetType::User => "/users".to_owned(),
        TargetType::ApiToken => "/tokens".to_owned(),
        TargetType::MeshNode | TargetType::MeshPolicy | TargetType::MeshRule => "/mesh".to_owned(),
        TargetType::Account | TargetType::DataKey | TargetType::Keyring | TargetType::Route => {
            return None
        }
    })
}

/// The filters as typed.
#[derive(Debug, Default)]
struct Filters {
    actor_id: String,
    action: String,
    target_type: String,
    target_id: String,
    since: String,
    until: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    chrome: &'a Chrome,
    filters: Filters,
    actors: Vec<(String, String)>,
    target_types: Vec<&'static str>,
    entries: Vec<EntryItem>,
    newer: Option<String>,
    older: Option<String>,
    csv: String,
    errors: FieldErrors,
}

/// A `datetime-local` value (UTC) as a time.
fn parse_time(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// `GET /audit`.
pub async fn list(
    state: web::Data<AppState>,
    chrome: Chrome,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("audit");
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let filters = Filters {
        actor_id: param("actor_id"),
        action: param("action"),
        target_type: param("target_type"),
        target_id: param("target_id"),
        since: param("since"),
        until: param("until"),
    };
    let mut errors = FieldErrors::default();
    let mut time = |field: &str, text: &str| {
        if text.is_empty() {
            return None;
        }
        let parsed = parse_time(text);
        if parsed.is_none() {
            errors.add(field, "must be a date and time like 2026-11-23T14:00");
        }
        parsed
    };
    let since = time("since", &filters.since);
    let until = time("until", &filters.until);
    let before_seq = param("before").parse::<i64>().ok().filter(|s| *s > 0);
    let some = |text: &String| Some(text.clone()).filter(|t| !t.is_empty());
    let filter = AuditFilter {
        actor_id: some(&filters.actor_id),
        action: some(&filters.action),
        target_type: some(&filters.target_type),
        target_id: some(&filters.target_id),
        since,
        until,
        before_seq,
    };
    let page = state
        .db(move |conn| read::page(conn, &filter, PAGE_SIZE))
        .await?;
    let iso = |t: Option<NaiveDateTime>| t.map(views::machine_time).unwrap_or_default();
    let shared = [
        ("actor_id", filters.actor_id.clone()),
        ("action", filters.action.clone()),
        ("target_type", filters.target_type.clone()),
        ("target_id", filters.target_id.clone()),
    ];
    let mut csv_query = shared.to_vec();
    csv_query.push(("since", iso(since)));
    csv_query.push(("until", iso(until)));
    let mut page_query = shared.to_vec();
    page_query.push(("since", filters.since.clone()));
    page_query.push(("until", filters.until.clone()));
    let older = page.next_before.map(|before| {
        let mut q = page_query.clone();
        q.push(("before", before.to_string()));
        format!("/audit?{}", query_string(&q))
    });
    let mut actors: Vec<(String, String)> = users::list(&state)
        .await?
        .into_iter()
        .map(|u| (u.id.to_string(), u.email))
        .collect();
    if !filters.actor_id.is_empty() && !actors.iter().any(|(id, _)| *id == filters.actor_id) {
        actors.push((filters.actor_id.clone(), filters.actor_id.clone()));
    }
    let page = AuditPage {
        chrome: &chrome,
        actors,
        target_types: TargetType::ALL.iter().map(|t| t.as_str()).collect(),
        entries: page.entries.into_iter().map(EntryItem::from).collect(),
        newer: before_seq.map(|_| format!("/audit?{}", query_string(&page_query))),
        older,
        csv: format!("/api/v1/audit.csv?{}", query_string(&csv_query)),
        filters,
        errors,
    };
    chrome.ok(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_queries() {
        assert!(parse_time("2026-11-23T14:00").is_some());
        assert!(parse_time("2026-11-23T14:00:30").is_some());
        assert!(parse_time("yesterday").is_none());
        assert_eq!(
            query_string(&[("a", "x y".into()), ("b", String::new())]),
            "a=x+y"
        );
    }
}
