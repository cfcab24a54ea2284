#![allow(dead_code)]
//! Headless Chromium for the web app's tests, driven over WebDriver (fantoccini) through
//! Debian's `chromedriver`, which each browser starts on a free loopback port and stops when
//! dropped. [`Browser::check`] runs the axe-core accessibility check on the page (no serious
//! or critical violation allowed) and writes a phone-width and a desktop-width screenshot to
//! `target/web-screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::{Backend, TestApp};

/// Browsers at once in this test binary (each is a Chromium; two fit two cores).
static BROWSERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));
/// The longest a test waits for a page to show something.
const WAIT: Duration = Duration::from_secs(20);
const AXE: &str = include_str!("../../../src/web/assets/vendor/axe-core-4.14.1/axe.min.js");
pub const PHONE: (u32, u32) = (360, 800);
pub const DESKTOP: (u32, u32) = (1280, 900);

pub struct Browser {
    pub client: Client,
    base: String,
    backend: Backend,
    _driver: Child,
    _permit: SemaphorePermit<'static>,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("web-screenshots")
}

/// Ends the browser with its test, passed or failed: chromedriver leaves the Chromium it started
/// running when it is killed, and every test's browser would stay behind, holding memory.
impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self._driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        // Chromium's own processes, should any have left the group: they name the profile.
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f", &self._profile.path().display().to_string()])
            .status();
    }
}

impl Browser {
    /// A fresh headless Chromium (its own profile: no cookies) at the app's address.
    pub async fn open(app: &TestApp) -> Browser {
        let permit = BROWSERS.acquire().await.expect("the browser semaphore");
        let driver_bin = std::env::var("STUDIUM_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium =
            std::env::var("STUDIUM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&driver_bin).exists() && std::path::Path::new(&chromium).exists(),
            "the browser tests need Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, so that dropping the browser can end Chromium too.
            .process_group(0)
            .spawn()
            .expect("starting chromedriver");
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-extensions", "--no-first-run", "--hide-scrollbars",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_err = None;
        let mut client = None;
        for _ in 0..100 {
            match Client::with_capabilities_and_connector(&url, &caps, HttpConnector::new()).await {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(err) => {
                    last_err = Some(err.to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let client = client.unwrap_or_else(|| panic!("chromedriver did not start: {last_err:?}"));
        client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .expect("window size");
        Browser {
            client,
            base: app.address.clone(),
            backend: app.backend,
            _driver: driver,
            _permit: permit,
            _profile: profile,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits for an element to be on the page.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
    }

    /// Waits until the element's text contains `needle`, and gives the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{css}` never showed {needle:?}; it last read {last:?} at {}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the browser to be at `path` (without the query).
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.path().await;
            if now.split('?').next() == Some(path) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected to reach {path}, still at {now}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Types into the input labelled by id `field` (clearing it first).
    pub async fn fill(&self, field_id: &str, value: &str) {
        let el = self.find(&format!("#{field_id}")).await;
        el.clear().await.ok();
        el.send_keys(value).await.expect("typing");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clicking");
    }

    /// Presses one key on the keyboard (on whatever has the focus).
    pub async fn press(&self, key: Key) {
        let value: char = key.into();
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client
            .perform_actions(actions)
            .await
            .expect("pressing a key");
    }

    /// Presses Tab until the element matching `css` has the focus (at most `max` times), and
    /// gives that element.
    pub async fn tab_to(&self, css: &str, max: usize) -> Element {
        let target = self.find(css).await;
        for _ in 0..max {
            self.press(Key::Tab).await;
            let active = self.client.active_element().await.expect("the focus");
            if active.element_id() == target.element_id() {
                return active;
            }
        }
        panic!("Tab never reached `{css}` in {max} presses");
    }

    /// Runs a script in the page and gives its result.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("running a script")
    }

    /// The accessibility check (axe-core: no serious or critical violation) and a screenshot
    /// at phone and at desktop width, named `<name>-phone.png` / `<name>-desktop.png`.
    pub async fn check(&self, name: &str) {
        self.client
            .execute(AXE, vec![])
            .await
            .expect("loading axe-core");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.slice(0, 3).map(n => n.html) }))))
                   .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
                vec![],
            )
            .await
            .expect("running axe-core");
        let violations = result.as_array().cloned().unwrap_or_default();
        assert!(
            violations.is_empty(),
            "accessibility violations on {name} ({}): {}",
            self.path().await,
            serde_json::to_string_pretty(&violations).unwrap_or_default()
        );
        if self.backend == Backend::Sqlite {
            let dir = screenshot_dir();
            std::fs::create_dir_all(&dir).expect("the screenshot folder");
            for (label, (w, h)) in [("phone", PHONE), ("desktop", DESKTOP)] {
                self.client.set_window_size(w, h).await.expect("resizing");
                tokio::time::sleep(Duration::from_millis(150)).await;
                let png = self.client.screenshot().await.expect("a screenshot");
                std::fs::write(dir.join(format!("{name}-{label}.png")), png)
                    .expect("writing a screenshot");
            }
            self.client
                .set_window_size(DESKTOP.0, DESKTOP.1)
                .await
                .expect("resizing");
        }
    }

    /// Signs up a new student through the form and lands on the dashboard.
    pub async fn sign_up(&self, name: &str, email: &str, password: &str) {
        self.goto("/signup").await;
        self.fill("full_name", name).await;
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.click("form[action='/signup'] button[type=submit]")
            .await;
        self.wait_for_path("/").await;
        self.find("#total-xp").await;
    }

    /// Signs in through the form.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/signin").await;
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.click("form[action='/signin'] button[type=submit]")
            .await;
        self.wait_for_path("/").await;
        self.find("#total-xp").await;
    }
}
