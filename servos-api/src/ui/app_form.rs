//! The application form: its fields as typed (kept when the form comes back
//! with errors, but for secret build arguments' values, which are never
//! echoed), turned into the API's own `NewApp` or, for an edit, an
//! `AppPatch` of the fields that changed; validation is the service's.

use std::collections::BTreeMap;

use servos_common::secret::SecretText;

use crate::apps::git::{BuildArgSpec, BuildArgValue, GitSource, GitSourceSpec};
use crate::apps::health::{HealthCheckSpec, HttpProbe};
use crate::apps::validate::Limits;
use crate::apps::{App, AppPatch, NewApp};

use super::form::{key_value_lines, key_value_text, FieldErrors, Form};
use super::views;

const MIB: i64 = 1 << 20;

/// Service field names and the form inputs they are shown under.
pub const RENAMES: [(&str, &str); 16] = [
    ("git", "source"),
    ("git.url", "git_url"),
    ("git.branch", "git_branch"),
    ("git.dockerfile", "git_dockerfile"),
    ("git.context", "git_context"),
    ("git.build_args", "build_args"),
    ("git.builder_server_id", "builder_server_id"),
    ("git.git_credential_id", "git_credential_id"),
    ("health_check", "probe"),
    ("health_check.http.path", "http_path"),
    ("health_check.command", "command"),
    ("health_check.interval_secs", "interval_secs"),
    ("health_check.timeout_secs", "timeout_secs"),
    ("health_check.retries", "retries"),
    ("limits.memory_bytes", "memory_mib"),
    ("limits.milli_cpus", "cpus"),
];

/// The form's fields as text.
#[derive(Debug, Clone)]
pub struct AppValues {
    /// Name.
    pub name: String,
    /// `image` or `git`: where the application's image comes from.
    pub source: String,
    /// Image reference.
    pub image: String,
    /// Repository URL.
    pub git_url: String,
    /// Branch.
    pub git_branch: String,
    /// Dockerfile path.
    pub git_dockerfile: String,
    /// Build context.
    pub git_context: String,
    /// Builder server id, or `""`.
    pub builder_server_id: String,
    /// Git credential id, or `""`.
    pub git_credential_id: String,
    /// Build arguments in clear, `NAME=value` lines.
    pub build_args: String,
    /// Secret build arguments: `NAME=value` lines, or `NAME` to keep the
    /// stored value. Only the names are ever shown back.
    pub secret_build_args: String,
    /// Registry credential id, or `""`.
    pub registry_id: String,
    /// Target server ids.
    pub server_ids: Vec<String>,
    /// Container port.
    pub container_port: String,
    /// `http` or `command`.
    pub probe: String,
    /// HTTP path of the probe.
    pub http_path: String,
    /// Command of the probe, one argument per line.
    pub command: String,
    /// Seconds between probes.
    pub interval_secs: String,
    /// Seconds a probe may take.
    pub timeout_secs: String,
    /// Failures before unhealthy.
    pub retries: String,
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    pub restart_policy: String,
    /// Most restarts for `on-failure`, or `""`.
    pub restart_retries: String,
    /// Memory limit in MiB, or `""`.
    pub memory_mib: String,
    /// CPU limit as a decimal, or `""`.
    pub cpus: String,
    /// Labels, `key=value` lines.
    pub labels: String,
    /// Domain, or `""`.
    pub domain: String,
}

impl Default for AppValues {
    fn default() -> Self {
        Self {
            name: String::new(),
            source: "image".into(),
            image: String::new(),
            git_url: String::new(),
            git_branch: "main".into(),
            git_dockerfile: "Dockerfile".into(),
            git_context: ".".into(),
            builder_server_id: String::new(),
            git_credential_id: String::new(),
            build_args: String::new(),
            secret_build_args: String::new(),
            registry_id: String::new(),
            server_ids: Vec::new(),
            container_port: "8080".into(),
            probe: "http".into(),
            http_path: "/".into(),
            command: String::new(),
            interval_secs: "10".into(),
            timeout_secs: "5".into(),
            retries: "3".into(),
            restart_policy: "unless-stopped".into(),
            restart_retries: String::new(),
            memory_mib: String::new(),
            cpus: String::new(),
            labels: String::new(),
            domain: String::new(),
        }
    }
}

