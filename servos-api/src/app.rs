//! The application state shared by every request, and the actix `App` with
//! its middleware stack. `serve` and the tests build the app the same way.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App};
use servos_common::master_key::MasterKey;

use crate::accounts::password::PasswordHasher;
use crate::audit::chain::AuditChain;
use crate::audit::{self, AuditEvent, Origin};
use crate::config::Config;
use crate::http::error::ApiError;
use crate::http::rate_limit::Limits;
use crate::http::routes::TierTable;
use crate::http::{
    access, origin_check, panic_guard, rate_limit, request_context, routes, security_headers,
};
use crate::store::{self, tx, DbConn, Pool, StoreError};
use crate::ui::{csrf, errors as page_errors};
use crate::vault::{Vault, VaultError};

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 * 1024;

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
    /// Wake-ups between the deploy API, its workers and event readers.
    pub deploy_signals: Arc<crate::deploy::Signals>,
}

impl AppState {
    /// Opens the database (migrating it) and checks the master key against it.
    pub fn open(config: Config, master: MasterKey) -> Result<Self, StartError> {
        let pool = store::conn::pool(&config.database, config.db_pool_size)?;
        let mut conn = pool.get().map_err(StoreError::Pool)?;
        Vault::check_existing(&mut conn, &master)?;
        store::conn::migrate(&config.database)?;
        let vault = Vault::open(&mut conn, master)?;
        drop(conn);
        let permits = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            limits: Arc::new(Limits::new(config.rate_limit.0, config.rate_limit.1)),
            audit_chain: Arc::new(AuditChain::new(vault.audit_chain_key().expose())),
            hasher: PasswordHasher::new(permits),
            config: Arc::new(config),
            vault: Arc::new(vault),
            deploy_signals: Arc::default(),
            pool,
        })
    }

    /// Runs a change and its audit entry in one write transaction: `f` makes
    /// the change and returns its result with the event to record. If either
    /// fails, neither is kept.
    pub async fn audited<T, F>(&self, origin: Origin, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<(T, AuditEvent), ApiError> + Send + 'static,
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
    pub async fn soft_delete(
        &self,
        origin: Origin,
        actor: crate::audit::Actor,
        (target_type, action): (&'static str, &'static str),
        soft_delete: fn(&mut DbConn, &str, chrono::NaiveDateTime) -> diesel::QueryResult<usize>,
        id: String,
    ) -> Result<(), ApiError> {
        self.audited(origin, move |conn| {
            if soft_delete(conn, &id, store::now())? == 0 {
                return Err(ApiError::NotFound);
            }
            let event =
                AuditEvent::on(actor, action, target_type, &id).with_fields(vec!["deleted_at"]);
            Ok(((), event))
        })
        .await
    }

    /// Runs blocking database work on a pooled connection off the async runtime.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// The app: routes from the table, behind (outermost first) request context,
/// panic guard, security headers, page errors as HTML, rate limit, origin
/// check, access control and the web forms' CSRF check.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let https = state.config.secure_cookies();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::Data::new(TierTable::new()))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .configure(routes::configure)
        .wrap(from_fn(csrf::middleware))
        .wrap(from_fn(access::middleware))
        .wrap(from_fn(origin_check::middleware))
        .wrap(from_fn(rate_limit::middleware))
        .wrap(from_fn(page_errors::middleware))
        .wrap(security_headers::headers(https))
        .wrap(from_fn(panic_guard::middleware))
        .wrap(from_fn(request_context::middleware))
}
