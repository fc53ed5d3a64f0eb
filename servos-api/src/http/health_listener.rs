//! The health probes' own listener (`SERVOS_HEALTH_LISTEN`): plain HTTP,
//! `/healthz` and `/readyz` only, accepted by a thread and answered by a
//! worker that the main address's clients never reach, so a monitor's
//! probe does not wait behind a flood of connections there.

use std::net::SocketAddr;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::http::handlers::health;
use crate::state::AppState;

/// Binds the health listener at `address`; the server runs once awaited
/// and stops with the process's signals, as the main one does.
pub fn bind(state: AppState, address: SocketAddr) -> std::io::Result<Server> {
    let http = state.config.http;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route(health::HEALTHZ, web::get().to(health::healthz))
            .route(health::READYZ, web::get().to(health::readyz))
    })
    .workers(1)
    .client_request_timeout(http.request_timeout)
    .keep_alive(http.keep_alive)
    .client_disconnect_timeout(http.disconnect_timeout)
    .shutdown_timeout(1)
    .bind(address)?
    .run();
    Ok(server)
}
