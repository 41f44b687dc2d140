//! Operator phones registering, driven by SIPp: digest authentication (RFC 3261 §22,
//! qop=auth) leads to a binding the admin API shows; an account is logged in only while its
//! phone is registered and it has not logged out; a phone guessing passwords is throttled
//! (403) after a few wrong answers, and the daemon says so in its log.

mod common;

use common::*;
use std::fs;
use std::time::{Duration, Instant};
use ugyelet::sip::auth::Credentials;

fn daemon_with_operator(name: &str, password: &str) -> Daemon {
    let dir = scratch_dir("register");
    let c = Credentials::from_password(name, "ugyelet", password);
    let file = dir.join("operators.toml");
    fs::write(
        &file,
        format!(
            "[[operator]]\nname = \"{name}\"\nha1_md5 = \"{}\"\n",
            c.ha1_md5.unwrap_or_default()
        ),
    )
    .expect("write operators file");
    let file = file.display().to_string();
    Daemon::start(&[("UGYELET_SIP__OPERATORS", file.as_str())])
}

fn state_of(daemon: &Daemon, name: &str) -> Option<String> {
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["operators"]
        .as_array()?
        .iter()
        .find(|o| o["name"] == name)
        .and_then(|o| o["state"].as_str().map(str::to_owned))
}

#[test]
fn sipp_registers_with_digest_and_unregisters() {
    let daemon = daemon_with_operator("kati", "Kati-titka-42");
    assert_eq!(state_of(&daemon, "kati").as_deref(), Some("offline"));
    let r = sipp(
        &scenario("operator_registers_with_digest.xml"),
        &[
            daemon.addr().as_str(),
            "-s",
            "kati",
            "-au",
            "kati",
            "-ap",
            "Kati-titka-42",
        ],
    );
    r.assert_success();
    // Registered, then unregistered at the scenario's end: the daemon logged both.
    let registered = daemon.wait_for_line(Duration::from_secs(5), |l| {
        l.contains("operator registered") && l.contains("kati")
    });
    assert!(
        registered.is_some(),
        "no registration logged:\n{}",
        daemon.stderr()
    );
    let removed = daemon.wait_for_line(Duration::from_secs(5), |l| {
        l.contains("operator binding removed") && l.contains("kati")
    });
    assert!(
        removed.is_some(),
        "no unregistration logged:\n{}",
        daemon.stderr()
    );
    assert_eq!(state_of(&daemon, "kati").as_deref(), Some("offline"));
}

#[test]
fn sipp_guessing_passwords_is_throttled_with_403() {
    let daemon = daemon_with_operator("kati", "Kati-titka-42");
    let started = Instant::now();
    let r = sipp(
        &scenario("operator_wrong_password_is_throttled.xml"),
        &[
            daemon.addr().as_str(),
            "-s",
            "kati",
            "-au",
            "kati",
            "-ap",
            "talan-ez",
        ],
    );
    r.assert_success();
    eprintln!("throttled after {:?}", started.elapsed());
    assert_ne!(state_of(&daemon, "kati").as_deref(), Some("available"));
    // Each wrong answer and the refusals after them are security lines with the full
    // source address (what a fail2ban jail reads).
    let throttled = daemon.wait_for_line(Duration::from_secs(5), |l| {
        l.contains("ugyelet::security: auth_throttled ip=127.0.0.1 port=")
            && l.contains("account=\"kati\"")
    });
    assert!(
        throttled.is_some(),
        "throttling not logged:\n{}",
        daemon.stderr()
    );
    let log = daemon.stderr();
    let failed = log
        .lines()
        .filter(|l| l.contains("ugyelet::security: auth_failed ip=127.0.0.1 port="))
        .count();
    assert_eq!(
        failed, 5,
        "each checked wrong password is logged once:\n{log}"
    );
}

/// `(reachable, logged_out, logged_in)` of operator `name` in `/api/operators`.
fn flags_of(daemon: &Daemon, name: &str) -> (bool, bool, bool) {
    let (code, body) = http_get(daemon.admin_port, "/api/operators");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let op = v["operators"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["name"] == name))
        .unwrap_or_else(|| panic!("{name} listed: {body}"));
    let flag = |k: &str| {
        op[k]
            .as_bool()
            .unwrap_or_else(|| panic!("{k} is a boolean: {body}"))
    };
    (flag("reachable"), flag("logged_out"), flag("logged_in"))
}

fn wait_flags(daemon: &Daemon, name: &str, want: (bool, bool, bool)) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while flags_of(daemon, name) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        flags_of(daemon, name),
        want,
        "(reachable, logged_out, logged_in) of {name}"
    );
}

#[test]
fn an_account_is_logged_in_only_once_its_phone_registered_and_until_it_logs_out_or_unregisters() {
    let daemon = daemon_with_operator("kati", "Kati-titka-42");
    // A configured account whose phone never registered is not logged in.
    assert_eq!(flags_of(&daemon, "kati"), (false, false, false));
    assert_eq!(state_of(&daemon, "kati").as_deref(), Some("offline"));

    // One phone: both SIPp runs use the same port, so the same Contact.
    let port = free_ports(2).to_string();
    let r = sipp(
        &scenario("operator_registers_and_stays_registered.xml"),
        &[
            "-p",
            &port,
            daemon.addr().as_str(),
            "-s",
            "kati",
            "-au",
            "kati",
            "-ap",
            "Kati-titka-42",
        ],
    );
    r.assert_success();
    wait_flags(&daemon, "kati", (true, false, true));
    assert_eq!(state_of(&daemon, "kati").as_deref(), Some("available"));

    // Logging out (what *22 does) keeps the registration but leaves the queue.
    let (code, body) = http(
        daemon.admin_port,
        "POST",
        "/api/operators/kati/logout",
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(flags_of(&daemon, "kati"), (true, true, false));
    let (code, body) = http(daemon.admin_port, "POST", "/api/operators/kati/login", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(flags_of(&daemon, "kati"), (true, false, true));

    // The phone unregisters (registers again, then Expires: 0): no longer logged in.
    let r = sipp(
        &scenario("operator_registers_with_digest.xml"),
        &[
            "-p",
            &port,
            daemon.addr().as_str(),
            "-s",
            "kati",
            "-au",
            "kati",
            "-ap",
            "Kati-titka-42",
        ],
    );
    r.assert_success();
    wait_flags(&daemon, "kati", (false, false, false));
}
