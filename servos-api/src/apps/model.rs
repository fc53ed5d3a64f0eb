//! An application's settings: as a client sends them (`NewApp`, `AppPatch`),
//! once validated (`AppSpec`), and as stored (`AppRow`), with the
//! conversions between them. An application runs an image (`image`) or is
//! built from git (`git`): a client gives exactly one of the two, and an
//! application built from git has no image until it is built.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer};

use crate::credentials::validate as names;
use crate::error::ServiceError;
use crate::store::apps::AppRow;
use crate::store::build_args::BuildArgRow;
use crate::store::git_sources::GitSourceRow;
use crate::store::ids::{AppId, ServerId};

use super::git::{BuildArgValue, GitSource, GitSourceSpec, GIT_FIELDS};
use super::health::{HealthCheck, HealthCheckSpec};
use super::image::ImageRef;
use super::validate::{self, Invalid, Limits, RestartPolicy};

/// A new application, as a client sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// Unique name among live applications: 1 to 100 printable characters.
    #[schema(
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$",
        max_length = 100
    )]
    pub name: String,
    /// Docker image, `[registry[:port]/]repository[:tag][@sha256:digest]` (this
    /// pattern is the common form; any reference `docker pull` takes, up to 512
    /// bytes, is accepted). Required unless `git` is given; not with `git`.
    #[serde(default)]
    #[schema(
        pattern = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[1-9][0-9]{0,3})?/)?[a-z0-9]+((_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((_|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$",
        max_length = 255
    )]
    pub image: Option<String>,
    /// Git repository to build the image from, instead of `image`.
    #[serde(default)]
    pub git: Option<GitSourceSpec>,
    /// Registry credential to pull with (and, for an application built from
    /// git, to push the built image to).
    #[serde(default)]
    #[schema(format = Uuid)]
    pub registry_id: Option<String>,
    /// Servers to run on, each with the `run` role, at most 100, none twice.
    #[serde(default)]
    #[schema(format = Uuid, max_items = 100)]
    pub server_ids: Vec<String>,
    /// Port the container listens on, 1 to 65535.
    #[schema(minimum = 1, maximum = 65535)]
    pub container_port: i64,
    /// How to tell the container is healthy.
    pub health_check: HealthCheckSpec,
    /// `no`, `always`, `unless-stopped` (default), `on-failure` or `on-failure:N`
    /// (N from 1 to 1000).
    #[serde(default = "default_restart_policy")]
    #[schema(pattern = r"^(no|always|unless-stopped|on-failure(:([1-9][0-9]{0,2}|1000))?)$")]
    pub restart_policy: String,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Container labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Public host name, served with automatic HTTPS: at least two labels of
    /// letters, digits and inner dashes, no IP address (stored in lowercase).
    #[serde(default)]
    #[schema(
        pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
        max_length = 253
    )]
    pub domain: Option<String>,
}

fn default_restart_policy() -> String {
    "unless-stopped".into()
}

/// `Some(value)` for a field that is present, even as `null`; with
/// `#[serde(default)]`, an absent field stays `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A change of an application: each field given replaces the current one;
/// fields left out keep theirs; `null` clears an optional field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct AppPatch {
    /// New name.
    #[serde(default)]
    #[schema(
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$",
        max_length = 100
    )]
    pub name: Option<String>,
    /// New image: the application then runs it and is no longer built from
    /// git. Not with `git`.
    #[serde(default)]
    #[schema(
        pattern = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[1-9][0-9]{0,3})?/)?[a-z0-9]+((_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((_|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$",
        max_length = 255
    )]
    pub image: Option<String>,
    /// New git source, replacing the current one whole (build arguments
    /// included; a secret argument given without a value keeps its value):
    /// the application is then built from git and has no image until built.
    /// Not with `image`.
    #[serde(default)]
    pub git: Option<GitSourceSpec>,
    /// New registry credential, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub registry_id: Option<Option<String>>,
    /// New set of target servers.
    #[serde(default)]
    #[schema(format = Uuid, max_items = 100)]
    pub server_ids: Option<Vec<String>>,
    /// New container port.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535)]
    pub container_port: Option<i64>,
    /// New health check.
    #[serde(default)]
    pub health_check: Option<HealthCheckSpec>,
    /// New restart policy.
    #[serde(default)]
    #[schema(pattern = r"^(no|always|unless-stopped|on-failure(:([1-9][0-9]{0,2}|1000))?)$")]
    pub restart_policy: Option<String>,
    /// New limits, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Limits>)]
    pub limits: Option<Option<Limits>>,
    /// New labels (replacing all).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// New domain, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        value_type = Option<String>,
        pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
        max_length = 253
    )]
    pub domain: Option<Option<String>>,
}

