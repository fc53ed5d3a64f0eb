//! Webhooks in-process, on both backends: a correctly signed push from each
//! provider queues exactly one deployment; a flipped byte, a missing or
//! upper-cased prefix, a wrong secret or a stale timestamp is 401 and
//! queues nothing; an oversize body is 413 before any signature work; a
//! ping is 200; another branch is 202 with the reason; a delivery or a
//! commit seen before deploys once (`git_apps.rs`: the same for an
//! application built from git, whose push queues a build of the commit).
//! Secrets are shown once, rotate with a grace period, and refusals are
//! audited without the body.

mod git_apps;
mod page;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use base64::Engine as _;
use ring::hmac;
use serde_json::{json, Value};

use crate::apps::call;
use crate::both_backends;
use crate::harness::{callers, ip, request, send, Backend, TestApp};

/// Marks every payload, to look for it where no body may go.
const MARKER: &str = "body-marker-7f3a";

/// Every provider [`push`] speaks for (GitLab with its token, and signed).
pub(crate) const PROVIDERS: [&str; 6] = [
    "github",
    "gitea",
    "forgejo",
    "gitlab",
    "gitlab-signed",
    "bitbucket",
];

/// A commit id made of `n`.
pub(crate) fn commit(n: u8) -> String {
    format!("{:040x}", u128::from(n) * 0x1111_1111)
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), body);
    servos_common::hex::lower(tag.as_ref())
}

/// A push of `commit` to `branch` as `provider` sends it, signed with
/// `secret`: its headers and body.
pub(crate) fn push(
    provider: &str,
    secret: &str,
    branch: &str,
    commit: &str,
    delivery: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let git_ref = format!("refs/heads/{branch}");
    let body = match provider {
        "bitbucket" => json!({"push": {"changes": [{"new": {"type": "branch", "name": branch,
            "target": {"hash": commit, "message": MARKER}}, "old": null}]}, "repository": {"full_name": "team/app"}}),
        "gitlab" | "gitlab-signed" => json!({"object_kind": "push", "ref": git_ref, "before": commit,
            "after": commit, "checkout_sha": commit, "commits": [{"id": commit, "message": MARKER}]}),
        _ => json!({"ref": git_ref, "before": commit, "after": commit, "deleted": false,
            "head_commit": {"id": commit, "message": MARKER}, "repository": {"full_name": "team/app"}}),
    }
    .to_string()
    .into_bytes();
    let h = |n: &str, v: String| (n.to_owned(), v);
    let headers = match provider {
        "github" => vec![
            h("X-GitHub-Event", "push".into()),
            h("X-GitHub-Delivery", delivery.into()),
            h(
                "X-Hub-Signature-256",
                format!("sha256={}", hmac_hex(secret, &body)),
            ),
        ],
        "gitea" => vec![
            h("X-Gitea-Event", "push".into()),
            h("X-Gitea-Delivery", delivery.into()),
            h("X-Gitea-Signature", hmac_hex(secret, &body)),
        ],
        "forgejo" => vec![
            h("X-Forgejo-Event", "push".into()),
            h("X-Forgejo-Delivery", delivery.into()),
            h("X-Forgejo-Signature", hmac_hex(secret, &body)),
            h("X-Gitea-Event", "push".into()),
            h("X-Gitea-Signature", hmac_hex(secret, &body)),
        ],
        "gitlab" => vec![
            h("X-Gitlab-Event", "Push Hook".into()),
            h("X-Gitlab-Event-UUID", delivery.into()),
            h("X-Gitlab-Token", secret.into()),
        ],
        "gitlab-signed" => {
            let at = chrono::Utc::now().timestamp().to_string();
            vec![
                h("X-Gitlab-Event", "Push Hook".into()),
                h("webhook-id", delivery.into()),
                h("webhook-timestamp", at.clone()),
                h(
                    "webhook-signature",
                    standard_signature(secret, delivery, &at, &body),
                ),
            ]
        }
        "bitbucket" => vec![
            h("X-Event-Key", "repo:push".into()),
            h("X-Request-UUID", delivery.into()),
            h(
                "X-Hub-Signature",
                format!("sha256={}", hmac_hex(secret, &body)),
            ),
        ],
        other => panic!("no provider {other}"),
    };
    (headers, body)
}

