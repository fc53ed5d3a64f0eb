//! The checks every fault test ends with: no deployment of the applications
//! involved is left queued or running, no env file, registry login or file
//! secret of theirs is left on the lab hosts (a file-secret directory only
//! beside the container that mounts it), every stored secret still opens
//! under the master key (and named values equal what the test stored), and
//! `servos-api audit verify` passes on the test's database. It needs only
//! the database, its master key and the hosts, so in-process fixtures and
//! tests driving the binary use it alike.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use servos_api::apps;
use servos_api::config::Config;
use servos_api::credentials;
use servos_api::deploy::docker::{APP_LABEL, TARGET_LABEL};
use servos_api::deploy::remote::{TargetPaths, SECRETS_DIR};
use servos_api::error::ServiceError;
use servos_api::state::AppState;
use servos_api::store::deployments::{self, DeploymentFilter};
use servos_api::store::ids::AppId;
use servos_api::store::sealed::SEALED_COLUMNS;
use servos_api::store::{deployment_targets, DbConn};
use servos_api::vault::keyring::Keyring;
use servos_common::master_key::MasterKey;
use servos_lab::Host;

use super::report::Scenario;
use crate::deploy_lab::{docker_ok, Deploys, DEPLOY_WITHIN};
use crate::harness::TestDb;
use crate::process::{run_to_exit, Env};

/// Sealed values read per query.
const BATCH: i64 = 1_000;
/// No data key has this id, so "values not sealed by it" are all values.
const NO_KEY: &str = "";
/// The most deployments of one application the leftover check looks at.
const DEPLOYMENTS_SEEN: i64 = 1_000;

/// What to check after a fault, built up by the test, then [`Aftermath::check`]ed.
pub(crate) struct Aftermath<'a> {
    db: &'a TestDb,
    master_key: &'a str,
    hosts: &'a [Host],
    apps: Vec<String>,
    values: Vec<(String, String, String)>,
}

