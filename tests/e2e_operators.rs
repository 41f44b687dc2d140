//! Operators end to end: real baresip softphones register with digest passwords and
//! auto-answer; a baresip caller chooses "operator" in the menu. What each side heard is
//! judged on the audio it received (normalised cross-correlation with the WAV the other
//! side sent), not on the daemon's logs.

mod common;

use common::operators::{
    Account, call_and_ask_for_operator, heard_where, ncc, operator_state, operators_file,
    speech_file, start_daemon, wait_available,
};
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// An accounts file with the one on-site operator "anna".
fn anna_only() -> PathBuf {
    operators_file(
        &scratch_dir("operators"),
        &[Account {
            name: "anna",
            location: "on_site",
            password: "anna-jelszava-7",
        }],
    )
}

fn operator_phone(
    daemon: &Daemon,
    user: &str,
    password: &str,
    source: Option<PathBuf>,
    auto: bool,
) -> Baresip {
    Baresip::start(BaresipConfig {
        user: user.to_owned(),
        auto_answer: auto,
        manual_answer: !auto,
        source,
        register: Some((daemon.addr(), password.to_owned())),
        ..BaresipConfig::default()
    })
}

/// Waits until `phone` has received `speech` (NCC above `min`), returning the best NCC.
fn wait_heard(phone: &Baresip, speech: &[i16], min: f64, timeout: Duration) -> f64 {
    let deadline = Instant::now() + timeout;
    loop {
        let got = phone.received_wav();
        let n = ncc(&got, speech);
        if n > min || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn caller_talks_to_the_on_site_operator_then_the_busy_operator_overflows_to_the_teleworker() {
    let dir = scratch_dir("operators");
    let ops = operators_file(
        &dir,
        &[
            Account {
                name: "anna",
                location: "on_site",
                password: "anna-jelszava-7",
            },
            Account {
                name: "bela",
                location: "remote",
                password: "bela-jelszava-9",
            },
        ],
    );
    let daemon = start_daemon(&ops, &[]);
    let (anna_wav, anna_speech) = speech_file(
        &dir,
        "anna.wav",
        "Jó napot kívánok, Kovács Anna vagyok, miben segíthetek?",
    );
    let (bela_wav, bela_speech) = speech_file(
        &dir,
        "bela.wav",
        "Szép estét, itt Nagy Béla, a távmunkás ügyintéző.",
    );
    let (caller_wav, caller_speech) = speech_file(
        &dir,
        "caller.wav",
        "Az építési engedélyről szeretnék érdeklődni, köszönöm szépen.",
    );
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", Some(anna_wav), true);
    let bela = operator_phone(&daemon, "bela", "bela-jelszava-9", Some(bela_wav), true);
    wait_available(&daemon, "anna");
    wait_available(&daemon, "bela");

    // First caller: the on-site operator answers although the teleworker is free too.
    let first = call_and_ask_for_operator(&daemon, Some(caller_wav));
    anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    let heard_anna = wait_heard(&first, &anna_speech, HEARD, 30 * SECOND);
    let anna_heard_caller = wait_heard(&anna, &caller_speech, HEARD, 30 * SECOND);
    eprintln!("caller heard anna: {heard_anna:.3}; anna heard caller: {anna_heard_caller:.3}");
    assert!(
        heard_anna > HEARD,
        "the caller must hear the on-site operator (ncc {heard_anna:.3})"
    );
    assert!(
        anna_heard_caller > HEARD,
        "the operator must hear the caller (ncc {anna_heard_caller:.3})"
    );
    assert!(
        bela.events().iter().all(|e| e.kind != "CALL_INCOMING"),
        "the teleworker must not ring while the on-site operator is free"
    );

    // Second caller while anna is busy: after the overflow time the teleworker rings.
    let second = call_and_ask_for_operator(&daemon, None);
    bela.wait_event("CALL_ESTABLISHED", 30 * SECOND);
    let heard_bela = wait_heard(&second, &bela_speech, HEARD, 30 * SECOND);
    assert!(
        heard_bela > HEARD,
        "with the on-site operator busy the caller must reach the teleworker (ncc {heard_bela:.3})"
    );

    // The caller hangs up: the operator's call ends too (BYE), and the record says so.
    first.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);
    // The operator hangs up: the caller's call ends too (the daemon's BYE on their leg).
    bela.hangup();
    second.wait_event("CALL_CLOSED", 10 * SECOND);

    // The call records say who took each call and how long the caller waited.
    let taken = |rows: &[Vec<String>]| -> Vec<(String, String)> {
        rows.iter()
            .filter(|r| r.get(5).map(String::as_str) == Some("operator"))
            .map(|r| (r[8].clone(), r[7].clone()))
            .collect()
    };
    let rows = cdr_rows_when(&daemon, |rows| taken(rows).len() == 2);
    let mut who: Vec<String> = taken(&rows).into_iter().map(|t| t.0).collect();
    who.sort_unstable();
    assert_eq!(who, ["anna", "bela"], "{rows:?}");
    assert!(
        taken(&rows).iter().all(|t| t.1.parse::<u64>().is_ok()),
        "queue wait recorded: {rows:?}"
    );
    // Both calls were relayed for seconds both ways: 100 packets a second per call.
    let (_, metrics) = http_get(daemon.admin_port, "/metrics");
    let relayed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ugyelet_rtp_packets_total{direction=\"relayed\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        relayed > 400,
        "relayed packets counted: {relayed}\n{metrics}"
    );
}

#[test]
fn with_nobody_logged_in_the_caller_reaches_the_fallback_node() {
    let ops = anna_only();
    // anna has an account but no phone registered.
    let daemon = start_daemon(&ops, &[]);
    let caller = call_and_ask_for_operator(&daemon, None);
    let before = caller.received_wav().len();
    wait_for_prompt(&caller, "no_operator", before, 0, 20 * SECOND);
}

#[test]
fn caller_hanging_up_while_the_operator_rings_stops_the_ringing() {
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[]);
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", None, false);
    wait_available(&daemon, "anna");
    let caller = call_and_ask_for_operator(&daemon, None);
    anna.wait_event("CALL_INCOMING", 20 * SECOND);
    caller.hangup();
    // baresip closes an incoming call it has not answered when the CANCEL arrives.
    let closed = anna.wait_event("CALL_CLOSED", 10 * SECOND);
    assert!(
        anna.events().iter().all(|e| e.kind != "CALL_ESTABLISHED"),
        "the operator's phone must stop ringing, not connect: {}",
        closed.raw
    );
    // Nobody took the call: it is recorded for a callback.
    cdr_rows_when(&daemon, |rows| {
        rows.iter()
            .any(|r| r.get(5).map(String::as_str) == Some("abandoned_queue"))
    });
    let (_, body) = http_get(daemon.admin_port, "/api/callbacks");
    assert!(body.contains("abandoned_queue"), "{body}");
}