/// An application's validated settings.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// Unique name among live applications.
    pub name: String,
    /// Docker image: `None` for an application built from git not built yet.
    pub image: Option<ImageRef>,
    /// Where the image is built from, for an application built from git.
    pub git: Option<GitSource>,
    /// Registry credential to pull with.
    pub registry_id: Option<String>,
    /// Target servers.
    pub server_ids: Vec<ServerId>,
    /// Port the container listens on.
    pub container_port: u16,
    /// Health check.
    pub health_check: HealthCheck,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// Resource limits.
    pub limits: Limits,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Public host name.
    pub domain: Option<String>,
}

/// An application as the API and the deploy code see it.
#[derive(Debug, Clone)]
pub struct App {
    /// Id.
    pub id: AppId,
    /// Settings.
    pub spec: AppSpec,
    /// The environment version a deploy uses now (0 before the first change).
    pub env_version: i64,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// Every field of an application, as a change names them.
pub const ALL_FIELDS: [&str; 11] = [
    "name",
    "image",
    "git",
    "registry_id",
    "server_ids",
    "container_port",
    "health_check",
    "restart_policy",
    "limits",
    "labels",
    "domain",
];

fn optional_id(field: &'static str, raw: Option<String>) -> Result<Option<String>, Invalid> {
    raw.map(|id| validate::id(field, &id)).transpose()
}

fn optional_domain(raw: Option<String>) -> Result<Option<String>, Invalid> {
    raw.map(|d| validate::domain(&d)).transpose()
}

/// An image or a git source, at most one of them.
type Source = (Option<ImageRef>, Option<GitSource>);

/// Validates the source a client gives: at most one of `image` and `git`.
fn source(image: Option<String>, git: Option<GitSourceSpec>) -> Result<Source, Invalid> {
    if image.is_some() && git.is_some() {
        return Err(Invalid::new("git", "give either image or git, not both"));
    }
    Ok((
        image.map(|i| validate::image(&i)).transpose()?,
        git.map(GitSource::from_spec).transpose()?,
    ))
}

/// `fields` with `git` spelled out as the git source's fields that
/// changed from `old`, for an audit entry.
fn spell_git(
    fields: Vec<&'static str>,
    new: Option<&GitSource>,
    old: Option<&GitSource>,
) -> Vec<&'static str> {
    fields
        .into_iter()
        .flat_map(|field| match (field, new) {
            ("git", Some(git)) => git.changed_fields(old),
            ("git", None) => Vec::new(),
            (field, _) => vec![field],
        })
        .collect()
}

impl AppSpec {
    /// Validates a new application's fields (references are checked later,
    /// inside the transaction that stores it).
    pub fn from_new(new: NewApp) -> Result<Self, ServiceError> {
        let name = names::name(&new.name)?;
        let (image, git) = source(new.image, new.git)?;
        if image.is_none() && git.is_none() {
            return Err(Invalid::new("image", "give an image, or git to build one from").into());
        }
        Ok(Self {
            name,
            image,
            git,
            registry_id: optional_id("registry_id", new.registry_id)?,
            server_ids: validate::server_ids(&new.server_ids)?,
            container_port: validate::container_port(new.container_port)?,
            health_check: new.health_check.validate()?,
            restart_policy: new.restart_policy.parse()?,
            limits: validate::limits(new.limits)?,
            labels: validate::labels(new.labels)?,
            domain: optional_domain(new.domain)?,
        })
    }

