//! Servers: registered with an address, user and SSH key; commissioned by
//! pinning their host key on first use; checked over SSH. A host key that
//! differs from the pin refuses the connection before any credential is
//! offered, marks the server `host_key_changed` and is audited; only an
//! admin can confirm the new key or clear the pin.

pub mod checks;
pub mod jobs;

use std::collections::BTreeMap;

use servos_common::fingerprint::HostKeyFingerprint;

use crate::accounts::principal::Principal;
use crate::audit::target::TargetType;
use crate::audit::{self, AuditEvent, Origin};
use crate::credentials::{ssh_keys as key_service, validate};
use crate::error::ServiceError;
use crate::ssh::{self, SshError, Target};
use crate::state::AppState;
use crate::store::ids::{AppId, ServerId};
use crate::store::servers::{self, ServerCheckRow, ServerRow};
use crate::store::{self, apps, ssh_keys};

/// A new server.
#[derive(Debug)]
pub struct NewServer {
    /// Name.
    pub name: String,
    /// Host name or IP.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// SSH key (kind `server`).
    pub ssh_key_id: String,
    /// Roles: `run`, `build`.
    pub roles: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

fn check_address(raw: &str) -> Result<String, ServiceError> {
    let address = raw.trim().to_ascii_lowercase();
    let valid = !address.is_empty()
        && address.len() <= 253
        && address
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if valid {
        Ok(address)
    } else {
        Err(ServiceError::invalid(
            "address",
            "must be a host name or IP address",
        ))
    }
}

fn check_user(raw: &str) -> Result<String, ServiceError> {
    let valid = !raw.is_empty()
        && raw.len() <= 32
        && raw.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(ServiceError::invalid(
            "user",
            "must be a Unix user name like deploy",
        ))
    }
}

/// Registers a server (not yet connected).
pub async fn create(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    new: NewServer,
) -> Result<ServerRow, ServiceError> {
    let name = validate::name(&new.name)?;
    let address = check_address(&new.address)?;
    let user = check_user(&new.user)?;
    if new.port == 0 {
        return Err(ServiceError::invalid("port", "must be 1 to 65535"));
    }
    if new.roles.is_empty() || new.roles.iter().any(|r| r != "run" && r != "build") {
        return Err(ServiceError::invalid("roles", "must list run and/or build"));
    }
    let labels = serde_json::to_string(&new.labels).map_err(ServiceError::internal)?;
    state
        .audited(origin, move |conn| {
            let key = ssh_keys::find_live(conn, &new.ssh_key_id)?
                .ok_or_else(|| ServiceError::invalid("ssh_key_id", "no such SSH key"))?;
            if key.kind != key_service::KeyKind::Server.as_str() {
                return Err(ServiceError::invalid(
                    "ssh_key_id",
                    "must be an SSH key of kind server",
                ));
            }
            if servers::name_taken(conn, &name)? {
                return Err(ServiceError::conflict_on(
                    "name",
                    "a server with this name exists",
                ));
            }
            let now = store::now();
            let row = ServerRow {
                id: ServerId::random(),
                name,
                address,
                port: i32::from(new.port),
                ssh_user: user,
                ssh_key_id: key.id,
                roles: new.roles.join(","),
                labels,
                host_key_fingerprint: None,
                pending_fingerprint: None,
                status: "new".into(),
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            servers::insert(conn, &row)?;
            let event =
                AuditEvent::on(admin.actor(), "server.created", TargetType::Server, &row.id)
                    .with_fields(vec![
                        "name",
                        "address",
                        "port",
                        "ssh_user",
                        "ssh_key_id",
                        "roles",
                        "labels",
                    ]);
            Ok((row, event))
        })
        .await
}

/// Every live server with its newest check.
pub async fn list(
    state: &AppState,
) -> Result<Vec<(ServerRow, Option<ServerCheckRow>)>, ServiceError> {
    state
        .db(|conn| {
            let rows = servers::list_live(conn)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let check = servers::last_check(conn, &row.id)?;
                out.push((row, check));
            }
            Ok(out)
        })
        .await
}

/// One live server with its newest check.
pub async fn get(
    state: &AppState,
    id: ServerId,
) -> Result<(ServerRow, Option<ServerCheckRow>), ServiceError> {
    state
        .db(move |conn| {
            let row = servers::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            let check = servers::last_check(conn, &id)?;
            Ok((row, check))
        })
        .await
}

/// The newest `limit` checks of a server, newest first.
pub async fn recent_checks(
    state: &AppState,
    id: ServerId,
    limit: i64,
) -> Result<Vec<ServerCheckRow>, ServiceError> {
    state
        .db(move |conn| Ok(servers::recent_checks(conn, &id, limit)?))
        .await
}

/// An application a forced delete took its server away from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedApp {
    /// The application.
    pub id: AppId,
    /// Its name.
    pub name: String,
}

