//! Client connections: how many one address holds open at once, and how
//! long one may go without a request in flight.
//!
//! The cap (`SERVOS_CONNECTIONS_PER_IP`): a connection from a direct client
//! counts against its address from accept to close. A trusted proxy's
//! connections carry requests of many clients, so there each request in
//! flight counts instead, against the address the proxy forwarded (the
//! client IP the rate limiter uses). A request beyond the cap is answered
//! 429, and a direct client's connection is closed with it. Health probes
//! are never refused: a monitor sharing an address with a flood still gets
//! its answer.
//!
//! The watchdog: actix-web times the head of a connection's first request
//! (`client_request_timeout`) and an idle connection (`keep_alive`), but not
//! the head of a later request once its first bytes arrived (they stop the
//! keep-alive timer), nor an answer the client does not read. So every
//! connection gets a watchdog that shuts its socket once it has gone
//! without a request in flight for longer than keep-alive and the request
//! time limit together, or, after an answer that said `Connection: close`,
//! for longer than the disconnect timeout; after a refusal that closes the
//! connection (408 for a request too slow, 429 beyond the cap) it shuts it
//! at once: such a client gets its answer when the limit passes and is
//! gone with it, not a disconnect timeout later.

use std::any::Any;
use std::cell::Cell;
use std::net::{IpAddr, Shutdown};
use std::os::fd::{AsFd as _, OwnedFd};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage as _, ResponseError as _};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use crate::error::ServiceError;
use crate::http::error::ApiError;
use crate::http::handlers::health;
use crate::http::request_context::RequestContext;
use crate::limits::{ConnectionSlot, Limits};
use crate::state::AppState;

/// What [`on_connect`] keeps in a connection's data for the middleware.
pub struct Connection {
    /// Counts a direct client's connection against its address.
    slot: Option<ConnectionSlot>,
    activity: Rc<Activity>,
    /// Dropped with the connection: its watchdog lets go of the socket at once.
    _closed: oneshot::Sender<()>,
}

/// Requests in flight on one connection, and since when it has had none.
#[derive(Debug)]
struct Activity {
    in_flight: Cell<u32>,
    idle_since: Cell<Instant>,
    closing: Cell<Closing>,
    /// Wakes the watchdog when a refusal was sent: its deadline is sooner
    /// than the one it sleeps until.
    refused: Notify,
}

/// Whether the last answer closes the connection, and how soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// It stays open for the next request.
    No,
    /// Once the client had the disconnect timeout to read the answer.
    AfterLinger,
    /// Right after the answer left: a refusal (408, 429).
    AtOnce,
}

/// How long the watchdog lets a connection go without a request in flight.
#[derive(Debug, Clone, Copy)]
struct Patience {
    /// Keep-alive, then a request head's time limit.
    between_requests: Duration,
    /// After an answer that closes the connection.
    closing: Duration,
    /// After a refusal that closes it: time for the answer to leave.
    refused: Duration,
}

/// How long the answer to a refusal has to leave before its connection is
/// shut: it is a few hundred bytes, flushed when its body ends.
const REFUSED_GRACE: Duration = Duration::from_millis(50);

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: Cell::new(0),
            idle_since: Cell::new(Instant::now()),
            closing: Cell::new(Closing::No),
            refused: Notify::new(),
        }
    }

    /// When the connection is overdue unless a request starts before;
    /// `None` while one is in flight.
    fn deadline(&self, patience: Patience) -> Option<Instant> {
        if self.in_flight.get() > 0 {
            return None;
        }
        let wait = match self.closing.get() {
            Closing::No => patience.between_requests,
            Closing::AfterLinger => patience.closing,
            Closing::AtOnce => patience.refused,
        };
        Some(self.idle_since.get() + wait)
    }
}

/// A request in flight; when it is dropped (its answer sent or abandoned)
/// the connection is idle from then.
struct Busy {
    activity: Rc<Activity>,
    /// Whether the answer closes the connection.
    closing: Closing,
}

