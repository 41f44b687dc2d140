//! The outbound SIP trunk against a real registrar: SIPp plays the provider, challenges the
//! daemon's REGISTER with Digest, checks the credentials itself, and grants a lifetime short
//! enough that the refresh must come within the test.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// `/api/status`'s `trunk` object.
fn trunk_status(d: &Daemon) -> serde_json::Value {
    let (status, body) = http_request(d.admin_port, "GET", "/api/status", None, None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    v["trunk"].clone()
}

/// Polls the trunk status until `pred` holds (at most `timeout`), returning the last one.
fn wait_trunk(
    d: &Daemon,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let until = Instant::now() + timeout;
    loop {
        let t = trunk_status(d);
        if pred(&t) || Instant::now() >= until {
            return t;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts SIPp as the registrar on a free port, then the daemon with that trunk.
fn registrar_and_daemon(password: &str) -> (std::thread::JoinHandle<SippResult>, Daemon) {
    let port = free_ports(2);
    let p = port.to_string();
    let registrar = std::thread::spawn(move || {
        sipp(
            &scenario("trunk_registrar_challenges_accepts_and_sees_a_refresh.xml"),
            &["-p", &p, "-timeout", "20s"],
        )
    });
    // SIPp needs a moment to bind; a REGISTER before that is retransmitted anyway.
    std::thread::sleep(Duration::from_millis(500));
    let registrar_addr = format!("127.0.0.1:{port}");
    let daemon = Daemon::start(&[
        ("UGYELET_TRUNK__REGISTRAR", &registrar_addr),
        ("UGYELET_TRUNK__USERNAME", "budaors"),
        ("UGYELET_TRUNK__PASSWORD", password),
        ("UGYELET_TRUNK__RETRY_INITIAL_S", "30"),
    ]);
    (registrar, daemon)
}

#[test]
fn the_daemon_registers_with_digest_and_refreshes_before_the_grant_runs_out() {
    let (registrar, daemon) = registrar_and_daemon("trunk secret");
    // Registered on the refresh's grant (3600 s), not still on the first one (4 s) while
    // the refresh is on its way.
    let t = wait_trunk(&daemon, 10 * Duration::from_secs(1), |t| {
        t["state"] == "registered" && t["expires_in_s"].as_u64() > Some(3500)
    });
    let sipp = registrar.join().expect("SIPp thread");
    sipp.assert_success();
    assert_eq!(t["state"], "registered", "{t}");
    assert_eq!(
        t["register_sent"], 3,
        "REGISTER, REGISTER with credentials, refresh: {t}"
    );
    assert_eq!(t["failures"], 0, "{t}");
    let left = t["expires_in_s"].as_u64().expect("expires_in_s");
    assert!(left > 3500, "the refresh was granted 3600 s: {t}");

    let (status, body) = http_request(daemon.admin_port, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&body);
    assert!(
        metrics.contains("\nugyelet_trunk_registered 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nugyelet_trunk_register_requests_total 3\n"),
        "{metrics}"
    );
    assert!(
        daemon.stderr().contains("trunk registered"),
        "{}",
        daemon.stderr()
    );
    assert!(
        !daemon.stderr().contains("trunk secret"),
        "the password never reaches the log"
    );
}

#[test]
fn refused_credentials_are_reported_with_the_providers_answer_and_retried_later() {
    let (registrar, daemon) = registrar_and_daemon("wrong password");
    let t = wait_trunk(&daemon, 10 * Duration::from_secs(1), |t| {
        t["state"] == "failed"
    });
    assert_eq!(t["state"], "failed", "{t}");
    assert_eq!(t["last_error"], "403 Forbidden", "{t}");
    let retry = t["retry_in_s"].as_u64().expect("retry_in_s");
    assert!(
        (20..=30).contains(&retry),
        "the configured first back-off: {t}"
    );
    assert_eq!(t["failures"], 1, "{t}");
    let sipp = registrar.join().expect("SIPp thread");
    assert_ne!(sipp.exit_code, 0, "SIPp saw credentials it refused");

    let (_, body) = http_request(daemon.admin_port, "GET", "/metrics", None, None);
    let metrics = String::from_utf8_lossy(&body);
    assert!(
        metrics.contains("\nugyelet_trunk_registered 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nugyelet_trunk_register_failures_total 1\n"),
        "{metrics}"
    );
    let line = daemon
        .wait_for_line(Duration::from_secs(2), |l| {
            l.contains("trunk registration failed")
        })
        .expect("a warning in the log");
    assert!(line.contains("403 Forbidden"), "{line}");
}
