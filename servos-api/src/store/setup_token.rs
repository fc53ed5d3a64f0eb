//! Queries on `setup_token` (the hash of the first-run token, one row at most).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::setup_token;
use super::DbConn;

/// Replaces the stored setup token hash.
pub fn replace(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(setup_token::table).execute(conn)?;
    diesel::insert_into(setup_token::table)
        .values((
            setup_token::id.eq(1),
            setup_token::token_hash.eq(token_hash),
            setup_token::created_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// The stored hash, if a setup token is outstanding.
pub fn current_hash(conn: &mut DbConn) -> QueryResult<Option<String>> {
    setup_token::table
        .select(setup_token::token_hash)
        .first(conn)
        .optional()
}

/// Consumes the token whose hash is `token_hash`; 1 when this call used it.
pub fn consume(conn: &mut DbConn, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(setup_token::table.filter(setup_token::token_hash.eq(token_hash))).execute(conn)
}

/// Removes any outstanding token.
pub fn clear(conn: &mut DbConn) -> QueryResult<usize> {
    diesel::delete(setup_token::table).execute(conn)
}
