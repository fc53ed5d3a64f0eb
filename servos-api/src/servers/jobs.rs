//! What deployments need of servers: connections to commissioned servers
//! (the same target and host key pin as every other connection, so a
//! changed host key is refused before authentication, marks the server
//! `host_key_changed` and is audited, as a check would), and a reverse
//! proxy on each run server, installed and started when it is commissioned
//! or checked, which also removes what deleted applications left there.

use crate::apps::removal;
use crate::audit::target::TargetType;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::error::ServiceError;
use crate::proxy::caddy;
use crate::ssh::{self, Session, SshError};
use crate::state::AppState;
use crate::store::ids::ServerId;
use crate::store::{self, servers};

use super::{ssh_failure, target, Purpose};

/// Opens an authenticated session to server `id`, which must be
/// commissioned (pinned). The error says why, naming both fingerprints
/// when the host key changed.
pub async fn connect(state: &AppState, id: &ServerId) -> Result<Session, ServiceError> {
    let target = target(state, id, &Purpose::Check).await?;
    match ssh::connect(&target, state.config.ssh_timeouts).await {
        Ok(session) => Ok(session),
        Err(e) => {
            if let SshError::HostKeyMismatch { presented, .. } = &e {
                let (id, presented) = (id.to_owned(), presented.clone());
                state
                    .audited(Origin::default(), move |conn| {
                        servers::mark_host_key_changed(conn, &id, &presented, store::now())?;
                        let event = AuditEvent::on(
                            Actor::System,
                            "server.host_key_mismatch",
                            TargetType::Server,
                            &id,
                        )
                        .with_fields(vec!["pending_fingerprint", "status"]);
                        Ok(((), event))
                    })
                    .await?;
            }
            Err(ssh_failure(&e))
        }
    }
}

/// On a run server whose Docker works: makes sure the reverse proxy is
/// installed, runs and answers over the SSH tunnel, and switches routes
/// without losing connections, then removes what applications deleted
/// with `force` left there (audited as `actor`); the problems otherwise.
pub(super) async fn prepare_for_apps(
    state: &AppState,
    origin: &Origin,
    actor: &Actor,
    id: &ServerId,
    session: &Session,
    check: &super::checks::Check,
) -> Option<String> {
    if check.status != "ready" {
        return None;
    }
    let id = id.clone();
    let runs_apps = state
        .db(move |conn| Ok(servers::find_live(conn, &id)?))
        .await
        .ok()
        .flatten()
        .is_some_and(|server| server.roles.split(',').any(|role| role == "run"));
    if !runs_apps {
        return None;
    }
    let caveat = match caddy::ensure(session).await {
        Ok(caveat) => caveat.map(|why| format!("reverse proxy: {why}")),
        Err(e) => return Some(format!("reverse proxy: {e}")),
    };
    let leftovers = removal::sweep(state, origin, actor, session)
        .await
        .err()
        .map(|why| format!("removing what deleted applications left: {why}"));
    match (caveat, leftovers) {
        (Some(caveat), Some(leftovers)) => Some(format!("{caveat}; {leftovers}")),
        (caveat, leftovers) => caveat.or(leftovers),
    }
}
