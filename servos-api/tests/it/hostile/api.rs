//! What the hostile scenarios ask of the real binary: an admin's API token,
//! requests that report their status, error code and `Retry-After` rather
//! than panicking, so a scenario can count what went wrong, and the end of
//! a run (stopped without a panic, its audit chain verified).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::client::{create_api_token, login, read_setup_token, setup, unique_password};
use crate::process::{run_to_exit, Env, Server};

/// One answer of the API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// The `error` code of an error body.
    pub code: Option<String>,
    /// Its `Retry-After` header.
    pub retry_after: Option<String>,
    /// Its body (`Null` when not JSON).
    pub body: Value,
}

/// Completes the first-run setup of a fresh server and returns an admin's
/// API token.
pub async fn admin_token(server: &Server, env: &Env) -> String {
    let password = unique_password();
    let token = read_setup_token(env);
    assert_eq!(
        setup(server, &token, &password).await,
        StatusCode::CREATED,
        "first-run setup"
    );
    login(server, &password).await;
    create_api_token(server).await
}

/// Sends `method path` with `token` (and `body` as JSON); `Err` says why no
/// answer came.
pub async fn call(
    client: &reqwest::Client,
    server: &Server,
    (method, path): (Method, &str),
    token: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let mut request = client.request(method, server.at(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"].as_str().map(str::to_owned);
    Ok(Answer {
        status,
        code,
        retry_after,
        body,
    })
}

/// Like [`call`], failing the test when no answer comes.
pub async fn answer(
    server: &Server,
    (method, path): (Method, &str),
    token: &str,
    body: Option<&Value>,
) -> Answer {
    let label = format!("{method} {path}");
    call(&server.client, server, (method, path), token, body)
        .await
        .unwrap_or_else(|e| panic!("{label}: no answer: {e}"))
}

/// Stops `server`, checks that it never panicked, and that `servos-api
/// audit verify` on its database passes (`after` names the fault, for the
/// failure message; the subcommand's log goes to `log`).
pub fn stop_and_verify_audit(server: Server, env: &Env, log: &std::path::Path, after: &str) {
    let output = server.stop();
    assert!(!output.contains("panic"), "the server panicked:\n{output}");
    let verify = run_to_exit(env, &["audit", "verify"], log);
    assert!(
        verify.status.success(),
        "audit verify after {after}:\n{}",
        verify.output
    );
}
