//! The web UI in a real browser: headless Chromium, driven through
//! ChromeDriver (WebDriver) against the real `servos-api` binary, from
//! setup to the audit log's CSV. A screenshot of each page is saved under
//! `target/ui-screenshots/`.

mod driver;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::both_backends;
use crate::client::{read_setup_token, scratch_dir, unique_password, ADMIN_EMAIL};
use crate::harness::{random_master_key, Backend, TestDb};
use crate::process::{Env, Server};
use driver::Browser;

/// How long a page may take to appear after a click.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

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
        let old = self.find("html").await;
        self.click(css).await;
        let deadline = Instant::now() + PAGE_TIMEOUT;
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

    async fn assert_shows(&self, text: &str) {
        let source = self.source().await;
        assert!(
            source.contains(text),
            "the page does not show {text:?}:\n{source}"
        );
    }

    async fn screenshot(&mut self, name: &str) {
        self.taken += 1;
        // The top of the page, where the flash message and heading are.
        let _ = self
            .client
            .execute("window.scrollTo(0, 0)", Vec::new())
            .await;
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

    // A server (not commissioned here: that needs a real sshd).
    ui.navigate("nav a[href='/servers']").await;
    ui.expect_title("Servers").await;
    ui.navigate("main a[href='/servers/new']").await;
    ui.expect_title("Add a server").await;
    ui.fill("#name", "web-1").await;
    ui.fill("#address", "192.0.2.10").await;
    ui.fill("#user", "deploy").await;
    ui.fill("#labels", "team=web").await;
    ui.screenshot("server-new").await;
    ui.navigate("main button[type=submit]").await;
    ui.expect_title("web-1").await;
    ui.assert_shows("badge-pending").await;
    ui.assert_shows(public_key.trim()).await;
    ui.screenshot("server").await;

    // An application on that server, then its environment.
    ui.navigate("nav a[href='/apps']").await;
    ui.expect_title("Applications").await;
    ui.navigate("main a[href='/apps/new']").await;
    ui.expect_title("New application").await;
    ui.fill("#name", "shop").await;
    ui.fill("#image", "registry.example.com/shop:1.4.2").await;
    ui.fill("#container_port", "8080").await;
    ui.click("input[name=server_ids]").await;
    ui.fill("#http_path", "/healthz").await;
    ui.fill("#memory_mib", "256").await;
    ui.fill("#domain", "shop.example.com").await;
    ui.screenshot("app-new").await;
    ui.navigate("main button[type=submit].primary").await;
    ui.expect_title("shop").await;
    ui.fill("input[name='new.0.name']", "DATABASE_URL").await;
    ui.fill("input[name='new.0.value']", &env_value).await;
    ui.fill("input[name='new.1.name']", "API_KEY").await;
    ui.fill("input[name='new.1.value']", "key-that-is-a-file")
        .await;
    ui.click("input[name='new.1.file']").await;
    ui.navigate("#environment button[type=submit]").await;
    ui.expect_title("shop").await;
    ui.assert_shows("Environment saved as version 1").await;
    // Edit: a new value for one, remove the other.
    ui.fill(
        "input[aria-label='New value of DATABASE_URL']",
        &new_env_value,
    )
    .await;
    ui.click("input[aria-label='Remove API_KEY']").await;
    ui.navigate("#environment button[type=submit]").await;
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

    ui.navigate("nav a[href='/']").await;
    ui.expect_title("Dashboard").await;
    ui.screenshot("dashboard").await;

    // All of it is in the audit log, and in its CSV.
    ui.navigate("nav a[href='/audit']").await;
    ui.expect_title("Audit log").await;
    for action in [
        "setup.completed",
        "session.login",
        "ssh_key.created",
        "server.created",
        "app.created",
        "app.env_changed",
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
