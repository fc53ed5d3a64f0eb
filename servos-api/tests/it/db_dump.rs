//! Everything a test database holds, as text, for tests that check a value
//! is nowhere in it: SQLite's files (the write-ahead log included) or every
//! row of every PostgreSQL table.

use diesel::sql_types::{Nullable, Text};
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _};
use servos_api::store::DatabaseTarget;

use crate::harness::TestDb;

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = Nullable<Text>)]
    text: Option<String>,
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    tablename: String,
}

/// The database's content as text.
pub fn dump(db: &TestDb) -> String {
    match &db.target {
        DatabaseTarget::Sqlite(path) => ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| std::fs::read(format!("{}{suffix}", path.display())).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect(),
        DatabaseTarget::Postgres(url) => {
            let mut conn =
                diesel::PgConnection::establish(url).expect("connect to the test database");
            let tables: Vec<TableName> =
                diesel::sql_query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    .load(&mut conn)
                    .expect("list the tables");
            tables
                .iter()
                .map(|table| {
                    let query = format!(
                        "SELECT string_agg(t::text, E'\\n') AS text FROM \"{}\" t",
                        table.tablename
                    );
                    let rows: Vec<Rows> = diesel::sql_query(query)
                        .load(&mut conn)
                        .expect("read a table");
                    rows.into_iter().filter_map(|r| r.text).collect::<String>()
                })
                .collect()
        }
    }
}
