//! HTTP and file helpers for the tests that drive the real binary.

use std::path::PathBuf;

use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::process::{Env, Server};

pub const ADMIN_EMAIL: &str = "admin@example.com";

/// Base64 of `len` random-looking bytes: a master key of the wrong size.
pub fn key_of_len(len: usize) -> String {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(37) ^ 0x5a)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A password nobody else uses, so finding it anywhere means it leaked.
pub fn unique_password() -> String {
    format!("pw-{}", uuid::Uuid::new_v4().simple())
}

pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir for logs and certificates")
}

pub fn setup_token_path(env: &Env) -> PathBuf {
    env.data_dir.join("setup_token")
}

pub fn read_setup_token(env: &Env) -> String {
    let path = setup_token_path(env);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// `token` with its last character changed: a wrong token of the right
/// shape (never equal to `token`, whatever its last character).
pub fn altered_token(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.pop().unwrap_or('x');
    chars.push(if last == 'x' { 'y' } else { 'x' });
    chars.into_iter().collect()
}

/// Every `sst_...` token printed in `text`.
pub fn setup_tokens_in(text: &str) -> Vec<String> {
    text.match_indices("sst_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

pub async fn post(server: &Server, path: &str, body: Value) -> (StatusCode, HeaderMap, Value) {
    let res = server
        .client
        .post(server.at(path))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub async fn get(
    server: &Server,
    path: &str,
    bearer: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = server.client.get(server.at(path));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub async fn setup(server: &Server, token: &str, password: &str) -> StatusCode {
    let body = json!({"token": token, "email": ADMIN_EMAIL, "password": password});
    post(server, "/api/v1/setup", body).await.0
}

/// Logs in (the client keeps the cookie) and returns the response headers.
pub async fn login(server: &Server, password: &str) -> HeaderMap {
    let body = json!({"email": ADMIN_EMAIL, "password": password});
    let (status, headers, body) = post(server, "/api/v1/login", body).await;
    assert_eq!(status, StatusCode::OK, "login: {body}");
    headers
}

/// The `servos_session` Set-Cookie header.
pub fn session_set_cookie(headers: &HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("servos_session="))
        .expect("a servos_session Set-Cookie header")
        .to_owned()
}

/// The attributes of a Set-Cookie header, lowercased (`httponly`, `samesite=strict`, ...).
pub fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

pub async fn create_api_token(server: &Server) -> String {
    let body = json!({"name": "ci", "role": "admin"});
    let (status, _, body) = post(server, "/api/v1/tokens", body).await;
    assert_eq!(status, StatusCode::CREATED, "create token: {body}");
    let token = body["token"]
        .as_str()
        .expect("token in the answer")
        .to_owned();
    assert!(
        token.starts_with("svs_"),
        "API token {token:?} lacks its prefix"
    );
    token
}

// --- 1. master key validation -------------------------------------------
