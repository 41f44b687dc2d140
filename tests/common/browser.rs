//! A real browser for the web console's end-to-end tests: Debian's headless Chromium driven
//! over WebDriver by `fantoccini`, with axe-core checking every page's accessibility.
//!
//! ```ignore
//! let browser = Browser::start().await;              // chromedriver + one Chromium
//! browser.goto(&format!("http://127.0.0.1:{port}/")).await;
//! browser.fill("#felhasznalo", "op1").await;
//! browser.click("button[type=submit]").await;
//! browser.wait_for_text("#allapot", "Bejelentkezve", Duration::from_secs(1)).await;
//! browser.assert_accessible("kezdolap").await;      // no serious/critical axe finding
//! let admin = browser.open_session().await;          // a second, independent user
//! ```
//!
//! Each [`Browser::start`] runs its own `chromedriver` on a free port, in a process group of
//! its own: Chromium is started by chromedriver in that group, so dropping the last session
//! kills the whole group and no browser outlives the test, even one that panicked. Every
//! session gets a fresh profile directory (cookies, storage) under the scratch directory,
//! which is removed with the driver unless the test failed; chromedriver's log is kept
//! there for the post-mortem.
//!
//! The helpers panic with what they expected and what they found (and the page's URL)
//! instead of returning errors: a console test reads as the steps a user takes. Waits are
//! bounded; an element a helper needs may take up to [`ELEMENT_WAIT`] to appear, so a test
//! does not have to know whether a page draws it at once or after a request.
//!
//! Missing browser packages fail the test, loudly: CI installs `chromium` and
//! `chromium-driver` (`.ci/run`), and a browser test that skipped itself there would
//! pass without checking anything.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;
use serde_json::{Value, json};

/// Where Debian's `chromium` package puts the browser (a shell wrapper around the binary).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian's `chromium-driver` package puts the WebDriver server.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a helper waits for the element it acts on to appear.
pub const ELEMENT_WAIT: Duration = Duration::from_secs(5);

/// axe-core, vendored unchanged from npm (version and update steps: `tests/vendor/README.md`).
const AXE_SOURCE: &str = include_str!("../vendor/axe.min.js");

/// Flags for every Chromium. `--no-sandbox`: CI runs as root, where Chromium refuses to
/// start sandboxed. `--disable-dev-shm-usage`: containers often have a 64 MB /dev/shm,
/// which a renderer fills. A fixed window size makes screenshots and layout comparable.
/// `--lang=hu-HU`: the browser asks for Hungarian, like the operators' browsers do.
const CHROMIUM_ARGS: [&str; 6] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--lang=hu-HU",
];

/// A running `chromedriver`, shared by the sessions opened through it; the last session to
/// go kills it with every Chromium it started.
struct Driver {
    child: Child,
    port: u16,
    dir: PathBuf,
    sessions: AtomicU32,
}

impl Driver {
    async fn start() -> Driver {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "browser tests need {path} (Debian package {package}), which was not found: \
                 apt-get install chromium chromium-driver (.ci/run does)"
            );
        }
        let dir = super::scratch_dir("browser");
        let log = dir.join("chromedriver.log");
        let port = super::free_ports(1);
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop can kill chromedriver and every Chromium
            // it started with one signal (see `Drop`).
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        let mut driver = Driver {
            child,
            port,
            dir,
            sessions: AtomicU32::new(0),
        };
        driver.wait_ready(Duration::from_secs(10)).await;
        driver
    }

    /// Polls chromedriver's `/status` until it says it is ready for sessions.
    async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver on port {} exited before answering ({status}); its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            if let Some(body) = http_get(self.port, "/status")
                && body.contains(r#""ready":true"#)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver on port {} did not answer /status within {timeout:?}; its log:\n{}",
                self.port,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The end of chromedriver's log, each line cut short: it logs every script it runs
    /// in full, and axe's is 650 kB.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default();
        let short: Vec<&str> = text.lines().map(brief).collect();
        super::tail(&short.join("\n"), 30)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium and its helpers are in chromedriver's process group (checked: its crash
        // handler, which detaches, exits by itself once the browser is gone).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        super::finish_dir(&self.dir, "browser");
    }
}

/// One browser session (one Chromium with its own profile, so its own cookies) and the
/// helpers the console tests use. Sessions from [`Browser::open_session`] share the
/// chromedriver of the first one.
pub struct Browser {
    client: Client,
    // Declared after `client`, so a session's client is gone before the driver is killed.
    driver: Arc<Driver>,
}

