//! The web console end to end, in a real browser: headless Chromium over WebDriver driving
//! the real daemon, with real peers around it (a SIPp caller waiting in the queue, baresip as
//! the operator's phone and as a caller leaving a voice message, an HTTP server standing in
//! for the SMS gateway). axe-core checks every page; a screenshot of every page is written
//! under `target/console-screenshots/`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::browser::Browser;
use common::*;
use ugyelet::sip::auth::Credentials;

const SECOND: Duration = Duration::from_secs(1);
const ANNA_PASSWORD: &str = "anna-jelszava-7";
const GIZI_PASSWORD: &str = "gizi-admin-jelszo-9";

/// Accounts: anna (operator, on site) and gizi (admin), with HA1 digests only.
fn operators_file() -> PathBuf {
    let dir = scratch_dir("console-operators");
    let mut text = String::new();
    for (name, role, password) in [
        ("anna", "operator", ANNA_PASSWORD),
        ("gizi", "admin", GIZI_PASSWORD),
    ] {
        let c = Credentials::from_password(name, "ugyelet", password);
        text.push_str(&format!(
            "[[operator]]\nname = \"{name}\"\nrole = \"{role}\"\nha1_md5 = \"{}\"\nha1_sha256 = \"{}\"\n\n",
            c.ha1_md5.unwrap_or_default(),
            c.ha1_sha256.unwrap_or_default()
        ));
    }
    let p = dir.join("operators.toml");
    std::fs::write(&p, text).expect("write operators file");
    p
}

fn start(ops: &Path, extra: &[(&str, String)]) -> Daemon {
    let file = ops.display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("UGYELET_SIP__OPERATORS", file.as_str()),
        ("UGYELET_OPERATORS__RING_TIMEOUT_S", "10"),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    Daemon::start(&env)
}

fn sms_gateway_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("UGYELET_NOTIFY__SMS__KIND", "generic".into()),
        (
            "UGYELET_NOTIFY__SMS__URL",
            format!("http://127.0.0.1:{port}/send"),
        ),
        (
            "UGYELET_NOTIFY__SMS__BODY_TEMPLATE",
            r#"{"to":"{to}","text":"{text}","ref":"{id}"}"#.into(),
        ),
        ("UGYELET_NOTIFY__SMS__TIMEOUT_S", "3".into()),
    ]
}

fn base(d: &Daemon) -> String {
    format!("http://127.0.0.1:{}", d.admin_port)
}

/// Logs `name` in through the login page and waits for the duty page.
async fn log_in(b: &Browser, d: &Daemon, name: &str, password: &str) {
    b.goto(&format!("{}/", base(d))).await;
    b.fill("#nev", name).await;
    b.fill("#jelszo", password).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("main h1", "Ügyelet", 5 * SECOND).await;
}

/// The operator's row in `/api/operators`.
fn operator(d: &Daemon, name: &str) -> serde_json::Value {
    let (status, body) = http_get(d.admin_port, "/api/operators");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    v["operators"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["name"] == name).cloned())
        .unwrap_or_else(|| panic!("operator {name} not listed: {body}"))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A form POST with only a cookie, as a forged cross-site request would arrive (no
/// browser involved): returns the status.
fn post_form(port: u16, path: &str, cookie: &str, body: &str, origin: Option<&str>) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("console reachable");
    s.set_read_timeout(Some(10 * SECOND)).expect("timeout");
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{origin}\
         Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"))
}

