//! Call records from real calls: one row per call with the caller's normalised number, the
//! menu path and the right outcome (completed, closed, abandoned in the menu, cancelled),
//! exported with `ugyelet cdr export` after a graceful stop. Forms an operator sends from
//! the admin API and the console, during the call and in wrap-up, are in that call's
//! record; a caller nobody takes has the same outcome word in the record, the metric and
//! the log.

mod common;

use common::browser::Browser;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
use ugyelet::sip::auth::Credentials;

const SECOND: Duration = Duration::from_secs(1);
const ANNA_PASSWORD: &str = "anna-jelszava-7";

/// A copy of the shipped plan where key 3 says goodbye at once (keeps the test short).
fn short_plan(dir: &Path) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    let text = std::fs::read_to_string(src.join("main.toml")).expect("plan");
    let edited = text.replacen("\"3\" = \"office_hours\"", "\"3\" = \"goodbye\"", 1);
    assert_ne!(edited, text);
    std::fs::write(dir.join("main.toml"), edited).expect("write plan");
    std::fs::create_dir_all(dir.join("calendar")).expect("dir");
    for e in std::fs::read_dir(src.join("calendar")).expect("calendar") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, dir.join("calendar").join(p.file_name().expect("name")))
                .expect("copy");
        }
    }
    dir.join("main.toml")
}

fn ugyelet(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("UGYELET_STATE__DIR", state)
        .output()
        .expect("run ugyelet")
}

#[test]
fn each_outcome_of_real_calls_is_recorded_and_exported() {
    let dir = scratch_dir("records");
    let plan = short_plan(&dir);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(state.join("override.toml"), "mode = \"open\"\n").expect("override");
    let mut daemon = Daemon::start(&[
        ("UGYELET_STATE__DIR", state.to_str().expect("utf-8")),
        ("UGYELET_DIALPLAN__PATH", plan.to_str().expect("utf-8")),
        // Long enough to cancel in.
        ("UGYELET_CALL__ANSWER_DELAY_MS", "2500"),
    ]);
    let welcome_ms = (load_prompt("welcome").len() * 1000 / RATE) as u64 + 1000;

    let addr = daemon.addr();
    let runs: Vec<thread::JoinHandle<SippResult>> = [
        ("caller_cancels_before_answer.xml", None),
        ("caller_hangs_up_with_bye.xml", None),
        (
            "caller_hears_menu_presses_3_and_daemon_hangs_up.xml",
            Some(welcome_ms),
        ),
    ]
    .into_iter()
    .map(|(name, d)| {
        let addr = addr.clone();
        thread::spawn(move || {
            let d = d.map(|d| d.to_string());
            let mut args: Vec<&str> = vec!["-timeout", "40s"];
            if let Some(d) = &d {
                args.extend(["-d", d.as_str()]);
            }
            args.push(&addr);
            sipp(&scenario(name), &args)
        })
    })
    .collect();
    for r in runs {
        r.join().expect("sipp thread").assert_success();
    }

    // Closed by hand: a caller who hears that the line is closed, then hangs up.
    let out = ugyelet(&state, &["override", "closed"]);
    assert!(out.status.success());
    thread::sleep(Duration::from_millis(800));
    let stay = (welcome_ms + 1500).to_string();
    sipp(
        &scenario("caller_stays_on_the_line_then_hangs_up.xml"),
        &["-d", &stay, "-timeout", "30s", &addr],
    )
    .assert_success();

    // A graceful stop flushes the records.
    daemon.terminate();
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)), Some(0));

    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let since = today.yesterday().expect("a day before").to_string();
    let out = ugyelet(&state, &["cdr", "export", "--since", &since]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).expect("utf-8");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{csv}");
    let mut outcomes: Vec<&str> = rows.iter().map(|r| r[5]).collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        ["abandoned_menu", "cancelled", "closed", "completed"],
        "{csv}"
    );
    for r in &rows {
        assert_eq!(r[3], "+36301234567", "caller normalised to E.164: {csv}");
    }
    let completed = rows
        .iter()
        .find(|r| r[5] == "completed")
        .expect("completed row");
    assert_eq!(completed[6], "welcome>check_open>main_menu>goodbye>hang_up");
    assert!(!completed[1].is_empty(), "answer time recorded");
    let cancelled = rows
        .iter()
        .find(|r| r[5] == "cancelled")
        .expect("cancelled row");
    assert!(
        cancelled[1].is_empty(),
        "a cancelled call was never answered"
    );
}

