//! HTTP calls through the `curl` program, with URL, headers and body passed on
//! stdin (`curl -K -`) so that tokens and passwords stay off the command line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

/// One HTTP request to send.
pub struct Request {
    method: &'static str,
    url: String,
    headers: Vec<String>,
    body: Option<String>,
    /// The certificate an `https://` server must present (its own, self-signed).
    ca_file: Option<PathBuf>,
}

/// What the server answered.
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Request {
    /// A `GET` of `url`.
    pub fn get(url: String) -> Self {
        Self {
            method: "GET",
            url,
            headers: Vec::new(),
            body: None,
            ca_file: None,
        }
    }

    /// A `POST` of a JSON document to `url`.
    pub fn post_json(url: String, body: &serde_json::Value) -> Self {
        Self {
            method: "POST",
            url,
            headers: vec!["Content-Type: application/json".to_owned()],
            body: Some(body.to_string()),
            ca_file: None,
        }
    }

    /// A request with `method` (`PATCH`, `PUT`, ...) and a JSON document.
    pub fn json(method: &'static str, url: String, body: &serde_json::Value) -> Self {
        Self {
            method,
            ..Self::post_json(url, body)
        }
    }

    /// Adds a `Name: value` header.
    pub fn header(mut self, line: String) -> Self {
        self.headers.push(line);
        self
    }

    /// Trusts `ca_file` (when given) as the only authority for an `https://` URL.
    pub fn trusting(mut self, ca_file: Option<&Path>) -> Self {
        self.ca_file = ca_file.map(Path::to_path_buf);
        self
    }

    /// Sends the request and reads the whole answer.
    pub fn send(&self) -> Result<Response> {
        let mut child = Command::new("curl")
            .args(["--config", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not start curl")?;
        let config = self.config();
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("curl has no stdin"))?
            .write_all(config.as_bytes())
            .context("could not pass the request to curl")?;
        let output = child.wait_with_output().context("curl did not finish")?;
        if !output.status.success() {
            bail!(
                "curl {} {} failed ({}): {}",
                self.method,
                self.url,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Response::parse(&String::from_utf8_lossy(&output.stdout))
            .with_context(|| format!("unreadable answer to {} {}", self.method, self.url))
    }

    fn config(&self) -> String {
        let mut lines = vec![
            "silent".to_owned(),
            "show-error".to_owned(),
            "include".to_owned(),
            "max-time = 30".to_owned(),
            format!("request = {}", quoted(self.method)),
            format!("url = {}", quoted(&self.url)),
        ];
        for header in &self.headers {
            lines.push(format!("header = {}", quoted(header)));
        }
        if let Some(body) = &self.body {
            lines.push(format!("data-binary = {}", quoted(body)));
        }
        if let Some(ca_file) = &self.ca_file {
            lines.push(format!("cacert = {}", quoted(&ca_file.to_string_lossy())));
        }
        lines.join("\n") + "\n"
    }
}

/// A curl config string: double quotes, with `\` and `"` escaped.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Response {
    /// Splits `curl --include` output into status, headers and body, skipping
    /// interim `1xx` answers.
    fn parse(text: &str) -> Result<Self> {
        let mut rest = text;
        loop {
            let (head, body) = rest
                .split_once("\r\n\r\n")
                .or_else(|| rest.split_once("\n\n"))
                .unwrap_or((rest, ""));
            let mut lines = head.lines();
            let status_line = lines.next().unwrap_or_default();
            let status: u16 = status_line
                .split_whitespace()
                .nth(1)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| anyhow!("no HTTP status line in {status_line:?}"))?;
            if (100..200).contains(&status) {
                rest = body;
                continue;
            }
            let headers = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect();
            return Ok(Self {
                status,
                headers,
                body: body.to_owned(),
            });
        }
    }

    /// Fails unless the status is the expected one, quoting the body if not.
    pub fn expect(self, status: u16, what: &str) -> Result<Self> {
        if self.status != status {
            bail!(
                "{what}: expected HTTP {status}, got {}: {}",
                self.status,
                self.body.trim()
            );
        }
        Ok(self)
    }

    /// `name=value` of the cookie `name` set by the answer, ready for a `Cookie:` header.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(header, _)| header == "set-cookie")
            .filter_map(|(_, value)| value.split(';').next())
            .find(|pair| {
                pair.split_once('=')
                    .is_some_and(|(key, _)| key.trim() == name)
            })
            .map(|pair| pair.trim().to_owned())
    }

    /// A string field of the JSON body.
    pub fn json_string(&self, field: &str) -> Result<String> {
        let document: serde_json::Value =
            serde_json::from_str(&self.body).context("the body is not JSON")?;
        document
            .get(field)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the JSON body has no string field `{field}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::{quoted, Response};

    #[test]
    fn parses_status_headers_and_cookie() -> anyhow::Result<()> {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\
                   set-cookie: other=1; Path=/\r\n\
                   Set-Cookie: servos_session=abc=; HttpOnly; SameSite=Strict\r\n\
                   content-type: application/json\r\n\r\n{\"token\":\"svs_x\"}";
        let response = Response::parse(raw)?.expect(201, "test")?;
        assert_eq!(
            response.cookie("servos_session").as_deref(),
            Some("servos_session=abc=")
        );
        assert_eq!(response.json_string("token")?, "svs_x");
        Ok(())
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quoted(r#"{"a":"b\c"}"#), r#""{\"a\":\"b\\c\"}""#);
    }
}
