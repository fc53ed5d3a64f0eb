//! The real binary at start-up: master key checks, the quick start, and
//! the setup token.

use std::os::unix::fs::PermissionsExt as _;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::harness::{random_master_key, Backend, TestDb};
use crate::process::{run_to_exit, Env, Server};

use crate::client::*;

#[test]
fn bad_master_keys_stop_the_process_before_it_touches_data() {
    let scratch = scratch_dir();
    let cases: [(&str, Option<String>, &[&str]); 4] = [
        ("missing", None, &["not set"]),
        (
            "not base64",
            Some("not base64!".into()),
            &["not valid base64"],
        ),
        (
            "31 bytes",
            Some(key_of_len(31)),
            &["31 bytes", "exactly 32"],
        ),
        (
            "33 bytes",
            Some(key_of_len(33)),
            &["33 bytes", "exactly 32"],
        ),
    ];
    for (case, (name, key, expected)) in cases.iter().enumerate() {
        for (command, args) in [
            ("serve", &["serve"][..]),
            ("verify", &["audit", "verify"][..]),
        ] {
            // `serve` gets a data directory that does not exist yet, `audit
            // verify` an empty one: neither may be created or written to.
            let data_dir = scratch.path().join(format!("data-{case}-{command}"));
            if command == "verify" {
                std::fs::create_dir(&data_dir).expect("empty data dir");
            }
            let env = Env::new(data_dir.clone(), key.clone());
            let log = scratch.path().join(format!("{case}-{command}.log"));
            let run = run_to_exit(&env, args, &log);
            let context = format!("{name} key, `{}`; output:\n{}", args.join(" "), run.output);
            assert!(!run.status.success(), "exited 0 with a {context}");
            assert!(
                run.output.contains("SERVOS_MASTER_KEY"),
                "message does not name the variable: {context}"
            );
            for text in *expected {
                assert!(
                    run.output.contains(text),
                    "message lacks {text:?}: {context}"
                );
            }
            if let Some(key) = key.as_deref().filter(|k| k.len() > 12) {
                assert!(
                    !run.output.contains(key),
                    "the refused key was echoed: {context}"
                );
            }
            if command == "serve" {
                assert!(!data_dir.exists(), "data dir created: {context}");
            } else {
                let entries = std::fs::read_dir(&data_dir).expect("list data dir").count();
                assert_eq!(entries, 0, "data dir written to: {context}");
            }
        }
    }
}

// --- 2. wrong master key --------------------------------------------------

async fn wrong_master_key_is_refused(backend: Backend) {
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let key_a = random_master_key();
    let key_b = random_master_key();
    let env_a = Env::for_db(&db, &key_a);
    let env_b = env_a.with_master_key(&key_b);

    Server::start(&env_a, &scratch.path().join("a-first.log"))
        .await
        .stop();

    for args in [&["serve"][..], &["audit", "verify"][..]] {
        let log = scratch.path().join(format!("b-{}.log", args.join("-")));
        let run = run_to_exit(&env_b, args, &log);
        let context = format!("`{}` with key B; output:\n{}", args.join(" "), run.output);
        assert!(!run.status.success(), "exited 0: {context}");
        assert!(
            run.output
                .contains("this master key does not open this database"),
            "no clear refusal: {context}"
        );
        assert!(
            !run.output.contains(&key_a) && !run.output.contains(&key_b),
            "a key was printed: {context}"
        );
    }

    let server = Server::start(&env_a, &scratch.path().join("a-again.log")).await;
    let (status, _, _) = get(&server, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "readyz after restarting with key A");
    server.stop();
}

both_backends!(wrong_master_key_is_refused);

// --- 3. quick start ---------------------------------------------------------

#[actix_web::test]
async fn quick_start_prints_the_setup_token_and_the_url() {
    let scratch = scratch_dir();
    let data_dir = scratch.path().join("var").join("servos");
    let env = Env::new(data_dir, Some(random_master_key()));
    let server = Server::start(&env, &scratch.path().join("serve.log")).await;
    let output = server.output();

    let token_file = setup_token_path(&env);
    let mode = std::fs::metadata(&token_file)
        .expect("setup_token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "setup_token file mode {mode:o}");
    let dir_mode = std::fs::metadata(&env.data_dir)
        .expect("data dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700, "data dir mode {dir_mode:o}");
    assert!(
        env.data_dir.join("servos.db").is_file(),
        "no SQLite database in the data dir"
    );

    let token = read_setup_token(&env);
    assert!(
        token.starts_with("sst_") && token.len() > 40,
        "setup token {token:?}"
    );
    assert_eq!(
        setup_tokens_in(&output),
        vec![token.clone()],
        "the log must print the file's token, once:\n{output}"
    );
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "url {}",
        server.url
    );
    let token_line = output
        .lines()
        .find(|l| l.contains(&token))
        .expect("the token's line");
    assert!(
        token_line.contains(&format!("{}/api/v1/setup", server.url)),
        "the token's line does not say where to use it: {token_line}"
    );
    assert!(
        output.contains(&format!("listening on {}", server.url)),
        "no listening URL:\n{output}"
    );

    let (status, _, _) = get(&server, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "readyz");
    server.stop();
}

// --- 4. setup token lifecycle -------------------------------------------------

async fn setup_token_is_single_use(backend: Backend) {
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let env = Env::for_db(&db, &random_master_key());
    let password = unique_password();

    let server = Server::start(&env, &scratch.path().join("first.log")).await;
    let token = read_setup_token(&env);
    let wrong = format!("sst_{}", "A".repeat(token.len() - 4));

    assert_eq!(
        setup(&server, &wrong, &password).await,
        StatusCode::UNAUTHORIZED,
        "wrong token"
    );
    let (status, _, _) = post(
        &server,
        "/api/v1/login",
        json!({"email": ADMIN_EMAIL, "password": password}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a wrong token created an admin"
    );
    assert!(
        setup_token_path(&env).exists(),
        "a wrong token used up the token file"
    );

    assert_eq!(
        setup(&server, &token, &password).await,
        StatusCode::CREATED,
        "right token"
    );
    assert!(
        !setup_token_path(&env).exists(),
        "the token file outlived its use"
    );
    assert_eq!(
        setup(&server, &token, &password).await,
        StatusCode::GONE,
        "token reused"
    );
    assert_eq!(
        setup(&server, &wrong, &password).await,
        StatusCode::GONE,
        "setup after an admin exists"
    );
    login(&server, &password).await;
    server.stop();

    let server = Server::start(&env, &scratch.path().join("second.log")).await;
    login(&server, &password).await;
    let output = server.stop();
    assert!(
        !output.contains("sst_"),
        "a setup token was logged after setup:\n{output}"
    );
    assert!(
        !setup_token_path(&env).exists(),
        "a token file came back after setup"
    );
}

both_backends!(setup_token_is_single_use);
