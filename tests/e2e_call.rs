//! The daemon end to end: the real `ugyelet` binary on 127.0.0.1, called by baresip and
//! by SIPp. Which prompt a caller heard, and when, is judged on the audio the caller
//! received (normalised cross-correlation against the prompt files), not on the daemon's
//! logs. Every test starts its own daemon on its own ports, so they run in parallel.

mod common;

use common::*;
use std::thread;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
/// A prompt counts as absent below this NCC (unrelated speech scores ~0.2 at most).
const ABSENT: f64 = 0.5;

/// Calls a fresh daemon from a fresh baresip and waits for the call to be answered.
fn answered_call() -> (Daemon, Baresip) {
    let daemon = Daemon::start(&[]);
    let phone = Baresip::caller();
    phone.dial(&daemon.uri());
    phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    (daemon, phone)
}

/// Waits until the menu has played for one second after the welcome prompt and returns
/// how many samples had been received then: audio from there on came after the key.
fn wait_into_menu(phone: &Baresip) -> usize {
    let welcome = load_prompt("welcome");
    let (w_at, _, _) = wait_for_prompt(phone, "welcome", 0, ms(1000), 20 * SECOND);
    let got = phone.received_wav();
    assert!(got.len() >= w_at + welcome.len() + ms(1000));
    got.len()
}

/// The NCC of `id` within `audio`, 0 if it cannot be searched.
fn ncc_of(audio: &[i16], id: &str) -> f64 {
    find_prompt(audio, &load_prompt(id)).map_or(0.0, |(_, ncc)| ncc)
}

#[test]
fn caller_hears_welcome_at_once_then_main_menu() {
    let (_daemon, phone) = answered_call();
    let welcome = load_prompt("welcome");
    let (w_at, w_ncc, _) = wait_for_prompt(&phone, "welcome", 0, 0, 15 * SECOND);
    let w_end = w_at + welcome.len();
    let (m_at, m_ncc, _) = wait_for_prompt(&phone, "main_menu", w_end, 0, 20 * SECOND);
    phone.hangup();
    eprintln!("welcome at {w_at} ncc {w_ncc:.4}; main_menu at {m_at} ncc {m_ncc:.4}");
    assert!(
        w_at < ms(1000),
        "welcome must open the received audio, found at {:.2} s",
        w_at as f64 / RATE as f64
    );
    assert!(
        m_at - w_end < ms(2000),
        "main menu must follow welcome, gap {:.2} s",
        (m_at - w_end) as f64 / RATE as f64
    );
}

#[test]
fn key_3_interrupts_menu_plays_office_hours_then_daemon_hangs_up() {
    let (_daemon, phone) = answered_call();
    let key_at = wait_into_menu(&phone);
    let pressed = Instant::now();
    phone.send_dtmf('3');
    let closed = phone.wait_event("CALL_CLOSED", 25 * SECOND);
    let got = phone.received_wav();

    let office = load_prompt("office_hours");
    let goodbye = load_prompt("goodbye");
    let before = ncc_of(&got[..key_at], "office_hours");
    assert!(
        before < ABSENT,
        "office hours heard before the key ({before:.4})"
    );
    let (o_at, o_ncc) = find_prompt(&got[key_at..], &office).expect("audio after the key");
    assert!(
        o_ncc > HEARD,
        "office hours not heard after key 3 (ncc {o_ncc:.4})"
    );
    assert!(
        o_at < ms(1500),
        "office hours must interrupt the menu: it began {:.2} s after the key",
        o_at as f64 / RATE as f64
    );
    let o_end = key_at + o_at + office.len();
    // The last frames may still sit in the jitter buffer when the BYE arrives.
    let goodbye_head = &goodbye[..goodbye.len() * 9 / 10];
    let (g_at, g_ncc) = find_prompt(&got[o_end..], goodbye_head).expect("audio after office hours");
    assert!(
        g_ncc > HEARD,
        "goodbye not heard after office hours (ncc {g_ncc:.4})"
    );
    assert!(
        g_at < ms(2000),
        "goodbye follows office hours, gap {g_at} samples"
    );
    eprintln!(
        "office_hours {o_ncc:.4} at +{o_at} after key; goodbye {g_ncc:.4}; closed ({}) {:?} after key",
        closed.param,
        closed.at - pressed
    );
    assert!(closed.at > pressed);
}

#[test]
fn star_restarts_main_menu() {
    let (_daemon, phone) = answered_call();
    let key_at = wait_into_menu(&phone);
    phone.send_dtmf('*');
    let (m_at, m_ncc, got) = wait_for_prompt(&phone, "main_menu", key_at, 0, 20 * SECOND);
    phone.hangup();
    assert!(
        m_at - key_at < ms(1500),
        "menu must restart at once after '*': began {:.2} s after the key",
        (m_at - key_at) as f64 / RATE as f64
    );
    let welcome_again = ncc_of(&got[key_at..], "welcome");
    assert!(
        welcome_again < ABSENT,
        "'*' replayed the welcome ({welcome_again:.4})"
    );
    eprintln!("menu again at +{} after '*', ncc {m_ncc:.4}", m_at - key_at);
}

