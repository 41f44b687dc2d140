//! Running it as a service: metrics scraped during a call, and a graceful stop — on SIGTERM
//! a call in progress finishes, a new call is refused with 503 and Retry-After, and the
//! daemon exits 0 once the line is quiet; and the sd_notify messages a systemd unit of
//! `Type=notify` with a watchdog relies on.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::thread;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("admin API reachable");
    s.set_read_timeout(Some(5 * SECOND)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    (
        status,
        resp.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    )
}

/// The value of one sample line, e.g. `ugyelet_calls_active`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_once(' ').is_some_and(|(name, _)| name == series))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

fn invite(from: std::net::SocketAddr, port: u16) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\n";
    format!(
        "INVITE sip:ugyelet@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-late-1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+36301234567@127.0.0.1>;tag=late\r\nTo: <sip:ugyelet@127.0.0.1>\r\n\
         Call-ID: late-caller@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:late@{from}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

#[test]
fn sigterm_lets_the_call_finish_refuses_new_calls_with_503_and_exits_0() {
    let mut daemon = Daemon::start(&[]);
    let addr = daemon.addr();
    let admin = daemon.admin_port;
    let call = thread::spawn(move || {
        sipp(
            &scenario("caller_stays_on_the_line_then_hangs_up.xml"),
            &["-d", "6000", "-timeout", "20s", &addr],
        )
    });

    // During the call: /metrics says so.
    let deadline = Instant::now() + 10 * SECOND;
    let metrics = loop {
        let (code, body) = get(admin, "/metrics");
        assert_eq!(code, 200);
        if sample(&body, "ugyelet_calls_active") == Some(1.0) {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no active call in /metrics:\n{body}"
        );
        thread::sleep(Duration::from_millis(200));
    };
    assert!(
        metrics.contains("# TYPE ugyelet_sip_requests_total counter"),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "ugyelet_draining"), Some(0.0));
    let (code, calls) = get(admin, "/api/calls");
    assert_eq!(code, 200);
    assert!(
        calls.contains(r#""caller":"+36301234567""#) && calls.contains(r#""plan_version":1"#),
        "{calls}"
    );

    daemon.terminate();
    thread::sleep(Duration::from_millis(500));
    assert_eq!(get(admin, "/healthz"), (503, "draining\n".to_owned()));

    // A new caller is turned away with 503 and told when to retry.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(2 * SECOND)).expect("timeout");
    let local = sock.local_addr().expect("addr");
    sock.send_to(
        invite(local, daemon.sip_port).as_bytes(),
        ("127.0.0.1", daemon.sip_port),
    )
    .expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer");
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("SIP/2.0 503 "), "{answer}");
    assert!(answer.contains("Retry-After: 120"), "{answer}");

    // The call in progress goes on until the caller hangs up, and ends cleanly.
    assert!(daemon.is_running(), "the daemon waits for the call");
    let result = call.join().expect("sipp thread");
    result.assert_success();
    assert_eq!(
        daemon.wait_exit(10 * SECOND),
        Some(0),
        "exit 0 once the line is quiet"
    );
    let log = daemon.stderr();
    assert!(log.contains("draining"), "{log}");
    // The caller hung up in the main menu: the record's word, in the log too.
    assert!(log.contains("outcome=\"abandoned_menu\""), "{log}");
}

#[test]
fn json_logs_are_one_object_per_line_with_the_call_id_and_no_phone_number() {
    let mut daemon = Daemon::start(&[("UGYELET_LOG__FORMAT", "json")]);
    sipp(
        &scenario("caller_hangs_up_with_bye.xml"),
        &["-timeout", "15s", &daemon.addr()],
    )
    .assert_success();
    daemon
        .wait_for_line(5 * SECOND, |l| l.contains("call ended"))
        .expect("the call's end is logged");
    daemon.terminate();
    assert_eq!(daemon.wait_exit(10 * SECOND), Some(0));
    let log = daemon.stderr();
    let mut call_lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("fields").is_some(),
            "{line}"
        );
        if v["fields"]["message"] == "call ended" {
            call_lines += 1;
            assert!(
                v["span"]["id"].is_u64(),
                "the call's id is on its lines: {line}"
            );
            assert_eq!(v["fields"]["outcome"], "abandoned_menu");
        }
        assert!(
            !line.contains("36301234567"),
            "caller number leaked: {line}"
        );
    }
    assert_eq!(call_lines, 1, "{log}");
}

/// The unit is `Type=notify` with `WatchdogSec=`: systemd waits for READY=1 before it
/// counts the service as started, restarts it when WATCHDOG=1 stops coming within the
/// period, and expects STOPPING=1 when it begins to stop. The test stands where systemd
/// would: it owns the socket named in NOTIFY_SOCKET and reads what arrives.
#[test]
fn systemd_hears_ready_then_watchdog_pings_within_the_period_then_stopping() {
    let dir = scratch_dir("notify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let period = Duration::from_millis(1000);
    let mut daemon = Daemon::start(&[
        ("NOTIFY_SOCKET", path.to_str().expect("utf-8 path")),
        ("WATCHDOG_USEC", &period.as_micros().to_string()),
    ]);
    let mut buf = [0u8; 256];
    let mut read_for = |d: Duration| {
        let until = Instant::now() + d;
        let mut got = Vec::new();
        while Instant::now() < until {
            if let Ok(n) = sock.recv(&mut buf) {
                got.push((
                    Instant::now(),
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                ));
            }
        }
        got
    };
    // Daemon::start returned once SIP answered: READY=1 was sent before that.
    let idle = read_for(4 * SECOND);
    let states: Vec<&str> = idle.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(states.first(), Some(&"READY=1"), "{states:?}");
    assert_eq!(
        states.iter().filter(|s| **s == "READY=1").count(),
        1,
        "{states:?}"
    );
    let pings: Vec<Instant> = idle
        .iter()
        .filter(|(_, s)| s == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert!(
        pings.len() >= 5,
        "pinged {} times in 4 s: {states:?}",
        pings.len()
    );
    let worst = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .expect("two pings");
    assert!(
        worst < period * 3 / 4,
        "pings at most {worst:?} apart; systemd's period is {period:?}"
    );
    assert!(
        states.iter().all(|s| *s == "READY=1" || *s == "WATCHDOG=1"),
        "{states:?}"
    );

    daemon.terminate();
    let stopping = read_for(2 * SECOND);
    assert!(
        stopping.iter().any(|(_, s)| s == "STOPPING=1"),
        "STOPPING=1 after SIGTERM: {stopping:?}"
    );
    assert_eq!(
        daemon.wait_exit(10 * SECOND),
        Some(0),
        "an idle line stops at once"
    );
}

#[test]
fn log_level_warning_keeps_warnings_and_drops_info() {
    let daemon = Daemon::start(&[("UGYELET_LOG__LEVEL", "warning")]);
    let warned = daemon.wait_for_line(Duration::from_secs(5), |l| {
        l.contains(" WARN ") && l.contains("no SMS gateway configured")
    });
    assert!(
        warned.is_some(),
        "warnings still logged: {}",
        daemon.stderr()
    );
    assert!(
        !daemon.stderr().contains(" INFO "),
        "no info lines at warning level: {}",
        daemon.stderr()
    );
}