/// One axe-core finding: a rule the page breaks, and where.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    /// The axe rule id, e.g. `image-alt`, `label`, `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical` (empty if axe gave none).
    #[serde(default)]
    pub impact: String,
    /// One sentence on what the rule wants, in English (axe's wording).
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    pub nodes: Vec<ViolationNode>,
}

/// One element that breaks a rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ViolationNode {
    /// CSS selector of the element (frames and shadow roots joined with ` >>> `).
    pub target: String,
    /// The element's opening tag as axe saw it.
    pub html: String,
    /// What to fix, in axe's words.
    #[serde(default)]
    pub summary: String,
}

impl Violation {
    /// Serious and critical findings block people (no name for a control, text nobody can
    /// read); the others are worth a look but do not fail a page.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
    }
}

/// Runs axe on the page and hands back its violations as plain JSON. `resultTypes` keeps
/// the passes and incomplete lists short, which makes a run on a console page well under a
/// second.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
const target = (t) => Array.isArray(t) ? t.join(' >>> ') : String(t);
axe.run(document, { resultTypes: ['violations'] }).then(
  (r) => done({ version: axe.version, violations: r.violations.map((v) => ({
    id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.map(target).join(' '), html: n.html, summary: n.failureSummary || '',
    })),
  })) }),
  (e) => done({ error: String(e && e.stack || e) }),
);
"#;

#[derive(Deserialize)]
struct AxeReport {
    #[serde(default)]
    version: String,
    #[serde(default)]
    violations: Vec<Violation>,
    error: Option<String>,
}

impl Browser {
    /// Starts chromedriver on a free port and opens the first session.
    pub async fn start() -> Browser {
        let driver = Arc::new(Driver::start().await);
        Browser::open(driver).await
    }

    /// Another session on the same chromedriver: a separate Chromium with an empty profile,
    /// e.g. an administrator next to an operator.
    pub async fn open_session(&self) -> Browser {
        Browser::open(Arc::clone(&self.driver)).await
    }