    /// The fields an audit entry of this new application names.
    pub fn created_fields(&self) -> Vec<&'static str> {
        let fields = ALL_FIELDS
            .into_iter()
            .filter(|field| *field != "image" || self.image.is_some())
            .collect();
        spell_git(fields, self.git.as_ref(), None)
    }

    /// The stored form, for row `id` owning environment set `env_set_id`.
    pub fn to_row(
        &self,
        id: &AppId,
        env_set_id: &str,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    ) -> Result<AppRow, ServiceError> {
        let health_check = serde_json::to_string(&HealthCheckSpec::from(&self.health_check))
            .map_err(ServiceError::internal)?;
        let labels = serde_json::to_string(&self.labels).map_err(ServiceError::internal)?;
        let milli_cpus = self
            .limits
            .milli_cpus
            .map(i32::try_from)
            .transpose()
            .map_err(ServiceError::internal)?;
        Ok(AppRow {
            id: id.clone(),
            name: self.name.clone(),
            image: self
                .image
                .as_ref()
                .map_or_else(String::new, |image| image.as_str().to_owned()),
            registry_id: self.registry_id.clone(),
            env_set_id: env_set_id.to_owned(),
            container_port: i32::from(self.container_port),
            health_check,
            restart_policy: self.restart_policy.to_string(),
            memory_bytes: self.limits.memory_bytes,
            milli_cpus,
            labels,
            domain: self.domain.clone(),
            created_at,
            updated_at,
            deleted_at: None,
        })
    }

    /// The stored form of the git source of application `id`, if any.
    pub fn git_row(&self, id: &AppId) -> Option<GitSourceRow> {
        self.git.as_ref().map(|git| GitSourceRow {
            app_id: id.clone(),
            url: git.url.clone(),
            branch: git.branch.clone(),
            dockerfile: git.dockerfile.clone(),
            context: git.context.clone(),
            builder_server_id: git.builder_server_id.to_string(),
            git_credential_id: git.git_credential_id.clone(),
        })
    }

    /// Reads a stored row back, with its git source and build arguments; a
    /// row that no longer validates is damaged.
    pub fn from_row(
        row: &AppRow,
        server_ids: Vec<ServerId>,
        git: Option<&GitSourceRow>,
        build_args: &[BuildArgRow],
    ) -> Result<Self, ServiceError> {
        let damaged = |field: &str| {
            ServiceError::internal(format_args!("application {} has a damaged {field}", row.id))
        };
        let health: HealthCheckSpec =
            serde_json::from_str(&row.health_check).map_err(|_| damaged("health_check"))?;
        if row.image.is_empty() && git.is_none() {
            return Err(damaged("image"));
        }
        Ok(Self {
            name: row.name.clone(),
            image: (!row.image.is_empty())
                .then(|| ImageRef::parse(&row.image))
                .transpose()
                .map_err(|_| damaged("image"))?,
            git: git.map(|git| git_of_row(git, build_args)),
            registry_id: row.registry_id.clone(),
            server_ids,
            container_port: u16::try_from(row.container_port)
                .map_err(|_| damaged("container_port"))?,
            health_check: health.validate().map_err(|_| damaged("health_check"))?,
            restart_policy: row
                .restart_policy
                .parse()
                .map_err(|_| damaged("restart_policy"))?,
            limits: Limits {
                memory_bytes: row.memory_bytes,
                milli_cpus: row.milli_cpus.map(i64::from),
            },
            labels: serde_json::from_str(&row.labels).map_err(|_| damaged("labels"))?,
            domain: row.domain.clone(),
        })
    }
}

/// The git source of a stored row, with the build arguments of its
/// application among `build_args`.
fn git_of_row(row: &GitSourceRow, build_args: &[BuildArgRow]) -> GitSource {
    let build_args = build_args
        .iter()
        .filter(|arg| arg.app_id == row.app_id)
        .map(|arg| {
            let value = arg
                .value
                .clone()
                .map_or(BuildArgValue::KeptSecret, BuildArgValue::Clear);
            (arg.name.clone(), value)
        })
        .collect();
    GitSource {
        url: row.url.clone(),
        branch: row.branch.clone(),
        dockerfile: row.dockerfile.clone(),
        context: row.context.clone(),
        build_args,
        builder_server_id: ServerId::from(row.builder_server_id.clone()),
        git_credential_id: row.git_credential_id.clone(),
    }
}

