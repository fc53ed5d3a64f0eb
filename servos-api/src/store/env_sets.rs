//! Queries on `env_sets`, `env_versions` and `env_values`. A set is either
//! `shared` (named, under `/api/v1/env-sets`) or owned by one application
//! (`app`); the queries by name and the listings see shared sets only.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{env_sets, env_values, env_versions};
use super::DbConn;

/// Scope of a named set managed on its own.
pub const SHARED: &str = "shared";
/// Scope of the set that holds one application's environment.
pub const APP: &str = "app";

/// A named, versioned set of environment variables.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = env_sets)]
pub struct EnvSetRow {
    /// UUID.
    pub id: String,
    /// Unique name among live sets.
    pub name: String,
    /// The version deploys use.
    pub current_version: i64,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft deletion.
    pub deleted_at: Option<NaiveDateTime>,
    /// [`SHARED`] or [`APP`].
    pub scope: String,
}

/// One immutable version of a set.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = env_versions)]
pub struct EnvVersionRow {
    /// UUID.
    pub id: String,
    /// The set.
    pub env_set_id: String,
    /// 1, 2, 3, ...
    pub version: i64,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// One variable of one version.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = env_values)]
pub struct EnvValueRow {
    /// UUID (not part of the value's identity: see [`identity`]).
    pub id: String,
    /// The version.
    pub env_version_id: String,
    /// Variable name.
    pub name: String,
    /// Sealed value.
    pub value: String,
    /// Data key of `value`.
    pub value_key_id: String,
    /// Delivered to the container as a file rather than in its environment.
    pub file_secret: bool,
}

/// What a variable's value is sealed for: its set, its version and its
/// name, so that a row moved to another set, version or name does not open.
pub fn identity(set_id: &str, version: i64, name: &str) -> String {
    format!("{set_id}/{version}/{name}")
}

/// Stores a set.
pub fn insert_set(conn: &mut DbConn, row: &EnvSetRow) -> QueryResult<()> {
    diesel::insert_into(env_sets::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Stores a version.
pub fn insert_version(conn: &mut DbConn, row: &EnvVersionRow) -> QueryResult<()> {
    diesel::insert_into(env_versions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Stores a value.
pub fn insert_value(conn: &mut DbConn, row: &EnvValueRow) -> QueryResult<()> {
    diesel::insert_into(env_values::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Live shared sets by name.
pub fn list_live(conn: &mut DbConn) -> QueryResult<Vec<EnvSetRow>> {
    env_sets::table
        .filter(env_sets::deleted_at.is_null())
        .filter(env_sets::scope.eq(SHARED))
        .order(env_sets::name.asc())
        .select(EnvSetRow::as_select())
        .load(conn)
}

/// A live shared set by id.
pub fn find_live(conn: &mut DbConn, id: &str) -> QueryResult<Option<EnvSetRow>> {
    env_sets::table
        .filter(env_sets::id.eq(id))
        .filter(env_sets::deleted_at.is_null())
        .filter(env_sets::scope.eq(SHARED))
        .select(EnvSetRow::as_select())
        .first(conn)
        .optional()
}

/// A set of any scope by id, deleted or not (its owner decides what that means).
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<EnvSetRow>> {
    env_sets::table
        .filter(env_sets::id.eq(id))
        .select(EnvSetRow::as_select())
        .first(conn)
        .optional()
}

/// True when a live shared set has this name.
pub fn name_taken(conn: &mut DbConn, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        env_sets::table
            .filter(env_sets::name.eq(name))
            .filter(env_sets::deleted_at.is_null())
            .filter(env_sets::scope.eq(SHARED)),
    ))
    .get_result(conn)
}

/// Makes the next version number current and returns it. The update comes
/// first so that it locks the set's row: concurrent changes of one set take
/// turns, and each builds on the version the one before it wrote.
pub fn advance_version(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::update(env_sets::table.filter(env_sets::id.eq(id)))
        .set((
            env_sets::current_version.eq(env_sets::current_version + 1),
            env_sets::updated_at.eq(now),
        ))
        .execute(conn)?;
    env_sets::table
        .filter(env_sets::id.eq(id))
        .select(env_sets::current_version)
        .first(conn)
}

/// Soft-deletes a live shared set.
pub fn soft_delete(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    soft_delete_scoped(conn, id, SHARED, now)
}

/// Soft-deletes a live set of `scope`.
pub fn soft_delete_scoped(
    conn: &mut DbConn,
    id: &str,
    scope: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        env_sets::table
            .filter(env_sets::id.eq(id))
            .filter(env_sets::deleted_at.is_null())
            .filter(env_sets::scope.eq(scope)),
    )
    .set((
        env_sets::deleted_at.eq(Some(now)),
        env_sets::updated_at.eq(now),
    ))
    .execute(conn)
}

/// Every version of a set, newest first.
pub fn versions(conn: &mut DbConn, set_id: &str) -> QueryResult<Vec<EnvVersionRow>> {
    env_versions::table
        .filter(env_versions::env_set_id.eq(set_id))
        .order(env_versions::version.desc())
        .select(EnvVersionRow::as_select())
        .load(conn)
}

/// The values of one version of a set, by name.
pub fn values(conn: &mut DbConn, set_id: &str, version: i64) -> QueryResult<Vec<EnvValueRow>> {
    env_values::table
        .inner_join(env_versions::table)
        .filter(env_versions::env_set_id.eq(set_id))
        .filter(env_versions::version.eq(version))
        .order(env_values::name.asc())
        .select(EnvValueRow::as_select())
        .load(conn)
}

/// The names of every value of every version of a set: (version, name).
pub fn names(conn: &mut DbConn, set_id: &str) -> QueryResult<Vec<(i64, String)>> {
    env_values::table
        .inner_join(env_versions::table)
        .filter(env_versions::env_set_id.eq(set_id))
        .order((env_versions::version.desc(), env_values::name.asc()))
        .select((env_versions::version, env_values::name))
        .load(conn)
}