#[test]
fn wrong_password_is_refused_and_the_operator_never_rings() {
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[]);
    let anna = operator_phone(&daemon, "anna", "rossz-jelszo", None, true);
    // The phone registers before its control connection is up, so its own log tells.
    let log = anna.dir().join("baresip.log");
    let deadline = Instant::now() + 10 * SECOND;
    let refused = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("reg:") && l.contains("Forbidden"))
        {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the phone was not refused within 10 s: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("baresip: {refused}");
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    assert_ne!(
        operator_state(&body, "anna").as_deref(),
        Some("available"),
        "a phone with a wrong password must not take calls: {body}"
    );
}

#[test]
fn operator_pauses_and_returns_with_feature_codes_from_the_softphone() {
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[]);
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", None, true);
    wait_available(&daemon, "anna");
    for (code, expected) in [
        ("*23", "paused"),
        ("*24", "available"),
        ("*22", "offline"),
        ("*21", "available"),
    ] {
        let before = anna
            .events()
            .iter()
            .filter(|e| e.kind == "CALL_CLOSED")
            .count();
        anna.dial(&format!("sip:{code}@{}", daemon.addr()));
        // The daemon answers (after a digest challenge), plays a tone and hangs up.
        let deadline = Instant::now() + 15 * SECOND;
        while anna
            .events()
            .iter()
            .filter(|e| e.kind == "CALL_CLOSED")
            .count()
            == before
        {
            assert!(Instant::now() < deadline, "feature call {code} did not end");
            std::thread::sleep(Duration::from_millis(100));
        }
        let (_, body) = http_get(daemon.admin_port, "/api/operators");
        assert_eq!(
            operator_state(&body, "anna").as_deref(),
            Some(expected),
            "after {code}: {body}"
        );
    }
    let (_, metrics) = http_get(daemon.admin_port, "/metrics");
    assert!(
        metrics.contains("ugyelet_operators{state=\"available\",location=\"on_site\"} 1"),
        "{metrics}"
    );
    // The four calls were the operator's, not residents': counted apart, not recorded.
    assert!(
        metrics.contains("ugyelet_operator_feature_calls_total 4\n")
            && metrics.contains("ugyelet_calls_total{outcome=\"completed\"} 0\n"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let db = rusqlite::Connection::open(daemon.state_dir.join("ugyelet.db")).expect("records");
    let recorded: i64 = db
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        recorded, 0,
        "feature-code calls are not in the call records"
    );
    // The confirmation is the 1 kHz `beep` prompt.
    let got = anna.received_wav();
    let share = tone_share(&got, 1000.0);
    assert!(
        got.len() >= ms(300) && share > 0.5,
        "the confirmation tone: {} samples, 1 kHz share {share:.2}",
        got.len()
    );
}

