//! Links from the answer of an operation that makes a resource to what can
//! be done with it, so that a client (or a stateful test) can follow the
//! new id: it fills the `{id}` of every operation under the resource's
//! path, and the other places that name such a resource (the `ssh_key_id`
//! of a new server, the `server_ids` of a new application, the `{id}` of
//! `/api/v1/mesh/apps/{id}` and of `/hooks/{id}`).
//!
//! A resource's path is the one whose `GET .../{id}` answers its schema (a
//! deployment made by `POST /api/v1/apps/{id}/deploy` is read at
//! `/api/v1/deployments/{id}`), or else the collection it was posted to.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::Method;
use serde_json::{json, Value};
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, RefOr, Schema};
use utoipa::Modify;

/// Where else a resource's id goes than the operations under its path.
enum Slot {
    /// A request field of that name (an array of ids when the field is one).
    Field(&'static str),
    /// The `{id}` of the operations on this path.
    Path(&'static str),
}

/// The places that name a resource, with the collection whose `POST` makes it.
const REFERENCES: [(Slot, &str); 5] = [
    (Slot::Field("ssh_key_id"), "/api/v1/ssh-keys"),
    (Slot::Field("registry_id"), "/api/v1/registries"),
    (Slot::Field("server_ids"), "/api/v1/servers"),
    (Slot::Path("/api/v1/mesh/apps/{id}"), "/api/v1/apps"),
    (Slot::Path("/hooks/{id}"), "/api/v1/apps"),
];

/// Answers that make a resource.
const CREATED: [&str; 2] = ["201", "202"];

/// Where the new resource's id is in the answer.
const NEW_ID: &str = "$response.body#/id";

/// Adds the links to the answers of the operations that make resources.
pub struct ResourceLinks;

impl Modify for ResourceLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let schemas = doc
            .components
            .as_ref()
            .map(|components| components.schemas.clone())
            .unwrap_or_default();
        let operations: Vec<Facts> = super::operations_mut(doc)
            .map(|(method, path, operation)| Facts::of(method, path, operation, &schemas))
            .collect();
        let mut planned = links(&operations);
        for (method, path, operation) in super::operations_mut(doc) {
            for (status, response) in &mut operation.responses.responses {
                let (RefOr::T(response), Some(links)) = (
                    response,
                    planned.remove(&(method.clone(), path.to_owned(), status.clone())),
                ) else {
                    continue;
                };
                response.links.extend(links);
            }
        }
    }
}

/// What links are made of, read from one operation.
struct Facts {
    method: Method,
    path: String,
    operation_id: String,
    /// Whether a parameter is in the path.
    path_parameter: bool,
    /// Each answer's status, the name of its schema and whether that has an `id`.
    answers: Vec<Answer>,
    /// The request body's fields, each with whether it is an array.
    body_fields: BTreeMap<String, bool>,
}

/// An answer whose body is a component schema.
struct Answer {
    status: String,
    schema: String,
    has_id: bool,
}

impl Facts {
    fn of(
        method: Method,
        path: &str,
        operation: &Operation,
        schemas: &BTreeMap<String, RefOr<Schema>>,
    ) -> Self {
        let answers = operation
            .responses
            .responses
            .iter()
            .filter_map(|(status, response)| {
                let RefOr::T(response) = response else {
                    return None;
                };
                let schema = schema_name(response.content.get("application/json")?)?;
                Some(Answer {
                    status: status.clone(),
                    schema: schema.to_owned(),
                    has_id: fields(schemas, schema).contains_key("id"),
                })
            })
            .collect();
        let body_fields = operation
            .request_body
            .as_ref()
            .and_then(|body| body.content.get("application/json"))
            .and_then(schema_name)
            .map(|name| fields(schemas, name))
            .unwrap_or_default();
        Self {
            method,
            path: path.to_owned(),
            operation_id: operation.operation_id.clone().unwrap_or_default(),
            path_parameter: operation
                .parameters
                .iter()
                .flatten()
                .any(|parameter| parameter.parameter_in == ParameterIn::Path),
            answers,
            body_fields,
        }
    }

    /// The answer of `status`, when its body is a component schema.
    fn answer(&self, status: &str) -> Option<&Answer> {
        self.answers.iter().find(|answer| answer.status == status)
    }
}

/// The links of each answer, by method, path and status.
type Planned = HashMap<(Method, String, String), BTreeMap<String, RefOr<Link>>>;

fn links(operations: &[Facts]) -> Planned {
    // Where each resource is read: the `GET .../{id}` answering its schema.
    let read_at: HashMap<&str, &str> = operations
        .iter()
        .filter(|op| op.method == Method::GET && op.path.ends_with("/{id}"))
        .filter_map(|op| Some((op.answer("200")?.schema.as_str(), op.path.as_str())))
        .collect();
    let mut planned = Planned::new();
    for source in operations {
        for answer in CREATED.iter().filter_map(|status| source.answer(status)) {
            if !answer.has_id {
                continue;
            }
            let item = match read_at.get(answer.schema.as_str()) {
                Some(path) => (*path).to_owned(),
                None if source.method == Method::POST && !source.path_parameter => {
                    format!("{}/{{id}}", source.path)
                }
                None => continue,
            };
            let below = format!("{item}/");
            for target in operations
                .iter()
                .filter(|op| op.path == item || op.path.starts_with(&below))
            {
                let link = LinkBuilder::new()
                    .operation_id(&target.operation_id)
                    .parameter("id", NEW_ID)
                    .build();
                add(
                    &mut planned,
                    source,
                    &answer.status,
                    &target.operation_id,
                    link,
                );
            }
        }
    }
    for (slot, collection) in REFERENCES {
        let Some(source) = operations
            .iter()
            .find(|op| op.method == Method::POST && op.path == collection)
        else {
            continue;
        };
        for target in operations {
            let link = match slot {
                Slot::Path(path) if target.path == path => {
                    LinkBuilder::new().parameter("id", NEW_ID)
                }
                Slot::Field(field) if !target.path_parameter => {
                    let Some(&array) = target.body_fields.get(field) else {
                        continue;
                    };
                    let value: Value = if array {
                        json!([NEW_ID])
                    } else {
                        json!(NEW_ID)
                    };
                    LinkBuilder::new().request_body(Some(json!({ field: value })))
                }
                _ => continue,
            };
            let link = link.operation_id(&target.operation_id).build();
            add(&mut planned, source, "201", &target.operation_id, link);
        }
    }
    planned
}

fn add(planned: &mut Planned, source: &Facts, status: &str, name: &str, link: Link) {
    planned
        .entry((
            source.method.clone(),
            source.path.clone(),
            status.to_owned(),
        ))
        .or_default()
        .insert(name.to_owned(), RefOr::T(link));
}

/// The name of the component schema a content refers to.
fn schema_name(content: &Content) -> Option<&str> {
    match content.schema.as_ref()? {
        RefOr::Ref(reference) => reference.ref_location.strip_prefix("#/components/schemas/"),
        RefOr::T(_) => None,
    }
}

/// The fields of component schema `name`, each with whether it is an array.
fn fields(schemas: &BTreeMap<String, RefOr<Schema>>, name: &str) -> BTreeMap<String, bool> {
    let Some(RefOr::T(Schema::Object(object))) = schemas.get(name) else {
        return BTreeMap::new();
    };
    object
        .properties
        .iter()
        .map(|(field, schema)| {
            let array = matches!(schema, RefOr::T(Schema::Array(_)));
            (field.clone(), array)
        })
        .collect()
}
