//! An application's settings: as a client sends them (`NewApp`, `AppPatch`),
//! once validated (`AppSpec`), and as stored (`AppRow`), with the
//! conversions between them.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer};

use crate::credentials::validate as names;
use crate::error::ServiceError;
use crate::store::apps::AppRow;
use crate::store::ids::{AppId, ServerId};

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
    /// bytes, is accepted).
    #[schema(
        pattern = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[1-9][0-9]{0,3})?/)?[a-z0-9]+((_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((_|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$",
        max_length = 255
    )]
    pub image: String,
    /// Registry credential to pull with.
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
    /// New image.
    #[serde(default)]
    #[schema(
        pattern = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[1-9][0-9]{0,3})?/)?[a-z0-9]+((_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((_|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$",
        max_length = 255
    )]
    pub image: Option<String>,
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
    /// Docker image.
    pub image: ImageRef,
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

/// Every field of an application, as audited on creation.
pub const ALL_FIELDS: [&str; 10] = [
    "name",
    "image",
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

impl AppSpec {
    /// Validates a new application's fields (references are checked later,
    /// inside the transaction that stores it).
    pub fn from_new(new: NewApp) -> Result<Self, ServiceError> {
        Ok(Self {
            name: names::name(&new.name)?,
            image: validate::image(&new.image)?,
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
            image: self.image.as_str().to_owned(),
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

    /// Reads a stored row back; a row that no longer validates is damaged.
    pub fn from_row(row: &AppRow, server_ids: Vec<ServerId>) -> Result<Self, ServiceError> {
        let damaged = |field: &str| {
            ServiceError::internal(format_args!("application {} has a damaged {field}", row.id))
        };
        let health: HealthCheckSpec =
            serde_json::from_str(&row.health_check).map_err(|_| damaged("health_check"))?;
        Ok(Self {
            name: row.name.clone(),
            image: ImageRef::parse(&row.image).map_err(|_| damaged("image"))?,
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

/// A validated change: each field given replaces the current one.
#[derive(Debug, Default)]
pub struct SpecChange {
    name: Option<String>,
    image: Option<ImageRef>,
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
        Ok(Self {
            name: patch.name.map(|n| names::name(&n)).transpose()?,
            image: patch.image.map(|i| validate::image(&i)).transpose()?,
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
        put(&mut spec.image, self.image);
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
