//! The git server's request handling: Basic auth with the one token, then
//! `git http-backend` as a CGI program, its answer parsed back.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;

use std::sync::PoisonError;

use super::{git_command, State, BODY_LIMIT};

/// Every request: Basic auth, then `git http-backend`; logged with its
/// status.
pub(super) async fn serve(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    let response = match authorized_user(&req, &state.token) {
        None => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"git\""))
            .body("authentication required\n"),
        Some(user) => match body.to_bytes_limited(BODY_LIMIT).await {
            Ok(Ok(body)) => http_backend(&req, &user, body, &state).await,
            Ok(Err(e)) => HttpResponse::BadRequest().body(format!("request body: {e}\n")),
            Err(_) => HttpResponse::PayloadTooLarge().finish(),
        },
    };
    state
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!(
            "{} {target} {}",
            req.method(),
            response.status().as_u16()
        ));
    response
}

/// The user name of a request whose Basic credentials carry `token` as the
/// password.
fn authorized_user(req: &HttpRequest, token: &str) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (password == token).then(|| user.to_owned())
}

/// Runs `git http-backend` (CGI) for an authorized request.
async fn http_backend(req: &HttpRequest, user: &str, body: Bytes, state: &State) -> HttpResponse {
    let mut command = git_command(&state.home);
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &state.repos)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("PATH_INFO", req.path())
        .env("QUERY_STRING", req.query_string())
        .env("REQUEST_METHOD", req.method().as_str())
        .env("REMOTE_USER", user);
    if let Some(peer) = req.peer_addr() {
        command.env("REMOTE_ADDR", peer.ip().to_string());
    }
    if !body.is_empty() || req.method() == actix_web::http::Method::POST {
        command.env("CONTENT_LENGTH", body.len().to_string());
    }
    for (name, var) in [
        (header::CONTENT_TYPE.as_str(), "CONTENT_TYPE"),
        (header::CONTENT_ENCODING.as_str(), "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(value) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            command.env(var, value);
        }
    }
    let output = match web::block(move || run_cgi(command, body)).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return HttpResponse::InternalServerError().body(format!("git http-backend: {e}\n"))
        }
        Err(e) => return HttpResponse::InternalServerError().body(format!("blocking: {e}\n")),
    };
    if !output.stderr.is_empty() {
        eprintln!(
            "git http-backend ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    cgi_response(&output.stdout).unwrap_or_else(|e| {
        HttpResponse::InternalServerError().body(format!(
            "git http-backend ({}): {e}: {}\n",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// Runs a CGI program with `body` on its stdin (written on another thread,
/// so a program answering before it read everything cannot deadlock).
fn run_cgi(mut command: Command, body: Bytes) -> std::io::Result<Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
    // A program that stops reading early breaks the pipe; its answer says why.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = writer.join();
    Ok(output)
}

/// The HTTP response of a CGI program's output: `Status:` (200 if none),
/// other headers, a blank line, the body.
fn cgi_response(stdout: &[u8]) -> Result<HttpResponse, String> {
    let crlf = find(stdout, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = find(stdout, b"\n\n").map(|at| (at, at + 2));
    let (head_end, body_start) = match (crlf, lf) {
        (Some(crlf), Some(lf)) => {
            if crlf.0 <= lf.0 {
                crlf
            } else {
                lf
            }
        }
        (crlf, lf) => crlf.or(lf).ok_or("no CGI header block")?,
    };
    let head = std::str::from_utf8(&stdout[..head_end]).map_err(|e| e.to_string())?;
    let mut status = StatusCode::OK;
    let mut headers = Vec::new();
    for line in head.lines() {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("not a CGI header: {line:?}"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            status = value
                .split_whitespace()
                .next()
                .and_then(|code| code.parse::<u16>().ok())
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| format!("not a CGI status: {value:?}"))?;
        } else if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut response = HttpResponse::build(status);
    for header in headers {
        response.append_header(header);
    }
    Ok(response.body(stdout[body_start..].to_vec()))
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
