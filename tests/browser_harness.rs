//! The browser harness itself (`tests/common/browser.rs`), on two small pages this test
//! serves: a Hungarian login-like page built to pass axe-core, and one with an image
//! without alternative text and an input without a label. Shows that the accessibility
//! check finds real problems and fails on them (and runs under a strict
//! Content-Security-Policy, as console pages will have one), that typing, clicking and
//! waiting for a live update work in a real Chromium, that cookies are read with their
//! attributes, that two sessions are two separate browsers, and that screenshots are PNG
//! files.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use common::browser::Browser;

/// Passes every axe rule: language, title, landmarks, one `h1`, labelled fields. Served
/// with a strict Content-Security-Policy (scripts from the site only, no inline script, no
/// eval), as a console page would be: the harness's own scripts must work under it.
const ACCESSIBLE: &str = r#"<!doctype html>
<html lang="hu">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ügyeleti konzol – próbaoldal</title>
</head>
<body>
<header><h1>Ügyeleti konzol</h1></header>
<nav aria-label="Fő navigáció"><ul><li><a href="/">Kezdőlap</a></li></ul></nav>
<main>
<form>
<p><label for="nev">Felhasználónév</label> <input id="nev" name="nev" autocomplete="username"></p>
<p><label for="jelszo">Jelszó</label> <input id="jelszo" name="jelszo" type="password" autocomplete="current-password"></p>
<p><button type="button" id="belepes">Belépés</button></p>
</form>
<p id="allapot" role="status">Nincs bejelentkezve.</p>
</main>
<footer><p>Budaörsi Polgármesteri Hivatal</p></footer>
<script src="/proba.js"></script>
</body>
</html>
"#;

/// The accessible page's script: the button updates the status line 300 ms after a click,
/// like a console live update, and sets a cookie scripts can see (the server sets an
/// HttpOnly one they cannot).
const SCRIPT: &str = r#"
document.getElementById('belepes').addEventListener('click', () => {
  const nev = document.getElementById('nev').value;
  document.cookie = 'szerep=operator; SameSite=Strict; path=/';
  setTimeout(() => {
    document.getElementById('allapot').textContent = 'Bejelentkezve: ' + nev;
  }, 300);
});
"#;

/// Two critical axe violations on purpose: `image-alt` and `label`.
const BROKEN: &str = r#"<!doctype html>
<html lang="hu">
<head><meta charset="utf-8"><title>Hibás próbaoldal</title></head>
<body>
<main>
<h1>Visszahívás</h1>
<img id="logo" src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==">
<input id="telefon" type="text">
</main>
</body>
</html>
"#;

