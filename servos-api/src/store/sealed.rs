//! Every sealed column of the database, with the queries key rotation needs:
//! find values not yet under a given data key (with the identity each is
//! sealed for), replace one value, count the values a key still seals.
//! Adding a sealed column means adding it here.

use diesel::prelude::*;

use super::schema::{env_values, env_versions};
use super::DbConn;

/// One sealed value as rotation sees it.
#[derive(Debug, Clone)]
pub struct SealedCell {
    /// Row id (where it is replaced).
    pub row_id: String,
    /// What it is sealed for (its AAD's identity).
    pub identity: String,
    /// Envelope text.
    pub value: String,
    /// Data key that sealed it.
    pub key_id: String,
}

/// The rotation queries of one sealed column.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    /// Table name (part of the AAD).
    pub table: &'static str,
    /// Column name (part of the AAD).
    pub column: &'static str,
    /// Up to `limit` values not sealed by `key_id`, with row ids after `after`, by row id.
    pub stale: fn(&mut DbConn, &str, &str, i64) -> QueryResult<Vec<SealedCell>>,
    /// Replaces a value if it is still sealed by `old_key_id`.
    pub replace: fn(&mut DbConn, &SealedCell, &str, &str) -> QueryResult<usize>,
    /// How many values `key_id` seals.
    pub count_with_key: fn(&mut DbConn, &str) -> QueryResult<i64>,
}

/// The identity of a value whose row belongs to one object, from two of
/// the row's columns: its id (a credential: `id / id`), its owner and id (a
/// webhook: see `webhooks::identity`) or its owner and name (a build
/// argument: see `build_args::identity`).
macro_rules! sealed_column {
    ($name:ident, $table:ident, $column:ident, $key_column:ident, $owner:ident / $part:ident => $identity:path, $($nullable:ident)?) => {
        mod $name {
            use super::*;
            use crate::store::schema::$table;

            pub fn stale(conn: &mut DbConn, key_id: &str, after: &str, limit: i64) -> QueryResult<Vec<SealedCell>> {
                let rows: Vec<(String, String, String, String, String)> = $table::table
                    .filter($table::$key_column.ne(key_id))
                    .filter($table::id.gt(after))
                    .order($table::id.asc())
                    .limit(limit)
                    .select((
                        $table::id,
                        $table::$owner,
                        $table::$part,
                        sealed_column!(@value $table::$column $($nullable)?),
                        sealed_column!(@value $table::$key_column $($nullable)?),
                    ))
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|(row_id, owner, part, value, key_id)| SealedCell {
                        identity: $identity(&owner, &part),
                        row_id,
                        value,
                        key_id,
                    })
                    .collect())
            }

            pub fn replace(conn: &mut DbConn, cell: &SealedCell, value: &str, key_id: &str) -> QueryResult<usize> {
                diesel::update(
                    $table::table
                        .filter($table::id.eq(&cell.row_id))
                        .filter($table::$key_column.eq(&cell.key_id)),
                )
                .set(($table::$column.eq(value), $table::$key_column.eq(key_id)))
                .execute(conn)
            }

            pub fn count_with_key(conn: &mut DbConn, key_id: &str) -> QueryResult<i64> {
                $table::table
                    .filter($table::$key_column.eq(key_id))
                    .count()
                    .get_result(conn)
            }
        }
    };
    (@value $table:ident :: $col:ident nullable) => { $table::$col.assume_not_null() };
    (@value $table:ident :: $col:ident) => { $table::$col };
}

/// The identity of a credential's value: the credential's id.
fn own_id(_: &str, id: &str) -> String {
    id.to_owned()
}

sealed_column!(ssh_private_key, ssh_keys, private_key, private_key_key_id, id / id => own_id,);
sealed_column!(
    ssh_passphrase,
    ssh_keys,
    passphrase,
    passphrase_key_id,
    id / id => own_id,
    nullable
);
sealed_column!(registry_password, registries, password, password_key_id, id / id => own_id,);
sealed_column!(git_token, git_credentials, token, token_key_id, id / id => own_id,);
sealed_column!(webhook_secret, webhooks, secret, secret_key_id, app_id / id => crate::store::webhooks::identity,);
sealed_column!(
    webhook_previous_secret,
    webhooks,
    previous_secret,
    previous_secret_key_id,
    app_id / id => crate::store::webhooks::identity,
    nullable
);

