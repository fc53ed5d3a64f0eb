//! The HTTP surface: the route table with each route's access tier, the
//! middleware that enforces it, extractors, errors and handlers.

pub mod access;
pub mod app;
pub mod connections;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod health_listener;
pub mod json;
pub mod openapi;
pub mod origin_check;
pub mod panic_guard;
pub mod rate_limit;
pub mod request_body;
pub mod request_context;
pub mod routes;
pub mod security_headers;
pub mod sse;
