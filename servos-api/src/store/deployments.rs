//! Queries on `deployments`: the job queue. Claiming a job is the one
//! query here that differs by backend: PostgreSQL locks the candidate rows
//! with `FOR UPDATE SKIP LOCKED`, so that replicas never claim the same
//! job; SQLite runs the same steps inside the caller's `BEGIN IMMEDIATE`
//! transaction, which already admits one writer at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::{AppId, DeploymentId, WorkerName};
use super::schema::deployments;
use super::states::DeploymentState::{self, Cancelled, Queued, Running, Succeeded};
use super::DbConn;

/// How many queued jobs one claim looks at.
const CLAIM_WINDOW: i64 = 16;

/// A stored deployment.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deployments)]
pub struct DeploymentRow {
    /// UUID.
    pub id: DeploymentId,
    /// The application.
    pub app_id: AppId,
    /// The image as requested.
    pub image: String,
    /// What the image resolved to after the pull.
    pub image_digest: Option<String>,
    /// The environment version deployed.
    pub env_version: i64,
    /// Where it stands.
    pub state: DeploymentState,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// The deployment this one rolls back to.
    pub rollback_of: Option<DeploymentId>,
    /// Who asked for it (`user:<id>`, `api_token:<id>`, `system`).
    pub requested_by: String,
    /// A cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// The worker holding it.
    pub worker: Option<WorkerName>,
    /// Until when the worker's claim holds.
    pub lease_until: Option<NaiveDateTime>,
    /// How many times a worker started it.
    pub attempt: i32,
    /// When it was asked for.
    pub created_at: NaiveDateTime,
    /// When a worker first started it.
    pub started_at: Option<NaiveDateTime>,
    /// When it ended.
    pub finished_at: Option<NaiveDateTime>,
}

