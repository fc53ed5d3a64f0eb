//! SSH keys through the API: generated or imported, refused cleanly when
//! bad, and their secrets never shown outside an audited reveal.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::both_backends;
use crate::harness::{callers, ip, json_req, request, send, Backend, TestApp};

/// Makes a key with `ssh-keygen`; returns (private key text, fingerprint).
fn keygen(dir: &Path, name: &str, args: &[&str]) -> (String, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-C", "test", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen (Debian package openssh-client) is needed for this test");
    assert!(status.success());
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&path)
        .output()
        .expect("ssh-keygen -lf");
    let fingerprint = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_owned();
    (std::fs::read_to_string(&path).expect("key"), fingerprint)
}

async fn keys_are_generated_imported_or_refused(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let dir = tempfile::tempdir().expect("dir");
    let passphrase = "canary-passphrase-4d2c";
    let (protected, fingerprint) = keygen(dir.path(), "ed", &["-t", "ed25519", "-N", passphrase]);
    let (ecdsa, _) = keygen(dir.path(), "ec", &["-t", "ecdsa", "-N", ""]);
    let post = |body: Value| {
        json_req("POST", "/api/v1/ssh-keys", ip(1), body).insert_header(admin.clone())
    };

    let (status, _, generated) = send(&svc, post(json!({"name": "gen", "kind": "server"}))).await;
    assert_eq!(status, 201, "{generated}");
    assert!(generated["public_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("ssh-ed25519 ")));
    assert!(generated["fingerprint"]
        .as_str()
        .is_some_and(|f| f.starts_with("SHA256:")));
    assert_eq!(generated["private_key"], "********");

    for (body, field) in [
        (
            json!({"name": "bad", "kind": "server", "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n"}),
            "private_key",
        ),
        (
            json!({"name": "bad", "kind": "server", "private_key": protected, "passphrase": "wrong"}),
            "passphrase",
        ),
        (
            json!({"name": "bad", "kind": "server", "private_key": protected}),
            "passphrase",
        ),
        (
            json!({"name": "bad", "kind": "builder", "private_key": ecdsa}),
            "private_key",
        ),
    ] {
        let (status, _, error) = send(&svc, post(body)).await;
        assert_eq!(
            (status, error["field"].as_str()),
            (400, Some(field)),
            "{error}"
        );
        assert!(
            !error.to_string().contains("PRIVATE KEY") && !error.to_string().contains(passphrase)
        );
    }
    let (_, _, listed) = send(
        &svc,
        request("GET", "/api/v1/ssh-keys", ip(1)).insert_header(admin.clone()),
    )
    .await;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "nothing stored for refused imports"
    );

    let (status, _, imported) = send(
        &svc,
        post(json!({"name": "imported", "kind": "builder", "private_key": protected, "passphrase": passphrase})),
    )
    .await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(
        imported["fingerprint"].as_str(),
        Some(fingerprint.as_str()),
        "same as ssh-keygen -lf"
    );
    assert_eq!(imported["has_passphrase"], true);
    let id = imported["id"].as_str().expect("id");
    let (_, _, shown) = send(
        &svc,
        request("GET", &format!("/api/v1/ssh-keys/{id}"), ip(1)).insert_header(admin.clone()),
    )
    .await;
    let (_, _, listed) = send(
        &svc,
        request("GET", "/api/v1/ssh-keys", ip(1)).insert_header(admin.clone()),
    )
    .await;
    for text in [imported.to_string(), shown.to_string(), listed.to_string()] {
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(passphrase),
            "secret in a response"
        );
    }
    for (field, expected) in [
        ("private_key", protected.as_str()),
        ("passphrase", passphrase),
    ] {
        let (status, _, revealed) = send(
            &svc,
            json_req(
                "POST",
                &format!("/api/v1/ssh-keys/{id}/reveal"),
                ip(1),
                json!({"field": field}),
            )
            .insert_header(admin.clone()),
        )
        .await;
        assert_eq!((status, revealed["value"].as_str()), (200, Some(expected)));
    }
}

both_backends!(keys_are_generated_imported_or_refused);