fn get_status(port: u16, path: &str, cookie: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("console reachable");
    s.set_read_timeout(Some(10 * SECOND)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"))
}

/// Clicks the page's submit button and waits until the next page has loaded.
async fn submit(b: &Browser) {
    b.execute("window.__before_submit = true; return null;")
        .await;
    b.click("main button[type=submit]").await;
    let deadline = Instant::now() + 5 * SECOND;
    loop {
        let v = b
            .execute("return window.__before_submit === undefined && document.readyState === 'complete';")
            .await;
        if v == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "no new page after submitting");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn session_cookie(b: &Browser) -> String {
    let c = b
        .cookie("ugyelet_munkamenet")
        .await
        .expect("a session cookie after login");
    format!("ugyelet_munkamenet={}", c.value())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_pauses_sees_a_waiting_caller_with_its_path_and_sends_a_form_by_sms() {
    let gateway = HttpStub::start(&[]);
    let ops = operators_file();
    let daemon = start(&ops, &sms_gateway_env(gateway.port));
    // Anna's softphone registers, so she is reachable.
    let _phone = Baresip::start(BaresipConfig {
        user: "anna".to_owned(),
        auto_answer: true,
        register: Some((daemon.addr(), ANNA_PASSWORD.to_owned())),
        ..BaresipConfig::default()
    });
    wait_until("anna registered and available", 10 * SECOND, || {
        operator(&daemon, "anna")["state"] == "available"
    });

    let b = Browser::start().await;
    b.goto(&format!("{}/", base(&daemon))).await;
    b.wait_for_text("main h1", "Bejelentkezés", 5 * SECOND)
        .await;
    b.assert_accessible("belepes").await;
    b.screenshot("belepes").await;
    log_in(&b, &daemon, "anna", ANNA_PASSWORD).await;
    let cookie = b
        .cookie("ugyelet_munkamenet")
        .await
        .expect("session cookie");
    assert_eq!(
        cookie.http_only(),
        Some(true),
        "the session cookie is HttpOnly"
    );
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    b.assert_accessible("ugyelet").await;

    // Pause with a reason, as *23 would: the queue sees it.
    b.select("#szunet-ok", "ebéd").await;
    b.click("#allapot-pause").await;
    b.wait_for_text("#allapotom", "szünetel", 5 * SECOND).await;
    let row = operator(&daemon, "anna");
    assert_eq!(row["state"], "paused", "{row}");
    assert_eq!(row["pause_reason"], "ebéd", "{row}");
    // Back, then paused again so that the next caller waits.
    b.click("#allapot-unpause").await;
    b.wait_for_text("#allapotom", "szabad", 5 * SECOND).await;
    assert_eq!(operator(&daemon, "anna")["state"], "available");
    b.select("#szunet-ok", "rövid szünet").await;
    b.click("#allapot-pause").await;
    b.wait_for_text("#allapotom", "szünetel", 5 * SECOND).await;

    // A SIPp caller presses 1 and waits: the page shows it, with its readable path,
    // within a second of the queue having it.
    let addr = daemon.addr();
    let delay = ((load_prompt("welcome").len() * 1000 / RATE) as u64 + 1500).to_string();
    let caller = std::thread::spawn(move || {
        sipp(
            &scenario("caller_presses_1_and_waits_for_an_operator.xml"),
            &["-d", &delay, "-timeout", "60s", &addr],
        )
    });
    wait_until("the caller waits in the queue", 30 * SECOND, || {
        let (_, body) = http_get(daemon.admin_port, "/api/operators");
        body.contains("\"waiting\":[{")
    });
    let took = b
        .wait_for_text("#varakozok", "Főmenü › Ügyintéző", SECOND)
        .await;
    eprintln!("the waiting caller appeared on the page {took:?} after the queue had it");
    let row_text = b.text("#varakozok").await;
    assert!(row_text.contains("+36 30 123 4567"), "{row_text}");
    b.wait_for_text("#bejelentes", "Új hívó várakozik", 2 * SECOND)
        .await;
    b.assert_accessible("ugyelet-varakozoval").await;
    b.screenshot("ugyelet").await;

    // Send the address-registration form by SMS: exactly one message reaches the gateway,
    // and its state shows on the page.
    b.select("#mit", "lakcim").await;
    b.fill("#kinek", "06 30 765 4321").await;
    b.click("#kuldes-gomb").await;
    b.wait_for_text("main", "sorba állítottuk", 5 * SECOND)
        .await;
    let seen = gateway.wait_requests(1, 10 * SECOND);
    assert_eq!(seen.len(), 1, "one SMS request");
    let body = seen[0].body_text();
    assert!(body.contains("+36307654321"), "{body}");
    b.wait_for_text("#kuldeseim", "Lakcímbejelentés", 5 * SECOND)
        .await;
    b.wait_for_text("#kuldeseim", "elküldve", 5 * SECOND).await;
    std::thread::sleep(2 * SECOND);
    assert_eq!(gateway.requests().len(), 1, "and only one");

    // The knowledge base beside the call: "lakcim" finds the article on "lakcím".
    b.fill("#kb-kereses", "lakcim").await;
    b.click("form[role=search] button[type=submit]").await;
    b.wait_for_text("#kb-talalatok", "Lakcím", 5 * SECOND).await;
    b.goto(&format!("{}/tudasbazis?q=lakcim", base(&daemon)))
        .await;
    b.wait_for_text("#kb-talalatok", "Lakcím", 5 * SECOND).await;
    b.assert_accessible("tudasbazis").await;
    b.screenshot("tudasbazis").await;
    b.click("#kb-talalatok li:first-child a").await;
    b.wait_for_text("main h1", "Lakcím", 5 * SECOND).await;
    b.assert_accessible("tudasbazis-cikk").await;
    b.screenshot("tudasbazis-cikk").await;
    // Sent to the resident as a link: the gateway gets one more SMS, whose link opens
    // the article as a page.
    b.fill("#kinek", "+36 70 111 2233").await;
    b.click("#kuldes-gomb").await;
    b.wait_for_text("main", "sorba állítottuk", 5 * SECOND)
        .await;
    let seen = gateway.wait_requests(2, 10 * SECOND);
    assert_eq!(seen.len(), 2, "the article's SMS");
    let sms: serde_json::Value =
        serde_json::from_slice(&seen[1].body).expect("the gateway got JSON");
    let text = sms["text"].as_str().expect("text");
    assert_eq!(sms["to"], "+36701112233", "{sms}");
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("a link in {text:?}"));
    let path = link
        .split_once(&format!("127.0.0.1:{}", daemon.public_port))
        .map(|(_, p)| p)
        .expect("the public listener's link");
    let (status, page) = http_get(daemon.public_port, path);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Lakcím"), "the article's page: {page}");
    // In the resident's browser: the page's one inline style is allowed by its hash in
    // the policy (no 'unsafe-inline'), so it applies; a wrong hash would leave the
    // browser's default width.
    b.goto(&format!("http://127.0.0.1:{}{path}", daemon.public_port))
        .await;
    b.wait_for_text("main h1", "Lakcím", 5 * SECOND).await;
    let width = b
        .execute("return getComputedStyle(document.body).maxWidth")
        .await;
    assert_eq!(
        width,
        serde_json::json!("640px"),
        "the article's style applied"
    );
    b.assert_accessible("cikk-lakosnak").await;

    let result = caller.join().expect("sipp thread");
    result.assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_and_throttled_forged_posts_refused_and_admin_pages_kept_from_operators()
 {
    let ops = operators_file();
    let daemon = start(&ops, &[]);
    // Everyone here comes from 127.0.0.1, which the guesses below will block: the admin
    // and the operator log in first.
    let admin = Browser::start().await;
    log_in(&admin, &daemon, "gizi", GIZI_PASSWORD).await;
    let admin_cookie = session_cookie(&admin).await;
    let op = admin.open_session().await;
    log_in(&op, &daemon, "anna", ANNA_PASSWORD).await;
    let op_cookie = session_cookie(&op).await;

    // An operator gets 403 on admin pages, and is not offered them.
    for path in [
        "/felugyelet",
        "/beallitasok",
        "/hivasnaplo",
        "/hivasnaplo.csv",
    ] {
        let status = get_status(daemon.admin_port, path, &op_cookie);
        assert_eq!(status, 403, "{path}: an operator gets 403");
    }
    op.goto(&format!("{}/felugyelet", base(&daemon))).await;
    op.wait_for_text("main h1", "Nincs jogosultsága", 5 * SECOND)
        .await;
    assert_eq!(
        op.count("a[href='/felugyelet']").await,
        0,
        "operators are not offered admin pages"
    );
    op.assert_accessible("nincs-jogosultsag").await;

    // The admin adds an operator with a password: the file gets HA1 digests only, and
    // the new operator logs in with it at once.
    admin.goto(&format!("{}/operatorok", base(&daemon))).await;
    admin.fill("#fiok-nev", "bela").await;
    admin.fill("#fiok-megj", "Kiss Béla").await;
    admin.select("#fiok-hely", "remote").await;
    admin.fill("#fiok-jelszo", "bela-jelszava-1").await;
    admin.click("main form button[type=submit]").await;
    admin
        .wait_for_text("main", "Az új fiókot felvettük", 5 * SECOND)
        .await;
    admin
        .wait_for_text("main table", "Kiss Béla", 5 * SECOND)
        .await;
    admin.assert_accessible("operatorok").await;
    admin.screenshot("operatorok").await;
    let file = std::fs::read_to_string(&ops).expect("operators file");
    assert!(
        file.contains("name = \"bela\"") && file.contains("location = \"remote\""),
        "{file}"
    );
    assert!(!file.contains("bela-jelszava-1"), "no password in the file");
    let bela = admin.open_session().await;
    log_in(&bela, &daemon, "bela", "bela-jelszava-1").await;
    drop(bela);

    // A wrong password is refused; a burst of guesses is throttled.
    let b = admin.open_session().await;
    b.goto(&format!("{}/belepes", base(&daemon))).await;
    b.fill("#nev", "anna").await;
    b.fill("#jelszo", "nem-ez-a-jelszo").await;
    b.click("button[type=submit]").await;
    b.wait_for_text("main", "Hibás felhasználónév vagy jelszó", 5 * SECOND)
        .await;
    b.assert_accessible("belepes-hiba").await;
    let mut refused = 1;
    while !b.text("main").await.contains("Túl sok sikertelen") {
        assert!(
            refused < 10,
            "still not throttled after {refused} wrong passwords"
        );
        b.fill("#jelszo", "talan-ez").await;
        submit(&b).await;
        refused += 1;
    }
    assert_eq!(
        refused, 7,
        "five free mistakes, the sixth blocks, the seventh is refused unheard"
    );
    // Even the right password now waits: the throttle answers before any check.
    b.fill("#jelszo", ANNA_PASSWORD).await;
    submit(&b).await;
    b.wait_for_text("main", "Túl sok sikertelen", 5 * SECOND)
        .await;
    assert!(
        daemon.stderr().contains("console login throttled"),
        "the block is logged"
    );

    // A POST carrying the session cookie but no CSRF token changes nothing; nor does one
    // from another site's page.
    let before = http_get(daemon.admin_port, "/api/override").1;
    let forged = post_form(
        daemon.admin_port,
        "/beallitasok/felulbiralas",
        &admin_cookie,
        "mode=closed&reason=hamis",
        None,
    );
    assert_eq!(forged, 403, "no CSRF token: refused");
    let with_foreign_origin = post_form(
        daemon.admin_port,
        "/beallitasok/felulbiralas",
        &admin_cookie,
        "mode=closed&reason=hamis&csrf=x",
        Some("http://evil.example"),
    );
    assert_eq!(with_foreign_origin, 403, "another site's page: refused");
    assert_eq!(http_get(daemon.admin_port, "/api/override").1, before);
    // Each refusal above is counted by its reason.
    let (_, scrape) = http_get(daemon.admin_port, "/metrics");
    let count = |reason: &str| -> u64 {
        let key = format!("ugyelet_http_refused_total{{listener=\"admin\",reason=\"{reason}\"}} ");
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in\n{scrape}"))
    };
    assert_eq!(
        count("forbidden"),
        5,
        "four admin pages by URL, one in the browser"
    );
    assert_eq!(
        count("login_failed"),
        6,
        "five free mistakes and the one that blocks"
    );
    assert_eq!(count("login_throttled"), 2);
    assert_eq!(count("csrf"), 2);

    // The admin pages, checked and pictured.
    for (path, name, heading) in [
        ("/felugyelet", "felugyelet", "Felügyelet"),
        ("/beallitasok", "beallitasok", "Beállítások"),
        ("/visszahivasok", "visszahivasok-ures", "Visszahívások"),
        ("/hivasnaplo", "hivasnaplo-ures", "Hívásnapló"),
    ] {
        admin.goto(&format!("{}{path}", base(&daemon))).await;
        admin.wait_for_text("main h1", heading, 5 * SECOND).await;
        admin.assert_accessible(name).await;
        admin.screenshot(name).await;
    }
    // The simulator in the browser gives the transcript `ugyelet simulate` prints.
    admin.goto(&format!("{}/beallitasok", base(&daemon))).await;
    admin.fill("#sim-ido", "2026-12-08 16:30").await;
    admin.fill("#sim-gombok", "1").await;
    admin
        .click("#szimulator-cim ~ form button[type=submit]")
        .await;
    admin
        .wait_for_text("#atirat", "2026-12-08 16:30", 5 * SECOND)
        .await;
    let transcript = admin.text("#atirat").await;
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("UGYELET_STATE__DIR", &daemon.state_dir)
        .args(["simulate", "--at", "2026-12-08 16:30", "--keys", "1"])
        .output()
        .expect("run ugyelet simulate");
    let cli_out = String::from_utf8_lossy(&cli.stdout);
    assert_eq!(
        transcript.trim(),
        cli_out.trim(),
        "same transcript as the CLI"
    );
    admin.assert_accessible("szimulator").await;
    admin.screenshot("szimulator").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_message_left_on_the_closed_line_plays_in_the_worklist_and_is_claimed_and_closed() {
    let ops = operators_file();
    let daemon = start(&ops, &[]);
    let admin = Browser::start().await;
    log_in(&admin, &daemon, "gizi", GIZI_PASSWORD).await;
    // Close the line by hand from the settings page.
    admin.goto(&format!("{}/beallitasok", base(&daemon))).await;
    admin.click("input[name=mode][value=closed]").await;
    admin.fill("#ok", "áramszünet").await;
    admin
        .click("#felulbiralas-cim ~ form button[type=submit]")
        .await;
    admin
        .wait_for_text("main", "kézzel zárva", 5 * SECOND)
        .await;
    let ov = http_get(daemon.admin_port, "/api/override").1;
    assert!(
        ov.contains("\"closed\"") && ov.contains("áramszünet"),
        "{ov}"
    );

    // A caller on the closed line presses 2 and leaves a message.
    let key_at = (load_prompt("welcome").len() * 1000 / RATE) as u64 + 1500;
    let ms_of = |id: &str| (load_prompt(id).len() * 1000 / RATE) as u64;
    let speak_at = key_at + ms_of("voicemail_intro") + ms_of("beep") + 1500;
    let speech = espeak_hu("Kérem, hívjanak vissza a parkolási engedély ügyében.");
    let mut source = vec![0i16; ms(speak_at)];
    source.extend_from_slice(&speech);
    source.resize(source.len() + ms(60_000), 0);
    let dir = scratch_dir("console-voicemail");
    let wav = dir.join("caller.wav");
    write_wav_8k(&wav, &source);
    let phone = Baresip::start(BaresipConfig {
        source: Some(wav),
        ..BaresipConfig::default()
    });
    phone.dial(&daemon.uri());
    let established = phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let sleep_to = |at_ms: u64| {
        let at = established.at + Duration::from_millis(at_ms);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    };
    sleep_to(key_at);
    phone.send_dtmf('2');
    sleep_to(speak_at + (speech.len() * 1000 / RATE) as u64 + 1000);
    phone.send_dtmf('#');
    phone.wait_event("CALL_CLOSED", 30 * SECOND);

    // The operator's worklist has it, with a player whose source is the WAV.
    let b = admin.open_session().await;
    log_in(&b, &daemon, "anna", ANNA_PASSWORD).await;
    b.wait_for_text("#munkalista-szam", "1", 10 * SECOND).await;
    b.goto(&format!("{}/visszahivasok", base(&daemon))).await;
    b.wait_for_text("main", "+36 30 123 4567", 5 * SECOND).await;
    b.wait_for_text("main", "hangüzenetet hagyott", 5 * SECOND)
        .await;
    let played = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const a = document.querySelector("audio");
               fetch(a.src, {credentials: "same-origin"}).then(r => r.arrayBuffer().then(buf => {
                 const head = String.fromCharCode(...new Uint8Array(buf.slice(0, 4)));
                 a.addEventListener("loadedmetadata", () => done({status: r.status,
                     type: r.headers.get("content-type"), head, duration: a.duration}));
                 a.addEventListener("error", () => done({status: r.status, error: String(a.error && a.error.code)}));
                 a.load();
               }));"#,
        )
        .await;
    assert_eq!(played["status"], 200, "{played}");
    assert_eq!(played["type"], "audio/wav", "{played}");
    assert_eq!(played["head"], "RIFF", "{played}");
    let duration = played["duration"].as_f64().unwrap_or(0.0);
    assert!(
        duration > 2.0,
        "the browser decodes the recording: {duration} s ({played})"
    );
    b.assert_accessible("visszahivasok-tetellel").await;
    b.screenshot("visszahivasok").await;

    // A studio recording replaces a prompt: any rate is accepted, it is served at once,
    // and it no longer counts as synthetic; a file that is no WAV changes nothing.
    admin.goto(&format!("{}/hangok", base(&daemon))).await;
    admin.wait_for_text("main", "gépi hangon", 5 * SECOND).await;
    admin.assert_accessible("hangok").await;
    admin.screenshot("hangok").await;
    let texts_before = admin
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               fetch("/hangok/gepi-szovegek.txt").then(r => r.text()).then(done);"#,
        )
        .await;
    assert!(
        texts_before.as_str().unwrap_or("").contains("goodbye\t"),
        "{texts_before}"
    );
    let studio = dir.join("goodbye-16k.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&studio, spec).expect("create WAV");
    for n in 0..16_000u32 {
        let x = (f64::from(n) * 2.0 * std::f64::consts::PI * 440.0 / 16_000.0).sin();
        w.write_sample((x * 8000.0) as i16).expect("sample");
    }
    w.finalize().expect("finish WAV");
    let not_wav = dir.join("nem-wav.wav");
    std::fs::write(&not_wav, "ez nem hang").expect("write");
    admin.select("#hang-id", "goodbye").await;
    admin
        .element("#hang-fajl")
        .await
        .send_keys(&not_wav.display().to_string())
        .await
        .expect("choose file");
    admin.click("#csere-cim + form button[type=submit]").await;
    admin
        .wait_for_text("main", "Nem cseréltük le", 5 * SECOND)
        .await;
    admin.select("#hang-id", "goodbye").await;
    admin
        .element("#hang-fajl")
        .await
        .send_keys(&studio.display().to_string())
        .await
        .expect("choose file");
    admin.click("#csere-cim + form button[type=submit]").await;
    admin
        .wait_for_text("main", "Az új felvétel él", 10 * SECOND)
        .await;
    let served = admin
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               Promise.all([
                 fetch("/hangok/goodbye.wav").then(r => r.arrayBuffer()),
                 fetch("/hangok/gepi-szovegek.txt").then(r => r.text()),
               ]).then(([wav, txt]) => done({bytes: wav.byteLength, texts: txt}));"#,
        )
        .await;
    let uploaded = std::fs::metadata(&studio).expect("studio file").len();
    assert_eq!(served["bytes"].as_u64(), Some(uploaded), "{served}");
    assert!(
        !served["texts"].as_str().unwrap_or("").contains("goodbye\t"),
        "no longer synthetic: {served}"
    );

    // Claimed by anna, the admin sees it is hers; then done, the count drops to 0.
    b.click("form[action$='/vallalom'] button").await;
    b.wait_for_text("main", "az enyém", 5 * SECOND).await;
    admin
        .goto(&format!("{}/visszahivasok", base(&daemon)))
        .await;
    admin
        .wait_for_text("#tulajdonos-1", "anna", 5 * SECOND)
        .await;
    b.click("form[action$='/kesz'] button").await;
    b.wait_for_text("#munkalista-szam", "0", 5 * SECOND).await;

    // The call is in the records: the admin finds it by outcome and number, and the CSV
    // download holds the same row.
    admin.goto(&format!("{}/hivasnaplo", base(&daemon))).await;
    admin.select("#kimenet", "voicemail").await;
    admin.fill("#szam", "4567").await;
    admin.click("main form button[type=submit]").await;
    admin
        .wait_for_text("main table", "hangüzenetet hagyott", 5 * SECOND)
        .await;
    let table = admin.text("main table").await;
    assert!(table.contains("+36 30 123 4567"), "{table}");
    admin.assert_accessible("hivasnaplo").await;
    admin.screenshot("hivasnaplo").await;
    let csv = admin
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const a = document.querySelector("a[href^='/hivasnaplo.csv']");
               fetch(a.href).then(r => r.text().then(t => done({status: r.status, text: t})));"#,
        )
        .await;
    assert_eq!(csv["status"], 200, "{csv}");
    let text = csv["text"].as_str().unwrap_or("");
    assert_eq!(text.lines().count(), 2, "a header and the one call: {text}");
    assert!(
        text.contains("+36301234567") && text.contains("voicemail"),
        "{text}"
    );
}

/// Copies the shipped knowledge base, so a test can edit it.
fn knowledge_copy() -> PathBuf {
    let dir = scratch_dir("console-knowledge");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    for entry in std::fs::read_dir(&root).expect("knowledge dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            std::fs::copy(&path, dir.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_page_recovers_by_itself_after_a_restart_articles_reload_and_logout_ends_the_session()
 {
    let ops = operators_file();
    let port = free_ports(1);
    let state = scratch_dir("console-restart-state");
    let kb = knowledge_copy();
    let env = vec![
        ("UGYELET_ADMIN__LISTEN", format!("127.0.0.1:{port}")),
        ("UGYELET_STATE__DIR", state.display().to_string()),
        ("UGYELET_KNOWLEDGE__DIR", kb.display().to_string()),
    ];
    let base = format!("http://127.0.0.1:{port}");
    let mut first = start(&ops, &env);
    let b = Browser::start().await;
    b.goto(&format!("{base}/")).await;
    b.fill("#nev", "anna").await;
    b.fill("#jelszo", ANNA_PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("main h1", "Ügyelet", 5 * SECOND).await;
    b.wait_for_text("#allapotom", "Állapotom", 5 * SECOND).await;
    // A mark on this very document: if the page were reloaded, it would be gone.
    b.execute("window.__same_page = true; return null;").await;

    first.kill();
    let second = start(&ops, &env);
    let (code, body) = http(
        port,
        "POST",
        "/api/operators/anna/pause",
        Some(r#"{"reason": "újraindítás után"}"#),
    );
    assert_eq!(code, 200, "{body}");
    b.wait_for_text("#allapotom", "újraindítás után", 10 * SECOND)
        .await;
    assert_eq!(
        b.execute("return window.__same_page === true;").await,
        serde_json::Value::Bool(true),
        "the page updated itself, without a reload, after the daemon restarted"
    );

    // A new article is found within seconds of being saved; a broken one is refused with
    // its place, and the articles in force keep serving.
    std::fs::write(
        kb.join("hoeltakaritas.md"),
        "+++\ntitle = \"Hóeltakarítás a járdán\"\ntags = [\"hó\", \"járda\"]\nforms = [\"tajekoztato\"]\n+++\nA ház előtti járdát az ingatlan használója takarítja.\n",
    )
    .expect("write article");
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        b.goto(&format!("{base}/tudasbazis?q=hoeltakaritas")).await;
        if b.count("#kb-talalatok").await > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new article was not found within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    b.wait_for_text("#kb-talalatok", "Hóeltakarítás", SECOND)
        .await;
    std::fs::write(
        kb.join("hibas.md"),
        "+++\ntitle = \"Hibás\"\nforms = [\"nincs-ilyen\"]\n+++\nSzöveg.\n",
    )
    .expect("write broken article");
    let deadline = Instant::now() + 10 * SECOND;
    let status = loop {
        let (_, status) = http_get(port, "/api/status");
        if status.contains("nincs-ilyen") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the broken article was not reported: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.contains("hibas.md:3:10: unknown form \\\"nincs-ilyen\\\""),
        "{status}"
    );
    b.goto(&format!("{base}/tudasbazis?q=hoeltakaritas")).await;
    b.wait_for_text("#kb-talalatok", "Hóeltakarítás", 5 * SECOND)
        .await;

    // Logging out ends the session: the old cookie opens nothing.
    let cookie = session_cookie(&b).await;
    b.goto(&format!("{base}/ugyelet")).await;
    b.click("form.logout button").await;
    b.wait_for_text("main h1", "Bejelentkezés", 5 * SECOND)
        .await;
    assert_eq!(get_status(port, "/ugyelet", &cookie), 303, "logged out");
    assert!(second.stderr().contains("console logout"), "logged");
}
