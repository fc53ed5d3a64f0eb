//! HTTP/1.1 requests to a port on the server's own loopback, carried by an
//! SSH `direct-tcpip` channel of the session: how ServOS talks to the
//! proxy's admin API and health-checks a new container without any HTTP
//! client installed on the server and without opening a port to the world.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;

use super::{Session, SshError};

/// The largest response body read; more is an error.
const MAX_BODY: usize = 4 << 20;

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Body bytes.
    pub body: Bytes,
}

impl Session {
    /// Sends one request to `127.0.0.1:port` on the server, with `host` as
    /// the `Host` header and `body` as JSON when given, within the command
    /// time limit.
    pub async fn http(
        &self,
        port: u16,
        method: &str,
        path: &str,
        host: &str,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, SshError> {
        let limit = self.timeouts.command;
        tokio::time::timeout(limit, self.http_unbounded(port, method, path, host, body))
            .await
            .map_err(|_| SshError::Timeout("HTTP request", limit))?
    }

    async fn http_unbounded(
        &self,
        port: u16,
        method: &str,
        path: &str,
        host: &str,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, SshError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            SshError::Protocol(format!("HTTP to port {port} on the server: {what}: {e}"))
        };
        let channel = self
            .handle
            .channel_open_direct_tcpip("127.0.0.1", u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|e| failed("cannot open a tunnel", &e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(channel.into_stream()))
                .await
                .map_err(|e| failed("handshake", &e))?;
        // Drives the connection until the response is read and the tunnel closes.
        let driver = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("connection", "close");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| failed("bad request", &e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| failed("no response", &e))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| failed("reading the body", &e))?
            .to_bytes();
        driver.abort();
        Ok(HttpResponse { status, body })
    }
}
