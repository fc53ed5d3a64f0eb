//! The OpenAPI document as a contract: every operation documents the errors
//! its tier and shape make possible, each with the `ErrorBody`; operations
//! have unique ids; links name real operations and parameters, and lead
//! from what makes a resource to the operations on it.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use servos_api::http::routes::{self, Surface, Tier};

fn document() -> Value {
    servos_api::http::openapi::json().expect("json")
}

/// One operation of the document.
struct Operation<'a> {
    method: String,
    path: &'a str,
    body: &'a Value,
}

impl Operation<'_> {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn statuses(&self) -> BTreeSet<&str> {
        self.body["responses"]
            .as_object()
            .map(|responses| responses.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn parameters(&self, place: &str) -> Vec<&str> {
        self.body["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|parameter| parameter["in"] == place)
            .filter_map(|parameter| parameter["name"].as_str())
            .collect()
    }

    fn id(&self) -> &str {
        self.body["operationId"].as_str().unwrap_or_default()
    }
}

fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, body) in item.as_object().expect("path item") {
            all.push(Operation {
                method: method.to_uppercase(),
                path,
                body,
            });
        }
    }
    all
}

fn tiers() -> HashMap<String, Tier> {
    routes::table()
        .into_iter()
        .filter(|spec| spec.surface == Surface::Api)
        .map(|spec| (format!("{} {}", spec.method, spec.path), spec.tier))
        .collect()
}

#[test]
fn every_operation_documents_the_errors_of_its_tier_and_shape() {
    let doc = document();
    let tiers = tiers();
    for operation in operations(&doc) {
        let label = operation.label();
        let tier = tiers[&label];
        let statuses = operation.statuses();
        let probe = servos_api::http::handlers::health::PROBES.contains(&operation.path);
        let mut expected = if probe { vec![] } else { vec!["429"] };
        if matches!(
            tier,
            Tier::Viewer | Tier::Deployer | Tier::Admin | Tier::Agent
        ) {
            expected.push("401");
        }
        if matches!(tier, Tier::Deployer | Tier::Admin) || operation.method != "GET" {
            expected.push("403");
        }
        if operation.body.get("requestBody").is_some() {
            expected.extend(["400", "408", "413"]);
        }
        if !operation.parameters("query").is_empty() {
            expected.push("400");
        }
        if !operation.parameters("path").is_empty() {
            expected.push("404");
        }
        if tier == Tier::Agent {
            expected.push("409");
        }
        let changes = operation.method != "GET";
        let database = match tier {
            Tier::Public => changes,
            Tier::Blocked => false,
            _ => true,
        };
        if database {
            expected.push("503");
            if changes {
                expected.push("507");
            }
        }
        for status in expected {
            assert!(
                statuses.contains(status),
                "{label} does not document {status}"
            );
        }
        if operation.method == "GET" && matches!(tier, Tier::Public | Tier::Viewer) {
            assert!(
                !statuses.contains("403"),
                "{label} documents a 403 no role or origin can cause"
            );
        }
        if operation.method == "GET" && tier == Tier::Public {
            assert!(!statuses.contains("401"), "{label} needs no credentials");
        }
        if probe {
            assert!(
                !statuses.contains("429"),
                "{label} is a health probe, never refused by a per-IP limit"
            );
        }
    }
}

#[test]
fn every_error_answers_the_error_body() {
    let doc = document();
    for operation in operations(&doc) {
        for (status, response) in operation.body["responses"].as_object().expect("responses") {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{} {status}",
                operation.label()
            );
        }
    }
}

/// Every `$ref` under `value`.
fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                match (key.as_str(), inner.as_str()) {
                    ("$ref", Some(reference)) => found.push(reference),
                    _ => references(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{reference} is not a component schema"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{reference} names no schema"
        );
    }
}

#[test]
fn operation_ids_are_unique_and_links_name_real_operations() {
    let doc = document();
    let all = operations(&doc);
    let by_id: HashMap<&str, &Operation> = all.iter().map(|op| (op.id(), op)).collect();
    assert_eq!(by_id.len(), all.len(), "operation ids are unique");
    assert!(!by_id.contains_key(""), "every operation has an id");
    for operation in &all {
        for (status, response) in operation.body["responses"].as_object().expect("responses") {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let at = format!("{} {status} link {name}", operation.label());
                let target_id = link["operationId"].as_str().expect("operationId");
                let target = by_id
                    .get(target_id)
                    .unwrap_or_else(|| panic!("{at}: no operation {target_id}"));
                for parameter in link["parameters"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|p| p.0)
                {
                    assert!(
                        target.parameters("path").contains(&parameter.as_str()),
                        "{at}: {target_id} has no path parameter {parameter}"
                    );
                }
                let fields = link["requestBody"].as_object().into_iter().flatten();
                for (field, _) in fields {
                    let schema = target.body["requestBody"]["content"]["application/json"]
                        ["schema"]["$ref"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .unwrap_or_else(|| panic!("{at}: {target_id} takes no body"));
                    assert!(
                        doc["components"]["schemas"][schema]["properties"]
                            .get(field)
                            .is_some(),
                        "{at}: {schema} has no field {field}"
                    );
                }
            }
        }
    }
}

