//! Applications joining and leaving the mesh in-process, on both
//! backends: blocks of addresses, identities, and a deleted application's
//! block given to the next.

use serde_json::{json, Value};

use super::{agent_call, audited, enroll, host, servers, token_of, wg_key};
use crate::apps::call;
use crate::both_backends;
use crate::harness::{callers, Backend, TestApp};

async fn applications_join_and_leave_the_mesh(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = &who.admin_token;
    let ids = servers(&svc, admin, 1).await;
    let token = token_of(&svc, admin, &ids[0]).await;
    let (status, enrolled) = enroll(&svc, 1, &token, &wg_key()).await;
    assert_eq!(status, 201, "{enrolled}");
    let agent_token = enrolled["agent_token"].as_str().expect("token").to_owned();
    let config = || async {
        let (status, config) = agent_call(
            &svc,
            "GET",
            "/api/v1/agent/config",
            &agent_token,
            host(1),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{config}");
        config
    };
    let app_identities = |config: &Value| -> Vec<(String, Value)> {
        config["identities"]
            .as_array()
            .expect("identities")
            .iter()
            .filter(|i| i["kind"] == "app")
            .map(|i| {
                (
                    i["name"].as_str().unwrap_or_default().to_owned(),
                    i["prefixes"].clone(),
                )
            })
            .collect()
    };
    let mut apps = Vec::new();
    for name in ["web", "db"] {
        let body = crate::deploy_lab::web_app(name, "busybox:1", &ids);
        let (status, made) = call(&svc, "POST", "/api/v1/apps", admin, body).await;
        assert_eq!(status, 201, "{made}");
        apps.push(made["id"].as_str().expect("id").to_owned());
    }
    let join = |id: &str, token: &str| {
        let (uri, token) = (format!("/api/v1/mesh/apps/{id}"), token.to_owned());
        let svc = &svc;
        async move { call(svc, "PUT", &uri, &token, Value::Null).await }
    };

    // Admins only; unknown applications are 404.
    let (status, _) = join(&apps[0], &who.deployer_token).await;
    assert_eq!(status, 403);
    let (status, _) = join("00000000-0000-4000-8000-000000000000", admin).await;
    assert_eq!(status, 404);
    assert!(app_identities(&config().await).is_empty());

    // Joining gives the smallest free block, once; the config names it.
    let (status, web) = join(&apps[0], admin).await;
    assert_eq!(status, 200, "{web}");
    assert_eq!(web["mesh_index"], 1);
    assert_eq!(web["identity"], 16_777_217);
    let (status, again) = join(&apps[0], admin).await;
    assert_eq!((status, &again), (200, &web));
    assert_eq!(audited(&svc, admin, "app.mesh_joined").await, 1);
    let (status, db) = join(&apps[1], admin).await;
    assert_eq!(status, 200, "{db}");
    assert_eq!(db["mesh_index"], 2);
    assert_eq!(
        app_identities(&config().await),
        [
            ("web".to_owned(), json!(["10.210.128.4/30"])),
            ("db".to_owned(), json!(["10.210.128.8/30"]))
        ]
    );
    let (status, listed) = call(
        &svc,
        "GET",
        "/api/v1/mesh/apps",
        &who.viewer_token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

    // A rule between them reaches the agents as identity numbers.
    let rule = json!({"source": {"kind": "app", "id": apps[0]}, "destination": {"kind": "app", "id": apps[1]},
        "protocol": "tcp", "ports": [5432, 5432]});
    let (status, made) = call(&svc, "POST", "/api/v1/mesh/policies", admin, rule).await;
    assert_eq!(status, 201, "{made}");
    let policy = config().await["policy"]["rules"].clone();
    assert_eq!(policy[0]["src"], 16_777_217, "{policy}");
    assert_eq!(policy[0]["dst"], 16_777_218, "{policy}");

    // Leaving takes the identity (and the rules naming it) away at once,
    // and keeps the block: joining again gets it back.
    let leave_uri = format!("/api/v1/mesh/apps/{}", apps[0]);
    let (status, _) = call(&svc, "DELETE", &leave_uri, admin, Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = call(&svc, "DELETE", &leave_uri, admin, Value::Null).await;
    assert_eq!(status, 404, "not a member any more");
    let after = config().await;
    assert_eq!(app_identities(&after).len(), 1, "{after}");
    assert_eq!(after["policy"]["rules"], json!([]), "{after}");
    assert_eq!(audited(&svc, admin, "app.mesh_left").await, 1);
    let (status, back) = join(&apps[0], admin).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["mesh_index"], 1, "the block stayed its own");

    // Deleting an application frees its block for the next one.
    let (status, _) = call(
        &svc,
        "DELETE",
        &format!("/api/v1/apps/{}", apps[0]),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let body = crate::deploy_lab::web_app("cache", "busybox:1", &ids);
    let (status, made) = call(&svc, "POST", "/api/v1/apps", admin, body).await;
    assert_eq!(status, 201, "{made}");
    let (status, cache) = join(made["id"].as_str().expect("id"), admin).await;
    assert_eq!(status, 200, "{cache}");
    assert_eq!(cache["mesh_index"], 1, "the deleted application's block");
}

both_backends!(applications_join_and_leave_the_mesh,);