#[test]
fn unknown_key_plays_invalid_key_then_menu_again() {
    let (_daemon, phone) = answered_call();
    let key_at = wait_into_menu(&phone);
    phone.send_dtmf('5');
    let invalid = load_prompt("invalid_key");
    let (i_at, _, _) = wait_for_prompt(&phone, "invalid_key", key_at, 0, 10 * SECOND);
    let i_end = i_at + invalid.len();
    let (m_at, _, _) = wait_for_prompt(&phone, "main_menu", i_end, 0, 20 * SECOND);
    phone.hangup();
    assert!(
        i_at - key_at < ms(1500),
        "invalid_key must interrupt the menu"
    );
    assert!(m_at - i_end < ms(2000), "menu must follow invalid_key");
}

/// Milliseconds into the call by which the welcome prompt is over and the menu plays.
fn into_menu_ms() -> u64 {
    (load_prompt("welcome").len() * 1000 / RATE) as u64 + 1000
}

#[test]
fn sipp_caller_hears_menu_presses_3_and_daemon_hangs_up() {
    let daemon = Daemon::start(&[]);
    let d = into_menu_ms().to_string();
    let result = sipp(
        &scenario("caller_hears_menu_presses_3_and_daemon_hangs_up.xml"),
        &["-d", &d, "-timeout", "45s", &daemon.addr()],
    );
    result.assert_success();
    assert_eq!(result.stat("SuccessfulCall(C)"), Some("1"));
}

#[test]
fn sipp_caller_cancels_before_answer() {
    let daemon = Daemon::start(&[("UGYELET_CALL__ANSWER_DELAY_MS", "5000")]);
    let result = sipp(
        &scenario("caller_cancels_before_answer.xml"),
        &["-timeout", "15s", &daemon.addr()],
    );
    result.assert_success();
}

#[test]
fn sipp_caller_hangs_up_with_bye() {
    let mut daemon = Daemon::start(&[]);
    let result = sipp(
        &scenario("caller_hangs_up_with_bye.xml"),
        &["-timeout", "15s", &daemon.addr()],
    );
    result.assert_success();
    assert!(daemon.is_running(), "daemon survives the caller's BYE");
}

#[test]
fn sipp_caller_uses_inband_dtmf() {
    let daemon = Daemon::start(&[]);
    let al = inband_dtmf_3_alaw(into_menu_ms());
    let result = sipp_with_files(
        &scenario("caller_uses_inband_dtmf.xml"),
        &["-timeout", "45s", &daemon.addr()],
        &[("dtmf_3_inband.al", &al)],
    );
    result.assert_success();
}

#[test]
fn sipp_options_gets_200_with_allow() {
    let daemon = Daemon::start(&[]);
    let result = sipp(
        &scenario("options_gets_200_with_allow.xml"),
        &["-timeout", "10s", &daemon.addr()],
    );
    result.assert_success();
}

#[test]
fn sipp_caller_sends_info_dtmf() {
    let daemon = Daemon::start(&[]);
    let d = into_menu_ms().to_string();
    let result = sipp(
        &scenario("caller_sends_info_dtmf.xml"),
        &["-d", &d, "-timeout", "45s", &daemon.addr()],
    );
    result.assert_success();
}

#[test]
fn each_call_ends_with_one_log_line_stating_its_outcome_without_the_caller_number() {
    let daemon = Daemon::start(&[("UGYELET_CALL__ANSWER_DELAY_MS", "2000")]);
    let outcome_lines = |d: &Daemon| -> Vec<String> {
        d.stderr()
            .lines()
            .filter(|l| l.contains("outcome="))
            .map(str::to_string)
            .collect()
    };

    sipp(
        &scenario("caller_cancels_before_answer.xml"),
        &["-timeout", "15s", &daemon.addr()],
    )
    .assert_success();
    let cancelled = daemon
        .wait_for_line(5 * SECOND, |l| l.contains("outcome="))
        .unwrap_or_else(|| {
            panic!(
                "no outcome= line after a cancelled call:\n{}",
                daemon.stderr()
            )
        });

    sipp(
        &scenario("caller_hangs_up_with_bye.xml"),
        &["-timeout", "15s", &daemon.addr()],
    )
    .assert_success();
    let deadline = Instant::now() + 5 * SECOND;
    while outcome_lines(&daemon).len() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let lines = outcome_lines(&daemon);
    assert_eq!(
        lines.len(),
        2,
        "one outcome line per call:\n{}",
        lines.join("\n")
    );
    assert_eq!(lines[0], cancelled);

    let first = log_fields(&lines[0]);
    let second = log_fields(&lines[1]);
    eprintln!("call log lines:\n{}\n{}", lines[0], lines[1]);
    assert_ne!(
        first.get("outcome"),
        second.get("outcome"),
        "a cancelled call and an answered call the caller ended must differ in outcome"
    );
    // Nothing the daemon logs at info level names the caller.
    for line in daemon.stderr().lines() {
        assert!(
            !line.contains("36301234567"),
            "caller number leaked into the log: {line}"
        );
    }
}
