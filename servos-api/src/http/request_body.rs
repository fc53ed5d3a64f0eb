//! Request bodies in time and in size: every body must have arrived within
//! the request time limit (`SERVOS_REQUEST_TIMEOUT_SECS`) of its headers,
//! and what a body that cannot be read is answered.
//!
//! actix-web bounds the wait for a connection's first request head
//! (`client_request_timeout`) and an idle connection (`keep_alive`), but
//! once a request is dispatched nothing times its body: a client that sends
//! headers and then stalls would hold the handler, and its connection, for
//! as long as it likes. The middleware gives each body a deadline; an
//! extractor reading past it gets [`timed_out`], which [`refusal`] turns
//! into 408 (and the answer closes the connection).

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use futures_util::Stream;
use tokio::time::Sleep;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The middleware: gives the body of every request that has one its deadline.
pub async fn middleware<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.http.request_timeout);
    if let Some(limit) = limit {
        let body = req.parts_mut().1.take();
        if !matches!(body, Payload::None) {
            req.set_payload(Payload::Stream {
                payload: Box::pin(Deadline::new(body, limit)),
            });
        }
    }
    next.call(req).await
}

/// The error a body read past its deadline ends with.
pub fn timed_out() -> PayloadError {
    PayloadError::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        "the request body did not arrive in time",
    ))
}

/// The answer to a body that could not be read because it is larger than
/// `limit` bytes (413) or came too slowly (408); `None` for any other
/// failure, which the caller answers in its own terms.
pub fn refusal(error: &actix_web::Error, limit: usize) -> Option<ApiError> {
    match error.as_error::<PayloadError>()? {
        PayloadError::Overflow => Some(ApiError::TooLarge { limit }),
        PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
            Some(ApiError::RequestTimeout)
        }
        _ => None,
    }
}

/// A body that fails with [`timed_out`] once its deadline passes.
struct Deadline {
    body: Payload,
    timer: Pin<Box<Sleep>>,
    expired: bool,
}

impl Deadline {
    fn new(body: Payload, limit: Duration) -> Self {
        Self {
            body,
            timer: Box::pin(tokio::time::sleep(limit)),
            expired: false,
        }
    }
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        // What already arrived is still read after the deadline.
        if let ready @ Poll::Ready(_) = Pin::new(&mut this.body).poll_next(cx) {
            return ready;
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            this.expired = true;
            return Poll::Ready(Some(Err(timed_out())));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    #[actix_web::test]
    async fn a_stalled_body_times_out_and_a_complete_one_does_not() {
        let (_sender, stalled) = actix_http::h1::Payload::create(false);
        let mut body = Deadline::new(Payload::from(stalled), Duration::from_millis(50));
        let started = std::time::Instant::now();
        let read = body.next().await;
        assert!(
            matches!(read, Some(Err(PayloadError::Io(ref e))) if e.kind() == io::ErrorKind::TimedOut),
            "{read:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(
            body.next().await.is_none(),
            "the stream ends after the error"
        );

        let mut body = Deadline::new(
            Payload::from(Bytes::from_static(b"{}")),
            Duration::from_millis(50),
        );
        assert_eq!(
            body.next().await.and_then(Result::ok),
            Some(Bytes::from_static(b"{}"))
        );
        assert!(body.next().await.is_none());
    }

    #[test]
    fn refusals_name_size_and_time() {
        let too_large = actix_web::Error::from(PayloadError::Overflow);
        assert!(matches!(
            refusal(&too_large, 10),
            Some(ApiError::TooLarge { limit: 10 })
        ));
        let slow = actix_web::Error::from(timed_out());
        assert!(matches!(refusal(&slow, 10), Some(ApiError::RequestTimeout)));
        let cut = actix_web::Error::from(PayloadError::Incomplete(None));
        assert!(refusal(&cut, 10).is_none());
    }
}