/// Deletes a server (soft). Refused (409, field `builder_server_id`) while
/// live applications build on it, even when forced; refused (409, field
/// `server_ids`, naming them) while live applications target it, unless
/// `force`: then it is taken out
/// of their servers first, each audited (`app.server_detached`, same
/// request id as `server.deleted`), and they are returned.
pub async fn delete(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: ServerId,
    force: bool,
) -> Result<Vec<DetachedApp>, ServiceError> {
    let chain = state.audit_chain.clone();
    let entry_origin = origin.clone();
    let actor = admin.actor();
    state
        .audited(origin, move |conn| {
            // After any change pointing applications at servers committed.
            store::tx::serialize(conn, store::tx::LockPoint::ServerTargets)?;
            servers::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            // A build needs its builder: no force takes it away.
            let building = store::git_sources::live_apps_built_on(conn, id.as_str())?;
            if !building.is_empty() {
                return Err(ServiceError::conflict_on(
                    "builder_server_id",
                    format!(
                        "applications build on this server: {}; give them another builder first",
                        crate::apps::named(building.iter().map(|(id, name)| (id, name.as_str())))
                    ),
                ));
            }
            let detached: Vec<DetachedApp> = apps::live_targeting(conn, &id)?
                .into_iter()
                .map(|(id, name)| DetachedApp { id, name })
                .collect();
            if !detached.is_empty() && !force {
                return Err(ServiceError::conflict_on(
                    "server_ids",
                    targeted_by(&detached),
                ));
            }
            let ids: Vec<AppId> = detached.iter().map(|app| app.id.clone()).collect();
            apps::detach_server(conn, &id, &ids)?;
            for app in &detached {
                let event = AuditEvent::on(
                    actor.clone(),
                    "app.server_detached",
                    TargetType::App,
                    &app.id,
                )
                .with_fields(vec!["server_ids"]);
                audit::append(conn, &chain, &entry_origin, event)?;
            }
            if servers::soft_delete(conn, &id, store::now())? == 0 {
                return Err(ServiceError::NotFound);
            }
            let fields = if detached.is_empty() {
                vec!["deleted_at"]
            } else {
                vec!["deleted_at", "apps"]
            };
            let event = AuditEvent::on(actor, "server.deleted", TargetType::Server, &id)
                .with_fields(fields);
            Ok((detached, event))
        })
        .await
}

/// Why a server that `apps` target is not deleted, naming them.
fn targeted_by(apps: &[DetachedApp]) -> String {
    let count = match apps.len() {
        1 => "1 application targets".to_owned(),
        n => format!("{n} applications target"),
    };
    format!(
        "{count} this server: {}. Take it out of their servers first, or delete it \
         anyway, which detaches it from them.",
        crate::apps::named(apps.iter().map(|app| (&app.id, app.name.as_str())))
    )
}

/// Why a connection is made; decides which host key is accepted.
#[derive(Debug, Clone)]
enum Purpose {
    /// First use: trust what the server presents, unless already pinned.
    Commission,
    /// Routine check: requires a pin.
    Check,
    /// Accept only this fingerprint, and pin it.
    Confirm(String),
}

impl Purpose {
    fn action(&self) -> &'static str {
        match self {
            Self::Commission => "server.commissioned",
            Self::Check => "server.checked",
            Self::Confirm(_) => "server.host_key_confirmed",
        }
    }
}

/// The connection target of a server, its key opened from the vault.
async fn target(
    state: &AppState,
    id: &ServerId,
    purpose: &Purpose,
) -> Result<Target, ServiceError> {
    let vault = state.vault.clone();
    let id = id.to_owned();
    let purpose = purpose.clone();
    state
        .db(move |conn| {
            let server = servers::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            if matches!(purpose, Purpose::Check) && server.host_key_fingerprint.is_none() {
                return Err(ServiceError::conflict(
                    "commission the server first: no host key is pinned",
                ));
            }
            let key = ssh_keys::find_live(conn, &server.ssh_key_id)?
                .ok_or_else(|| ServiceError::conflict("the server's SSH key was deleted"))?;
            let (private_key, passphrase) = key_service::open_secrets(conn, vault.keyring(), &key)?;
            Ok(Target {
                address: server.address,
                port: u16::try_from(server.port).unwrap_or(22),
                user: server.ssh_user,
                private_key,
                passphrase,
                pinned: match purpose {
                    Purpose::Confirm(fingerprint) => Some(fingerprint),
                    _ => server.host_key_fingerprint,
                },
            })
        })
        .await
}

/// Why connecting failed, as the API answers it.
fn ssh_failure(e: &SshError) -> ServiceError {
    match e {
        SshError::HostKeyMismatch { pinned, presented } => ServiceError::conflict(format!(
            "host key changed: pinned {pinned}, the server presented {presented}; connection refused"
        )),
        other => ServiceError::Upstream(other.to_string()),
    }
}