impl AppValues {
    /// The fields as submitted.
    pub fn from_form(form: &Form) -> Self {
        Self {
            name: form.text("name"),
            source: form.text("source"),
            image: form.text("image"),
            git_url: form.text("git_url"),
            git_branch: form.text("git_branch"),
            git_dockerfile: form.text("git_dockerfile"),
            git_context: form.text("git_context"),
            builder_server_id: form.text("builder_server_id"),
            git_credential_id: form.text("git_credential_id"),
            build_args: form.raw("build_args").to_owned(),
            secret_build_args: form.raw("secret_build_args").to_owned(),
            registry_id: form.text("registry_id"),
            server_ids: form.all("server_ids"),
            container_port: form.text("container_port"),
            probe: form.text("probe"),
            http_path: form.text("http_path"),
            command: form.raw("command").to_owned(),
            interval_secs: form.text("interval_secs"),
            timeout_secs: form.text("timeout_secs"),
            retries: form.text("retries"),
            restart_policy: form.text("restart_policy"),
            restart_retries: form.text("restart_retries"),
            memory_mib: form.text("memory_mib"),
            cpus: form.text("cpus"),
            labels: form.raw("labels").to_owned(),
            domain: form.text("domain"),
        }
    }

    /// An application's current settings, to edit.
    pub fn from_app(app: &App) -> Self {
        let spec = &app.spec;
        let health = HealthCheckSpec::from(&spec.health_check);
        let restart = spec.restart_policy.to_string();
        let (restart_policy, restart_retries) = match restart.split_once(':') {
            Some((policy, count)) => (policy.to_owned(), count.to_owned()),
            None => (restart, String::new()),
        };
        let git = spec.git.as_ref();
        let args_where = |secret: bool| {
            git.map(|g| &g.build_args)
                .into_iter()
                .flatten()
                .filter(move |(_, value)| value.is_secret() == secret)
        };
        let clear_args = args_where(false)
            .filter_map(|(name, value)| match value {
                BuildArgValue::Clear(text) => Some((name.clone(), text.clone())),
                _ => None,
            })
            .collect();
        let text = |field: fn(&GitSource) -> &String| git.map(field).cloned().unwrap_or_default();
        Self {
            name: spec.name.clone(),
            source: if git.is_some() { "git" } else { "image" }.into(),
            image: spec
                .image
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
            git_url: text(|g| &g.url),
            git_branch: text(|g| &g.branch),
            git_dockerfile: text(|g| &g.dockerfile),
            git_context: text(|g| &g.context),
            builder_server_id: git
                .map(|g| g.builder_server_id.to_string())
                .unwrap_or_default(),
            git_credential_id: git
                .and_then(|g| g.git_credential_id.clone())
                .unwrap_or_default(),
            build_args: key_value_text(&clear_args),
            secret_build_args: args_where(true)
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            registry_id: spec.registry_id.clone().unwrap_or_default(),
            server_ids: spec.server_ids.iter().map(ToString::to_string).collect(),
            container_port: spec.container_port.to_string(),
            probe: if health.command.is_some() {
                "command"
            } else {
                "http"
            }
            .into(),
            http_path: health.http.map(|h| h.path).unwrap_or_default(),
            command: health.command.unwrap_or_default().join("\n"),
            interval_secs: health.interval_secs.to_string(),
            timeout_secs: health.timeout_secs.to_string(),
            retries: health.retries.to_string(),
            restart_policy,
            restart_retries,
            memory_mib: spec
                .limits
                .memory_bytes
                .map(|b| (b / MIB).to_string())
                .unwrap_or_default(),
            cpus: spec.limits.milli_cpus.map(views::cpus).unwrap_or_default(),
            labels: key_value_text(&spec.labels),
            domain: spec.domain.clone().unwrap_or_default(),
        }
    }

