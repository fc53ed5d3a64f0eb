//! File secrets through the environment editor: a PEM key and a
//! pretty-printed JSON file, posted as a browser posts a textarea (each
//! line break as CRLF), are stored byte for byte as their text was (read
//! back through the API's reveal); their fields are textareas that start
//! empty; a plain variable still takes one line only.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::json;

use super::{follow, post, sessions, world};
use crate::apps::call;
use crate::both_backends;
use crate::harness::{Backend, TestApp};

/// A private key as `openssl genpkey` writes it: LF line breaks, one at the end.
pub(crate) const PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEIPmGIVyYJnPIYQR/4/vEuGxy0pOYW7yiVkmb7lzLp5Pb\n\
-----END PRIVATE KEY-----\n";

/// A JSON file as an editor pretty-prints it, without a last line break.
pub(crate) const JSON_FILE: &str =
    "{\n  \"name\": \"shop\",\n  \"tls\": {\n    \"port\": 8443,\n    \
\"ciphers\": [\"TLS_AES_128_GCM_SHA256\", \"TLS_CHACHA20_POLY1305_SHA256\"]\n  },\n  \
\"note\": \"tab\\there,\\ttoo\"\n}";

/// `text` as a browser submits it from a textarea: every line break CRLF.
fn as_textarea_sends(text: &str) -> String {
    text.replace('\n', "\r\n")
}

/// The current value of `name` in application `app`, revealed by an admin.
async fn revealed<S, B>(svc: &S, admin: &str, app: &str, name: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/apps/{app}/env/reveal");
    let (status, body) = call(svc, "POST", &uri, admin, json!({ "name": name })).await;
    assert_eq!(status, 200, "reveal {name}: {body}");
    body["value"].as_str().expect("a value").to_owned()
}

async fn file_secrets_keep_their_bytes_through_the_form(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let s = sessions(&app, &svc).await;
    let w = world(&svc, &s).await;
    let deployer = Some(s.deployer.as_str());
    let admin = s.who.admin_token.as_str();
    let env_path = format!("/apps/{}/env", w.app);

    let pem = as_textarea_sends(PEM);
    let json_file = as_textarea_sends(JSON_FILE);
    let saved = post(
        &svc,
        &env_path,
        deployer,
        &[
            ("new.0.name", "TLS_KEY"),
            ("new.0.value", &pem),
            ("new.0.file", "on"),
            ("new.1.name", "CONFIG_JSON"),
            ("new.1.value", &json_file),
            ("new.1.file", "on"),
            ("new.2.name", "PLAIN"),
            ("new.2.value", " kept as typed "),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(revealed(&svc, admin, &w.app, "TLS_KEY").await, PEM);
    assert_eq!(
        revealed(&svc, admin, &w.app, "CONFIG_JSON").await,
        JSON_FILE
    );
    assert_eq!(
        revealed(&svc, admin, &w.app, "PLAIN").await,
        " kept as typed "
    );

    // Files get an empty textarea, plain variables a password input.
    let page = follow(&svc, &saved, deployer).await;
    assert_eq!(page.html.matches("<textarea name=\"var.").count(), 2);
    assert!(page
        .html
        .contains("class=\"mono env-file\" rows=\"3\" placeholder=\"•••••••• (unchanged)\""));
    assert!(page.html.contains("></textarea>"), "textareas start empty");
    assert!(!page.html.contains("BEGIN PRIVATE KEY") && !page.html.contains("TLS_AES"));
    assert!(page.html.contains("type=\"password\" name=\"new.0.value\""));

    // A replaced file keeps its bytes whatever the line breaks sent; an
    // empty textarea keeps the file it stands for.
    let replaced = post(
        &svc,
        &env_path,
        deployer,
        &[
            ("var.0.name", "CONFIG_JSON"),
            ("var.0.had_file", "true"),
            ("var.0.file", "on"),
            ("var.0.value", ""),
            ("var.1.name", "TLS_KEY"),
            ("var.1.had_file", "true"),
            ("var.1.file", "on"),
            ("var.1.value", "\n\nline one\nline two\n"),
        ],
    )
    .await;
    assert_eq!(replaced.status, 303, "{}", replaced.html);
    assert_eq!(
        revealed(&svc, admin, &w.app, "TLS_KEY").await,
        "\n\nline one\nline two\n"
    );
    assert_eq!(
        revealed(&svc, admin, &w.app, "CONFIG_JSON").await,
        JSON_FILE
    );

    // Line breaks stay out of the env file: a plain variable refuses them,
    // and so does a file made plain again.
    let plain_with_lines: &[(&str, &str)] =
        &[("new.0.name", "MULTI"), ("new.0.value", "one\r\ntwo")];
    let file_made_plain: &[(&str, &str)] = &[
        ("var.0.name", "TLS_KEY"),
        ("var.0.had_file", "true"),
        ("var.0.value", ""),
    ];
    for fields in [plain_with_lines, file_made_plain] {
        let refused = post(&svc, &env_path, deployer, fields).await;
        assert_eq!(refused.status, 422, "{fields:?}: {}", refused.html);
        assert!(!refused.html.contains("line one"), "no value echoed");
    }
    assert_eq!(
        revealed(&svc, admin, &w.app, "TLS_KEY").await,
        "\n\nline one\nline two\n"
    );

    // The API keeps a file's bytes exactly too, CR included.
    let uri = format!("/api/v1/apps/{}/env", w.app);
    let crlf = "[section]\r\nkey = value\r\n";
    let (status, body) = call(
        &svc,
        "PATCH",
        &uri,
        &s.who.deployer_token,
        json!({"set": {"WINDOWS_INI": {"value": crlf, "file_secret": true}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(revealed(&svc, admin, &w.app, "WINDOWS_INI").await, crlf);
}

both_backends!(file_secrets_keep_their_bytes_through_the_form);