#[test]
fn waiting_caller_hears_the_position_then_asks_for_a_callback_with_a_key_and_is_listed() {
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[("UGYELET_OPERATORS__ANNOUNCE_EVERY_S", "3")]);
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", None, true);
    wait_available(&daemon, "anna");
    // Logged in but paused: callers wait for her.
    let (code, body) = http(
        daemon.admin_port,
        "POST",
        "/api/operators/anna/pause",
        Some(r#"{"reason": "ebéd"}"#),
    );
    assert_eq!(code, 200, "{body}");
    let caller = call_and_ask_for_operator(&daemon, None);
    let (offer_at, _, _) = wait_for_prompt(&caller, "callback_offer", 0, 0, 20 * SECOND);
    let after_offer = offer_at + load_prompt("callback_offer").len();
    let (next_at, ncc, _) = wait_for_prompt(&caller, "queue_next", after_offer, 0, 20 * SECOND);
    eprintln!(
        "\"Ön a következő a sorban.\" {:.1} s after the offer (ncc {ncc:.3})",
        (next_at - after_offer) as f64 / RATE as f64
    );
    assert!(
        anna.events().iter().all(|e| e.kind != "CALL_INCOMING"),
        "a paused operator must not ring"
    );
    let pressed = caller.received_wav().len();
    caller.send_dtmf('1');
    wait_for_prompt(&caller, "callback_confirmed", pressed, 0, 20 * SECOND);
    caller.hangup();
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let (code, body) = http_get(daemon.admin_port, "/api/callbacks");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let listed = v["calls"].as_array().is_some_and(|calls| {
            calls
                .iter()
                .any(|c| c["caller"] == "+36301234567" && c["outcome"] == "callback")
        });
        if listed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the caller who left the queue is not listed for a callback: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The same call is on the worklist the console shows, in the store's database; the
    // call-record writer adds it right after the record, so it may lag the list by a moment.
    let store = ugyelet::store::Store::open(&daemon.state_dir.join("outbox.db")).expect("store");
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let work = store.worklist(false).expect("worklist");
        let entry = work.iter().find(|e| e.number == "+36301234567");
        if let Some(e) = entry {
            assert_eq!(e.kinds, [ugyelet::store::WorkKind::Callback]);
            assert_eq!((e.count, e.owner.as_deref()), (1, None));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the caller is not on the worklist: {work:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_operator_added_with_passwd_registers_without_a_restart() {
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["passwd", "cecil", "--location", "remote", "--file"])
        .arg(&ops)
        .env("UGYELET_PASSWORD", "cecil-uj-jelszava")
        .output()
        .expect("run ugyelet passwd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The daemon notices the edited file and takes the new account.
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let (_, body) = http_get(daemon.admin_port, "/api/operators");
        if operator_state(&body, "cecil").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "new account not loaded: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let cecil = operator_phone(&daemon, "cecil", "cecil-uj-jelszava", None, true);
    wait_available(&daemon, "cecil");
    drop(cecil);
}

#[test]
fn operators_phone_shows_what_the_caller_came_about_and_the_number_and_gets_the_calls_console_link()
{
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[]);
    let anna = Baresip::start(BaresipConfig {
        user: "anna".to_owned(),
        // Ringing (not answering at once) is when baresip reports the incoming call.
        manual_answer: true,
        register: Some((daemon.addr(), "anna-jelszava-7".to_owned())),
        sip_trace: true,
        ..BaresipConfig::default()
    });
    wait_available(&daemon, "anna");

    // The caller (+36 30 123 4567) chooses 2 (forms), then 2 (a form by email, through an
    // operator).
    let caller = Baresip::caller();
    caller.dial(&daemon.uri());
    caller.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (at, _, _) = wait_for_prompt(&caller, "main_menu", 0, 0, 30 * SECOND);
    caller.send_dtmf('2');
    wait_for_prompt(&caller, "forms_menu", at, 0, 30 * SECOND);
    caller.send_dtmf('2');

    // What the operator's phone shows: the topic and the number, as baresip read the
    // From header's display name.
    let incoming = anna.wait_event("CALL_INCOMING", 30 * SECOND);
    assert_eq!(
        json_field(&incoming.raw, "peerdisplayname").as_deref(),
        Some("Nyomtatvány e-mailben · +36 30 123 4567"),
        "{}",
        incoming.raw
    );
    anna.accept();
    anna.wait_event("CALL_ESTABLISHED", 10 * SECOND);

    // The INVITE as it arrived: the display name quoted, the path for scripts, and the
    // console page of this very call (the id the API and the board give it).
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    let board: serde_json::Value = serde_json::from_str(&body).expect("board JSON");
    let call = board["operators"][0]["current_call"]["call"]
        .as_u64()
        .unwrap_or_else(|| panic!("anna is on a call: {body}"));
    let log = anna.log();
    let invite = log
        .split("INVITE sip:anna")
        .nth(1)
        .unwrap_or_else(|| panic!("the INVITE in baresip's SIP trace:\n{log}"));
    let header = |name: &str| {
        invite
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in the INVITE:\n{invite}"))
            .trim_end()
            .to_owned()
    };
    assert!(
        header("From: ")
            .starts_with("From: \"Nyomtatvány e-mailben · +36 30 123 4567\" <sip:+36301234567@"),
        "{}",
        header("From: ")
    );
    assert_eq!(
        header("Call-Info: "),
        format!(
            "Call-Info: <http://127.0.0.1:{}/ugyelet?hivas={call}>;purpose=info",
            daemon.admin_port
        )
    );
    assert_eq!(
        header("X-Ugyelet-Path: "),
        "X-Ugyelet-Path: welcome>check_open>main_menu>forms_menu>email_by_operator>operator>operator_queue"
    );
    caller.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);
}

/// REGISTER answers the daemon's current process gave, by status (`/api/operators`).
fn register_responses(daemon: &Daemon) -> serde_json::Value {
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    let v: serde_json::Value = serde_json::from_str(&body).expect("board JSON");
    v["register_responses"].clone()
}

/// How many baresip events of `kind` so far.
fn count(phone: &Baresip, kind: &str) -> usize {
    phone.events().iter().filter(|e| e.kind == kind).count()
}

/// Waits until `phone` has seen more than `before` events of `kind`.
fn wait_count(phone: &Baresip, kind: &str, before: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while count(phone, kind) <= before {
        assert!(
            Instant::now() < deadline,
            "no new {kind} within {timeout:?}: {:?}",
            phone
                .events()
                .iter()
                .map(|e| e.kind.clone())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn registered_operator_is_called_after_a_stop_and_after_a_kill_without_registering_again() {
    let ops = anna_only();
    let mut daemon = start_daemon(&ops, &[]);
    // The phone registers once, for ten minutes, and is not asked to again in this test.
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", None, true);
    wait_available(&daemon, "anna");
    assert_eq!(
        register_responses(&daemon),
        serde_json::json!({"200": 1, "401": 1})
    );
    let delay = ((load_prompt("welcome").len() * 1000 / RATE) as u64 + 1500).to_string();

    for how in ["SIGTERM", "SIGKILL"] {
        if how == "SIGTERM" {
            daemon.terminate();
            assert_eq!(daemon.wait_exit(10 * SECOND), Some(0), "a clean stop");
        } else {
            daemon.kill();
        }
        daemon.restart();
        assert!(
            daemon
                .wait_for_line(5 * SECOND, |l| l.contains("registrations restored"))
                .is_some(),
            "after {how}: {}",
            daemon.stderr()
        );
        wait_available(&daemon, "anna");

        // A SIPp caller presses 1 for an operator: the phone rings and answers.
        let established = count(&anna, "CALL_ESTABLISHED");
        let closed = count(&anna, "CALL_CLOSED");
        let addr = daemon.addr();
        let d = delay.clone();
        let caller = std::thread::spawn(move || {
            sipp(
                &scenario("caller_presses_1_and_waits_for_an_operator.xml"),
                &["-d", &d, "-timeout", "60s", &addr],
            )
        });
        wait_count(&anna, "CALL_ESTABLISHED", established, 40 * SECOND);
        let (_, body) = http_get(daemon.admin_port, "/api/operators");
        assert_eq!(
            operator_state(&body, "anna").as_deref(),
            Some("on_call"),
            "after {how}: {body}"
        );
        caller.join().expect("SIPp thread").assert_success();
        // The caller hung up: the operator's leg ends too.
        wait_count(&anna, "CALL_CLOSED", closed, 10 * SECOND);
        // Not one REGISTER reached this process: the binding came from the store.
        assert_eq!(
            register_responses(&daemon),
            serde_json::json!({}),
            "after {how}"
        );
    }

    // Logged out with *22 stays logged out after a crash, though the phone is reachable.
    let closed = count(&anna, "CALL_CLOSED");
    anna.dial(&format!("sip:*22@{}", daemon.addr()));
    wait_count(&anna, "CALL_CLOSED", closed, 15 * SECOND);
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    assert_eq!(
        operator_state(&body, "anna").as_deref(),
        Some("offline"),
        "{body}"
    );
    daemon.kill();
    daemon.restart();
    daemon
        .wait_for_line(5 * SECOND, |l| l.contains("registrations restored"))
        .expect("the binding is restored");
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    let v: serde_json::Value = serde_json::from_str(&body).expect("board JSON");
    let row = &v["operators"][0];
    assert_eq!(
        (&row["state"], &row["logged_in"], &row["reachable"]),
        (
            &serde_json::json!("offline"),
            &serde_json::json!(false),
            &serde_json::json!(true)
        ),
        "{body}"
    );
}

/// The shipped plan with the survey after the operator: the queue's `after_operator` leads
/// to a `survey` node, then thanks and the hang-up.
fn plan_with_survey() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let calendar = root.join("dialplans/calendar");
    let text = fs::read_to_string(root.join("dialplans/main.toml")).expect("shipped plan");
    let text = text
        .replacen(
            "no_agents = \"no_operator\"\n",
            "no_agents = \"no_operator\"\nafter_operator = \"rate_help\"\n",
            1,
        )
        .replacen(
            "calendar = \"calendar\"",
            &format!("calendar = \"{}\"", calendar.display()),
            1,
        )
        + "\n[nodes.rate_help]\ntype = \"survey\"\nlabel = \"Értékelés\"\nprompts = [\"survey\"]\nnext = \"rated\"\n\n\
           [nodes.rated]\ntype = \"play\"\nprompts = [\"survey_thanks\", \"pause\", \"pause\", \"pause\"]\nbarge_in = false\nnext = \"hang_up\"\n";
    assert!(text.contains("after_operator"), "the queue node was found");
    let p = scratch_dir("survey-plan").join("main.toml");
    fs::write(&p, text).expect("write plan");
    p
}

#[test]
fn after_the_operator_hangs_up_the_caller_rates_the_help_and_the_key_is_in_the_record_and_metrics()
{
    let ops = anna_only();
    let plan = plan_with_survey().display().to_string();
    let daemon = start_daemon(&ops, &[("UGYELET_DIALPLAN__PATH", plan.as_str())]);
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", None, true);
    wait_available(&daemon, "anna");
    let caller = call_and_ask_for_operator(&daemon, None);
    anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    std::thread::sleep(2 * SECOND);
    let before = caller.received_wav().len();
    // The operator hangs up: the caller is not hung up on but asked to rate the help.
    anna.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);
    let (at, heard, _) = wait_for_prompt(&caller, "survey", before, 0, 30 * SECOND);
    eprintln!("survey prompt at sample {at}, ncc {heard:.3}");
    caller.send_dtmf('4');
    // Thanks, then the plan hangs up (the plan pauses before the BYE: a softphone's
    // recording lags its jitter buffer).
    caller.wait_event("CALL_CLOSED", 30 * SECOND);
    std::thread::sleep(SECOND);
    let got = caller.received_wav();
    let thanks = ncc(&got[at.min(got.len())..], &load_prompt("survey_thanks"));
    assert!(
        thanks > HEARD,
        "the caller hears the thanks (ncc {thanks:.3})"
    );

    // The record: the operator's call, rated 4 (the CSV's last column).
    let rows = cdr_rows_when(&daemon, |rows| {
        rows.iter()
            .any(|r| r.get(5).map(String::as_str) == Some("operator"))
    });
    let row = rows
        .iter()
        .find(|r| r.get(5).map(String::as_str) == Some("operator"))
        .expect("the operator's call");
    assert_eq!(row.get(8).map(String::as_str), Some("anna"), "{row:?}");
    assert_eq!(row.get(11).map(String::as_str), Some("4"), "{row:?}");
    let (_, metrics) = http_get(daemon.admin_port, "/metrics");
    assert!(
        metrics.contains("ugyelet_survey_ratings_total{rating=\"4\"} 1\n")
            && metrics.contains("ugyelet_survey_ratings_total{rating=\"5\"} 0\n"),
        "{metrics}"
    );
}

/// The value of the sample line `name` (with its labels, exactly) in a scrape.
fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in the scrape:\n{scrape}"))
}

/// Every metric name a PromQL expression of the dashboard reads.
fn dashboard_metric_names(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "expr" {
                    let expr = v.as_str().expect("expr is text");
                    let mut rest = expr;
                    while let Some(at) = rest.find(|c: char| c.is_ascii_alphabetic()) {
                        let word: String = rest[at..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        rest = &rest[at + word.len().max(1)..];
                        if word.starts_with("ugyelet_") || word.starts_with("node_") {
                            out.push(word);
                        }
                    }
                } else {
                    dashboard_metric_names(v, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| dashboard_metric_names(v, out)),
        _ => {}
    }
}

#[test]
fn after_a_bridged_call_the_scrape_has_latency_samples_passes_promtool_and_has_every_dashboard_metric()
 {
    let dir = scratch_dir("metrics");
    let (caller_wav, _) = speech_file(
        &dir,
        "caller.wav",
        "Jó estét, a szemétszállításról kérdeznék.",
    );
    let (anna_wav, _) = speech_file(&dir, "anna.wav", "Jó estét, Kovács Anna vagyok.");
    // A trunk that needs no registration (the provider knows us by address), so its
    // gauges are in the scrape as on a real line; nothing is sent to it.
    let daemon = start_daemon(
        &anna_only(),
        &[
            ("UGYELET_TRUNK__REGISTRAR", "127.0.0.1:9"),
            ("UGYELET_TRUNK__REGISTER", "false"),
        ],
    );
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", Some(anna_wav), true);
    wait_available(&daemon, "anna");
    let caller = call_and_ask_for_operator(&daemon, Some(caller_wav));
    anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    // Four seconds of speech both ways through the bridge.
    std::thread::sleep(4 * SECOND);
    caller.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);

    let (status, scrape) = http_get(daemon.admin_port, "/metrics");
    assert_eq!(status, 200);
    // The caller's INVITE was answered after the configured ringing (200 ms here).
    assert_eq!(
        sample(&scrape, "ugyelet_call_setup_seconds_count"),
        1.0,
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "ugyelet_call_setup_seconds_bucket{le=\"0.1\"}"),
        0.0
    );
    let setup = sample(&scrape, "ugyelet_call_setup_seconds_sum");
    assert!((0.2..5.0).contains(&setup), "set-up took {setup} s");
    // One stay in the queue, ended by anna answering.
    let answered = "ugyelet_queue_wait_seconds_count{end=\"answered\"}";
    assert_eq!(sample(&scrape, answered), 1.0, "{scrape}");
    assert_eq!(
        sample(&scrape, "ugyelet_queue_wait_seconds_count{end=\"left\"}"),
        0.0
    );
    let waited = sample(&scrape, "ugyelet_queue_wait_seconds_sum{end=\"answered\"}");
    assert!(waited > 0.0 && waited < 20.0, "waited {waited} s");
    // 100 packets a second relayed for seconds, one in 16 timed, nearly all well under
    // a packet interval.
    let relayed = sample(&scrape, "ugyelet_relay_delay_seconds_count");
    assert!(relayed >= 10.0, "relay samples: {relayed}\n{scrape}");
    eprintln!(
        "set-up {setup:.3} s, queue wait {waited:.3} s, relay: {relayed} samples, {:.6} s on average",
        sample(&scrape, "ugyelet_relay_delay_seconds_sum") / relayed
    );
    let quick = sample(&scrape, "ugyelet_relay_delay_seconds_bucket{le=\"0.02\"}");
    assert!(
        quick >= 0.9 * relayed,
        "{quick} of {relayed} relayed within 20 ms"
    );

    // Prometheus' own linter accepts the exposition as a whole.
    let file = dir.join("scrape.txt");
    std::fs::write(&file, &scrape).expect("write scrape");
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("scrape file"))
        .output()
        .expect("promtool (Debian package prometheus) runs");
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The shipped dashboard reads only names this scrape has (node_exporter's own aside).
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/grafana/ugyelet.json"
        ))
        .expect("dashboard file"),
    )
    .expect("the dashboard is JSON");
    let mut names = Vec::new();
    dashboard_metric_names(&dashboard, &mut names);
    let ours: Vec<&String> = names.iter().filter(|n| n.starts_with("ugyelet_")).collect();
    assert!(ours.len() >= 12, "the dashboard's queries: {names:?}");
    let scraped: std::collections::BTreeSet<&str> = scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&&String> = ours
        .iter()
        .filter(|n| !scraped.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboard metrics not in a real scrape: {missing:?}"
    );
    for needed in [
        "ugyelet_calls_total",
        "ugyelet_queue_wait_seconds_bucket",
        "ugyelet_call_setup_seconds_bucket",
        "ugyelet_relay_delay_seconds_bucket",
        "ugyelet_operators",
        "ugyelet_outbox_messages",
        "ugyelet_trunk_registered",
    ] {
        assert!(names.iter().any(|n| n == needed), "no panel reads {needed}");
    }
}