impl<'a> Aftermath<'a> {
    /// The checks of the database `db` under `master_key`, with no
    /// application or host yet.
    pub fn new(db: &'a TestDb, master_key: &'a str) -> Self {
        Self {
            db,
            master_key,
            hosts: &[],
            apps: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The checks of a deploy-lab fixture: its database, key and hosts.
    pub fn of(fx: &'a Deploys) -> Self {
        Self::new(&fx.app.db, &fx.master_key).hosts(fx.hosts())
    }

    /// Looks for leftover files on `hosts` (they share one file system) and
    /// asks their Docker daemons which containers still hold file secrets.
    pub fn hosts(mut self, hosts: &'a [Host]) -> Self {
        self.hosts = hosts;
        self
    }

    /// Checks the deployments and leftover files of application `app_id`.
    pub fn app(mut self, app_id: &str) -> Self {
        self.apps.push(app_id.to_owned());
        self
    }

    /// Checks that variable `name` of application `app_id`'s current
    /// environment opens to `value`.
    pub fn env_value(mut self, app_id: &str, name: &str, value: &str) -> Self {
        self.values
            .push((app_id.to_owned(), name.to_owned(), value.to_owned()));
        self
    }

    /// Runs every check, failing the test at the first that does not hold,
    /// and records what it saw in `scenario`.
    pub async fn check(self, scenario: &mut Scenario) {
        let config = Config::new(self.db.data_dir(), self.db.target.clone());
        let key = MasterKey::parse(Some(self.master_key)).expect("a valid master key");
        let state = AppState::open(config, key)
            .unwrap_or_else(|e| panic!("the database no longer opens under its master key: {e}"));
        if !self.apps.is_empty() {
            let settled = self.jobs_settle(&state).await;
            scenario.figure("aftermath: jobs settled after", format!("{settled:.1?}"));
        }
        self.no_secret_left(&state).await;
        let vault = state.vault.clone();
        let opened = state
            .db(move |conn| open_every_sealed_value(conn, vault.keyring()))
            .await
            .expect("read the sealed values");
        scenario.figure("aftermath: sealed values opened", opened);
        self.values_match(&state).await;
        self.audit_verifies().await;
    }

    /// Waits until no deployment of the applications is queued or running.
    async fn jobs_settle(&self, state: &AppState) -> Duration {
        let started = Instant::now();
        let deadline = started + DEPLOY_WITHIN;
        for app in &self.apps {
            loop {
                let app_id = AppId::from(app.as_str());
                let active = state
                    .db(move |conn| Ok(deployments::active_of_app(conn, &app_id)?))
                    .await
                    .expect("read the application's deployments");
                let Some(job) = active else { break };
                assert!(
                    Instant::now() < deadline,
                    "deployment {} of {app} is still {} after {DEPLOY_WITHIN:?}",
                    job.id.as_str(),
                    job.state.as_str()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        started.elapsed()
    }

    /// No env file or registry login of the applications' targets is left,
    /// and no file-secret directory without the container that mounts it.
    async fn no_secret_left(&self, state: &AppState) {
        let mut targets = Vec::new();
        for app in &self.apps {
            let app_id = AppId::from(app.as_str());
            let ids = state
                .db(move |conn| Ok(target_ids_of_app(conn, &app_id)?))
                .await
                .expect("read the application's deployment targets");
            targets.extend(ids);
        }
        assert_eq!(
            leftover_secret_files(&targets),
            Vec::<String>::new(),
            "env files or registry logins left in {SECRETS_DIR}"
        );
        let mounted = self.targets_with_containers();
        let orphans: Vec<String> = targets
            .iter()
            .filter(|id| !mounted.contains(*id))
            .filter_map(|id| TargetPaths::of(id))
            .map(|paths| paths.file_secrets)
            .filter(|dir| Path::new(dir).exists())
            .collect();
        assert_eq!(
            orphans,
            Vec::<String>::new(),
            "file secrets left without their container"
        );
    }

    /// The targets whose container (running or not) is on one of the hosts.
    fn targets_with_containers(&self) -> BTreeSet<String> {
        let format = format!("{{{{.Label \"{TARGET_LABEL}\"}}}}");
        let mut targets = BTreeSet::new();
        for host in self.hosts {
            for app in &self.apps {
                let filter = format!("label={APP_LABEL}={app}");
                let listed = docker_ok(
                    host,
                    &["ps", "-a", "--filter", &filter, "--format", &format],
                );
                targets.extend(listed.lines().map(str::to_owned));
            }
        }
        targets
    }

    /// The named variables open to the values the test stored.
    async fn values_match(&self, state: &AppState) {
        for (app, name, expected) in &self.values {
            let app_id = AppId::from(app.as_str());
            let version = apps::env::show(state, app_id.clone())
                .await
                .expect("the application's environment")
                .version;
            let vault = state.vault.clone();
            let opened = state
                .db(move |conn| apps::env::open(conn, vault.keyring(), &app_id, version))
                .await
                .unwrap_or_else(|e| panic!("the environment of {app} does not open: {e}"));
            let value = opened.iter().find(|var| &var.name == name);
            // Never the values themselves in the message.
            assert!(
                value.is_some_and(|var| var.value.expose() == expected),
                "{name} of {app} does not open to the value the test stored"
            );
        }
    }

    /// `servos-api audit verify` on the database exits 0.
    async fn audit_verifies(&self) {
        let env = Env::for_db(self.db, self.master_key);
        let log = self.db.dir.path().join(format!(
            "aftermath-audit-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let verify =
            tokio::task::spawn_blocking(move || run_to_exit(&env, &["audit", "verify"], &log))
                .await
                .expect("run audit verify");
        assert!(
            verify.status.success(),
            "audit verify fails after the fault: {}",
            verify.output
        );
    }
}

/// The target ids of every deployment of application `app_id`.
fn target_ids_of_app(conn: &mut DbConn, app_id: &AppId) -> diesel::QueryResult<Vec<String>> {
    let filter = DeploymentFilter {
        app_id: Some(app_id.clone()),
        before: None,
    };
    let mut ids = Vec::new();
    for job in deployments::list(conn, &filter, DEPLOYMENTS_SEEN)? {
        for target in deployment_targets::of_deployment(conn, &job.id)? {
            ids.push(target.id.as_str().to_owned());
        }
    }
    Ok(ids)
}

/// Opens every value of every sealed column; returns how many opened. A
/// value that does not open fails with its column and row, never its text.
fn open_every_sealed_value(conn: &mut DbConn, keyring: &Keyring) -> Result<usize, ServiceError> {
    let mut opened = 0;
    for column in SEALED_COLUMNS {
        let mut after = String::new();
        loop {
            let cells = (column.stale)(conn, NO_KEY, &after, BATCH)?;
            let Some(last) = cells.last().map(|cell| cell.row_id.clone()) else {
                break;
            };
            for cell in cells {
                let (table, name) = (column.table, column.column);
                credentials::open(
                    conn,
                    keyring,
                    table,
                    name,
                    &cell.identity,
                    &cell.value,
                    &cell.key_id,
                )
                .unwrap_or_else(|e| {
                    panic!("{table}.{name} of row {} does not open: {e}", cell.row_id)
                });
                opened += 1;
            }
            after = last;
        }
    }
    Ok(opened)
}

/// Every file name directly under `/var/lib/servos/secrets` that belongs to
/// one of `target_ids` (other tests may use the directory at the same time).
pub(crate) fn leftover_secret_files(target_ids: &[String]) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(SECRETS_DIR) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| target_ids.iter().any(|id| name.starts_with(id.as_str())))
        .collect()
}
