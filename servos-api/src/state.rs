//! The state every request and background job shares: configuration, the
//! database pool, the vault, the audit chain, rate limits and wake-ups.
//! `http/app.rs` builds the HTTP app around it; the deploy engine and the
//! subcommands use it directly.

use std::sync::Arc;

use servos_common::master_key::MasterKey;

use crate::accounts::password::PasswordHasher;
use crate::audit::chain::AuditChain;
use crate::audit::target::TargetType;
use crate::audit::{self, AuditEvent, Origin};
use crate::config::Config;
use crate::error::ServiceError;
use crate::failpoint::Failpoints;
use crate::limits::Limits;
use crate::store::{self, tx, DbConn, DbResult, Pool, StoreError};
use crate::vault::{Vault, VaultError};

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key does not open this database.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Everything a request handler may use.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// Database pool.
    pub pool: Pool,
    /// Audit chain hasher.
    pub audit_chain: Arc<AuditChain>,
    /// Password hashing, bounded.
    pub hasher: PasswordHasher,
    /// Rate limits.
    pub limits: Arc<Limits>,
    /// The keyring and system keys.
    pub vault: Arc<Vault>,
    /// Wakes agents waiting for a newer mesh configuration.
    pub mesh_watch: Arc<crate::mesh::watch::MeshWatch>,
    /// Panic points a test armed (none in production).
    pub failpoints: Arc<Failpoints>,
    /// Wake-ups between the deploy API, its workers and event readers.
    pub deploy_signals: Arc<crate::deploy::signals::Signals>,
}

impl AppState {
    /// Opens the database (migrating it) and checks the master key against it.
    pub fn open(config: Config, master: MasterKey) -> Result<Self, StartError> {
        let pool = store::conn::pool(&config.database, config.db_pool_size)?;
        let mut conn = pool.get().map_err(StoreError::Pool)?;
        Vault::check_existing(&mut conn, &master)?;
        store::conn::migrate(&config.database)?;
        let vault = Vault::open(&mut conn, master)?;
        let rebound = crate::vault::rebind::env_values(&mut conn, vault.keyring())?;
        if rebound.rebound > 0 || !rebound.failed.is_empty() {
            tracing::info!(
                rebound = rebound.rebound,
                failed = rebound.failed.len(),
                "environment values sealed again for their set, version and name"
            );
        }
        drop(conn);
        let permits = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            limits: Arc::new(Limits::new(
                config.rate_limit,
                config.auth_failure_limit,
                config.http.connections_per_ip,
            )),
            audit_chain: Arc::new(AuditChain::new(vault.audit_chain_key().expose())),
            hasher: PasswordHasher::new(permits),
            config: Arc::new(config),
            vault: Arc::new(vault),
            deploy_signals: Arc::default(),
            failpoints: Arc::default(),
            mesh_watch: Arc::default(),
            pool,
        })
    }

    /// Runs a change and its audit entry in one write transaction: `f` makes
    /// the change and returns its result with the event to record. If either
    /// fails, neither is kept.
    pub async fn audited<T, F>(&self, origin: Origin, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<(T, AuditEvent), ServiceError> + Send + 'static,
    {
        let chain = self.audit_chain.clone();
        self.db(move |conn| {
            tx::write(conn, |conn| {
                let (value, event) = f(conn)?;
                audit::append(conn, &chain, &origin, event)?;
                Ok(value)
            })
        })
        .await
    }

    /// Soft-deletes a resource with `soft_delete` and records it as `action`
    /// on `target_type`; 404 when no live row has that id.
    pub async fn soft_delete<Id, Owned>(
        &self,
        origin: Origin,
        actor: crate::audit::Actor,
        (target_type, action): (TargetType, &'static str),
        soft_delete: fn(&mut DbConn, &Id, chrono::NaiveDateTime) -> DbResult<usize>,
        id: Owned,
    ) -> Result<(), ServiceError>
    where
        Id: ?Sized + 'static,
        Owned: std::borrow::Borrow<Id> + AsRef<str> + Send + 'static,
    {
        self.audited(origin, move |conn| {
            if soft_delete(conn, id.borrow(), store::now())? == 0 {
                return Err(ServiceError::NotFound);
            }
            let event =
                AuditEvent::on(actor, action, target_type, &id).with_fields(vec!["deleted_at"]);
            Ok(((), event))
        })
        .await
    }

    /// Runs blocking database work on a pooled connection off the async
    /// runtime; a connection the work found lost leaves the pool.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ServiceError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            let result = f(&mut conn);
            if matches!(result, Err(ServiceError::Unavailable)) {
                conn.mark_lost();
            }
            result
        })
        .await
        .map_err(ServiceError::internal)?
    }
}
