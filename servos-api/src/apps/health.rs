//! Health checks of an application's containers: an HTTP path or a command,
//! with interval, timeout and retries. One JSON shape is accepted, stored
//! and returned: `{"http": {"path": "/up"}, "interval_secs": 10, ...}` or
//! `{"command": ["pg_isready"], ...}`.

use serde::{Deserialize, Serialize};

use super::validate::Invalid;

/// Longest HTTP path, in bytes.
const MAX_PATH_LEN: usize = 1024;
/// Most arguments of a command.
const MAX_ARGS: usize = 32;
/// Longest argument, in bytes.
const MAX_ARG_LEN: usize = 1024;
/// Accepted interval, seconds.
const INTERVAL_SECS: (i64, i64) = (1, 3600);
/// Accepted timeout, seconds (and never above the interval).
const TIMEOUT_SECS: (i64, i64) = (1, 300);
/// Accepted retries.
const RETRIES: (i64, i64) = (1, 100);

/// What a health check probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// An HTTP GET of this path on the container port; 2xx and 3xx are healthy.
    Http {
        /// Absolute path, `/...`.
        path: String,
    },
    /// A command run in the container (argv, no shell); exit 0 is healthy.
    Command(Vec<String>),
}

/// A validated health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// What is probed.
    pub probe: Probe,
    /// Seconds between probes.
    pub interval_secs: u32,
    /// Seconds one probe may take.
    pub timeout_secs: u32,
    /// Failed probes in a row before the container counts as unhealthy.
    pub retries: u32,
}

/// An HTTP probe as sent and shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// Absolute path, `/...`, of printable ASCII without spaces.
    #[schema(pattern = "^/[!-~]*$", max_length = 1024)]
    pub path: String,
}

/// A health check as sent, stored and shown: exactly one of `http` and `command`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// Probe an HTTP path on the container port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// Run this command in the container (argv, no shell): 1 to 32 arguments
    /// of at most 1024 bytes without control characters, the first not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_items = 1,
        max_items = 32,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
        max_length = 1024
    )]
    pub command: Option<Vec<String>>,
    /// Seconds between probes, 1 to 3600 (default 10).
    #[serde(default = "default_interval")]
    #[schema(minimum = 1, maximum = 3600)]
    pub interval_secs: i64,
    /// Seconds one probe may take, 1 to 300 and at most the interval (default 5).
    #[serde(default = "default_timeout")]
    #[schema(minimum = 1, maximum = 300)]
    pub timeout_secs: i64,
    /// Failures in a row before unhealthy, 1 to 100 (default 3).
    #[serde(default = "default_retries")]
    #[schema(minimum = 1, maximum = 100)]
    pub retries: i64,
}

fn default_interval() -> i64 {
    10
}

fn default_timeout() -> i64 {
    5
}

fn default_retries() -> i64 {
    3
}

fn bounded(field: &'static str, value: i64, (min, max): (i64, i64)) -> Result<u32, Invalid> {
    u32::try_from(value)
        .ok()
        .filter(|_| (min..=max).contains(&value))
        .ok_or_else(|| Invalid::new(field, format!("must be {min} to {max}")))
}

fn check_path(path: &str) -> Result<String, Invalid> {
    let valid = path.starts_with('/')
        && path.len() <= MAX_PATH_LEN
        && path.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(path.to_owned())
    } else {
        Err(Invalid::new(
            "health_check.http.path",
            format!("must start with / and be at most {MAX_PATH_LEN} printable ASCII characters without spaces"),
        ))
    }
}

fn check_command(args: &[String]) -> Result<Vec<String>, Invalid> {
    let field = "health_check.command";
    if args.is_empty() || args.len() > MAX_ARGS {
        return Err(Invalid::new(
            field,
            format!("must list 1 to {MAX_ARGS} arguments"),
        ));
    }
    if args[0].is_empty() {
        return Err(Invalid::new(field, "the program name must not be empty"));
    }
    for arg in args {
        if arg.len() > MAX_ARG_LEN || arg.chars().any(char::is_control) {
            return Err(Invalid::new(
                field,
                format!("arguments must be at most {MAX_ARG_LEN} bytes without control characters"),
            ));
        }
    }
    Ok(args.to_vec())
}

