//! People and their access: accounts, roles, passwords, sessions, API
//! tokens and the first-run setup. Each change is one transaction with its
//! audit entry.

pub mod failures;
pub mod password;
pub mod principal;
pub mod role;
pub mod sessions;
pub mod setup;
pub mod tokens;
pub mod users;
pub mod validate;