impl Busy {
    fn begin(activity: &Rc<Activity>) -> Self {
        activity
            .in_flight
            .set(activity.in_flight.get().saturating_add(1));
        Self {
            activity: Rc::clone(activity),
            closing: Closing::No,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.activity;
        activity
            .in_flight
            .set(activity.in_flight.get().saturating_sub(1));
        activity.idle_since.set(Instant::now());
        if self.closing != Closing::No {
            activity.closing.set(self.closing);
        }
        if self.closing == Closing::AtOnce {
            activity.refused.notify_one();
        }
    }
}

/// The hook `HttpServer::on_connect` runs on each accepted connection (after
/// the TLS handshake, which actix-web times itself): counts it against its
/// client's address and starts its watchdog.
pub fn on_connect(state: &AppState) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync + 'static {
    let limits: Arc<Limits> = Arc::clone(&state.limits);
    let trusted = state.config.trusted_proxies.clone();
    let http = state.config.http;
    let patience = Patience {
        between_requests: http.keep_alive + http.request_timeout,
        closing: http.disconnect_timeout + Duration::from_secs(1),
        refused: REFUSED_GRACE,
    };
    move |io, data| {
        let Some(tcp) = tcp_of(io) else {
            tracing::warn!("a connection of an unknown kind is neither counted nor watched");
            return;
        };
        let peer = tcp.peer_addr().ok().map(|a| a.ip());
        let slot = peer
            .filter(|ip| !trusted.contains(ip))
            .map(|ip| limits.connections.open(&ip.to_string()));
        let activity = Rc::new(Activity::new());
        let (closed, gone) = oneshot::channel();
        // The watchdog holds a duplicate of the socket, so that it can never
        // shut a descriptor number the connection's own has been reused for.
        match tcp.as_fd().try_clone_to_owned() {
            Ok(socket) => {
                actix_web::rt::spawn(watch(Rc::downgrade(&activity), socket, gone, patience));
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch a connection"),
        }
        data.insert(Connection {
            slot,
            activity,
            _closed: closed,
        });
    }
}

/// The TCP socket under a plain or TLS connection.
fn tcp_of(io: &dyn Any) -> Option<&TcpStream> {
    io.downcast_ref::<TcpStream>().or_else(|| {
        io.downcast_ref::<TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    })
}

/// Shuts `socket` once its connection is overdue; ends with the connection.
async fn watch(
    activity: Weak<Activity>,
    socket: OwnedFd,
    mut gone: oneshot::Receiver<()>,
    patience: Patience,
) {
    loop {
        let Some(current) = activity.upgrade() else {
            return;
        };
        // While a request is in flight its handler and body deadline rule;
        // look again later, or when a refusal was sent.
        let wake = current
            .deadline(patience)
            .unwrap_or_else(|| Instant::now() + patience.between_requests);
        tokio::select! {
            _ = &mut gone => return,
            () = tokio::time::sleep_until(wake) => {}
            () = current.refused.notified() => {}
        }
        drop(current);
        let overdue = activity
            .upgrade()
            .and_then(|a| a.deadline(patience))
            .is_some_and(|d| d <= Instant::now());
        if overdue {
            tracing::debug!("closing a connection that went too long without a request");
            if let Err(e) = std::net::TcpStream::from(socket).shutdown(Shutdown::Both) {
                tracing::debug!(error = %e, "shutting an overdue connection failed");
            }
            return;
        }
    }
}

/// The middleware: refuses a request beyond its client's connection cap
/// (health probes excepted), and keeps the request counted as in flight,
/// for the watchdog and a proxied client's cap, until its answer is sent.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<InFlight>>, actix_web::Error> {
    let (mut busy, direct_beyond_cap) = match req.conn_data::<Connection>() {
        Some(c) => (
            Some(Busy::begin(&c.activity)),
            c.slot.as_ref().is_some_and(|s| !s.within_cap()),
        ),
        None => (None, false),
    };
    let probe = health::is_probe(req.method(), req.path());
    let proxied = if probe { None } else { proxied_slot(&req) };
    let proxied_beyond_cap = proxied.as_ref().is_some_and(|s| !s.within_cap());
    if !probe && (direct_beyond_cap || proxied_beyond_cap) {
        tracing::warn!("refused a request: its address holds too many connections");
        let retry_after = req
            .app_data::<web::Data<AppState>>()
            .map_or(1, |s| s.config.http.request_timeout.as_secs());
        let mut response =
            ApiError::from(ServiceError::TooManyRequests { retry_after }).error_response();
        if direct_beyond_cap {
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
            if let Some(busy) = busy.as_mut() {
                busy.closing = Closing::AtOnce;
            }
        }
        return Ok(req.into_response(response).map_into_right_body());
    }
    let res = next.call(req).await?;
    if let Some(busy) = busy.as_mut() {
        let status = res.status();
        busy.closing = if res.response().head().connection_type() != ConnectionType::Close {
            Closing::No
        } else if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
            Closing::AtOnce
        } else {
            Closing::AfterLinger
        };
    }
    Ok(res
        .map_body(|_, body| InFlight {
            body: body.boxed(),
            _busy: busy,
            _proxied: proxied,
        })
        .map_into_left_body())
}

/// A slot for this request when it came through a trusted proxy: counted
/// against the client address the proxy forwarded.
fn proxied_slot(req: &ServiceRequest) -> Option<ConnectionSlot> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let peer: IpAddr = req.peer_addr()?.ip();
    if !state.config.trusted_proxies.contains(&peer) {
        return None;
    }
    let client = req.extensions().get::<RequestContext>()?.client_ip.clone();
    Some(state.limits.connections.open(&client))
}

/// An answer's body that keeps its request counted as in flight until it
/// has been sent (or dropped with its connection).
pub struct InFlight {
    body: BoxBody,
    _busy: Option<Busy>,
    _proxied: Option<ConnectionSlot>,
}

impl MessageBody for InFlight {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patience() -> Patience {
        Patience {
            between_requests: Duration::from_secs(15),
            closing: Duration::from_secs(2),
            refused: Duration::from_millis(50),
        }
    }

    #[actix_web::test]
    async fn idle_connections_have_a_deadline_busy_ones_none() {
        let activity = Rc::new(Activity::new());
        let accepted = activity.idle_since.get();
        assert_eq!(
            activity.deadline(patience()),
            Some(accepted + Duration::from_secs(15))
        );
        let first = Busy::begin(&activity);
        let second = Busy::begin(&activity);
        assert_eq!(activity.deadline(patience()), None, "two in flight");
        drop(first);
        assert_eq!(activity.deadline(patience()), None, "one still in flight");
        drop(second);
        let idle = activity.deadline(patience()).expect("idle again");
        assert!(idle >= accepted + Duration::from_secs(15));
        let mut closing = Busy::begin(&activity);
        closing.closing = Closing::AfterLinger;
        drop(closing);
        let deadline = activity.deadline(patience()).expect("idle");
        assert!(
            deadline <= Instant::now() + Duration::from_secs(2)
                && deadline > Instant::now() + Duration::from_secs(1),
            "a closing connection gets the disconnect timeout"
        );
        let mut refused = Busy::begin(&activity);
        refused.closing = Closing::AtOnce;
        drop(refused);
        let deadline = activity.deadline(patience()).expect("idle");
        assert!(
            deadline <= Instant::now() + Duration::from_millis(50),
            "a refused connection is shut as soon as its answer left"
        );
    }
}
