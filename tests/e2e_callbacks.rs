//! Callbacks end to end: a resident asks for one with a key while waiting in the queue, the
//! daemon is killed (-9) before anyone calls back, and after the restart the line rings the
//! operator (a baresip softphone that answers by itself), then calls the resident through
//! the trunk (SIPp as the provider: it registers the daemon with Digest, challenges the
//! callback's INVITE, answers it and echoes the audio it gets). The operator hearing their
//! own voice come back through the resident's leg shows that audio crosses the bridge both
//! ways; the admin API shows the job's attempt and outcome; it happens once.

mod common;

use common::operators::heard_where;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use ugyelet::sip::auth::Credentials;

const SECOND: Duration = Duration::from_secs(1);
const RESIDENT: &str = "+36301234567";

/// An accounts file with the one on-site operator "anna" (HA1 only).
fn anna_account(dir: &Path) -> PathBuf {
    let c = Credentials::from_password("anna", "ugyelet", "anna-jelszava-7");
    let p = dir.join("operators.toml");
    fs::write(
        &p,
        format!(
            "[[operator]]\nname = \"anna\"\nlocation = \"on_site\"\nha1_md5 = \"{}\"\n",
            c.ha1_md5.unwrap_or_default()
        ),
    )
    .expect("write operators file");
    p
}

/// Speech, then two seconds of silence, again and again for two minutes (baresip ends a
/// call when its source file ends).
fn speech_file(dir: &Path, text: &str) -> (PathBuf, Vec<i16>) {
    let speech = espeak_hu(text);
    let mut samples = Vec::with_capacity(RATE * 130);
    while samples.len() < RATE * 120 {
        samples.extend_from_slice(&speech);
        samples.extend(std::iter::repeat_n(0i16, ms(2000)));
    }
    let p = dir.join("anna.wav");
    write_wav_8k(&p, &samples);
    (p, speech)
}

fn anna_phone(daemon: &Daemon, source: &Path) -> Baresip {
    Baresip::start(BaresipConfig {
        user: "anna".to_owned(),
        auto_answer: true,
        source: Some(source.to_path_buf()),
        register: Some((daemon.addr(), "anna-jelszava-7".to_owned())),
        ..BaresipConfig::default()
    })
}