/// A validated change: each field given replaces the current one.
#[derive(Debug, Default)]
pub struct SpecChange {
    name: Option<String>,
    image: Option<ImageRef>,
    git: Option<GitSource>,
    registry_id: Option<Option<String>>,
    server_ids: Option<Vec<ServerId>>,
    container_port: Option<u16>,
    health_check: Option<HealthCheck>,
    restart_policy: Option<RestartPolicy>,
    limits: Option<Limits>,
    labels: Option<BTreeMap<String, String>>,
    domain: Option<Option<String>>,
}

impl SpecChange {
    /// Validates the fields a patch gives.
    pub fn from_patch(patch: AppPatch) -> Result<Self, ServiceError> {
        let name = patch.name.map(|n| names::name(&n)).transpose()?;
        let (image, git) = source(patch.image, patch.git)?;
        Ok(Self {
            name,
            image,
            git,
            registry_id: patch
                .registry_id
                .map(|id| optional_id("registry_id", id))
                .transpose()?,
            server_ids: patch
                .server_ids
                .map(|ids| validate::server_ids(&ids))
                .transpose()?,
            container_port: patch
                .container_port
                .map(validate::container_port)
                .transpose()?,
            health_check: patch.health_check.map(|h| h.validate()).transpose()?,
            restart_policy: patch.restart_policy.map(|p| p.parse()).transpose()?,
            limits: patch
                .limits
                .map(|l| validate::limits(l.unwrap_or_default()))
                .transpose()?,
            labels: patch.labels.map(validate::labels).transpose()?,
            domain: patch.domain.map(optional_domain).transpose()?,
        })
    }

    /// The names of the fields this change sets, in [`ALL_FIELDS`] order.
    pub fn fields(&self) -> Vec<&'static str> {
        let given = [
            self.name.is_some(),
            self.image.is_some(),
            self.git.is_some(),
            self.registry_id.is_some(),
            self.server_ids.is_some(),
            self.container_port.is_some(),
            self.health_check.is_some(),
            self.restart_policy.is_some(),
            self.limits.is_some(),
            self.labels.is_some(),
            self.domain.is_some(),
        ];
        ALL_FIELDS
            .into_iter()
            .zip(given)
            .filter_map(|(field, given)| given.then_some(field))
            .collect()
    }

    /// The fields an audit entry of this change names, for an application
    /// whose settings were `current`: the git source's fields that change,
    /// and the source it leaves.
    pub fn audited_fields(&self, current: &AppSpec) -> Vec<&'static str> {
        let mut fields = spell_git(self.fields(), self.git.as_ref(), current.git.as_ref());
        if self.git.is_some() && current.image.is_some() && !fields.contains(&"image") {
            fields.push("image");
        }
        if self.image.is_some() && current.git.is_some() {
            fields.extend(GIT_FIELDS);
        }
        fields
    }

    /// The new git source, when this change sets one.
    pub fn git(&self) -> Option<&GitSource> {
        self.git.as_ref()
    }

    /// The new registry credential, when this change sets one.
    pub fn registry_id(&self) -> Option<&Option<String>> {
        self.registry_id.as_ref()
    }

    /// The new target servers, when this change sets them.
    pub fn server_ids(&self) -> Option<&[ServerId]> {
        self.server_ids.as_deref()
    }

    /// `spec` with this change applied.
    pub fn apply(self, mut spec: AppSpec) -> AppSpec {
        fn put<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        put(&mut spec.name, self.name);
        if let Some(image) = self.image {
            spec.image = Some(image);
            spec.git = None;
        }
        if let Some(git) = self.git {
            spec.git = Some(git);
            spec.image = None;
        }
        put(&mut spec.registry_id, self.registry_id);
        put(&mut spec.server_ids, self.server_ids);
        put(&mut spec.container_port, self.container_port);
        put(&mut spec.health_check, self.health_check);
        put(&mut spec.restart_policy, self.restart_policy);
        put(&mut spec.limits, self.limits);
        put(&mut spec.labels, self.labels);
        put(&mut spec.domain, self.domain);
        spec
    }
}
