//! The web UI in a real browser: headless Chromium, driven through
//! ChromeDriver (WebDriver) against the real `servos-api` binary and a lab
//! host, from setup through commissioning, a deployment and its rollback
//! (followed live on their pages) to the audit log's CSV. A screenshot of
//! each page is saved under `target/ui-screenshots/`.

mod driver;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use servos_lab::{Host, Lab};

use crate::both_backends;
use crate::client::{read_setup_token, scratch_dir, unique_password, ADMIN_EMAIL};
use crate::deploy_lab::{container_env, make_images, only_container, APP_PORT, DEPLOY_WITHIN};
use crate::harness::{random_master_key, Backend, TestDb};
use crate::process::{Env, Server};
use driver::Browser;

/// How long a page may take to appear after a click.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long commissioning may take (it installs the reverse proxy).
const COMMISSION_TIMEOUT: Duration = Duration::from_secs(120);

/// A lab host that accepts `public_key` for root, with the test images.
async fn lab_host(public_key: &str) -> Lab {
    let key = public_key.trim().to_owned();
    tokio::task::spawn_blocking(move || {
        let lab = crate::servers::lab(1, true, &key);
        make_images(&lab.hosts()[0]);
        lab
    })
    .await
    .unwrap_or_else(|e| panic!("the lab did not start: {e}"))
}

/// Where the screenshots of a run go: `target/ui-screenshots/<backend>/`.
fn screenshot_dir(backend: Backend) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap_or(tmp);
    let dir = target
        .join("ui-screenshots")
        .join(format!("{backend:?}").to_lowercase());
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A browser session on one server, with helpers that fail with context.
struct Ui<'a> {
    client: &'a Client,
    server: &'a Server,
    shots: PathBuf,
    taken: usize,
}

