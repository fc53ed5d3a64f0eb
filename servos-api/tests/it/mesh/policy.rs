//! Mesh policy rules in-process, on both backends: what a rule may name,
//! refusals naming the field, and an audit entry per change.

use serde_json::{json, Value};

use super::{agent_call, audited, enroll, host, servers, token_of, wg_key};
use crate::apps::call;
use crate::both_backends;
use crate::harness::{callers, Backend, TestApp};

async fn policy_rules_are_checked_and_audited(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = &who.admin_token;
    let ids = servers(&svc, admin, 2).await;
    let mut nodes = Vec::new();
    for (n, server) in (1..=2).zip(&ids) {
        let token = token_of(&svc, admin, server).await;
        let (_, enrolled) = enroll(&svc, n, &token, &wg_key()).await;
        nodes.push(enrolled);
    }
    let node = |i: usize| nodes[i]["node_id"].as_str().expect("node").to_owned();
    for (body, field) in [
        (
            json!({"source": {"kind": "any"}, "destination": {"kind": "any"}, "protocol": "sctp"}),
            "protocol",
        ),
        (
            json!({"source": {"kind": "any"}, "destination": {"kind": "any"}, "protocol": "icmp", "ports": [1, 2]}),
            "ports",
        ),
        (
            json!({"source": {"kind": "any"}, "destination": {"kind": "any"}, "protocol": "tcp", "ports": [9, 8]}),
            "ports",
        ),
        (
            json!({"source": {"kind": "node", "id": "nope"}, "destination": {"kind": "any"}, "protocol": "tcp"}),
            "source",
        ),
    ] {
        let (status, refused) = call(&svc, "POST", "/api/v1/mesh/policies", admin, body).await;
        assert_eq!(
            (status, refused["field"].as_str()),
            (400, Some(field)),
            "{refused}"
        );
    }
    let body = json!({"source": {"kind": "node", "id": node(0)}, "destination": {"kind": "node", "id": node(1)},
        "protocol": "tcp", "ports": [8080, 8080]});
    let (status, _) = call(
        &svc,
        "POST",
        "/api/v1/mesh/policies",
        &who.deployer_token,
        body.clone(),
    )
    .await;
    assert_eq!(status, 403, "only admins change the policy");
    let (status, rule) = call(&svc, "POST", "/api/v1/mesh/policies", admin, body).await;
    assert_eq!(status, 201, "{rule}");
    let agent = nodes[0]["agent_token"].as_str().expect("token").to_owned();
    let (_, config) = agent_call(
        &svc,
        "GET",
        "/api/v1/agent/config",
        &agent,
        host(1),
        Value::Null,
    )
    .await;
    let identity = |i: usize| {
        config["identities"]
            .as_array()
            .expect("identities")
            .iter()
            .find(|id| id["ref_id"] == node(i).as_str())
            .expect("identity")["id"]
            .clone()
    };
    assert_eq!(
        config["policy"]["rules"],
        json!([{"id": rule["id"], "src": identity(0), "dst": identity(1), "protocol": "tcp", "ports": [8080, 8080]}])
    );
    let (status, _) = call(
        &svc,
        "DELETE",
        &format!("/api/v1/mesh/policies/{}", rule["id"]),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (_, config) = agent_call(
        &svc,
        "GET",
        "/api/v1/agent/config",
        &agent,
        host(1),
        Value::Null,
    )
    .await;
    assert_eq!(
        config["policy"]["rules"],
        json!([]),
        "removing the last rule leaves only the default"
    );
    assert_eq!(audited(&svc, admin, "mesh_rule.created").await, 1);
    assert_eq!(audited(&svc, admin, "mesh_rule.deleted").await, 1);
}

both_backends!(policy_rules_are_checked_and_audited,);