/// An accounts file with the one on-site operator "anna" (HA1 digests only).
fn anna_only() -> PathBuf {
    let c = Credentials::from_password("anna", "ugyelet", ANNA_PASSWORD);
    let p = scratch_dir("records-operators").join("operators.toml");
    std::fs::write(
        &p,
        format!(
            "[[operator]]\nname = \"anna\"\nlocation = \"on_site\"\nha1_md5 = \"{}\"\nha1_sha256 = \"{}\"\n",
            c.ha1_md5.unwrap_or_default(),
            c.ha1_sha256.unwrap_or_default()
        ),
    )
    .expect("write operators file");
    p
}

/// The daemon with anna's account, quick queue timers, and `extra`.
fn start_with_anna(extra: &[(&str, String)]) -> Daemon {
    let ops = anna_only().display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("UGYELET_SIP__OPERATORS", ops.as_str()),
        ("UGYELET_OPERATORS__RING_TIMEOUT_S", "10"),
        ("UGYELET_OPERATORS__WRAP_UP_S", "1"),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    Daemon::start(&env)
}

/// anna's row in `/api/operators`.
fn anna(d: &Daemon) -> serde_json::Value {
    let (status, body) = http_get(d.admin_port, "/api/operators");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    v["operators"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["name"] == "anna").cloned())
        .unwrap_or_else(|| panic!("anna not listed: {body}"))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// A caller (sip:36301234567) who goes through the welcome and presses 1 (operator); it
/// sends silence for three minutes, longer than any test here.
fn caller_asking_for_an_operator(daemon: &Daemon) -> Baresip {
    let wav = scratch_dir("records-caller").join("silence.wav");
    write_wav_8k(&wav, &vec![0i16; RATE * 180]);
    let caller = Baresip::start(BaresipConfig {
        source: Some(wav),
        ..BaresipConfig::default()
    });
    caller.dial(&daemon.uri());
    caller.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    wait_for_prompt(&caller, "main_menu", 0, 0, 30 * SECOND);
    caller.send_dtmf('1');
    caller
}

/// `POST /api/calls/{call}/forms` sending `form` by SMS to `to`: status and JSON.
fn api_send(d: &Daemon, call: u64, form: &str, to: &str) -> (u16, serde_json::Value) {
    let body = format!(r#"{{"form":"{form}","channel":"sms","to":"{to}"}}"#);
    let (status, text) = http(
        d.admin_port,
        "POST",
        &format!("/api/calls/{call}/forms"),
        Some(&body),
    );
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, json)
}