impl Ui<'_> {
    async fn open(&self, path: &str) {
        self.client
            .goto(&self.server.at(path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// Waits until the page title starts with `title`.
    async fn expect_title(&self, title: &str) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let current = self.client.title().await.unwrap_or_default();
            if current.starts_with(title) {
                return;
            }
            if Instant::now() > deadline {
                let source = self.client.source().await.unwrap_or_default();
                panic!("expected a page titled {title:?}, got {current:?}:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks what leads to another page and waits until the browser has
    /// left the current one (its root element goes stale), so that what is
    /// read next is the new page even when both have the same title.
    async fn navigate(&self, css: &str) {
        self.navigate_within(css, PAGE_TIMEOUT).await;
    }

    /// [`Ui::navigate`] for a page that may take up to `within` to answer.
    async fn navigate_within(&self, css: &str, within: Duration) {
        let old = self.find("html").await;
        self.click(css).await;
        let deadline = Instant::now() + within;
        while old.tag_name().await.is_ok() {
            if Instant::now() > deadline {
                panic!("clicking {css} did not load another page");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The text of the first element matching `css`.
    async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Waits until the text of `css` satisfies `ok` (what a script on the
    /// page updates); returns it.
    async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let text = self.text(css).await;
            if ok(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("{css} still reads {text:?}:\n{}", self.source().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits, without reloading, until the deployment page's state badge
    /// (updated from the event stream) shows that the job ended; returns the
    /// state it shows.
    async fn deployment_end(&self) -> String {
        let page = self.find("html").await;
        let deadline = Instant::now() + DEPLOY_WITHIN;
        loop {
            let state = self.text("#deployment-state .badge").await;
            if ["succeeded", "failed", "cancelled"].contains(&state.as_str()) {
                assert!(
                    page.tag_name().await.is_ok(),
                    "the page was reloaded; the state must come from its event stream"
                );
                return state;
            }
            if Instant::now() > deadline {
                panic!(
                    "the deployment is still {state} after {DEPLOY_WITHIN:?}:\n{}",
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// On a deployment page just opened: the job has not ended yet, so what
    /// the page shows next arrives through its event stream.
    async fn expect_live_deployment(&self) {
        self.expect_title("Deployment of shop").await;
        let log = self.find("#deployment-log").await;
        let events = log.attr("data-events").await.expect("the log's attributes");
        assert!(
            events.is_some_and(|url| url.contains("/events?after=")),
            "the deployment ended before its page was shown:\n{}",
            self.source().await
        );
    }

    async fn assert_shows(&self, text: &str) {
        let source = self.source().await;
        assert!(
            source.contains(text),
            "the page does not show {text:?}:\n{source}"
        );
    }

    async fn screenshot(&mut self, name: &str) {
        // The top of the page, where the flash message and heading are.
        self.screenshot_after("window.scrollTo(0, 0)", Vec::new(), name)
            .await;
    }

    /// A screenshot with the element `css` scrolled into view: a section
    /// further down the page.
    async fn screenshot_of(&mut self, css: &str, name: &str) {
        let script = "document.querySelector(arguments[0]).scrollIntoView()";
        self.screenshot_after(script, vec![css.into()], name).await;
    }

    async fn screenshot_after(&mut self, script: &str, args: Vec<serde_json::Value>, name: &str) {
        self.taken += 1;
        let _ = self.client.execute(script, args).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

async fn the_ui_works_in_a_browser(backend: Backend) {
    let db = TestDb::new(backend);
    let scratch = scratch_dir();
    let env = Env::for_db(&db, &random_master_key());
    let server = Server::start(&env, &scratch.path().join("server.log")).await;
    let downloads = scratch.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("download dir");
    let browser = Browser::start(scratch.path(), &downloads).await;
    let mut ui = Ui {
        client: browser.client(),
        server: &server,
        shots: screenshot_dir(backend),
        taken: 0,
    };
    let password = unique_password();
    let env_value = format!("postgres://app:{}@db/shop", uuid::Uuid::new_v4().simple());
    let new_env_value = format!("postgres://app:{}@db2/shop", uuid::Uuid::new_v4().simple());

    // First run: the dashboard sends to the login page, which points to setup.
    ui.open("/").await;
    ui.expect_title("Sign in").await;
    ui.assert_shows("Complete the first-run setup").await;
    ui.navigate("a[href='/setup']").await;
    ui.expect_title("First-run setup").await;
    ui.fill("#token", &read_setup_token(&env)).await;
    ui.fill("#email", ADMIN_EMAIL).await;
    ui.fill("#password", &password).await;
    ui.fill("#password_confirm", &password).await;
    ui.screenshot("setup").await;
    ui.navigate("button[type=submit]").await;
    ui.expect_title("Sign in").await;
    ui.assert_shows("Admin account admin@example.com created")
        .await;

    ui.fill("#email", ADMIN_EMAIL).await;
    ui.fill("#password", &password).await;
    ui.screenshot("login").await;
    ui.navigate("main button[type=submit]").await;
    ui.expect_title("Dashboard").await;
    ui.assert_shows("Add your first server").await;
    ui.screenshot("dashboard-empty").await;

    // An SSH key, generated by ServOS.
    ui.navigate("nav a[href='/credentials']").await;
    ui.expect_title("Credentials").await;
    ui.screenshot("credentials-empty").await;
    ui.navigate("main a[href='/credentials/ssh-keys/new']")
        .await;
    ui.expect_title("Add an SSH key").await;
    ui.fill("#name", "deploy").await;
    ui.screenshot("ssh-key-new").await;
    ui.navigate("main button[type=submit]").await;
    ui.expect_title("SSH key deploy").await;
    let public_key = ui
        .find("#public-key")
        .await
        .prop("value")
        .await
        .expect("the public key")
        .unwrap_or_default();
    assert!(public_key.starts_with("ssh-ed25519 "), "{public_key}");
    ui.screenshot("ssh-key").await;

    // A lab host that trusts that key becomes a server, commissioned from
    // its page: the host key it presents is pinned and shown.
    let lab = lab_host(&public_key).await;
    let host: &Host = &lab.hosts()[0];
    ui.navigate("nav a[href='/servers']").await;
    ui.expect_title("Servers").await;
    ui.navigate("main a[href='/servers/new']").await;
    ui.expect_title("Add a server").await;
    ui.fill("#name", "web-1").await;
    ui.fill("#address", &host.address.to_string()).await;
    ui.fill("#port", &host.ssh_port.to_string()).await;
    ui.fill("#user", &host.user).await;
    ui.fill("#labels", "team=web").await;
    ui.screenshot("server-new").await;
    ui.navigate("main button[type=submit]").await;
    ui.expect_title("web-1").await;
    ui.assert_shows("badge-pending").await;
    ui.assert_shows(public_key.trim()).await;
    ui.screenshot("server").await;
    ui.navigate_within("form[action$='/commission'] button", COMMISSION_TIMEOUT)
        .await;
    ui.expect_title("web-1").await;
    ui.assert_shows("Commissioned: host key SHA256:").await;
    let pinned = ui.text("#pinned-fingerprint").await;
    assert!(pinned.starts_with("SHA256:"), "{pinned}");
    assert_eq!(
        pinned,
        host.host_key_fingerprint(),
        "the pin is the lab host's key"
    );
    ui.assert_shows("badge-ok\">ready<").await;
    ui.screenshot("server-commissioned").await;

    // An application on that server, then its environment.
    ui.navigate("nav a[href='/apps']").await;
    ui.expect_title("Applications").await;
    ui.navigate("main a[href='/apps/new']").await;
    ui.expect_title("New application").await;
    ui.fill("#name", "shop").await;
    // A test image serving HTTP on APP_PORT, made from the lab's busybox.
    ui.fill("#image", "servos-test/web:1").await;
    ui.fill("#container_port", &APP_PORT.to_string()).await;
    ui.click("input[name=server_ids]").await;
    ui.fill("#http_path", "/").await;
    ui.fill("#interval_secs", "1").await;
    ui.fill("#timeout_secs", "1").await;
    ui.fill("#memory_mib", "256").await;
    ui.screenshot("app-new").await;
    ui.navigate("main button[type=submit].primary").await;
    ui.expect_title("shop").await;
    ui.fill("input[name='new.0.name']", "DATABASE_URL").await;
    ui.fill("input[name='new.0.value']", &env_value).await;
    ui.fill("input[name='new.1.name']", "API_KEY").await;
    ui.fill("input[name='new.1.value']", "key-that-is-a-file")
        .await;
    ui.click("input[name='new.1.file']").await;
    ui.navigate("#environment button[type=submit].primary")
        .await;
    ui.expect_title("shop").await;
    ui.assert_shows("Environment saved as version 1").await;
    // Edit: a new value for one, remove the other.
    ui.fill(
        "input[aria-label='New value of DATABASE_URL']",
        &new_env_value,
    )
    .await;
    ui.click("input[aria-label='Remove API_KEY']").await;
    ui.navigate("#environment button[type=submit].primary")
        .await;
    ui.expect_title("shop").await;
    ui.assert_shows("Environment saved as version 2").await;
    let page = ui.source().await;
    assert!(page.contains("DATABASE_URL") && !page.contains("API_KEY"));
    for secret in [
        env_value.as_str(),
        new_env_value.as_str(),
        "key-that-is-a-file",
    ] {
        assert!(
            !page.contains(secret),
            "an environment value is in the page"
        );
    }
    ui.screenshot("app").await;
    let app_url = ui.client.current_url().await.expect("the app's URL");
    let app_id = app_url
        .path()
        .strip_prefix("/apps/")
        .expect("an application page")
        .to_owned();

    // Deploy from the application's page; its deployment page follows the
    // job live until the state badge reads succeeded, without a reload.
    ui.assert_shows("Not deployed yet").await;
    ui.navigate("#deploy-form button").await;
    ui.expect_live_deployment().await;
    ui.assert_shows("Deployment queued: servos-test/web:1 with environment version 2.")
        .await;
    let lines_at_load = ui.source().await.matches("class=\"log-line\"").count();
    ui.screenshot("deployment-running").await;
    assert_eq!(ui.deployment_end().await, "succeeded");
    let log = ui.text("#deployment-log").await;
    assert!(
        log.contains("deployment succeeded") && log.contains("web-1"),
        "the step log:\n{log}"
    );
    let lines_now = ui.source().await.matches("class=\"log-line\"").count();
    assert!(
        lines_now > lines_at_load,
        "lines arrived live ({lines_at_load} at load, {lines_now} now)"
    );
    assert_eq!(ui.text("#log-status").await, "complete");
    // The job as it ended, fetched by the page once its stream ended.
    let took = ui
        .wait_text("#deployment-duration", |t| !t.contains("so far"))
        .await;
    assert!(took.ends_with('s'), "{took}");
    assert_eq!(ui.text("#progress-done").await, "1");
    assert_eq!(
        ui.text("tr[data-target] .target-state .badge").await,
        "succeeded"
    );
    assert!(ui.text("#deployment-digest").await.contains("sha256:"));
    let deployed = ui.source().await;
    for secret in [env_value.as_str(), new_env_value.as_str()] {
        assert!(
            !deployed.contains(secret),
            "an environment value is in the page"
        );
    }
    let container = only_container(host, &app_id);
    assert_eq!(
        container_env(host, &container).get("DATABASE_URL"),
        Some(&new_env_value),
        "the container runs with the saved environment"
    );
    ui.screenshot("deployment-succeeded").await;

    // Roll back to it from that page: a new deployment, followed the same way.
    let first = ui
        .client
        .current_url()
        .await
        .expect("URL")
        .path()
        .to_owned();
    let rollback = ui.find("#rollback-form").await;
    assert!(
        rollback.is_displayed().await.unwrap_or(false),
        "the rollback form appears once the job succeeded"
    );
    ui.navigate("#rollback-form button").await;
    ui.expect_live_deployment().await;
    ui.assert_shows("Rollback to deployment").await;
    let source_link = ui.find("#rollback-of").await;
    assert_eq!(
        source_link.attr("href").await.expect("href").as_deref(),
        Some(first.as_str())
    );
    assert_eq!(ui.deployment_end().await, "succeeded");
    assert_ne!(
        only_container(host, &app_id),
        container,
        "a new container serves"
    );
    ui.screenshot("rollback-succeeded").await;

    // The application's page: the current version and both deployments.
    ui.navigate(&format!("h1 a[href='/apps/{app_id}']")).await;
    ui.expect_title("shop").await;
    ui.assert_shows("Running <a class=\"mono\"").await;
    let history = ui.source().await;
    assert_eq!(
        history.matches("badge-ok\">succeeded<").count(),
        2,
        "{history}"
    );
    assert!(history.contains("<span class=\"tag\">rollback</span>"));
    ui.screenshot("app-deployed").await;
    ui.screenshot_of("#deployments", "app-deployments").await;
    ui.navigate("nav a[href='/deployments']").await;
    ui.expect_title("Deployments").await;
    ui.screenshot("deployments").await;

    ui.navigate("nav a[href='/']").await;
    ui.expect_title("Dashboard").await;
    ui.assert_shows("Recent deployments").await;
    ui.screenshot("dashboard").await;

    // All of it is in the audit log, and in its CSV.
    ui.navigate("nav a[href='/audit']").await;
    ui.expect_title("Audit log").await;
    for action in [
        "setup.completed",
        "session.login",
        "ssh_key.created",
        "server.created",
        "server.commissioned",
        "app.created",
        "app.env_changed",
        "deployment.requested",
        "deployment.rollback_requested",
        "deployment.succeeded",
    ] {
        ui.assert_shows(&format!(">{action}</a>")).await;
    }
    ui.screenshot("audit").await;
    ui.fill("#action", "app.env_changed").await;
    ui.navigate(".filters button[type=submit]").await;
    ui.expect_title("Audit log").await;
    let filtered = ui.source().await;
    assert_eq!(
        filtered.matches(">app.env_changed</a>").count(),
        2,
        "{filtered}"
    );
    assert!(!filtered.contains(">server.created</a>"));
    ui.screenshot("audit-filtered").await;
    ui.click("#audit-csv").await;
    let csv = driver::downloaded(&downloads, PAGE_TIMEOUT).await;
    assert!(csv.starts_with("seq,id,at,actor_type"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "header and two entries:\n{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains("app.env_changed")));
    assert!(!csv.contains(&env_value) && !csv.contains(&new_env_value));

    // The deployment and its rollback, in the CSV of deployment entries.
    // Chromium may still be finishing the last download's files: retry
    // until the folder is gone.
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while let Err(e) = std::fs::remove_dir_all(&downloads) {
        assert!(
            e.kind() == std::io::ErrorKind::DirectoryNotEmpty && Instant::now() < deadline,
            "clear the downloads: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::create_dir_all(&downloads).expect("download dir");
    ui.fill("#action", "").await;
    ui.find("#target_type")
        .await
        .select_by_value("deployment")
        .await
        .expect("select the deployment target type");
    ui.navigate(".filters button[type=submit]").await;
    ui.expect_title("Audit log").await;
    ui.assert_shows(">deployment.rollback_requested</a>").await;
    ui.screenshot("audit-deployments").await;
    ui.click("#audit-csv").await;
    let csv = driver::downloaded(&downloads, PAGE_TIMEOUT).await;
    let count = |action: &str| {
        csv.lines()
            .filter(|line| line.contains(&format!(",{action},deployment,")))
            .count()
    };
    assert_eq!(
        [
            count("deployment.requested"),
            count("deployment.rollback_requested"),
            count("deployment.succeeded"),
        ],
        [1, 1, 2],
        "{csv}"
    );
    assert!(
        csv.contains(first.trim_start_matches("/deployments/")),
        "{csv}"
    );
    assert!(!csv.contains(&env_value) && !csv.contains(&new_env_value));

    // The other pages, for the record.
    for (path, title, name) in [
        ("/users", "Users", "users"),
        ("/tokens", "API tokens", "tokens"),
        ("/credentials", "Credentials", "credentials"),
    ] {
        ui.open(path).await;
        ui.expect_title(title).await;
        ui.screenshot(name).await;
    }
    ui.navigate(".whoami button[type=submit]").await;
    ui.expect_title("Sign in").await;
    ui.assert_shows("You are signed out").await;
    ui.open("/apps").await;
    ui.expect_title("Sign in").await;

    browser.close().await;
    server.stop();
}

both_backends!(the_ui_works_in_a_browser);