impl HealthCheckSpec {
    /// Checks the spec; errors name the field (`health_check.timeout_secs`, ...).
    pub fn validate(&self) -> Result<HealthCheck, Invalid> {
        let probe = match (&self.http, &self.command) {
            (Some(http), None) => Probe::Http {
                path: check_path(&http.path)?,
            },
            (None, Some(args)) => Probe::Command(check_command(args)?),
            _ => {
                return Err(Invalid::new(
                    "health_check",
                    "must have exactly one of http and command",
                ))
            }
        };
        let interval_secs = bounded(
            "health_check.interval_secs",
            self.interval_secs,
            INTERVAL_SECS,
        )?;
        let timeout_secs = bounded("health_check.timeout_secs", self.timeout_secs, TIMEOUT_SECS)?;
        if timeout_secs > interval_secs {
            return Err(Invalid::new(
                "health_check.timeout_secs",
                "must not be longer than interval_secs",
            ));
        }
        let retries = bounded("health_check.retries", self.retries, RETRIES)?;
        Ok(HealthCheck {
            probe,
            interval_secs,
            timeout_secs,
            retries,
        })
    }
}

impl From<&HealthCheck> for HealthCheckSpec {
    fn from(check: &HealthCheck) -> Self {
        let (http, command) = match &check.probe {
            Probe::Http { path } => (Some(HttpProbe { path: path.clone() }), None),
            Probe::Command(args) => (None, Some(args.clone())),
        };
        Self {
            http,
            command,
            interval_secs: i64::from(check.interval_secs),
            timeout_secs: i64::from(check.timeout_secs),
            retries: i64::from(check.retries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<HealthCheck, Invalid> {
        serde_json::from_str::<HealthCheckSpec>(json)
            .map_err(|e| Invalid::new("json", e.to_string()))?
            .validate()
    }

    #[test]
    fn accepts_one_probe_with_defaults() {
        let http = spec(r#"{"http": {"path": "/up?full=1"}}"#).expect("http");
        assert_eq!(
            http.probe,
            Probe::Http {
                path: "/up?full=1".into()
            }
        );
        assert_eq!(
            (http.interval_secs, http.timeout_secs, http.retries),
            (10, 5, 3)
        );
        let command = spec(r#"{"command": ["pg_isready", "-U", "app"], "interval_secs": 30, "timeout_secs": 30, "retries": 1}"#)
            .expect("command");
        assert_eq!(
            command.probe,
            Probe::Command(vec!["pg_isready".into(), "-U".into(), "app".into()])
        );
        let stored = serde_json::to_string(&HealthCheckSpec::from(&command)).expect("json");
        assert_eq!(spec(&stored).expect("round trip"), command);
    }

    #[test]
    fn refusals_name_the_field() {
        for (json, field) in [
            (r#"{}"#, "health_check"),
            (
                r#"{"http": {"path": "/"}, "command": ["x"]}"#,
                "health_check",
            ),
            (r#"{"http": {"path": "up"}}"#, "health_check.http.path"),
            (r#"{"http": {"path": "/a b"}}"#, "health_check.http.path"),
            (r#"{"command": []}"#, "health_check.command"),
            (r#"{"command": [""]}"#, "health_check.command"),
            (r#"{"command": ["a\nb"]}"#, "health_check.command"),
            (
                r#"{"http": {"path": "/"}, "interval_secs": 0}"#,
                "health_check.interval_secs",
            ),
            (
                r#"{"http": {"path": "/"}, "timeout_secs": 11}"#,
                "health_check.timeout_secs",
            ),
            (
                r#"{"http": {"path": "/"}, "retries": 101}"#,
                "health_check.retries",
            ),
        ] {
            assert_eq!(spec(json).err().map(|e| e.field), Some(field), "{json}");
        }
    }
}