impl DeploymentRow {
    /// True once it ended (succeeded, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// Stores a deployment.
pub fn insert(conn: &mut DbConn, row: &DeploymentRow) -> QueryResult<()> {
    diesel::insert_into(deployments::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A deployment by id.
pub fn find(conn: &mut DbConn, id: &DeploymentId) -> QueryResult<Option<DeploymentRow>> {
    deployments::table
        .filter(deployments::id.eq(id))
        .select(DeploymentRow::as_select())
        .first(conn)
        .optional()
}

/// Which deployments a list shows.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    /// Only this application's.
    pub app_id: Option<AppId>,
    /// Only older than this deployment (paging cursor: its time and id).
    pub before: Option<(NaiveDateTime, DeploymentId)>,
}

/// Deployments matching `filter`, newest first, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    filter: &DeploymentFilter,
    limit: i64,
) -> QueryResult<Vec<DeploymentRow>> {
    let mut query = deployments::table
        .select(DeploymentRow::as_select())
        .order((deployments::created_at.desc(), deployments::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(app_id) = &filter.app_id {
        query = query.filter(deployments::app_id.eq(app_id.clone()));
    }
    if let Some((at, id)) = &filter.before {
        query = query.filter(
            deployments::created_at.lt(*at).or(deployments::created_at
                .eq(*at)
                .and(deployments::id.lt(id.clone()))),
        );
    }
    query.load(conn)
}

/// The newest deployment in one of `states` of every application that has
/// one. One query (a correlated `NOT EXISTS` on the `(app_id, created_at)`
/// index), for pages that list many applications.
pub fn newest_per_app(
    conn: &mut DbConn,
    states: &[DeploymentState],
) -> QueryResult<Vec<DeploymentRow>> {
    let newer = diesel::alias!(deployments as newer);
    let newer_ones = newer
        .select(newer.field(deployments::id))
        .filter(newer.field(deployments::app_id).eq(deployments::app_id))
        .filter(newer.field(deployments::state).eq_any(states))
        .filter(
            newer
                .field(deployments::created_at)
                .gt(deployments::created_at)
                .or(newer
                    .field(deployments::created_at)
                    .eq(deployments::created_at)
                    .and(newer.field(deployments::id).gt(deployments::id))),
        );
    deployments::table
        .select(DeploymentRow::as_select())
        .filter(deployments::state.eq_any(states))
        .filter(diesel::dsl::not(diesel::dsl::exists(newer_ones)))
        .load(conn)
}

/// The newest succeeded deployment of application `app_id`, if any.
pub fn last_succeeded(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Option<DeploymentRow>> {
    deployments::table
        .filter(deployments::app_id.eq(app_id))
        .filter(deployments::state.eq(Succeeded))
        .order((deployments::created_at.desc(), deployments::id.desc()))
        .select(DeploymentRow::as_select())
        .first(conn)
        .optional()
}

/// Locks (PostgreSQL) and returns up to `limit` ids from `candidates`,
/// skipping rows another transaction holds.
macro_rules! locked_ids {
    ($conn:expr, $candidates:expr) => {
        match $conn {
            DbConn::Pg(pg) => $candidates
                .for_update()
                .skip_locked()
                .load::<DeploymentId>(pg),
            DbConn::Sqlite(sqlite) => $candidates.load::<DeploymentId>(sqlite),
        }
    };
}

/// Inside a write transaction: claims the oldest queued deployment whose
/// application has none running and no older one queued, for `worker`
/// until `lease_until`. `None` when there is nothing to claim.
pub fn claim_next(
    conn: &mut DbConn,
    worker: &WorkerName,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<DeploymentRow>> {
    let candidates = deployments::table
        .filter(deployments::state.eq(Queued))
        .order((deployments::created_at.asc(), deployments::id.asc()))
        .select(deployments::id)
        .limit(CLAIM_WINDOW);
    let ids = locked_ids!(conn, candidates)?;
    for id in ids {
        let Some(job) = find(conn, &id)? else {
            continue;
        };
        if job.state != Queued || blocked(conn, &job)? {
            continue;
        }
        let claimed = diesel::update(
            deployments::table
                .filter(deployments::id.eq(&id))
                .filter(deployments::state.eq(Queued)),
        )
        .set((
            deployments::state.eq(Running),
            deployments::worker.eq(Some(worker)),
            deployments::lease_until.eq(Some(lease_until)),
            deployments::attempt.eq(deployments::attempt + 1),
            deployments::started_at.eq(Some(now)),
        ))
        .execute(conn)?;
        if claimed == 1 {
            return find(conn, &id);
        }
    }
    Ok(None)
}

/// True when `job` must wait: its application has a deployment running, or
/// an older one queued (which runs first).
fn blocked(conn: &mut DbConn, job: &DeploymentRow) -> QueryResult<bool> {
    let running = diesel::select(diesel::dsl::exists(
        deployments::table
            .filter(deployments::app_id.eq(&job.app_id))
            .filter(deployments::state.eq(Running)),
    ))
    .get_result::<bool>(conn)?;
    if running {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        deployments::table
            .filter(deployments::app_id.eq(&job.app_id))
            .filter(deployments::state.eq(Queued))
            .filter(
                deployments::created_at
                    .lt(job.created_at)
                    .or(deployments::created_at
                        .eq(job.created_at)
                        .and(deployments::id.lt(&job.id))),
            ),
    ))
    .get_result(conn)
}

/// Inside a write transaction: takes over a running deployment whose lease
/// ran out before `now` (its worker stopped), for `worker` until
/// `lease_until`, counting a new attempt.
pub fn take_over_expired(
    conn: &mut DbConn,
    worker: &WorkerName,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<DeploymentRow>> {
    let candidates = deployments::table
        .filter(deployments::state.eq(Running))
        .filter(deployments::lease_until.lt(now))
        .order(deployments::lease_until.asc())
        .select(deployments::id)
        .limit(1);
    let ids = locked_ids!(conn, candidates)?;
    for id in ids {
        let taken = diesel::update(
            deployments::table
                .filter(deployments::id.eq(&id))
                .filter(deployments::state.eq(Running))
                .filter(deployments::lease_until.lt(now)),
        )
        .set((
            deployments::worker.eq(Some(worker)),
            deployments::lease_until.eq(Some(lease_until)),
            deployments::attempt.eq(deployments::attempt + 1),
        ))
        .execute(conn)?;
        if taken == 1 {
            return find(conn, &id);
        }
    }
    Ok(None)
}

/// Extends `worker`'s lease on a running deployment; `None` when the worker
/// no longer holds it, else whether a cancel was asked for.
pub fn renew_lease(
    conn: &mut DbConn,
    id: &DeploymentId,
    worker: &WorkerName,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<bool>> {
    let renewed = diesel::update(
        deployments::table
            .filter(deployments::id.eq(id))
            .filter(deployments::state.eq(Running))
            .filter(deployments::worker.eq(worker)),
    )
    .set(deployments::lease_until.eq(Some(lease_until)))
    .execute(conn)?;
    if renewed == 0 {
        return Ok(None);
    }
    deployments::table
        .filter(deployments::id.eq(id))
        .select(deployments::cancel_requested)
        .first(conn)
        .map(Some)
}

/// Deployment `id` while it is running and `worker` holds it.
#[diesel::dsl::auto_type(no_type_alias)]
fn held_by<'a>(id: &'a DeploymentId, worker: &'a WorkerName) -> _ {
    let running: DeploymentState = Running;
    deployments::table
        .filter(deployments::id.eq(id))
        .filter(deployments::state.eq(running))
        .filter(deployments::worker.eq(worker))
}

/// Lets `worker`'s lease on a running deployment run out at `now`, so that
/// any worker takes the job over at once; 0 when `worker` no longer holds it.
pub fn release_lease(
    conn: &mut DbConn,
    id: &DeploymentId,
    worker: &WorkerName,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(held_by(id, worker))
        .set(deployments::lease_until.eq(Some(now)))
        .execute(conn)
}

/// Ends a running deployment that `worker` holds; 0 when it does not.
pub fn finish(
    conn: &mut DbConn,
    id: &DeploymentId,
    worker: &WorkerName,
    state: DeploymentState,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(held_by(id, worker))
        .set((
            deployments::state.eq(state),
            deployments::reason.eq(reason),
            deployments::finished_at.eq(Some(now)),
            deployments::worker.eq(None::<WorkerName>),
            deployments::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// Cancels a queued deployment at once; 0 when it is no longer queued.
pub fn cancel_queued(
    conn: &mut DbConn,
    id: &DeploymentId,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        deployments::table
            .filter(deployments::id.eq(id))
            .filter(deployments::state.eq(Queued)),
    )
    .set((
        deployments::state.eq(Cancelled),
        deployments::cancel_requested.eq(true),
        deployments::reason.eq(Some(reason)),
        deployments::finished_at.eq(Some(now)),
    ))
    .execute(conn)
}

/// Asks the worker running a deployment to stop; 0 when it is not running.
pub fn request_cancel(conn: &mut DbConn, id: &DeploymentId) -> QueryResult<usize> {
    diesel::update(
        deployments::table
            .filter(deployments::id.eq(id))
            .filter(deployments::state.eq(Running)),
    )
    .set(deployments::cancel_requested.eq(true))
    .execute(conn)
}

/// Records the digest the image resolved to, unless one is recorded.
pub fn set_image_digest(conn: &mut DbConn, id: &DeploymentId, digest: &str) -> QueryResult<usize> {
    diesel::update(
        deployments::table
            .filter(deployments::id.eq(id))
            .filter(deployments::image_digest.is_null()),
    )
    .set(deployments::image_digest.eq(Some(digest)))
    .execute(conn)
}

/// The oldest queued or running deployment of application `app_id`, if any.
pub fn active_of_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<Option<DeploymentRow>> {
    deployments::table
        .filter(deployments::app_id.eq(app_id))
        .filter(deployments::state.eq_any([Queued, Running]))
        .order((deployments::created_at.asc(), deployments::id.asc()))
        .select(DeploymentRow::as_select())
        .first(conn)
        .optional()
}