/// Sends `form` by SMS to `to` from anna's duty page in the console.
async fn console_send(b: &Browser, d: &Daemon, form: &str, to: &str) {
    b.goto(&format!("http://127.0.0.1:{}/ugyelet", d.admin_port))
        .await;
    b.wait_for_text("main h1", "Ügyelet", 5 * SECOND).await;
    b.select("#mit", form).await;
    b.fill("#kinek", to).await;
    b.click("#kuldes-gomb").await;
    b.wait_for_text("main", "sorba állítottuk", 5 * SECOND)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_an_operator_sends_during_the_call_and_in_wrap_up_are_listed_in_its_record() {
    let gateway = HttpStub::start(&[]);
    let sms = [
        ("UGYELET_NOTIFY__SMS__KIND", "generic".to_owned()),
        (
            "UGYELET_NOTIFY__SMS__URL",
            format!("http://127.0.0.1:{}/send", gateway.port),
        ),
        (
            "UGYELET_NOTIFY__SMS__BODY_TEMPLATE",
            r#"{"to":"{to}","text":"{text}","ref":"{id}"}"#.to_owned(),
        ),
    ];
    let daemon = start_with_anna(&sms);
    let _phone = Baresip::start(BaresipConfig {
        user: "anna".to_owned(),
        auto_answer: true,
        register: Some((daemon.addr(), ANNA_PASSWORD.to_owned())),
        ..BaresipConfig::default()
    });
    wait_until("anna registered and available", 10 * SECOND, || {
        anna(&daemon)["state"] == "available"
    });
    // anna keeps the console open beside her phone.
    let b = Browser::start().await;
    b.goto(&format!("http://127.0.0.1:{}/", daemon.admin_port))
        .await;
    b.fill("#nev", "anna").await;
    b.fill("#jelszo", ANNA_PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("main h1", "Ügyelet", 5 * SECOND).await;

    let caller = caller_asking_for_an_operator(&daemon);
    let mut call = None;
    wait_until("anna is on the call", 30 * SECOND, || {
        call = anna(&daemon)["current_call"]["call"].as_u64();
        call.is_some()
    });
    let call = call.expect("the call anna is on");
    // Another caller, in the menu meanwhile, must not get anna's forms.
    let bystander = Baresip::start(BaresipConfig {
        user: "36209998877".to_owned(),
        ..BaresipConfig::default()
    });
    bystander.dial(&daemon.uri());
    bystander.wait_event("CALL_ESTABLISHED", 10 * SECOND);

    // During the call: one form through the API (naming the call), one from the console
    // (which names none: it is the call anna is on).
    let (status, sent) = api_send(&daemon, call, "lakcim", "06301234567");
    assert_eq!(status, 202, "{sent}");
    assert_eq!(
        (sent["call"].as_u64(), &sent["created"]),
        (Some(call), &serde_json::json!(true))
    );
    console_send(&b, &daemon, "epitesi", "06 70 111 2233").await;
    bystander.hangup();

    // The caller hangs up; anna is in wrap-up and sends what she promised.
    caller.hangup();
    wait_until("the call has ended", 10 * SECOND, || {
        anna(&daemon)["current_call"].is_null()
    });
    let (status, sent) = api_send(&daemon, call, "gepjarmuado", "06 20 555 6677");
    assert_eq!(
        status, 202,
        "a call ended a moment ago still takes forms: {sent}"
    );
    assert_eq!(sent["call"].as_u64(), Some(call));
    console_send(&b, &daemon, "szocialis", "06 31 222 3344").await;
    // A call id the daemon never had is refused, and says which calls it knows.
    let (status, refused) = api_send(&daemon, call + 1000, "lakcim", "06301234567");
    assert_eq!(status, 404);
    assert_eq!(
        refused["error"],
        format!(
            "no call {} in progress or ended in the last 15 minutes (GET /api/calls lists the calls in progress)",
            call + 1000
        )
    );
    // Four messages left for the gateway.
    assert_eq!(gateway.wait_requests(4, 20 * SECOND).len(), 4);

    // The call's record lists the four forms, in the order they were sent: the two sent
    // while it lasted (kept until the record was written) and the two sent after (added
    // to the stored record).
    let rows = cdr_rows_when(&daemon, |rows| {
        rows.len() == 2
            && rows.iter().any(|r| {
                r.get(9).map(String::as_str) == Some("lakcim epitesi gepjarmuado szocialis")
            })
    });
    let taken = rows
        .iter()
        .find(|r| r[5] == "operator")
        .unwrap_or_else(|| panic!("anna's call: {rows:?}"));
    assert_eq!(
        (taken[3].as_str(), taken[8].as_str(), taken[9].as_str()),
        (
            "+36301234567",
            "anna",
            "lakcim epitesi gepjarmuado szocialis"
        ),
        "{rows:?}"
    );
    let other = rows
        .iter()
        .find(|r| r[3] == "+36209998877")
        .unwrap_or_else(|| panic!("the other call: {rows:?}"));
    assert_eq!(
        other[9], "",
        "the other caller's record has no forms: {rows:?}"
    );
}

#[test]
fn a_caller_nobody_takes_has_one_outcome_word_in_the_record_the_metric_and_the_log() {
    // anna has an account but no phone: nobody is logged in, the queue gives the call back.
    let daemon = start_with_anna(&[]);
    let caller = caller_asking_for_an_operator(&daemon);
    let before = caller.received_wav().len();
    wait_for_prompt(&caller, "no_operator", before, 0, 20 * SECOND);
    // Hung up while the plan offers to take a message: nobody took the call.
    caller.hangup();

    let rows = cdr_rows_when(&daemon, |rows| rows.len() == 1);
    let recorded = rows[0][5].clone();
    let line = daemon
        .wait_for_line(5 * SECOND, |l| l.contains("call ended"))
        .expect("the call's end is logged");
    let logged = log_fields(&line)
        .get("outcome")
        .cloned()
        .unwrap_or_else(|| panic!("no outcome in {line}"));
    let (_, metrics) = http_get(daemon.admin_port, "/metrics");
    let counted: Vec<(String, u64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("ugyelet_calls_total{outcome=\""))
        .filter_map(|l| {
            let (word, n) = l.split_once("\"} ")?;
            Some((word.to_owned(), n.trim().parse().ok()?))
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    eprintln!("record: {recorded}; log: {line}; metric: {counted:?}");
    assert_eq!(recorded, "no_operator", "{rows:?}");
    assert_eq!(logged, recorded, "{line}");
    assert_eq!(counted, [(recorded.clone(), 1)], "{metrics}");
    // The same word in the list of calls to return.
    let (_, body) = http_get(daemon.admin_port, "/api/callbacks");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["calls"][0]["outcome"], recorded.as_str(), "{body}");
}