/// Connects as `purpose` allows, checks Docker and the disk, records the
/// check (pinning or flagging the host key), and audits it.
async fn connect_and_check(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: ServerId,
    purpose: Purpose,
) -> Result<ServerCheckRow, ServiceError> {
    let target = target(state, &id, &purpose).await?;
    let (check, failure, proxy) = match ssh::connect(&target, state.config.ssh_timeouts).await {
        Ok(session) => {
            let check = checks::run(&session).await;
            let proxy =
                jobs::prepare_for_apps(state, &origin, &caller.actor(), &id, &session, &check)
                    .await;
            session.close().await;
            (check, None, proxy)
        }
        Err(e) => (checks::failed(&e), Some(e), None),
    };
    let record = ServerCheckRow {
        id: uuid::Uuid::new_v4().to_string(),
        server_id: id.clone(),
        at: store::now(),
        status: check.status.into(),
        fingerprint: check.fingerprint.clone(),
        docker_version: check.docker_version,
        disk_free_bytes: check.disk_free_bytes,
        error: failure.as_ref().map(ToString::to_string).or(proxy),
    };
    let stored = record.clone();
    let mismatch = match &failure {
        Some(SshError::HostKeyMismatch { presented, .. }) => Some(presented.clone()),
        _ => None,
    };
    let trusted = check.fingerprint.filter(|_| failure.is_none());
    let action = purpose.action();
    state
        .audited(origin, move |conn| {
            let now = store::now();
            let event = if let Some(presented) = &mismatch {
                servers::mark_host_key_changed(conn, &id, presented, now)?;
                AuditEvent::on(
                    caller.actor(),
                    "server.host_key_mismatch",
                    TargetType::Server,
                    &id,
                )
                .with_fields(vec!["pending_fingerprint", "status"])
            } else if let Some(fingerprint) = &trusted {
                if matches!(purpose, Purpose::Confirm(_)) {
                    servers::set_pin(conn, &id, Some(fingerprint), now)?;
                } else if servers::pin_if_unpinned(conn, &id, fingerprint, now)? == 0 {
                    let current =
                        servers::find_live(conn, &id)?.and_then(|s| s.host_key_fingerprint);
                    if current.as_deref() != Some(fingerprint.as_str()) {
                        return Err(ServiceError::conflict(
                            "another connection pinned a different host key",
                        ));
                    }
                }
                AuditEvent::on(caller.actor(), action, TargetType::Server, &id)
                    .with_fields(vec!["host_key_fingerprint", "status"])
            } else {
                AuditEvent::on(caller.actor(), action, TargetType::Server, &id)
                    .with_fields(vec!["status"])
            };
            // Last, so the check's status is the server's status.
            servers::record_check(conn, &stored)?;
            Ok(((), event))
        })
        .await?;
    match failure {
        Some(e) => Err(ssh_failure(&e)),
        None => Ok(record),
    }
}

/// First connection: pins the host key and checks Docker.
pub async fn commission(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: ServerId,
) -> Result<ServerCheckRow, ServiceError> {
    connect_and_check(state, origin, admin, id, Purpose::Commission).await
}

/// A health check over the pinned connection.
pub async fn check(
    state: &AppState,
    origin: Origin,
    caller: Principal,
    id: ServerId,
) -> Result<ServerCheckRow, ServiceError> {
    connect_and_check(state, origin, caller, id, Purpose::Check).await
}

/// Pins `fingerprint` (checked out of band) if the next handshake presents it.
pub async fn confirm_host_key(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: ServerId,
    fingerprint: String,
) -> Result<ServerCheckRow, ServiceError> {
    let fingerprint = HostKeyFingerprint::parse(&fingerprint).map_err(|_| {
        ServiceError::invalid(
            "fingerprint",
            "must be SHA256:... as `ssh-keygen -lf` prints it",
        )
    })?;
    let pin = Purpose::Confirm(fingerprint.to_string());
    connect_and_check(state, origin, admin, id, pin).await
}

/// Clears the pin: the next commissioning trusts the key it sees.
pub async fn reset_host_key(
    state: &AppState,
    origin: Origin,
    admin: Principal,
    id: ServerId,
) -> Result<(), ServiceError> {
    state
        .audited(origin, move |conn| {
            servers::find_live(conn, &id)?.ok_or(ServiceError::NotFound)?;
            servers::set_pin(conn, &id, None, store::now())?;
            let event = AuditEvent::on(
                admin.actor(),
                "server.host_key_reset",
                TargetType::Server,
                &id,
            )
            .with_fields(vec![
                "host_key_fingerprint",
                "pending_fingerprint",
                "status",
            ]);
            Ok(((), event))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> DetachedApp {
        DetachedApp {
            id: AppId::random(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn a_refusal_names_the_applications() {
        let shop = app("shop");
        let one = targeted_by(std::slice::from_ref(&shop));
        assert!(
            one.starts_with(&format!(
                "1 application targets this server: shop ({})",
                shop.id
            )),
            "{one}"
        );
        let many: Vec<DetachedApp> = (0..25).map(|i| app(&format!("app-{i:02}"))).collect();
        let text = targeted_by(&many);
        assert!(text.starts_with("25 applications target"), "{text}");
        assert!(
            text.contains("app-19 (") && !text.contains("app-20"),
            "{text}"
        );
        assert!(text.contains(", 5 more."), "{text}");
    }
}