/// Serves the two pages on a free port of 127.0.0.1 for the rest of the test; returns the
/// base URL.
async fn serve_pages() -> String {
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                (
                    [
                        (
                            header::SET_COOKIE,
                            "munkamenet=abc123; HttpOnly; SameSite=Strict; Path=/",
                        ),
                        (header::CONTENT_SECURITY_POLICY, "default-src 'self'"),
                    ],
                    Html(ACCESSIBLE),
                )
                    .into_response()
            }),
        )
        .route(
            "/proba.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], SCRIPT) }),
        )
        .route("/hibas", get(|| async { Html(BROKEN) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port for the test pages");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Runs `check` (which holds its own handle on a shared browser) as a task and returns its
/// panic message; fails if it does not panic. The browser itself is closed by the test, as
/// after any passing test, instead of by an unwinding thread, which would keep its files.
async fn panic_message(check: impl Future<Output = ()> + Send + 'static) -> String {
    let error = tokio::spawn(check)
        .await
        .expect_err("the check was expected to fail");
    let payload = error.into_panic();
    match (
        payload.downcast_ref::<String>(),
        payload.downcast_ref::<&str>(),
    ) {
        (Some(message), _) => message.clone(),
        (None, Some(message)) => (*message).to_owned(),
        (None, None) => "(a panic without a message)".to_owned(),
    }
}

#[tokio::test]
async fn the_accessible_hungarian_page_passes_axe_and_its_screenshot_is_a_png_of_the_1280_wide_view()
 {
    let base = serve_pages().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.title().await, "Ügyeleti konzol – próbaoldal");
    assert_eq!(
        browser
            .execute("return document.documentElement.lang;")
            .await,
        "hu"
    );

    // The policy is in force (an inline script the page adds does not run), and axe and
    // the harness's scripts work under it all the same.
    let inline_ran = browser
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.ran = 1'; \
             document.head.append(s); return window.ran === 1;",
        )
        .await;
    assert_eq!(
        inline_ran, false,
        "the page's Content-Security-Policy applies"
    );

    let violations = browser.axe().await;
    assert!(
        violations.is_empty(),
        "expected no axe findings at all on the page built to pass, found {violations:#?}"
    );
    browser.assert_accessible("harness-accessible").await;

    let path = browser.screenshot("harness-accessible").await;
    assert!(path.ends_with("target/console-screenshots/harness-accessible.png"));
    let png = std::fs::read(&path).expect("the screenshot file exists");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    // IHDR is the first chunk: width and height, big-endian, at bytes 16..24. Headless
    // Chromium keeps room for the browser's own bars it draws no more, so the page gets the
    // window's width and less than its height; the screenshot is exactly the page's view.
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    let view = browser
        .execute("return [window.innerWidth, window.innerHeight];")
        .await;
    assert_eq!(width, 1280, "the window width given to Chromium");
    assert_eq!(
        serde_json::json!([width, height]),
        view,
        "the screenshot is the page's view"
    );
}

#[tokio::test]
async fn axe_names_the_image_without_alt_and_the_input_without_label_and_the_page_fails() {
    let base = serve_pages().await;
    // Shared with the task that is expected to panic, so the browser is closed here.
    let browser = Arc::new(Browser::start().await);
    browser.goto(&format!("{base}/hibas")).await;

    let violations = browser.axe().await;
    let found = |id: &str| {
        violations
            .iter()
            .find(|v| v.id == id)
            .unwrap_or_else(|| panic!("expected axe to report {id}, found {violations:#?}"))
    };
    let image = found("image-alt");
    assert_eq!(image.impact, "critical");
    assert!(image.is_serious());
    assert_eq!(image.nodes.len(), 1, "{image:#?}");
    assert_eq!(image.nodes[0].target, "#logo");
    assert!(image.nodes[0].html.starts_with("<img id=\"logo\""));
    let label = found("label");
    assert_eq!(label.impact, "critical");
    assert_eq!(label.nodes.len(), 1, "{label:#?}");
    assert_eq!(label.nodes[0].target, "#telefon");
    assert!(
        label.nodes[0].summary.contains("label"),
        "axe says what to fix: {label:#?}"
    );

    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/console-screenshots/a11y-harness-broken.png");
    let _ = std::fs::remove_file(&shot);
    let checking = Arc::clone(&browser);
    let message =
        panic_message(async move { checking.assert_accessible("harness-broken").await }).await;
    for expected in [
        "found 2",
        "- image-alt (critical)",
        "at #logo: <img id=\"logo\"",
        "- label (critical)",
        "at #telefon: <input id=\"telefon\"",
        "target/console-screenshots/a11y-harness-broken.png",
    ] {
        assert!(
            message.contains(expected),
            "expected {expected:?} in the failure message, found:\n{message}"
        );
    }
    assert!(shot.exists(), "the failure leaves a screenshot");
}

#[tokio::test]
async fn typing_and_clicking_shows_the_delayed_update_and_cookies_keep_their_attributes() {
    let base = serve_pages().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.text("#allapot").await, "Nincs bejelentkezve.");

    browser.fill("#nev", "Kovács Anna").await;
    browser.fill("#nev", "Kiss Éva").await;
    browser.click("#belepes").await;
    let took = browser
        .wait_for_text(
            "#allapot",
            "Bejelentkezve: Kiss Éva",
            Duration::from_secs(1),
        )
        .await;
    assert!(
        took >= Duration::from_millis(250),
        "the page changes the text 300 ms after the click, yet it was seen after {took:?}"
    );

    let session = browser
        .cookie("munkamenet")
        .await
        .expect("the server's session cookie");
    assert_eq!(session.value(), "abc123");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    let role = browser.cookie("szerep").await.expect("the script's cookie");
    assert_eq!(role.value(), "operator");
    assert_eq!(role.http_only(), Some(false));
    assert_eq!(
        browser.execute("return document.cookie;").await,
        "szerep=operator",
        "scripts see only the cookie that is not HttpOnly"
    );
}

#[tokio::test]
async fn wait_for_text_fails_with_the_text_it_last_saw() {
    let base = serve_pages().await;
    let browser = Arc::new(Browser::start().await);
    browser.goto(&format!("{base}/")).await;

    // Nobody clicks: the status never changes.
    let waiting = Arc::clone(&browser);
    let message = panic_message(async move {
        waiting
            .wait_for_text("#allapot", "Bejelentkezve", Duration::from_millis(300))
            .await;
    })
    .await;
    assert!(
        message.contains(&format!(
            "expected `#allapot` on {base}/ to show \"Bejelentkezve\" within 300ms, \
             found \"Nincs bejelentkezve.\""
        )),
        "{message}"
    );
}

#[tokio::test]
async fn two_sessions_on_one_driver_are_separate_browsers() {
    let base = serve_pages().await;
    let operator = Browser::start().await;
    let admin = operator.open_session().await;
    operator.goto(&format!("{base}/")).await;
    admin.goto(&format!("{base}/")).await;

    operator.click("#belepes").await;
    operator
        .wait_for_text("#allapot", "Bejelentkezve", Duration::from_secs(1))
        .await;
    assert!(operator.cookie("szerep").await.is_some());

    admin.goto(&format!("{base}/")).await;
    assert!(
        admin.cookie("szerep").await.is_none(),
        "the other session must not see the operator's cookie"
    );
    assert_eq!(admin.text("#allapot").await, "Nincs bejelentkezve.");
    assert_eq!(admin.count("#belepes").await, 1);
    assert_eq!(admin.count("#kilepes").await, 0);
}