/// The first four seconds of the music on hold: enough to know it, without waiting for
/// the whole 16 s prompt.
fn music_on_hold_start() -> Vec<i16> {
    let mut moh = load_prompt("music_on_hold");
    moh.truncate(ms(4000));
    moh
}

#[test]
fn when_the_operator_holds_the_caller_hears_music_on_hold_and_the_operator_again_after_resume() {
    let dir = scratch_dir("hold");
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[]);
    let (anna_wav, anna_speech) = speech_file(
        &dir,
        "anna.wav",
        "Jó napot kívánok, Kovács Anna vagyok, miben segíthetek?",
    );
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", Some(anna_wav), true);
    wait_available(&daemon, "anna");
    let caller = call_and_ask_for_operator(&daemon, None);
    anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    let bridged = wait_heard(&caller, &anna_speech, HEARD, 30 * SECOND);
    assert!(
        bridged > HEARD,
        "bridged: the caller hears anna ({bridged:.3})"
    );

    // Anna's softphone holds the call (a re-INVITE with a=sendonly). The caller waited
    // in the queue with the same music, so only what arrives from now on counts.
    let held_from = caller.received_wav().len();
    anna.command("hold", None);
    let moh = music_on_hold_start();
    let (heard_moh, moh_at) = heard_where(&caller, &moh, held_from, HEARD, 20 * SECOND);
    eprintln!("music on hold at sample {moh_at} (hold from {held_from}), ncc {heard_moh:.3}");
    assert!(
        heard_moh > HEARD,
        "the held caller hears music on hold (ncc {heard_moh:.3})"
    );
    // Anna says her sentence every few seconds; none of it reaches the held caller.
    std::thread::sleep(6 * SECOND);
    let during = caller.received_wav();
    let leaked = ncc(&during[moh_at..], &anna_speech);
    assert!(
        leaked < HEARD,
        "nothing of the holder reaches the caller (ncc {leaked:.3})"
    );

    // Anna resumes (a=sendrecv): the caller hears her again.
    let resumed_from = caller.received_wav().len();
    anna.command("resume", None);
    let (again, _) = heard_where(&caller, &anna_speech, resumed_from, HEARD, 30 * SECOND);
    assert!(
        again > HEARD,
        "after the resume the caller hears anna again (ncc {again:.3})"
    );
    caller.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);
}