sealed_column!(
    build_arg_value,
    app_build_args,
    sealed_value,
    sealed_value_key_id,
    app_id / name => crate::store::build_args::identity,
    nullable
);

/// The values of shared environment sets and of applications' environments:
/// each sealed for its set, version and name (see `env_sets::identity`).
mod env_value {
    use super::*;

    pub fn stale(
        conn: &mut DbConn,
        key_id: &str,
        after: &str,
        limit: i64,
    ) -> QueryResult<Vec<SealedCell>> {
        cells(conn, Some(key_id), after, limit)
    }

    /// Up to `limit` values with row ids after `after`, by row id; only those
    /// not sealed by `not_key` when given.
    pub fn cells(
        conn: &mut DbConn,
        not_key: Option<&str>,
        after: &str,
        limit: i64,
    ) -> QueryResult<Vec<SealedCell>> {
        let mut query = env_values::table
            .inner_join(env_versions::table)
            .filter(env_values::id.gt(after))
            .into_boxed();
        if let Some(key_id) = not_key {
            query = query.filter(env_values::value_key_id.ne(key_id));
        }
        let rows: Vec<(String, String, i64, String, String, String)> = query
            .order(env_values::id.asc())
            .limit(limit)
            .select((
                env_values::id,
                env_versions::env_set_id,
                env_versions::version,
                env_values::name,
                env_values::value,
                env_values::value_key_id,
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(
                |(row_id, set_id, version, name, value, key_id)| SealedCell {
                    identity: crate::store::env_sets::identity(&set_id, version, &name),
                    row_id,
                    value,
                    key_id,
                },
            )
            .collect())
    }

    pub fn replace(
        conn: &mut DbConn,
        cell: &SealedCell,
        value: &str,
        key_id: &str,
    ) -> QueryResult<usize> {
        diesel::update(
            env_values::table
                .filter(env_values::id.eq(&cell.row_id))
                .filter(env_values::value_key_id.eq(&cell.key_id)),
        )
        .set((
            env_values::value.eq(value),
            env_values::value_key_id.eq(key_id),
        ))
        .execute(conn)
    }

    pub fn count_with_key(conn: &mut DbConn, key_id: &str) -> QueryResult<i64> {
        env_values::table
            .filter(env_values::value_key_id.eq(key_id))
            .count()
            .get_result(conn)
    }
}

macro_rules! columns {
    ($($name:ident: $table:literal . $column:literal),* ; $($own:expr),* $(,)?) => {
        /// Every sealed column.
        pub const SEALED_COLUMNS: &[SealedColumn] = &[$(SealedColumn {
            table: $table,
            column: $column,
            stale: $name::stale,
            replace: $name::replace,
            count_with_key: $name::count_with_key,
        }),*, $($own),*];
    };
}

/// The environment values' column.
pub const ENV_VALUES: SealedColumn = SealedColumn {
    table: "env_values",
    column: "value",
    stale: env_value::stale,
    replace: env_value::replace,
    count_with_key: env_value::count_with_key,
};

columns! {
    ssh_private_key: "ssh_keys" . "private_key",
    ssh_passphrase: "ssh_keys" . "passphrase",
    registry_password: "registries" . "password",
    git_token: "git_credentials" . "token",
    webhook_secret: "webhooks" . "secret",
    webhook_previous_secret: "webhooks" . "previous_secret",
    build_arg_value: "app_build_args" . "sealed_value";
    ENV_VALUES,
}

/// Every environment value with row ids after `after`, by row id, at most
/// `limit`, each with its identity.
pub fn env_value_cells(conn: &mut DbConn, after: &str, limit: i64) -> QueryResult<Vec<SealedCell>> {
    env_value::cells(conn, None, after, limit)
}

/// A sealed value and the id of its data key, as read for a reveal (either
/// may be absent for an optional field).
pub type SealedValue = (Option<String>, Option<String>);
