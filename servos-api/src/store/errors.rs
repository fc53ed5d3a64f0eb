//! What storage failures mean to the services: a unique index refusing a
//! row is a conflict on the field it guards (409 naming it), a missing row
//! is "not found", a pool that has no connection or a connection the
//! database closed is "unavailable" (503), a database with no room to write
//! (SQLite's `SQLITE_FULL`) is "storage full" (507), the rest internal.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};

use crate::error::ServiceError;

use super::{DbResult, StoreError};

/// The unique indexes a client can run into: PostgreSQL's index name,
/// SQLite's `table.column`, and the request field the index guards.
const UNIQUE_FIELDS: [(&str, &str, &str); 8] = [
    ("users_email_live", "users.email", "email"),
    ("servers_name_live", "servers.name", "name"),
    ("apps_name_live", "apps.name", "name"),
    ("apps_domain_live", "apps.domain", "domain"),
    ("ssh_keys_name_live", "ssh_keys.name", "name"),
    ("registries_name_live", "registries.name", "name"),
    ("git_credentials_name_live", "git_credentials.name", "name"),
    ("env_sets_name_live", "env_sets.name", "name"),
];

/// The field a unique violation is about, when it is one a client can cause.
fn unique_field(info: &dyn DatabaseErrorInformation) -> Option<&'static str> {
    let sqlite_columns = info
        .message()
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or_default();
    UNIQUE_FIELDS
        .iter()
        .find(|(index, columns, _)| {
            info.constraint_name() == Some(*index) || sqlite_columns == *columns
        })
        .map(|(_, _, field)| *field)
}

/// True when `e` is a unique index refusing a row.
pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// What SQLite says for `SQLITE_FULL` (`sqlite3_errmsg`), which diesel
/// reports with no kind of its own.
const SQLITE_FULL_MESSAGE: &str = "database or disk is full";

/// True when `e` is the database refusing a write for lack of space.
pub fn is_storage_full(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message() == SQLITE_FULL_MESSAGE
    )
}

/// True when `e` says the connection to the database was lost: the server
/// closed it (a restart ends every session) or a command could not be sent.
pub fn is_connection_lost(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// The result of a write that only keeps bookkeeping (when a token or a
/// session was last used): a full disk skips it, with a warning, so that a
/// read does not fail for it; any other error stands.
pub fn skip_if_storage_full<T>(result: DbResult<T>, what: &'static str) -> DbResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if is_storage_full(&e) => {
            tracing::warn!(what, "skipped: the database has no room to write");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl From<DieselError> for ServiceError {
    fn from(e: DieselError) -> Self {
        if is_connection_lost(&e) {
            tracing::warn!(error = %e, "the database connection was lost");
            return Self::Unavailable;
        }
        if is_storage_full(&e) {
            tracing::error!(error = %e, "the database has no room to write");
            return Self::StorageFull;
        }
        match &e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                match unique_field(info.as_ref()) {
                    Some(field) => {
                        Self::conflict_on(field, format!("this {field} is already taken"))
                    }
                    None => Self::conflict("this conflicts with an existing record"),
                }
            }
            _ => Self::internal(format_args!("database: {e}")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ServiceError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::error!(error = %e, "no database connection available");
        Self::Unavailable
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(e) => e.into(),
            StoreError::Pool(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Info {
        message: &'static str,
        constraint: Option<&'static str>,
    }

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn violation(message: &'static str, constraint: Option<&'static str>) -> ServiceError {
        let info = Info {
            message,
            constraint,
        };
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(info)).into()
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_full_disk_is_storage_full() {
        for kind in [
            DatabaseErrorKind::ClosedConnection,
            DatabaseErrorKind::UnableToSendCommand,
        ] {
            let info = Box::new("server closed the connection unexpectedly".to_owned());
            let error: ServiceError = DieselError::DatabaseError(kind, info).into();
            assert!(matches!(error, ServiceError::Unavailable), "{kind:?}");
        }
        let full = || {
            DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new(SQLITE_FULL_MESSAGE.to_owned()),
            )
        };
        assert!(matches!(
            ServiceError::from(full()),
            ServiceError::StorageFull
        ));
        let other = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("no such table: nothing".to_owned()),
        );
        assert!(matches!(
            ServiceError::from(other),
            ServiceError::Internal(_)
        ));
        assert!(matches!(
            skip_if_storage_full::<()>(Err(full()), "touch"),
            Ok(None)
        ));
        assert!(matches!(skip_if_storage_full(Ok(3), "touch"), Ok(Some(3))));
        assert!(skip_if_storage_full::<()>(Err(DieselError::NotFound), "touch").is_err());
    }

    #[test]
    fn unique_violations_name_their_field_on_both_backends() {
        let pg = violation(
            "duplicate key value violates unique constraint \"apps_domain_live\"",
            Some("apps_domain_live"),
        );
        assert!(matches!(
            pg,
            ServiceError::Conflict {
                field: Some("domain"),
                ..
            }
        ));
        let sqlite = violation("UNIQUE constraint failed: users.email", None);
        assert!(matches!(
            sqlite,
            ServiceError::Conflict {
                field: Some("email"),
                ..
            }
        ));
        let other = violation("UNIQUE constraint failed: sessions.id_hash", None);
        assert!(matches!(other, ServiceError::Conflict { field: None, .. }));
        assert!(matches!(
            ServiceError::from(DieselError::NotFound),
            ServiceError::NotFound
        ));
    }
}
