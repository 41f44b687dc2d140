//! The HTTP listeners on the open internet: the real binary, spoken to over real TCP
//! sockets the way scanners and broken clients speak to it (raw bytes, so nothing in
//! between normalises a path or fixes a header), and a delivery report signed the way
//! Twilio signs it, with the HMAC taken by Python's own `hmac` module.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// A response as it came off the socket.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `request` as it is and reads the answer until the server closes the connection
/// (every request here says `Connection: close`) or the head and a short while passed.
fn raw(port: u16, request: &[u8]) -> Raw {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("listener reachable");
    s.set_read_timeout(Some(5 * SECOND)).expect("timeout");
    s.write_all(request).expect("send request");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A server that answers before reading everything may reset the connection
            // once it closes with our bytes unread: what arrived before counts.
            Err(_) => break,
        }
    }
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&got)));
    let head = String::from_utf8_lossy(&got[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Raw {
        status,
        head,
        body: got[split + 4..].to_vec(),
    }
}

fn get(port: u16, path: &str) -> Raw {
    raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// `ugyelet_http_refused_total` for one listener and reason, from a real scrape.
fn refused(d: &Daemon, listener: &str, reason: &str) -> u64 {
    let (status, text) = http_get(d.admin_port, "/metrics");
    assert_eq!(status, 200, "{text}");
    let key = format!("ugyelet_http_refused_total{{listener=\"{listener}\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in the scrape:\n{text}"))
}

#[test]
fn traversal_attempts_in_every_encoding_get_400_never_a_file_and_are_logged_and_counted() {
    let d = Daemon::start(&[]);
    let attempts = [
        "/f/..%2f..%2f..%2fetc%2fpasswd",
        "/f/..%2F..%2F..%2Fetc%2Fpasswd",
        "/f/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/f/../../../etc/passwd",
        "/f/..\\..\\..\\etc\\passwd",
        "/f/..%5c..%5c..%5cetc%5cpasswd",
        "/f/passwd%00.pdf",
        "/f/%252e%252e%252fetc%252fpasswd",
        "/hooks/twilio/..%2f..%2fetc%2fpasswd",
    ];
    for path in attempts {
        let r = get(d.public_port, path);
        assert_eq!(r.status, 400, "{path}: {}", r.head);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("root:"),
            "{path} served a file"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    // The admin listener: its routes that take a name (prompts, voice messages).
    for path in [
        "/hangok/..%2f..%2fconfig%2fugyelet.toml",
        "/hangok/%2e%2e/x.wav",
    ] {
        let r = get(d.admin_port, path);
        assert_eq!(r.status, 400, "{path}: {}", r.head);
    }
    assert_eq!(refused(&d, "public", "path"), attempts.len() as u64);
    assert_eq!(refused(&d, "admin", "path"), 2);
    let log = d.stderr();
    assert!(
        log.contains("HTTP request refused with 400: the path has an encoded slash or backslash"),
        "{log}"
    );
    assert!(log.contains("the path has a . or .. segment"), "{log}");
    assert!(
        log.contains("the path has NUL or another control character"),
        "{log}"
    );
    // The ordinary pages still answer: a forged link gets its Hungarian page.
    let r = get(
        d.public_port,
        "/f/AQAAAAAAAAAAAAAqbGFrY2ltAAAAAAAAAAAAAAAAAAAAAA",
    );
    assert_eq!(r.status, 404, "{}", r.head);
    assert!(String::from_utf8_lossy(&r.body).contains("Érvénytelen link"));
    assert_eq!(refused(&d, "public", "link_invalid"), 1);
}

#[test]
fn a_too_large_body_gets_413_before_it_is_sent_and_too_many_or_too_large_headers_get_431() {
    let d = Daemon::start(&[("UGYELET_HTTP__MAX_BODY_BYTES", "65536")]);
    // 50 MB announced, not one byte of it sent: the answer comes all the same.
    let started = Instant::now();
    let r = raw(
        d.public_port,
        b"POST /hooks/twilio/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 50000000\r\n\r\n",
    );
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(started.elapsed() < 3 * SECOND, "{:?}", started.elapsed());
    // The admin API alike.
    let r = raw(
        d.admin_port,
        b"POST /api/callbacks HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n{\"number\":",
    );
    assert_eq!(r.status, 413, "{}", r.head);
    // A chunked body (no length announced) over the limit: refused once it passes it.
    let mut chunked = b"POST /hooks/infobip/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("1000\r\n{}\r\n", "a".repeat(4096)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw(d.public_port, &chunked);
    // The secret path is checked after the body is read, so the body's size decides.
    assert_eq!(r.status, 413, "{}", r.head);
    assert_eq!(refused(&d, "public", "body_too_large"), 2);
    assert_eq!(refused(&d, "admin", "body_too_large"), 1);

    let mut many =
        String::from("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let r = raw(d.admin_port, many.as_bytes());
    assert_eq!(r.status, 431, "{}", r.head);
    let big = format!(
        "GET /f/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let r = raw(d.public_port, big.as_bytes());
    assert_eq!(r.status, 431, "{}", r.head);
    // Counted when the connection is done with: give the task a moment.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(refused(&d, "admin", "headers_too_large"), 1);
    assert_eq!(refused(&d, "public", "headers_too_large"), 1);
    let log = d.stderr();
    assert!(
        log.contains("refused with 413: body larger than the limit (not read)"),
        "{log}"
    );
    assert!(
        log.contains("refused with 431: too many or too large headers"),
        "{log}"
    );
    // Within the limits everything still works.
    assert_eq!(get(d.admin_port, "/healthz").status, 200);
}

#[test]
fn a_client_trickling_its_headers_is_cut_off_while_others_are_served() {
    let d = Daemon::start(&[("UGYELET_HTTP__HEADER_TIMEOUT_S", "2")]);
    for port in [d.public_port, d.admin_port] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(250)))
            .expect("timeout");
        let started = Instant::now();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .expect("start line");
        // One header byte every 250 ms, never the blank line that ends the head.
        let mut cut = None;
        let mut others_served = false;
        let mut buf = [0u8; 64];
        while started.elapsed() < 15 * SECOND {
            if s.write_all(b"X").is_err() {
                cut = Some(started.elapsed());
                break;
            }
            match s.read(&mut buf) {
                Ok(0) => {
                    cut = Some(started.elapsed());
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => {
                    cut = Some(started.elapsed());
                    break;
                }
            }
            // Meanwhile an ordinary client is served at once.
            if !others_served && started.elapsed() > SECOND {
                let want = if port == d.admin_port { 200 } else { 404 };
                assert_eq!(get(port, "/healthz").status, want);
                others_served = true;
            }
        }
        let cut = cut.expect("the trickling client was never cut off");
        assert!(
            cut >= Duration::from_millis(1800) && cut < 6 * SECOND,
            "cut off after {cut:?}, expected about 2 s"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(refused(&d, "public", "header_timeout"), 1);
    assert_eq!(refused(&d, "admin", "header_timeout"), 1);
    assert!(
        d.stderr()
            .contains("HTTP connection closed: no complete request head within the header timeout"),
        "{}",
        d.stderr()
    );
}

#[test]
fn a_flood_from_one_address_gets_429_with_retry_after_and_other_addresses_are_still_served() {
    // Behind the HTTPS proxy on this host: the client is the address it forwards.
    let d = Daemon::start(&[
        ("UGYELET_HTTP__PUBLIC_RATE_PER_S", "0.2"),
        ("UGYELET_HTTP__PUBLIC_RATE_BURST", "3"),
        ("UGYELET_HTTP__PUBLIC_BEHIND_HTTPS_PROXY", "true"),
    ]);
    let from = |addr: &str| {
        raw(
            d.public_port,
            format!(
                "GET /f/x HTTP/1.1\r\nHost: ugyelet.example.hu\r\nConnection: close\r\n\
                 X-Forwarded-For: {addr}\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    for _ in 0..3 {
        let r = from("198.51.100.7");
        assert_eq!(r.status, 404, "{}", r.head);
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000"),
            "behind the HTTPS proxy pages ask for HTTPS only"
        );
    }
    let r = from("198.51.100.7");
    assert_eq!(r.status, 429, "{}", r.head);
    assert_eq!(
        r.header("retry-after"),
        Some("5"),
        "one request per 5 s refills"
    );
    assert!(String::from_utf8_lossy(&r.body).contains("Túl sok kérés"));
    for _ in 0..5 {
        assert_eq!(from("198.51.100.7").status, 429);
    }
    // A neighbour is not punished for it.
    assert_eq!(from("198.51.100.8").status, 404);
    assert_eq!(refused(&d, "public", "rate_limited"), 6);
    // One line for the run, not one per request.
    let log = d.stderr();
    assert_eq!(
        log.matches("HTTP requests refused with 429").count(),
        1,
        "{log}"
    );
    // The admin listener has no such limit (logins have their own throttle).
    for _ in 0..10 {
        assert_eq!(get(d.admin_port, "/healthz").status, 200);
    }
}

#[test]
fn every_page_and_api_answer_carries_the_security_headers() {
    let d = Daemon::start(&[]);
    let public = get(
        d.public_port,
        "/f/AQAAAAAAAAAAAAAqbGFrY2ltAAAAAAAAAAAAAAAAAAAAAA",
    );
    let api = get(d.admin_port, "/api/status");
    let console = get(d.admin_port, "/belepes");
    let missing = get(d.public_port, "/nincs-ilyen");
    for (what, r) in [
        ("public page", &public),
        ("API", &api),
        ("console", &console),
        ("unknown path", &missing),
    ] {
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}: {}",
            r.head
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert!(
            r.header("cache-control")
                .is_some_and(|c| c.contains("no-store")),
            "{what}: {}",
            r.head
        );
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "{what}: not behind an HTTPS proxy, so no HSTS"
        );
    }
    assert_eq!(public.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(api.header("referrer-policy"), Some("no-referrer"));
    // The console keeps same-origin: with no-referrer Chromium sends `Origin: null` on
    // form posts, which the cross-site check must refuse.
    assert_eq!(console.header("referrer-policy"), Some("same-origin"));
}

/// What the daemon's SMS settings need for Twilio, with the gateway at `port` and the auth
/// token in `token_file`.
fn twilio_env(port: u16, token_file: &str) -> Vec<(&'static str, String)> {
    vec![
        ("UGYELET_NOTIFY__SMS__KIND", "twilio".into()),
        (
            "UGYELET_NOTIFY__SMS__BASE_URL",
            format!("http://127.0.0.1:{port}"),
        ),
        ("UGYELET_NOTIFY__SMS__ACCOUNT_SID", "AC0123456789".into()),
        ("UGYELET_NOTIFY__SMS__TOKEN_FILE", token_file.into()),
        ("UGYELET_NOTIFY__SMS__FROM", "+3612345678".into()),
        ("UGYELET_NOTIFY__HOOK_SECRET", "kampo-titok-4711".into()),
        ("UGYELET_NOTIFY__SMS__TIMEOUT_S", "3".into()),
    ]
}

/// Twilio's signature over `url` and the form `params`, the HMAC-SHA1 taken by Python.
fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let data: String = std::iter::once(url.to_owned())
        .chain(sorted.iter().map(|(k, v)| format!("{k}{v}")))
        .collect();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,hmac,hashlib,base64;\
             print(base64.b64encode(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),hashlib.sha1).digest()).decode())",
            token,
            &data,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn form_encode(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn outbox_state(d: &Daemon) -> serde_json::Value {
    let (status, body) = http_request(d.admin_port, "GET", "/api/outbox", None, None);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    v["messages"][0].clone()
}

#[test]
fn a_twilio_report_changes_a_message_only_with_twilios_signature() {
    const TOKEN: &str = "twilio-auth-token-from-a-file-0123";
    let gateway = HttpStub::start(&[(201, r#"{"sid":"SM0123456789abcdef","status":"queued"}"#)]);
    let dir = scratch_dir("twilio");
    let token_file = dir.join("sms.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let env = twilio_env(gateway.port, &token_file.display().to_string());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = Daemon::start(&pairs);
    let (status, body) = http_request(
        d.admin_port,
        "PUT",
        "/api/override",
        Some(r#"{"mode":"closed","reason":"test"}"#),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // A caller asks for a form by SMS; the daemon sends it through "Twilio".
    let delay = ((load_prompt("welcome").len() * 1000 / RATE) as u64 + 1500).to_string();
    sipp(
        &scenario("mobile_caller_picks_form_3_when_closed_and_gets_it_by_sms.xml"),
        &["-d", &delay, "-timeout", "60s", &d.addr()],
    )
    .assert_success();
    let sent = gateway.wait_requests(1, 20 * SECOND);
    let auth = sent[0]
        .header("authorization")
        .expect("basic auth")
        .to_owned();
    let expect_auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("AC0123456789:{TOKEN}"))
    };
    assert_eq!(
        auth,
        format!("Basic {expect_auth}"),
        "the token came from the file"
    );
    // The callback URL the daemon gave Twilio, as Twilio would call it.
    let body = sent[0].body_text();
    let callback = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("StatusCallback="))
        .map(|v| {
            ugyelet::http::forms::parse_form(&format!("x={v}"))[0]
                .1
                .clone()
        })
        .expect("a StatusCallback");
    let path = callback
        .strip_prefix(&format!("http://127.0.0.1:{}", d.public_port))
        .expect("on the public listener")
        .to_owned();
    let deadline = Instant::now() + 10 * SECOND;
    while outbox_state(&d)["state"] != "sent" {
        assert!(Instant::now() < deadline, "{}", outbox_state(&d));
        std::thread::sleep(Duration::from_millis(100));
    }
    let params = [
        ("MessageSid", "SM0123456789abcdef"),
        ("MessageStatus", "delivered"),
        ("AccountSid", "AC0123456789"),
        ("To", "+36301234567"),
        ("From", "+3612345678"),
        ("ApiVersion", "2010-04-01"),
    ];
    let post = |signature: Option<&str>, params: &[(&str, &str)]| {
        let form = form_encode(params);
        let sig = signature.map_or(String::new(), |s| format!("X-Twilio-Signature: {s}\r\n"));
        raw(
            d.public_port,
            format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n{sig}Content-Length: {}\r\n\r\n{form}",
                d.public_port,
                form.len()
            )
            .as_bytes(),
        )
    };
    let good = twilio_signature(TOKEN, &callback, &params);
    let other_token = twilio_signature("someone-elses-token", &callback, &params);
    let other_url = twilio_signature(TOKEN, "http://127.0.0.1/hooks/twilio/x", &params);
    let mut forged = params;
    forged[1] = ("MessageStatus", "undelivered");
    for (what, r) in [
        ("unsigned", post(None, &params)),
        (
            "signed with another token",
            post(Some(&other_token), &params),
        ),
        ("signed for another URL", post(Some(&other_url), &params)),
        (
            "a signed report with a changed status",
            post(Some(&good), &forged),
        ),
        ("garbage", post(Some("bm90IGEgc2lnbmF0dXJl"), &params)),
    ] {
        assert_eq!(r.status, 403, "{what}: {}", r.head);
        assert_eq!(
            outbox_state(&d)["state"],
            "sent",
            "{what} changed the message"
        );
    }
    assert_eq!(refused(&d, "public", "bad_signature"), 5);
    let r = post(Some(&good), &params);
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(outbox_state(&d)["state"], "delivered");
    let log = d.stderr();
    assert!(
        log.contains(
            "Twilio delivery report refused with 403, nothing changed: no X-Twilio-Signature header"
        ),
        "{log}"
    );
    assert!(
        log.contains("X-Twilio-Signature does not match the request"),
        "{log}"
    );
    assert!(!log.contains(TOKEN), "the auth token leaked into the log");
    assert!(
        !log.contains("kampo-titok-4711"),
        "the webhook secret leaked into the log"
    );
}
