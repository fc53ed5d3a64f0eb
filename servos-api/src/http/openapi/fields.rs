//! Schemas of request fields that several request types share (names,
//! emails, new passwords, environment variables) or that `#[schema(...)]`
//! attributes cannot spell (maps whose keys and values follow different
//! rules, a health check's one probe). Each mirrors the check the server
//! makes, or is stricter. The HTTP types name them in `schema_with`; the
//! services' types, which do not import the HTTP surface, get theirs set on
//! the document by [`ServiceFields`].

use utoipa::openapi::schema::{
    AllOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type,
};
use utoipa::openapi::{Object, Ref, RefOr, Schema};
use utoipa::{Modify, PartialSchema as _};

use servos_common::env_file::MAX_NAME_LEN;

use crate::accounts::validate::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::apps::git::MAX_BUILD_ARGS;

/// A resource name (`credentials::validate::name`): printable characters,
/// the first and last not blank either, as the server trims them. (The
/// application types of `apps/` spell it in their attributes.)
const NAME: &str = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$";
/// An email (`accounts::validate::email`), here in printable ASCII: one
/// `@` between two non-empty parts, no space.
const EMAIL: &str = "^[!-?A-~]+@[!-?A-~]+$";
/// A variable name (`env_file::validate_name`): a letter or `_`, then
/// letters, digits and `_`.
const ENV_NAME: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// A variable value (`env_file::validate_value`): one env-file line, read
/// back unchanged: no control character but tab, no line separator, and
/// not wrapped in a pair of the same quotes.
const ENV_VALUE: &str = concat!(
    r#"^([^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]?"#,
    r#"|[^"'\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]*"#,
    r#"|"[^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]*[^"\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]"#,
    r#"|'[^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]*[^'\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029])$"#,
);
/// Most variables of one environment.
const MAX_VARS: usize = 500;
/// A container label's key (`apps::validate::labels`): letters, digits,
/// `.`, `-`, `_` and `/`, starting and ending with a letter or digit.
const LABEL_KEY: &str = "^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$";
/// A container label's value: no control character.
const LABEL_VALUE: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// A resource's name.
pub fn name() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(NAME))
        .max_length(Some(100))
        .description(Some(
            "Name: 1 to 100 printable characters, unique among its kind (surrounding blanks \
             are trimmed).",
        ))
        .build()
}

/// An account's email.
pub fn email() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(EMAIL))
        .min_length(Some(3))
        .max_length(Some(254))
        .description(Some("Email, e.g. `ops@example.com`; stored in lowercase."))
        .build()
}

/// A new password (`accounts::validate::new_password`).
pub fn new_password() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_BYTES))
        .description(Some(
            "New password: 12 characters or more, at most 1024 bytes (stored as an argon2id \
             hash).",
        ))
        .build()
}

fn env_name_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ENV_NAME))
        .max_length(Some(MAX_NAME_LEN))
}

/// A variable's name.
pub fn env_name() -> impl Into<RefOr<Schema>> {
    env_name_schema().description(Some("Variable name, e.g. `DATABASE_URL`."))
}

/// Names of variables.
pub fn env_names() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(env_name_schema())
        .max_items(Some(MAX_VARS))
        .description(Some("Names of variables."))
}

/// A variable's value, or `null` to keep the current one.
pub fn env_value_or_null() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(ENV_VALUE))
        .description(Some(
            "New value (required for a new variable; stored encrypted, never returned): \
             one line, no control character but tab, not wrapped in quotes.",
        ))
}

/// Variables by name: name → value (stored encrypted, never returned).
pub fn env_vars() -> impl Into<RefOr<Schema>> {
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ENV_VALUE));
    variables(value.into()).description(Some(
        "Variables: name → value (stored encrypted, never returned). A value is one line, \
         with no control character but tab, not wrapped in quotes.",
    ))
}

/// Edits of variables by name.
pub fn env_edits() -> impl Into<RefOr<Schema>> {
    variables(crate::http::handlers::apps::VarEditBody::schema())
        .description(Some("Variables to add or edit, by name."))
}

fn variables(value: RefOr<Schema>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(env_name_schema()))
        .additional_properties(Some(value))
        .max_properties(Some(MAX_VARS))
}

/// A field of a component schema and what spells its schema.
type FieldSchema = (&'static str, &'static str, fn() -> Schema);

/// Fields of the services' request types set on the document: the schema,
/// the field and the field's schema.
const SERVICE_FIELDS: [FieldSchema; 5] = [
    ("NewApp", "health_check", health_check),
    ("NewApp", "labels", labels),
    ("AppPatch", "health_check", health_check),
    ("AppPatch", "labels", labels),
    ("GitSourceSpec", "build_args", build_args),
];

/// Sets the fields of [`SERVICE_FIELDS`] on the document.
pub struct ServiceFields;

impl Modify for ServiceFields {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for (schema, field, spell) in SERVICE_FIELDS {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) {
                if let Some(property) = object.properties.get_mut(field) {
                    *property = spell().into();
                }
            }
        }
    }
}

/// A health check as a request gives it: with exactly one of `http` and
/// `command`.
fn health_check() -> Schema {
    let one_probe = OneOfBuilder::new()
        .item(ObjectBuilder::new().required("http"))
        .item(ObjectBuilder::new().required("command"));
    let spec = AllOfBuilder::new()
        .item(Ref::from_schema_name("HealthCheckSpec"))
        .item(one_probe)
        .description(Some(
            "How to tell the container is healthy: exactly one of `http` and `command`.",
        ));
    Schema::AllOf(spec.build())
}

/// Build arguments: name → value and whether it is secret.
fn build_args() -> Schema {
    let args = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ENV_NAME))
                .max_length(Some(MAX_NAME_LEN)),
        ))
        .additional_properties(Some(Ref::from_schema_name("BuildArgSpec")))
        .max_properties(Some(MAX_BUILD_ARGS))
        .description(Some(
            "Build arguments by name (at most 100; names like environment variables). A \
             secret argument's value is stored encrypted and never returned; given without \
             a value, a secret argument the application has keeps its value.",
        ));
    Schema::Object(args.build())
}

/// Container labels: key → value.
fn labels() -> Schema {
    let labels = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(LABEL_KEY))
                .max_length(Some(128)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(LABEL_VALUE))
                .max_length(Some(1024)),
        ))
        .max_properties(Some(64))
        .description(Some(
            "Container labels: at most 64; keys of 1 to 128 letters, digits, `.`, `-`, `_` \
             or `/`, starting and ending with a letter or digit, not starting with `servos.` \
             (ServOS's own); values of at most 1024 bytes without control characters.",
        ));
    Schema::Object(labels.build())
}
