//! The agent's HTTPS client for the API: one method per call of the agent protocol.

mod error;

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use servos_common::protocol::{
    EnrollRequest, Enrollment, Heartbeat, HeartbeatAnswer, KeyRotation, MeshConfig, CONFIG_PATH,
    ENROLL_PATH, HEADER, HEARTBEAT_PATH, KEY_PATH, VERSION,
};
use servos_common::secret::SecretText;

use crate::tls::{self, TrustAnchor};

pub use error::ApiError;

/// How long a TCP and TLS connection may take before the API counts as away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an ordinary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the API URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiUrlError {
    /// Not a URL.
    #[error("the API URL is not a URL: {0}")]
    Invalid(String),
    /// Not `https://`.
    #[error(
        "the API URL must start with https:// (the agent never talks to the API in clear text)"
    )]
    NotHttps,
    /// The client could not be built.
    #[error("{0}")]
    Client(String),
}

/// Parses and checks an API base URL: `https://` only.
pub fn parse_api_url(text: &str) -> Result<Url, ApiUrlError> {
    let url = Url::parse(text).map_err(|err| ApiUrlError::Invalid(err.to_string()))?;
    if url.scheme() != "https" {
        return Err(ApiUrlError::NotHttps);
    }
    Ok(url)
}

/// A client bound to one API, one trust anchor and one token.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
}

impl ApiClient {
    /// A client for `api_url` that trusts only `trust` and authenticates with `token`.
    pub fn new(
        api_url: &str,
        trust: &TrustAnchor,
        token: &SecretText,
    ) -> Result<Self, ApiUrlError> {
        let base = parse_api_url(api_url)?;
        let tls = tls::client_config(trust).map_err(|err| ApiUrlError::Client(err.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ApiUrlError::Client(err.to_string()))?;
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", token.expose()))
            .map_err(|_| {
                ApiUrlError::Client("the token holds characters a header cannot carry".to_owned())
            })?;
        authorization.set_sensitive(true);
        Ok(Self {
            http,
            base,
            authorization,
        })
    }

    /// `POST /api/v1/agent/enroll` (with the enrollment token this client was made with).
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<Enrollment, ApiError> {
        let answer = self
            .call(Method::POST, ENROLL_PATH, Some(request), CALL_TIMEOUT)
            .await?;
        expect_json(answer, StatusCode::CREATED)
    }

    /// `GET /api/v1/agent/config`: the config when newer than `since`, else
    /// `None` after the API waited up to `wait_secs` for a change.
    pub async fn config(&self, since: u64, wait_secs: u32) -> Result<Option<MeshConfig>, ApiError> {
        let path = format!("{CONFIG_PATH}?since={since}&wait={wait_secs}");
        let timeout = Duration::from_secs(u64::from(wait_secs)) + CALL_TIMEOUT;
        let answer = self.call::<()>(Method::GET, &path, None, timeout).await?;
        if answer.0 == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        expect_json(answer, StatusCode::OK).map(Some)
    }

    /// `POST /api/v1/agent/heartbeat`.
    pub async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<HeartbeatAnswer, ApiError> {
        let answer = self
            .call(Method::POST, HEARTBEAT_PATH, Some(heartbeat), CALL_TIMEOUT)
            .await?;
        expect_json(answer, StatusCode::OK)
    }

    /// `POST /api/v1/agent/key`: the node's new public key; answers its config.
    pub async fn rotate_key(&self, rotation: &KeyRotation) -> Result<MeshConfig, ApiError> {
        let answer = self
            .call(Method::POST, KEY_PATH, Some(rotation), CALL_TIMEOUT)
            .await?;
        expect_json(answer, StatusCode::OK)
    }

    async fn call<B: Serialize>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let url = self
            .base
            .join(path_and_query)
            .map_err(|err| ApiError::BadAnswer(err.to_string()))?;
        let mut request = self
            .http
            .request(method, url)
            .timeout(timeout)
            .header(HEADER, VERSION)
            .header(AUTHORIZATION, self.authorization.clone());
        if let Some(body) = body {
            let json =
                serde_json::to_vec(body).map_err(|err| ApiError::BadAnswer(err.to_string()))?;
            request = request.header(CONTENT_TYPE, "application/json").body(json);
        }
        let response = request
            .send()
            .await
            .map_err(|err| ApiError::transport(&err))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| ApiError::transport(&err))?;
        if status.is_success() {
            Ok((status, bytes.to_vec()))
        } else {
            Err(ApiError::from_answer(status.as_u16(), &bytes))
        }
    }
}

fn expect_json<T: DeserializeOwned>(
    (status, body): (StatusCode, Vec<u8>),
    expected: StatusCode,
) -> Result<T, ApiError> {
    if status != expected {
        return Err(ApiError::BadAnswer(format!(
            "status {status}, expected {expected}"
        )));
    }
    serde_json::from_slice(&body).map_err(|err| ApiError::BadAnswer(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_are_accepted() {
        assert!(parse_api_url("https://api.example:8443").is_ok());
        assert!(matches!(
            parse_api_url("http://api.example"),
            Err(ApiUrlError::NotHttps)
        ));
        assert!(matches!(
            parse_api_url("api.example"),
            Err(ApiUrlError::Invalid(_))
        ));
    }
}