/// The operation ids `label`'s answer `status` links to.
fn linked(doc: &Value, label: &str, status: &str) -> BTreeSet<String> {
    let (method, path) = label.split_once(' ').expect("label");
    doc["paths"][path][method.to_lowercase()]["responses"][status]["links"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, link)| link["operationId"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn what_makes_a_resource_links_to_the_operations_on_it() {
    let doc = document();
    let expect = |label: &str, status: &str, ids: &[&str]| {
        let links = linked(&doc, label, status);
        for id in ids {
            assert!(links.contains(*id), "{label} {status} does not link {id}");
        }
    };
    expect(
        "POST /api/v1/apps",
        "201",
        &[
            "apps.show",
            "apps.update",
            "apps.delete",
            "apps.change_env",
            "deployments.deploy",
            "mesh.join_app",
        ],
    );
    expect(
        "POST /api/v1/apps/{id}/deploy",
        "202",
        &[
            "deployments.show",
            "deployments.cancel",
            "deployments.events",
        ],
    );
    expect(
        "POST /api/v1/servers/{id}/agent",
        "202",
        &["agent_installs.show", "agent_installs.events"],
    );
    expect("POST /api/v1/mesh/policies", "201", &["mesh.delete_rule"]);
    expect(
        "POST /api/v1/ssh-keys",
        "201",
        &["ssh_keys.reveal", "servers.create"],
    );
    expect(
        "POST /api/v1/servers",
        "201",
        &["servers.check", "apps.create"],
    );
    expect(
        "POST /api/v1/registries",
        "201",
        &["registries.reveal", "apps.create"],
    );

    // Every operation on an id is reachable from an answer, but for the
    // resources no API call makes: nodes (agents enroll) and API tokens
    // (whose answer nests the new token's id).
    let mut targets = BTreeSet::new();
    for operation in operations(&doc) {
        for response in operation.body["responses"]
            .as_object()
            .expect("responses")
            .values()
        {
            for link in response["links"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|l| l.1)
            {
                targets.insert(link["operationId"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    for operation in operations(&doc) {
        let unlinked = !targets.contains(operation.id());
        let made_elsewhere = operation.path.starts_with("/api/v1/mesh/nodes/")
            || operation.path.starts_with("/api/v1/tokens/");
        if !operation.parameters("path").is_empty() && !made_elsewhere {
            assert!(!unlinked, "nothing links to {}", operation.label());
        }
    }
}

#[test]
fn application_fields_carry_the_rules_the_server_checks() {
    let doc = document();
    for schema in ["NewApp", "AppPatch"] {
        let fields = &doc["components"]["schemas"][schema]["properties"];
        assert!(
            fields["labels"]["propertyNames"]["pattern"].is_string(),
            "{schema}.labels: keys have a pattern"
        );
        assert!(
            fields["health_check"]["allOf"][1]["oneOf"].is_array(),
            "{schema}.health_check: exactly one probe"
        );
        assert!(fields["name"]["pattern"].is_string(), "{schema}.name");
        assert!(fields["git"].is_object(), "{schema}.git");
    }
    let git = &doc["components"]["schemas"]["GitSourceSpec"];
    let fields = &git["properties"];
    for field in ["url", "branch", "dockerfile", "context"] {
        assert!(
            fields[field]["pattern"].is_string(),
            "git.{field}: a pattern"
        );
        assert!(fields[field]["maxLength"].is_u64(), "git.{field}: a length");
    }
    assert_eq!(fields["dockerfile"]["default"], "Dockerfile");
    assert_eq!(fields["context"]["default"], ".");
    assert!(
        fields["build_args"]["propertyNames"]["pattern"].is_string(),
        "git.build_args: names have a pattern"
    );
    assert_eq!(fields["build_args"]["maxProperties"], 100);
    let required: Vec<&str> = git["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["url", "branch", "builder_server_id"]);
    let arg = &doc["components"]["schemas"]["BuildArgSpec"]["properties"];
    assert_eq!(arg["value"]["maxLength"], 4096);
    let shown = &doc["components"]["schemas"]["App"]["properties"];
    assert!(shown["git"].is_object() && shown["image"].is_object());
}