/// `v1,<base64>` over `id.timestamp.body`, keyed with the secret's base64.
fn standard_signature(secret: &str, id: &str, at: &str, body: &[u8]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let key = engine
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64");
    let mut message = format!("{id}.{at}.").into_bytes();
    message.extend_from_slice(body);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &message);
    format!("v1,{}", engine.encode(tag.as_ref()))
}

/// Posts a delivery to `app_id`'s hook.
pub(crate) async fn deliver<S, B>(
    svc: &S,
    app_id: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = request("POST", &format!("/hooks/{app_id}"), ip(77))
        .insert_header(("Content-Type", "application/json"));
    for (name, value) in headers {
        req = req.insert_header((name.as_str(), value.as_str()));
    }
    let (status, _, json) = send(svc, req.set_payload(body)).await;
    (status, json)
}

/// How many deployments `app_id` has.
pub(crate) async fn deployments<S, B>(svc: &S, token: &str, app_id: &str) -> usize
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, list) = call(
        svc,
        "GET",
        &format!("/api/v1/deployments?app_id={app_id}"),
        token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    list["deployments"]
        .as_array()
        .or_else(|| list.as_array())
        .map_or(0, Vec::len)
}

/// An application on one registered server, with a webhook on `main`;
/// returns its id and the webhook's secret.
async fn app_with_webhook<S, B>(svc: &S, admin: &str, name: &str) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, key) = call(
        svc,
        "POST",
        "/api/v1/ssh-keys",
        admin,
        json!({"name": format!("{name}-key"), "kind": "server"}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let server = json!({"name": format!("{name}-server"), "address": "198.51.100.9", "port": 22, "user": "root",
        "ssh_key_id": key["id"], "roles": ["run"]});
    let (status, server) = call(svc, "POST", "/api/v1/servers", admin, server).await;
    assert_eq!(status, 201, "{server}");
    let body = crate::deploy_lab::web_app(
        name,
        "busybox:1",
        &[server["id"].as_str().expect("id").to_owned()],
    );
    let (status, app) = call(svc, "POST", "/api/v1/apps", admin, body).await;
    assert_eq!(status, 201, "{app}");
    let id = app["id"].as_str().expect("id").to_owned();
    let (status, made) = call(
        svc,
        "POST",
        &format!("/api/v1/apps/{id}/webhook"),
        admin,
        json!({"branch": "main"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["webhook"]["path"], format!("/hooks/{id}"));
    let secret = made["secret"].as_str().expect("secret").to_owned();
    (id, secret)
}

async fn each_provider_deploys_once_and_forgeries_nothing(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = &who.admin_token;
    let (app_id, secret) = app_with_webhook(&svc, admin, "web").await;

    // One signed push per provider, each a new commit: one deployment each.
    let providers = PROVIDERS;
    for (n, provider) in (1..).zip(providers) {
        let (headers, body) = push(
            provider,
            &secret,
            "main",
            &commit(n),
            &format!("{provider}-1"),
        );
        let (status, answer) = deliver(&svc, &app_id, &headers, body).await;
        assert_eq!(status, 202, "{provider}: {answer}");
        assert_eq!(answer["verdict"], "queued", "{provider}: {answer}");
        assert!(answer["deployment_id"].is_string(), "{answer}");
        assert_eq!(
            deployments(&svc, admin, &app_id).await,
            usize::from(n),
            "{provider}"
        );
    }
    let queued = providers.len();

    // Forgeries: 401, nothing queued.
    let (headers, body) = push("github", &secret, "main", &commit(50), "forged-1");
    let mut flipped = body.clone();
    flipped[10] ^= 1;
    assert_eq!(
        deliver(&svc, &app_id, &headers, flipped).await.0,
        401,
        "a flipped byte"
    );
    let signature = headers[2].1.clone();
    let bare = vec![
        headers[0].clone(),
        headers[1].clone(),
        ("X-Hub-Signature-256".to_owned(), signature[7..].to_owned()),
    ];
    assert_eq!(
        deliver(&svc, &app_id, &bare, body.clone()).await.0,
        401,
        "no prefix"
    );
    let upper = vec![
        headers[0].clone(),
        headers[1].clone(),
        (
            "X-Hub-Signature-256".to_owned(),
            signature.replace("sha256=", "SHA256="),
        ),
    ];
    assert_eq!(
        deliver(&svc, &app_id, &upper, body.clone()).await.0,
        401,
        "an upper-cased prefix"
    );
    let (wrong, wrong_body) = push(
        "github",
        "whsec_not-the-secret",
        "main",
        &commit(51),
        "forged-2",
    );
    assert_eq!(
        deliver(&svc, &app_id, &wrong, wrong_body).await.0,
        401,
        "a wrong secret"
    );
    for provider in ["gitea", "forgejo", "gitlab", "bitbucket"] {
        let (headers, body) = push(
            provider,
            "whsec_not-the-secret",
            "main",
            &commit(52),
            "forged-3",
        );
        assert_eq!(
            deliver(&svc, &app_id, &headers, body).await.0,
            401,
            "{provider}: a wrong secret"
        );
    }
    let (mut stale, stale_body) = push("gitlab-signed", &secret, "main", &commit(53), "stale-1");
    let old = (chrono::Utc::now().timestamp() - 301).to_string();
    stale[3].1 = standard_signature(&secret, "stale-1", &old, &stale_body);
    stale[2].1 = old;
    assert_eq!(
        deliver(&svc, &app_id, &stale, stale_body).await.0,
        401,
        "a stale timestamp"
    );
    let unknown = vec![("X-Custom-Event".to_owned(), "push".to_owned())];
    assert_eq!(
        deliver(&svc, &app_id, &unknown, b"{}".to_vec()).await.0,
        401,
        "no provider"
    );
    assert_eq!(
        deployments(&svc, admin, &app_id).await,
        queued,
        "forgeries queue nothing"
    );

    // Oversize: 413, before any signature work.
    let (headers, _) = push("github", &secret, "main", &commit(54), "big-1");
    let big = vec![b' '; (1 << 20) + 1];
    assert_eq!(deliver(&svc, &app_id, &headers, big).await.0, 413);

    // A ping; another branch; a branch deleted.
    let ping_body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
    let ping = vec![
        ("X-GitHub-Event".to_owned(), "ping".to_owned()),
        ("X-GitHub-Delivery".to_owned(), "ping-1".to_owned()),
        (
            "X-Hub-Signature-256".to_owned(),
            format!("sha256={}", hmac_hex(&secret, &ping_body)),
        ),
    ];
    let (status, answer) = deliver(&svc, &app_id, &ping, ping_body).await;
    assert_eq!(
        (status, answer["verdict"].as_str()),
        (200, Some("ignored")),
        "{answer}"
    );
    let (headers, body) = push("github", &secret, "dev", &commit(55), "branch-1");
    let (status, answer) = deliver(&svc, &app_id, &headers, body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["verdict"], "ignored");
    assert!(
        answer["reason"]
            .as_str()
            .is_some_and(|r| r.contains("refs/heads/main")),
        "{answer}"
    );

    // The same delivery twice, the same commit twice: one deployment.
    let (headers, body) = push("github", &secret, "main", &commit(60), "twice-1");
    let (status, first) = deliver(&svc, &app_id, &headers, body.clone()).await;
    assert_eq!(
        (status, first["verdict"].as_str()),
        (202, Some("queued")),
        "{first}"
    );
    let (status, again) = deliver(&svc, &app_id, &headers, body).await;
    assert_eq!(
        (status, again["verdict"].as_str()),
        (200, Some("duplicate")),
        "{again}"
    );
    let (headers, body) = push("gitea", &secret, "main", &commit(60), "twice-2");
    let (status, same_commit) = deliver(&svc, &app_id, &headers, body).await;
    assert_eq!(
        (status, same_commit["verdict"].as_str()),
        (200, Some("duplicate")),
        "{same_commit}"
    );
    assert_eq!(deployments(&svc, admin, &app_id).await, queued + 1);

    // The deliveries are listed with their verdicts; refusals are audited
    // by header and verdict, never with the body.
    let (status, hook) = call(
        &svc,
        "GET",
        &format!("/api/v1/apps/{app_id}/webhook"),
        &who.viewer_token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{hook}");
    assert!(hook.get("secret").is_none(), "no secret in {hook}");
    let verdicts: Vec<&str> = hook["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["verdict"].as_str())
        .collect();
    for verdict in ["queued", "ignored", "duplicate", "rejected"] {
        assert!(verdicts.contains(&verdict), "{verdict} in {verdicts:?}");
    }
    let (status, audit) = call(
        &svc,
        "GET",
        "/api/v1/audit?action=webhook.rejected",
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(10),
        "{audit}"
    );
    let dump = crate::db_dump::dump(&app.db);
    assert!(!dump.contains(MARKER), "a delivery's body was stored");
    assert!(
        !dump.contains(&secret),
        "the webhook secret is stored in clear"
    );
}

async fn secrets_rotate_with_a_grace_period(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = &who.admin_token;
    let (app_id, old) = app_with_webhook(&svc, admin, "api").await;
    let uri = format!("/api/v1/apps/{app_id}/webhook");

    // Admins only; one webhook per application.
    let (status, _) = call(
        &svc,
        "POST",
        &format!("{uri}/secret"),
        &who.deployer_token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(&svc, "POST", &uri, admin, json!({"branch": "main"})).await;
    assert_eq!(status, 409);
    let (status, bad) = call(
        &svc,
        "PATCH",
        &uri,
        admin,
        json!({"branch": "refs/heads/x"}),
    )
    .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("branch")),
        "{bad}"
    );

    let (status, rotated) = call(&svc, "POST", &format!("{uri}/secret"), admin, Value::Null).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    assert!(
        rotated["webhook"]["previous_secret_until"].is_string(),
        "{rotated}"
    );
    for (n, secret) in [(1, &old), (2, &new)] {
        let (headers, body) = push("github", secret, "main", &commit(n), &format!("grace-{n}"));
        assert_eq!(
            deliver(&svc, &app_id, &headers, body).await.0,
            202,
            "secret {n} in the grace period"
        );
    }
    app.db
        .execute("UPDATE webhooks SET previous_until = created_at")
        .expect("end the grace period");
    let (headers, body) = push("github", &old, "main", &commit(3), "grace-3");
    assert_eq!(
        deliver(&svc, &app_id, &headers, body).await.0,
        401,
        "the old secret after the grace period"
    );

    // A secret that no longer decrypts fails alone, and a rotation repairs it.
    app.db
        .execute(
            "UPDATE webhooks SET secret = previous_secret, secret_key_id = previous_secret_key_id",
        )
        .expect("damage the secret");
    let (headers, body) = push("github", &new, "main", &commit(6), "damaged-1");
    let (status, answer) = deliver(&svc, &app_id, &headers, body).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("undecryptable")),
        "{answer}"
    );
    let (status, rotated) = call(&svc, "POST", &format!("{uri}/secret"), admin, Value::Null).await;
    assert_eq!(status, 200, "{rotated}");
    assert!(
        rotated["webhook"]["previous_secret_until"].is_null(),
        "{rotated}"
    );
    let new = rotated["secret"].as_str().expect("secret").to_owned();
    let (headers, body) = push("github", &new, "main", &commit(7), "repaired-1");
    assert_eq!(
        deliver(&svc, &app_id, &headers, body).await.0,
        202,
        "repaired"
    );

    // The branch can change; a removed webhook refuses deliveries.
    let (status, changed) = call(&svc, "PATCH", &uri, admin, json!({"branch": "release/2"})).await;
    assert_eq!(
        (status, changed["branch"].as_str()),
        (200, Some("release/2")),
        "{changed}"
    );
    let (headers, body) = push("github", &new, "release/2", &commit(4), "branch-2");
    assert_eq!(deliver(&svc, &app_id, &headers, body).await.0, 202);
    let (status, _) = call(&svc, "DELETE", &uri, admin, Value::Null).await;
    assert_eq!(status, 204);
    let (headers, body) = push("github", &new, "release/2", &commit(5), "gone-1");
    assert_eq!(deliver(&svc, &app_id, &headers, body).await.0, 404);
    let (status, audit) = call(
        &svc,
        "GET",
        "/api/v1/audit?action=webhook.secret_rotated",
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, audit["entries"].as_array().map(Vec::len)),
        (200, Some(2))
    );
}

async fn refused_deliveries_are_rate_limited(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.auth_failure_limit = servos_api::config::Rate {
            requests: 3,
            seconds: 300,
        };
    });
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let (app_id, secret) = app_with_webhook(&svc, &who.admin_token, "limited").await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let (headers, body) = push(
            "github",
            "whsec_wrong",
            "main",
            &commit(n),
            &format!("bad-{n}"),
        );
        statuses.push(deliver(&svc, &app_id, &headers, body).await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    let (headers, body) = push("github", &secret, "main", &commit(9), "good-1");
    assert_eq!(
        deliver(&svc, &app_id, &headers, body).await.0,
        429,
        "limited before any signature work"
    );
}

both_backends!(
    each_provider_deploys_once_and_forgeries_nothing,
    secrets_rotate_with_a_grace_period,
    refused_deliveries_are_rate_limited,
);