    /// The names of the secret build arguments typed, one per line: what
    /// the form shows back (never a value).
    pub fn secret_arg_names(&self) -> String {
        self.secret_build_args
            .lines()
            .map(|line| line.split_once('=').map_or(line, |(name, _)| name).trim())
            .filter(|name| !name.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The git source typed; `errors` collects the build argument lines
    /// that are not `NAME=value`.
    fn git_spec(&self, errors: &mut FieldErrors) -> GitSourceSpec {
        let mut build_args: BTreeMap<String, BuildArgSpec> = key_value_lines(&self.build_args)
            .unwrap_or_else(|e| {
                errors.add("build_args", e);
                BTreeMap::new()
            })
            .into_iter()
            .map(|(name, value)| {
                let arg = BuildArgSpec {
                    value: Some(SecretText::new(value)),
                    secret: false,
                };
                (name, arg)
            })
            .collect();
        for line in self.secret_build_args.lines() {
            let (name, value) = match line.split_once('=') {
                Some((name, value)) => (name, Some(SecretText::new(value.to_owned()))),
                None => (line, None),
            };
            let name = name.trim();
            if !name.is_empty() {
                build_args.insert(
                    name.to_owned(),
                    BuildArgSpec {
                        value,
                        secret: true,
                    },
                );
            }
        }
        let or =
            |text: &str, default: &str| if text.is_empty() { default } else { text }.to_owned();
        GitSourceSpec {
            url: self.git_url.clone(),
            branch: self.git_branch.clone(),
            dockerfile: or(&self.git_dockerfile, "Dockerfile"),
            context: or(&self.git_context, "."),
            build_args,
            builder_server_id: self.builder_server_id.clone(),
            git_credential_id: Some(self.git_credential_id.clone()).filter(|c| !c.is_empty()),
        }
    }

    /// True when server `id` is ticked.
    pub fn has_server(&self, id: &str) -> bool {
        self.server_ids.iter().any(|s| s == id)
    }

    /// The application as the API's create request; `errors` collects the
    /// fields that are not even numbers (the service checks the rest).
    pub fn to_new_app(&self, errors: &mut FieldErrors) -> NewApp {
        let number = |errors: &mut FieldErrors, field: &str, text: &str, default: i64| {
            if text.is_empty() {
                return default;
            }
            text.parse::<i64>().unwrap_or_else(|_| {
                errors.add(field, "must be a whole number");
                default
            })
        };
        let command: Vec<String> = self
            .command
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let health_check = HealthCheckSpec {
            http: (self.probe != "command").then(|| HttpProbe {
                path: self.http_path.clone(),
            }),
            command: (self.probe == "command").then_some(command),
            interval_secs: number(errors, "interval_secs", &self.interval_secs, 10),
            timeout_secs: number(errors, "timeout_secs", &self.timeout_secs, 5),
            retries: number(errors, "retries", &self.retries, 3),
        };
        let memory_bytes = (!self.memory_mib.is_empty())
            .then(|| number(errors, "memory_mib", &self.memory_mib, 0).saturating_mul(MIB));
        let milli_cpus = (!self.cpus.is_empty()).then(|| {
            milli(&self.cpus).unwrap_or_else(|| {
                errors.add("cpus", "must be a number of CPUs like 0.5 or 2");
                0
            })
        });
        let restart_policy =
            if self.restart_policy == "on-failure" && !self.restart_retries.is_empty() {
                format!("on-failure:{}", self.restart_retries)
            } else {
                self.restart_policy.clone()
            };
        let labels = key_value_lines(&self.labels).unwrap_or_else(|e| {
            errors.add("labels", e);
            BTreeMap::new()
        });
        let from_git = self.source == "git";
        NewApp {
            name: self.name.clone(),
            image: (!from_git).then(|| self.image.clone()),
            git: from_git.then(|| self.git_spec(errors)),
            registry_id: Some(self.registry_id.clone()).filter(|r| !r.is_empty()),
            server_ids: self.server_ids.clone(),
            container_port: number(errors, "container_port", &self.container_port, 0),
            health_check,
            restart_policy,
            limits: Limits {
                memory_bytes,
                milli_cpus,
            },
            labels,
            domain: Some(self.domain.clone()).filter(|d| !d.is_empty()),
        }
    }
}

/// Thousandths of a CPU from a decimal (`0.5` → 500), at most 3 decimals.
fn milli(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 3 {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: i64 = format!("{frac:0<3}").parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

/// The fields of `new` that differ from `current`, as a patch.
pub fn changes(new: NewApp, current: &App) -> AppPatch {
    let spec = &current.spec;
    let differs = |a: &HealthCheckSpec, b: &HealthCheckSpec| {
        serde_json::to_value(a).ok() != serde_json::to_value(b).ok()
    };
    let mut sorted_new = new.server_ids.clone();
    sorted_new.sort();
    let mut sorted_old: Vec<String> = spec.server_ids.iter().map(ToString::to_string).collect();
    sorted_old.sort();
    let image = new
        .image
        .filter(|image| Some(image.trim()) != spec.image.as_ref().map(|i| i.as_str()));
    let git = new.git.filter(|git| git_differs(git, spec.git.as_ref()));
    AppPatch {
        name: (new.name.trim() != spec.name).then_some(new.name),
        image,
        git,
        registry_id: (new.registry_id != spec.registry_id).then_some(new.registry_id),
        server_ids: (sorted_new != sorted_old).then_some(new.server_ids),
        container_port: (new.container_port != i64::from(spec.container_port))
            .then_some(new.container_port),
        health_check: differs(
            &new.health_check,
            &HealthCheckSpec::from(&spec.health_check),
        )
        .then_some(new.health_check),
        restart_policy: (new.restart_policy != spec.restart_policy.to_string())
            .then_some(new.restart_policy),
        limits: (new.limits != spec.limits).then_some(Some(new.limits)),
        labels: (new.labels != spec.labels).then_some(new.labels),
        domain: (new.domain.as_deref().map(str::to_ascii_lowercase) != spec.domain)
            .then_some(new.domain),
    }
}

/// True when the git source typed differs from `current`: another field,
/// another argument, or a new secret value.
fn git_differs(new: &GitSourceSpec, current: Option<&GitSource>) -> bool {
    let Some(current) = current else {
        return true;
    };
    let same_args = new.build_args.len() == current.build_args.len()
        && new.build_args.iter().all(|(name, arg)| {
            match (current.build_args.get(name), &arg.value, arg.secret) {
                (Some(BuildArgValue::KeptSecret), None, true) => true,
                (Some(BuildArgValue::Clear(old)), Some(value), false) => value.expose() == old,
                _ => false,
            }
        });
    !(same_args
        && new.url.trim() == current.url
        && new.branch.trim() == current.branch
        && new.dockerfile == current.dockerfile
        && new.context == current.context
        && new.builder_server_id == current.builder_server_id.as_str()
        && new.git_credential_id == current.git_credential_id)
}

/// True when a patch changes nothing.
pub fn is_empty(patch: &AppPatch) -> bool {
    patch.name.is_none()
        && patch.image.is_none()
        && patch.git.is_none()
        && patch.registry_id.is_none()
        && patch.server_ids.is_none()
        && patch.container_port.is_none()
        && patch.health_check.is_none()
        && patch.restart_policy.is_none()
        && patch.limits.is_none()
        && patch.labels.is_none()
        && patch.domain.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_parse_as_thousandths() {
        assert_eq!(milli("0.5"), Some(500));
        assert_eq!(milli("2"), Some(2000));
        assert_eq!(milli(".25"), Some(250));
        assert_eq!(milli("1.125"), Some(1125));
        for bad in ["", ".", "1.2345", "x", "-1", "1e3"] {
            assert_eq!(milli(bad), None, "{bad}");
        }
    }

    #[test]
    fn git_sources_keep_secret_values_out_of_the_form() {
        let values = AppValues {
            source: "git".into(),
            git_url: "git@host:org/repo.git".into(),
            git_dockerfile: String::new(),
            git_context: String::new(),
            builder_server_id: "b".into(),
            build_args: "VERSION=1.2".into(),
            secret_build_args: "TOKEN=s3cret\nKEPT\n\n".into(),
            ..AppValues::default()
        };
        assert_eq!(values.secret_arg_names(), "TOKEN\nKEPT");
        let mut errors = FieldErrors::default();
        let new = values.to_new_app(&mut errors);
        assert!(errors.is_empty() && new.image.is_none());
        let git = new.git.expect("a git source");
        assert_eq!(
            (git.dockerfile.as_str(), git.context.as_str()),
            ("Dockerfile", ".")
        );
        assert_eq!(git.git_credential_id, None);
        let args: Vec<_> = git
            .build_args
            .iter()
            .map(|(name, arg)| {
                (
                    name.as_str(),
                    arg.value.as_ref().map(|v| v.expose().to_owned()),
                    arg.secret,
                )
            })
            .collect();
        assert_eq!(
            args,
            [
                ("KEPT", None, true),
                ("TOKEN", Some("s3cret".to_owned()), true),
                ("VERSION", Some("1.2".to_owned()), false),
            ]
        );
    }

    #[test]
    fn non_numbers_are_field_errors() {
        let values = AppValues {
            container_port: "http".into(),
            memory_mib: "lots".into(),
            ..AppValues::default()
        };
        let mut errors = FieldErrors::default();
        let new = values.to_new_app(&mut errors);
        assert!(errors.get("container_port").is_some());
        assert!(errors.get("memory_mib").is_some());
        assert_eq!(new.health_check.http.map(|h| h.path).as_deref(), Some("/"));
    }
}
