//! ServOS's API as an admin, with lab hosts registered and commissioned as
//! servers: what the lab benchmarks (`deploy`, `mesh`) drive.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use servos_lab::Host;

use crate::api_server::ApiServer;
use crate::curl::Request;
use crate::debian;

/// Installs what the lab benchmarks need: the lab with Docker hosts, curl,
/// the OpenSSH client and the build tools.
pub fn ensure_packages() -> Result<()> {
    let mut needed = vec![debian::CURL, debian::OPENSSH_CLIENT];
    needed.extend(debian::LAB_BASE);
    needed.extend(debian::LAB_DOCKER);
    needed.extend(debian::BUILD);
    debian::ensure(&needed)
}

/// An admin's API token, the API's origin, and the server id of each lab host.
pub struct LabApi {
    /// `http(s)://<ip>:<port>`.
    pub origin: String,
    token: String,
    /// The certificate the API serves HTTPS with, when it does.
    certificate: Option<PathBuf>,
    /// Server ids, in the order of the hosts given to [`LabApi::set_up`].
    pub servers: Vec<String>,
}

impl LabApi {
    /// Sets up the first admin of `server`, registers `private_key` and every
    /// host as a server (`lab-0`, `lab-1`, ...), and commissions each: hosts
    /// with `docker` as `run` servers, ready for deploys; hosts without as
    /// `build` servers (no reverse proxy is set up), ready for the agent.
    pub fn set_up(
        server: &ApiServer,
        private_key: &str,
        hosts: &[Host],
        docker: bool,
    ) -> Result<Self> {
        let (role, commissioned) = if docker {
            ("run", "ready")
        } else {
            ("build", "docker_unavailable")
        };
        let mut api = Self {
            origin: server.origin(),
            token: server.api_token("admin")?,
            certificate: server.certificate().map(std::path::Path::to_path_buf),
            servers: Vec::new(),
        };
        let key = api.post(
            "/api/v1/ssh-keys",
            &json!({"name": "lab", "kind": "server", "private_key": private_key}),
            201,
        )?;
        for (i, host) in hosts.iter().enumerate() {
            let server = api.post(
                "/api/v1/servers",
                &json!({"name": format!("lab-{i}"), "address": host.address.to_string(),
                    "port": host.ssh_port, "user": host.user, "ssh_key_id": key["id"], "roles": [role]}),
                201,
            )?;
            let id = server["id"].as_str().unwrap_or_default().to_owned();
            let check = api.post(&format!("/api/v1/servers/{id}/commission"), &json!({}), 200)?;
            if check["status"] != commissioned || !check["error"].is_null() {
                bail!("commissioning {}: {check}", host.name);
            }
            api.servers.push(id);
        }
        Ok(api)
    }

    /// `POST`s `body` to `path`, expecting `status`; the answer's JSON.
    pub fn post(&self, path: &str, body: &Value, status: u16) -> Result<Value> {
        self.send(
            Request::post_json(format!("{}{path}", self.origin), body),
            status,
            path,
        )
    }

    /// `GET`s `path`, expecting 200; the answer's JSON.
    pub fn get(&self, path: &str) -> Result<Value> {
        self.send(Request::get(format!("{}{path}", self.origin)), 200, path)
    }

    /// `GET`s `path`, expecting 200; the answer's body as it is (an event
    /// stream, read until the server ends it).
    pub fn text(&self, path: &str) -> Result<String> {
        Ok(self
            .authorized(Request::get(format!("{}{path}", self.origin)))
            .send()?
            .expect(200, path)?
            .body)
    }

    fn authorized(&self, request: Request) -> Request {
        request
            .trusting(self.certificate.as_deref())
            .header(format!("Authorization: Bearer {}", self.token))
    }

    /// Sends `request` with the admin's token, expecting `status`; the
    /// answer's JSON (`null` for an empty body).
    pub fn send(&self, request: Request, status: u16, what: &str) -> Result<Value> {
        let answer = self.authorized(request).send()?.expect(status, what)?;
        if answer.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&answer.body).context("the body is not JSON")
    }
}
