//! Every sealed column of the database, with the queries key rotation needs:
//! find values not yet under a given data key, replace one value, count the
//! values a key still seals. Adding a sealed column means adding it here.

use diesel::prelude::*;

use super::DbConn;

/// One sealed value as rotation sees it.
#[derive(Debug, Clone)]
pub struct SealedCell {
    /// Row id (part of the value's AAD).
    pub row_id: String,
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

macro_rules! sealed_column {
    ($name:ident, $table:ident, $column:ident, $key_column:ident, $($nullable:ident)?) => {
        mod $name {
            use super::*;
            use crate::store::schema::$table;

            pub fn stale(conn: &mut DbConn, key_id: &str, after: &str, limit: i64) -> QueryResult<Vec<SealedCell>> {
                let rows: Vec<(String, String, String)> = $table::table
                    .filter($table::$key_column.ne(key_id))
                    .filter($table::id.gt(after))
                    .order($table::id.asc())
                    .limit(limit)
                    .select((
                        $table::id,
                        sealed_column!(@value $table::$column $($nullable)?),
                        sealed_column!(@value $table::$key_column $($nullable)?),
                    ))
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|(row_id, value, key_id)| SealedCell { row_id, value, key_id })
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

sealed_column!(ssh_private_key, ssh_keys, private_key, private_key_key_id,);
sealed_column!(
    ssh_passphrase,
    ssh_keys,
    passphrase,
    passphrase_key_id,
    nullable
);
sealed_column!(registry_password, registries, password, password_key_id,);
sealed_column!(git_token, git_credentials, token, token_key_id,);
// The values of shared environment sets and of applications' environments.
sealed_column!(env_value, env_values, value, value_key_id,);
sealed_column!(webhook_secret, webhooks, secret, secret_key_id,);
sealed_column!(
    webhook_previous_secret,
    webhooks,
    previous_secret,
    previous_secret_key_id,
    nullable
);

macro_rules! columns {
    ($($name:ident: $table:literal . $column:literal),* $(,)?) => {
        /// Every sealed column.
        pub const SEALED_COLUMNS: &[SealedColumn] = &[$(SealedColumn {
            table: $table,
            column: $column,
            stale: $name::stale,
            replace: $name::replace,
            count_with_key: $name::count_with_key,
        }),*];
    };
}

columns! {
    ssh_private_key: "ssh_keys" . "private_key",
    ssh_passphrase: "ssh_keys" . "passphrase",
    registry_password: "registries" . "password",
    git_token: "git_credentials" . "token",
    env_value: "env_values" . "value",
    webhook_secret: "webhooks" . "secret",
    webhook_previous_secret: "webhooks" . "previous_secret",
}

/// A sealed value and the id of its data key, as read for a reveal (either
/// may be absent for an optional field).
pub type SealedValue = (Option<String>, Option<String>);
