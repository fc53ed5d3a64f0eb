//! Request handlers, one file per resource. Handlers are thin: parse,
//! call the service, render.

pub mod audit;
pub mod health;
pub mod me;
pub mod openapi;
pub mod session;
pub mod setup;
pub mod tokens;
pub mod users;
pub mod views;
