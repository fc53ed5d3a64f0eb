//! Failed authentication: counted against the client's IP and audited in a
//! transaction of its own (the attempted change was rolled back).

use crate::audit::{self, AuditEvent, Origin};
use crate::state::AppState;
use crate::store::tx;

/// Counts a failed attempt for the client IP and writes its audit entry.
pub async fn record(state: &AppState, origin: &Origin, event: AuditEvent) {
    if let Some(ip) = &origin.client_ip {
        state.limits.auth_failures.record(ip);
    }
    let chain = state.audit_chain.clone();
    let origin = origin.clone();
    let action = event.action;
    let written = state
        .db(move |conn| {
            tx::write(conn, |conn| audit::append(conn, &chain, &origin, event))?;
            Ok(())
        })
        .await;
    if let Err(e) = written {
        tracing::error!(error = %e, action, "cannot write the audit entry of a failed attempt");
    }
}
