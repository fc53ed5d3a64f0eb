//! Server-sent event responses of job logs (deployments, agent installs):
//! where a reader resumes, and the streaming response itself.

use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::Stream;

use crate::error::ServiceError;

/// The line after which a reader resumes: the `Last-Event-ID` its browser
/// sends when it reconnects, else the `after` it asked for, else 0.
pub fn resume_after(req: &HttpRequest, after: Option<i64>) -> i64 {
    let resumed = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    resumed.or(after).unwrap_or(0).max(0)
}

/// The streaming response of `events`.
pub fn respond<S>(events: S) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, ServiceError>> + 'static,
{
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events)
}
