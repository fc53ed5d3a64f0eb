//! Gives every request an id and a client IP, logs it, and echoes the id in
//! `X-Request-Id`.

use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage as _};
use tracing::Instrument as _;

use crate::state::AppState;

/// Response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Per-request facts every layer below may read.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Unique id of this request (UUIDv7).
    pub request_id: String,
    /// The client's address: the peer, or the forwarded address when the
    /// peer is a trusted proxy.
    pub client_ip: String,
}

/// The middleware function.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.trusted_proxies.clone())
        .unwrap_or_default();
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client_ip = client_ip(peer, forwarded, &trusted)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into());
    let request_id = uuid::Uuid::now_v7().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        client_ip = %client_ip,
        method = %req.method(),
        path = %req.path(),
    );
    req.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        client_ip,
    });
    let started = std::time::Instant::now();
    let mut res = match next.call(req).instrument(span.clone()).await {
        Ok(res) => res,
        Err(e) => {
            span.in_scope(|| {
                tracing::warn!(
                    status = e.as_response_error().status_code().as_u16(),
                    "request failed"
                )
            });
            return Err(e);
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
    });
    Ok(res)
}

/// The peer, unless it is a trusted proxy: then the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
fn client_ip(peer: Option<IpAddr>, forwarded: Option<&str>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops = forwarded.unwrap_or_default().split(',').rev();
    for hop in hops {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        assert_eq!(
            client_ip(Some(ip("1.1.1.1")), Some("9.9.9.9"), &[proxy]),
            Some(ip("1.1.1.1")),
            "untrusted peer cannot claim another address"
        );
        assert_eq!(
            client_ip(Some(proxy), Some("6.6.6.6, 2.2.2.2"), &[proxy]),
            Some(ip("2.2.2.2")),
            "right-most untrusted hop wins"
        );
        assert_eq!(client_ip(Some(proxy), Some("junk"), &[proxy]), Some(proxy));
    }
}