    async fn open(driver: Arc<Driver>) -> Browser {
        let n = driver.sessions.fetch_add(1, Ordering::Relaxed);
        let profile = driver.dir.join(format!("profile-{n}"));
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            // Bounded, so a hung page fails the test instead of stalling it for minutes.
            "timeouts": { "script": 20_000, "pageLoad": 15_000, "implicit": 0 },
        });
        let Value::Object(caps) = caps else {
            unreachable!("json! of an object literal is an object")
        };
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "open a Chromium session through chromedriver at {url}: {e}; its log:\n{}",
                    driver.log_tail()
                )
            });
        Browser { client, driver }
    }

    /// The fantoccini client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The address of the page the session is on.
    pub async fn current_url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("(address unknown: {e})"),
        }
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        self.client
            .title()
            .await
            .unwrap_or_else(|e| panic!("read the title: {e}"))
    }

    /// The first element matching `css`, waiting up to [`ELEMENT_WAIT`] for it to appear.
    pub async fn element(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(ELEMENT_WAIT)
            .every(Duration::from_millis(25))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "expected an element matching `{css}` on {} within {ELEMENT_WAIT:?}, found none ({e})",
                self.current_url().await
            ),
        }
    }

    /// How many elements match `css` right now (no waiting): for checking that something
    /// is absent, e.g. an admin-only button on an operator's page.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("look for `{css}`: {e}"))
            .len()
    }

    /// Replaces the value of the input matching `css` with `text`, typed key by key (so
    /// the page's input events fire as for a person typing).
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        if let Err(e) = element.clear().await {
            panic!("clear `{css}` on {}: {e}", self.current_url().await);
        }
        if let Err(e) = element.send_keys(text).await {
            panic!("type into `{css}` on {}: {e}", self.current_url().await);
        }
    }

    /// Chooses the `<option>` with `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let element = self.element(css).await;
        if let Err(e) = element.select_by_value(value).await {
            panic!(
                "choose value {value:?} in `{css}` on {}: {e}",
                self.current_url().await
            );
        }
    }

    /// Clicks the element matching `css` (as a person would: it must be visible and not
    /// covered by another element).
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        if let Err(e) = element.click().await {
            panic!("click `{css}` on {}: {e}", self.current_url().await);
        }
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        match element.text().await {
            Ok(text) => text,
            Err(e) => panic!(
                "read the text of `{css}` on {}: {e}",
                self.current_url().await
            ),
        }
    }

    /// Waits until the visible text of the element matching `css` contains `needle`, and
    /// returns how long that took. Fails after `timeout` with the text it last saw: use the
    /// console's promise as the timeout (live updates within 1 s).
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        let mut last = String::from("(no element matching it)");
        loop {
            // The element may not exist yet, or be replaced between finding and reading it
            // (a live update that redraws it): both mean "not yet".
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(needle) {
                    return start.elapsed();
                }
                last = text;
            }
            if start.elapsed() >= timeout {
                panic!(
                    "expected `{css}` on {} to show {needle:?} within {timeout:?}, found {last:?}",
                    self.current_url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every cookie the browser holds for the current page, with its attributes
    /// (`http_only()`, `same_site()`, `secure()`), including those scripts cannot see.
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .unwrap_or_else(|e| panic!("read cookies: {e}"))
    }

    /// The cookie called `name`, if the browser holds one for the current page.
    pub async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.cookies().await.into_iter().find(|c| c.name() == name)
    }

    /// Runs `js` as the body of a function in the page and returns what it `return`s.
    pub async fn execute(&self, js: &str) -> Value {
        match self.client.execute(js, vec![]).await {
            Ok(value) => value,
            Err(e) => panic!(
                "run script on {}: {e}\n{}",
                self.current_url().await,
                brief(js)
            ),
        }
    }

    /// Runs `js` in the page with a callback as its last argument and returns what the
    /// script passes to it: `arguments[arguments.length - 1](value)`.
    pub async fn execute_async(&self, js: &str) -> Value {
        match self.client.execute_async(js, vec![]).await {
            Ok(value) => value,
            Err(e) => panic!(
                "run async script on {}: {e}\n{}",
                self.current_url().await,
                brief(js)
            ),
        }
    }

    /// Saves what the window shows as `target/console-screenshots/<name>.png` and returns
    /// the path. Characters other than letters, digits, `-`, `_` and `.` in `name` become
    /// `-`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => panic!("take a screenshot of {}: {e}", self.current_url().await),
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let file: String = name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let path = dir.join(format!("{file}.png"));
        fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Runs axe-core on the current page (injected first if the page does not have it yet)
    /// and returns every violation, whatever its impact. WebDriver scripts are not subject
    /// to the page's Content-Security-Policy, so this works on pages that forbid inline
    /// scripts (checked in `tests/browser_harness.rs`).
    pub async fn axe(&self) -> Vec<Violation> {
        self.axe_report().await.violations
    }

    async fn axe_report(&self) -> AxeReport {
        let present = self
            .execute(
                "return typeof window.axe === 'object' && typeof window.axe.run === 'function';",
            )
            .await;
        if present != Value::Bool(true) {
            self.execute(AXE_SOURCE).await;
        }
        let raw = self.execute_async(AXE_RUN).await;
        let report: AxeReport = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("expected axe's report, found {raw} ({e})"));
        if let Some(error) = report.error {
            panic!("axe.run failed on {}: {error}", self.current_url().await);
        }
        report
    }

    /// Fails if axe finds any serious or critical violation on the current page, listing
    /// each with the elements concerned; a screenshot `a11y-<page_name>` is saved for the
    /// post-mortem. Lesser findings are printed, not failed.
    pub async fn assert_accessible(&self, page_name: &str) {
        let report = self.axe_report().await;
        let (serious, minor): (Vec<&Violation>, Vec<&Violation>) =
            report.violations.iter().partition(|v| v.is_serious());
        let url = self.current_url().await;
        if !minor.is_empty() {
            eprintln!(
                "[browser] {page_name} ({url}): minor or moderate axe findings:\n{}",
                describe(&minor)
            );
        }
        if !serious.is_empty() {
            let shot = self.screenshot(&format!("a11y-{page_name}")).await;
            panic!(
                "expected no serious or critical accessibility violations on {page_name} ({url}), \
                 found {} (axe-core {}; screenshot {}):\n{}",
                serious.len(),
                report.version,
                shot.display(),
                describe(&serious)
            );
        }
    }
}

/// One paragraph per violation: rule, impact, help and link, then each element with what
/// to fix.
fn describe(violations: &[&Violation]) -> String {
    let mut out = String::new();
    for v in violations {
        out.push_str(&format!(
            "- {} ({}): {} <{}>\n",
            v.id, v.impact, v.help, v.help_url
        ));
        for node in &v.nodes {
            out.push_str(&format!("    at {}: {}\n", node.target, node.html));
            for line in node.summary.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    out
}

/// The first 300 characters of a script or log line, for error messages.
fn brief(text: &str) -> &str {
    match text.char_indices().nth(300) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A bare HTTP/1.1 GET to chromedriver on 127.0.0.1, returning the body; `None` until it
/// accepts connections. chromedriver refuses HTTP/1.0 and keeps the connection open after
/// answering, so the body is read up to its `Content-Length`.
fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())?;
        if body.len() >= length {
            return Some(body.to_owned());
        }
    }
}