#[test]
fn when_the_caller_holds_the_operator_hears_music_on_hold_and_the_caller_again_after_resume() {
    let dir = scratch_dir("hold");
    let ops = anna_only();
    let daemon = start_daemon(&ops, &[]);
    let (caller_wav, caller_speech) = speech_file(
        &dir,
        "caller.wav",
        "Az építési engedélyről szeretnék érdeklődni, köszönöm szépen.",
    );
    let anna = operator_phone(&daemon, "anna", "anna-jelszava-7", None, true);
    wait_available(&daemon, "anna");
    let caller = call_and_ask_for_operator(&daemon, Some(caller_wav));
    anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    let bridged = wait_heard(&anna, &caller_speech, HEARD, 30 * SECOND);
    assert!(
        bridged > HEARD,
        "bridged: anna hears the caller ({bridged:.3})"
    );

    // The resident's phone holds the call (a re-INVITE with a=sendonly, which the daemon
    // answers itself): anna hears music on hold from the daemon.
    let held_from = anna.received_wav().len();
    caller.command("hold", None);
    let moh = music_on_hold_start();
    let (heard_moh, moh_at) = heard_where(&anna, &moh, held_from, HEARD, 20 * SECOND);
    eprintln!("music on hold at sample {moh_at} (hold from {held_from}), ncc {heard_moh:.3}");
    assert!(
        heard_moh > HEARD,
        "the held operator hears music on hold (ncc {heard_moh:.3})"
    );
    std::thread::sleep(6 * SECOND);
    let during = anna.received_wav();
    let leaked = ncc(&during[moh_at..], &caller_speech);
    assert!(
        leaked < HEARD,
        "nothing of the holder reaches the operator (ncc {leaked:.3})"
    );

    let resumed_from = anna.received_wav().len();
    caller.command("resume", None);
    let (again, _) = heard_where(&anna, &caller_speech, resumed_from, HEARD, 30 * SECOND);
    assert!(
        again > HEARD,
        "after the resume anna hears the caller again (ncc {again:.3})"
    );
    anna.hangup();
    caller.wait_event("CALL_CLOSED", 10 * SECOND);
}