fn json(daemon: &Daemon, path: &str) -> serde_json::Value {
    let (code, body) = http_get(daemon.admin_port, path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Polls `path` until `pred` holds (at most `timeout`); the last answer.
fn wait_json(
    daemon: &Daemon,
    path: &str,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let until = Instant::now() + timeout;
    loop {
        let v = json(daemon, path);
        if pred(&v) || Instant::now() >= until {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn operator_state(daemon: &Daemon) -> String {
    let v = json(daemon, "/api/operators");
    v["operators"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn wait_operator(daemon: &Daemon, state: &str) {
    let until = Instant::now() + 15 * SECOND;
    while operator_state(daemon) != state {
        assert!(
            Instant::now() < until,
            "anna not {state} within 15 s: {}",
            json(daemon, "/api/operators")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The daemon on `state` (kept across runs), with the trunk at `trunk` and the line opened
/// by hand.
fn daemon(state: &Path, ops: &Path, trunk: &str) -> Daemon {
    let state_dir = state.display().to_string();
    let ops = ops.display().to_string();
    Daemon::start(&[
        ("UGYELET_STATE__DIR", &state_dir),
        ("UGYELET_SIP__OPERATORS", &ops),
        ("UGYELET_OPERATORS__WRAP_UP_S", "1"),
        ("UGYELET_OPERATORS__RING_TIMEOUT_S", "10"),
        ("UGYELET_TRUNK__REGISTRAR", trunk),
        ("UGYELET_TRUNK__USERNAME", "budaors"),
        ("UGYELET_TRUNK__PASSWORD", "trunk secret"),
        ("UGYELET_TRUNK__CALLER_ID", "06 23 444 555"),
        ("UGYELET_TRUNK__RETRY_INITIAL_S", "1"),
        ("UGYELET_TRUNK__RETRY_MAX_S", "2"),
    ])
}

fn pause(daemon: &Daemon, action: &str) {
    let (code, body) = http(
        daemon.admin_port,
        "POST",
        &format!("/api/operators/anna/{action}"),
        Some(r#"{"reason": "ebéd"}"#),
    );
    assert_eq!(code, 200, "{action}: {body}");
}

#[test]
fn a_callback_asked_for_in_the_queue_survives_kill_9_rings_the_operator_then_the_resident_and_both_hear_each_other()
 {
    let dir = scratch_dir("callbacks");
    let state = dir.join("state");
    fs::create_dir_all(&state).expect("state dir");
    // The line is staffed only a few hours a week: open by hand, for calls and callbacks.
    fs::write(
        state.join("override.toml"),
        "mode = \"open\"\nreason = \"test\"\n",
    )
    .expect("write override");
    let ops = anna_account(&dir);
    let (anna_wav, anna_speech) = speech_file(
        &dir,
        "Jó napot kívánok, Kovács Anna vagyok a polgármesteri hivatalból, visszahívom.",
    );
    // The provider's port, where nobody answers during the first run.
    let trunk_port = free_ports(2);
    let trunk = format!("127.0.0.1:{trunk_port}");

    // First run: anna is logged in but at lunch, so the caller waits in the queue and
    // presses 1 for a callback.
    let mut first = daemon(&state, &ops, &trunk);
    let anna = anna_phone(&first, &anna_wav);
    wait_operator(&first, "available");
    pause(&first, "pause");
    let caller = Baresip::caller();
    caller.dial(&first.uri());
    caller.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    wait_for_prompt(&caller, "main_menu", 0, 0, 30 * SECOND);
    caller.send_dtmf('1');
    wait_for_prompt(&caller, "callback_offer", 0, 0, 30 * SECOND);
    let pressed = caller.received_wav().len();
    caller.send_dtmf('1');
    wait_for_prompt(&caller, "callback_confirmed", pressed, 0, 20 * SECOND);
    caller.hangup();
    // "Kollégánk ezen a számon hívja vissza Önt" was said after the job was kept.
    let listed = json(&first, "/api/callbacks");
    let jobs = listed["jobs"].as_array().expect("jobs listed");
    assert_eq!(jobs.len(), 1, "{listed}");
    assert_eq!(jobs[0]["number"], RESIDENT, "{listed}");
    assert_eq!(jobs[0]["number_display"], "+36 30 123 4567", "{listed}");
    assert_eq!(jobs[0]["state"], "waiting", "{listed}");
    assert_eq!(jobs[0]["attempts"], serde_json::json!([]), "{listed}");
    // A crash before anyone called back.
    first.kill();
    drop(anna);

    // The provider is up now; the second run takes the job up from the store.
    let sipp_port = trunk_port.to_string();
    let provider = std::thread::spawn(move || {
        sipp(
            &scenario("trunk_registers_the_daemon_and_answers_its_callback.xml"),
            &["-p", &sipp_port, "-m", "2", "-rtp_echo", "-timeout", "120s"],
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let second = daemon(&state, &ops, &trunk);
    let status = wait_json(&second, "/api/status", 15 * SECOND, |v| {
        v["trunk"]["state"] == "registered"
    });
    assert_eq!(status["trunk"]["state"], "registered", "{status}");
    let anna = anna_phone(&second, &anna_wav);
    // Still at lunch (operator states survive restarts): nobody is called yet.
    wait_operator(&second, "paused");
    std::thread::sleep(2 * SECOND);
    assert!(
        anna.events().iter().all(|e| !e.kind.starts_with("CALL_")),
        "a paused operator is not rung for a callback"
    );
    let waiting = json(&second, "/api/callbacks");
    assert_eq!(waiting["jobs"][0]["state"], "waiting", "{waiting}");
    assert_eq!(waiting["jobs"][0]["requests"], 1, "{waiting}");

    // Back from lunch: the operator's phone rings first (it answers by itself), showing
    // whom the callback is for.
    pause(&second, "unpause");
    let answered = anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    assert!(
        answered.param.starts_with("sip:+36301234567@"),
        "the operator's phone shows the resident's number: {}",
        answered.raw
    );
    // The resident answers through the trunk and echoes what they hear: anna hears her
    // own words come back over the resident's leg.
    let mut best = 0.0;
    let until = Instant::now() + 30 * SECOND;
    while Instant::now() < until {
        best = find_prompt(&anna.received_wav(), &anna_speech).map_or(0.0, |(_, n)| n);
        if best > HEARD {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("anna heard her words through the resident's leg: ncc {best:.3}");
    assert!(
        best > HEARD,
        "the operator's voice must cross to the resident and the resident's back (ncc {best:.3})"
    );
    let during = json(&second, "/api/operators");
    assert_eq!(
        during["operators"][0]["current_call"]["path_label"], "Visszahívás",
        "{during}"
    );
    assert_eq!(
        during["operators"][0]["current_call"]["caller"], RESIDENT,
        "{during}"
    );

    // The operator hangs up: the resident's leg ends too (SIPp sees the BYE).
    anna.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);
    let sipp = provider.join().expect("SIPp thread");
    sipp.assert_success();
    let done = wait_json(&second, "/api/callbacks", 10 * SECOND, |v| {
        v["jobs"][0]["state"] == "reached"
    });
    let job = &done["jobs"][0];
    assert_eq!(job["state"], "reached", "{done}");
    let attempts = job["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "called back once: {done}");
    assert_eq!(attempts[0]["operator"], "anna", "{done}");
    assert_eq!(attempts[0]["result"], "reached", "{done}");
    assert_eq!(attempts[0]["status"], 200, "{done}");

    // Once: no second ring for the operator, no second attempt.
    std::thread::sleep(3 * SECOND);
    // Both directions crossed the relay for seconds, 50 packets a second each way.
    let (_, metrics) = http_get(second.admin_port, "/metrics");
    let relayed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ugyelet_rtp_packets_total{direction=\"relayed\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(relayed > 400, "relayed packets counted: {relayed}");
    let rings = anna
        .events()
        .iter()
        .filter(|e| e.kind == "CALL_ESTABLISHED")
        .count();
    assert_eq!(rings, 1, "the operator rang once");
    let after = json(&second, "/api/callbacks");
    assert_eq!(
        after["jobs"][0]["attempts"].as_array().map(Vec::len),
        Some(1),
        "{after}"
    );
    assert!(
        !second.stderr().contains("trunk secret"),
        "the trunk password never reaches the log"
    );
    assert!(
        !second.stderr().contains("301234567") && !first.stderr().contains("301234567"),
        "the resident's number is masked in the log"
    );
}

#[test]
fn when_the_resident_holds_a_callback_the_operator_hears_music_on_hold_then_the_resident_again() {
    let dir = scratch_dir("callback-hold");
    let state = dir.join("state");
    fs::create_dir_all(&state).expect("state dir");
    fs::write(
        state.join("override.toml"),
        "mode = \"open\"\nreason = \"test\"\n",
    )
    .expect("write override");
    let ops = anna_account(&dir);
    let (anna_wav, anna_speech) = speech_file(&dir, "Kovács Anna vagyok, visszahívom.");
    // The provider: it registers the daemon, answers the callback, echoes the audio, holds
    // after ten seconds of talk and resumes ten seconds later.
    let trunk_port = free_ports(2);
    let trunk = format!("127.0.0.1:{trunk_port}");
    let sipp_port = trunk_port.to_string();
    let provider = std::thread::spawn(move || {
        sipp(
            &scenario("trunk_answers_a_callback_whose_resident_holds_and_resumes.xml"),
            &["-p", &sipp_port, "-m", "2", "-rtp_echo", "-timeout", "120s"],
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let daemon = daemon(&state, &ops, &trunk);
    let status = wait_json(&daemon, "/api/status", 15 * SECOND, |v| {
        v["trunk"]["state"] == "registered"
    });
    assert_eq!(status["trunk"]["state"], "registered", "{status}");
    let anna = anna_phone(&daemon, &anna_wav);
    wait_operator(&daemon, "available");
    // An operator asks for the callback by hand: anna is rung, then the resident.
    let (code, body) = http(
        daemon.admin_port,
        "POST",
        "/api/callbacks",
        Some(&format!(r#"{{"number": "{RESIDENT}"}}"#)),
    );
    assert_eq!(code, 201, "callback asked for: {body}");
    anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);

    // The music on hold's first four seconds: enough to know it (the prompt is 16 s, the
    // hold 10 s). Anna hears it only while the resident holds, and never heard it before
    // (a callback's operator waits in no queue).
    let mut moh = load_prompt("music_on_hold");
    moh.truncate(ms(4000));
    let (heard_moh, moh_at) = heard_where(&anna, &moh, 0, HEARD, 40 * SECOND);
    eprintln!("music on hold at sample {moh_at}, ncc {heard_moh:.3}");
    assert!(
        heard_moh > HEARD,
        "the held operator hears music on hold (ncc {heard_moh:.3})"
    );
    // Before the hold, her words came back over the resident's leg.
    let got = anna.received_wav();
    let before = find_prompt(&got[..moh_at], &anna_speech).map_or(0.0, |(_, n)| n);
    eprintln!("anna heard her words before the hold: ncc {before:.3}");
    assert!(
        before > HEARD,
        "before the hold the relay carries audio both ways (ncc {before:.3})"
    );
    // After the resume, her words come back again: nothing of them reaches her while held,
    // so a match behind the music's start is after the resume.
    let (again, again_at) =
        heard_where(&anna, &anna_speech, moh_at + moh.len(), HEARD, 30 * SECOND);
    eprintln!("anna heard her words again at sample {again_at}: ncc {again:.3}");
    assert!(
        again > HEARD,
        "after the resume the relay goes on (ncc {again:.3})"
    );

    anna.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);
    let sipp = provider.join().expect("SIPp thread");
    sipp.assert_success();
    let done = wait_json(&daemon, "/api/callbacks", 10 * SECOND, |v| {
        v["jobs"][0]["state"] == "reached"
    });
    assert_eq!(done["jobs"][0]["state"], "reached", "{done}");
}
