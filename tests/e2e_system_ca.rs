//! TLS to the SMS gateway and to the SMTP server trusts what the machine trusts.
//!
//! An office whose SMS gateway or mail server has a certificate from its own CA adds the CA
//! the Debian way: the `.crt` into `/usr/local/share/ca-certificates/`, then
//! `update-ca-certificates`, then `systemctl restart ugyelet`. These tests do exactly that
//! without touching this machine's `/etc/ssl`: `update-ca-certificates` runs with its
//! directories moved into the test's own (`--localcertsdir`, `--etccertsdir`, …), and the
//! daemon is pointed at that store with `SSL_CERT_FILE` and `SSL_CERT_DIR`, which
//! rustls-native-certs (under rustls-platform-verifier, for reqwest and lettre alike) then
//! reads instead of `/etc/ssl/certs`. The peers are real servers on 127.0.0.1: Python's
//! `http.server` in TLS as the SMS gateway (`tests/support/https_gateway.py`) and aiosmtpd
//! requiring STARTTLS, both with a certificate the test CA issued for `localhost`.
//! `packaging/test-systemd.sh` does the same with the real `/etc/ssl` of its throwaway
//! system, and implicit TLS (SMTPS) for the mail.

mod common;

use common::*;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn run(program: &str, args: &[&OsStr]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (apt-get install {program}): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The office's CA and a server certificate it issued for `localhost` and 127.0.0.1.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let p = |name: &str| dir.join(name);
    let s = |p: &Path| p.as_os_str().to_owned();
    let (ca, ca_key, cert, key, csr, ext) = (
        p("hivatal-ca.crt"),
        p("hivatal-ca.key"),
        p("server.crt"),
        p("server.key"),
        p("server.csr"),
        p("server.ext"),
    );
    run(
        "openssl",
        &[
            "req".as_ref(),
            "-x509".as_ref(),
            "-newkey".as_ref(),
            "rsa:2048".as_ref(),
            "-nodes".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-subj".as_ref(),
            "/CN=Budaorsi Hivatal teszt CA".as_ref(),
            "-addext".as_ref(),
            "basicConstraints=critical,CA:TRUE".as_ref(),
            "-addext".as_ref(),
            "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
            "-keyout".as_ref(),
            &s(&ca_key),
            "-out".as_ref(),
            &s(&ca),
        ],
    );
    run(
        "openssl",
        &[
            "req".as_ref(),
            "-newkey".as_ref(),
            "rsa:2048".as_ref(),
            "-nodes".as_ref(),
            "-subj".as_ref(),
            "/CN=localhost".as_ref(),
            "-keyout".as_ref(),
            &s(&key),
            "-out".as_ref(),
            &s(&csr),
        ],
    );
    fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    run(
        "openssl",
        &[
            "x509".as_ref(),
            "-req".as_ref(),
            "-in".as_ref(),
            &s(&csr),
            "-CA".as_ref(),
            &s(&ca),
            "-CAkey".as_ref(),
            &s(&ca_key),
            "-CAcreateserial".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-extfile".as_ref(),
            &s(&ext),
            "-out".as_ref(),
            &s(&cert),
        ],
    );
    Pki { ca, cert, key }
}

/// What `cp hivatal-ca.crt /usr/local/share/ca-certificates/ && update-ca-certificates`
/// makes of the system store, built under `dir` from this machine's CA list: returns the
/// `/etc/ssl/certs` counterpart (hashed links and the `ca-certificates.crt` bundle).
fn system_store_with(dir: &Path, ca: &Path) -> PathBuf {
    let local = dir.join("usr-local-share-ca-certificates");
    let certs = dir.join("etc-ssl-certs");
    let hooks = dir.join("update.d");
    for d in [&local, &certs, &hooks] {
        fs::create_dir_all(d).expect("create store dir");
    }
    fs::copy(ca, local.join("hivatal-ca.crt")).expect("copy CA");
    let conf = dir.join("ca-certificates.conf");
    fs::copy("/etc/ca-certificates.conf", &conf)
        .expect("/etc/ca-certificates.conf (apt-get install ca-certificates)");
    run(
        "update-ca-certificates",
        &[
            "--certsconf".as_ref(),
            conf.as_os_str(),
            "--localcertsdir".as_ref(),
            local.as_os_str(),
            "--etccertsdir".as_ref(),
            certs.as_os_str(),
            "--hooksdir".as_ref(),
            hooks.as_os_str(),
        ],
    );
    let bundle = fs::read_to_string(certs.join("ca-certificates.crt")).expect("bundle");
    let ca_pem = fs::read_to_string(ca).expect("CA");
    assert!(bundle.contains(ca_pem.trim()), "the CA is in the bundle");
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 50,
        "the public CAs are there too"
    );
    certs
}

/// Python's http.server in TLS on 127.0.0.1, saving every request. Killed on drop.
struct HttpsGateway {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl HttpsGateway {
    fn start(dir: &Path, pki: &Pki) -> HttpsGateway {
        let port = free_ports(1);
        let out = dir.join("gateway-requests.jsonl");
        let mut child = Command::new(python_with_aiosmtpd())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/https_gateway.py"))
            .args(["127.0.0.1", &port.to_string()])
            .args([&pki.cert, &pki.key, &out])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the HTTPS gateway");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut ready)
            .expect("read from the gateway");
        assert_eq!(ready.trim(), "ready", "the HTTPS gateway did not start");
        HttpsGateway { child, port, out }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }
}

impl Drop for HttpsGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon's settings for the HTTPS gateway and the STARTTLS server, both by the name
/// their certificate carries.
fn tls_peers_env(gateway: &HttpsGateway, smtp: &SmtpSink) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("UGYELET_NOTIFY__SMS__KIND", "generic".to_owned()),
        (
            "UGYELET_NOTIFY__SMS__URL",
            format!("https://localhost:{}/send", gateway.port),
        ),
        (
            "UGYELET_NOTIFY__SMS__BODY_TEMPLATE",
            r#"{"to":"{to}","text":"{text}","ref":"{id}"}"#.to_owned(),
        ),
        ("UGYELET_NOTIFY__SMS__TIMEOUT_S", "5".to_owned()),
        ("UGYELET_NOTIFY__RETRY_INITIAL_MS", "500".to_owned()),
        ("UGYELET_NOTIFY__RETRY_JITTER", "0.0".to_owned()),
    ];
    env.extend(smtp.daemon_env());
    for (k, v) in &mut env {
        match *k {
            "UGYELET_NOTIFY__SMTP__HOST" => *v = "localhost".to_owned(),
            "UGYELET_NOTIFY__SMTP__SECURITY" => *v = "starttls".to_owned(),
            _ => {}
        }
    }
    env
}

fn starttls_sink(pki: &Pki) -> SmtpSink {
    SmtpSink::start_with(&[
        "--tlscert".as_ref(),
        pki.cert.as_os_str(),
        "--tlskey".as_ref(),
        pki.key.as_os_str(),
    ])
}

/// During a call, an operator sends the form by SMS to the caller and by email, through
/// the admin API; returns the caller's phone (hang up when done).
fn send_both_during_a_call(daemon: &Daemon) -> Baresip {
    let phone = Baresip::caller();
    phone.dial(&daemon.uri());
    phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (status, body) = http_request(daemon.admin_port, "GET", "/api/calls", None, None);
    assert_eq!(status, 200);
    let calls: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let call = calls["calls"][0]["id"]
        .as_u64()
        .expect("a call in progress");
    for json in [
        r#"{"form":"lakcim","channel":"sms","to":"06301234567"}"#,
        r#"{"form":"lakcim","channel":"email","to":"lakos@example.hu"}"#,
    ] {
        let (status, body) = http_request(
            daemon.admin_port,
            "POST",
            &format!("/api/calls/{call}/forms"),
            Some(json),
            None,
        );
        assert_eq!(status, 202, "{json}: {}", String::from_utf8_lossy(&body));
    }
    phone
}

/// The outbox rows once `pred` holds for them (at most 20 s).
fn outbox_when(
    daemon: &Daemon,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        let (status, body) = http_request(daemon.admin_port, "GET", "/api/outbox", None, None);
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let rows = v["messages"].as_array().cloned().unwrap_or_default();
        if pred(&rows) || Instant::now() >= deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn row<'a>(rows: &'a [serde_json::Value], channel: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} row in {rows:?}"))
}

#[test]
fn a_ca_added_to_the_system_store_is_trusted_by_the_https_sms_gateway_and_smtp_starttls() {
    let dir = scratch_dir("system-ca");
    let pki = make_pki(&dir);
    let store = system_store_with(&dir, &pki.ca);
    let gateway = HttpsGateway::start(&dir, &pki);
    let smtp = starttls_sink(&pki);
    let mut env = tls_peers_env(&gateway, &smtp);
    env.push((
        "SSL_CERT_FILE",
        store.join("ca-certificates.crt").display().to_string(),
    ));
    env.push(("SSL_CERT_DIR", store.display().to_string()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let daemon = Daemon::start(&pairs);

    let phone = send_both_during_a_call(&daemon);
    let rows = outbox_when(&daemon, |rows| {
        rows.len() == 2 && rows.iter().all(|r| r["state"] == "sent")
    });
    phone.hangup();
    for channel in ["sms", "email"] {
        let r = row(&rows, channel);
        assert_eq!(r["state"], "sent", "{channel}: {r}");
        assert_eq!(r["attempts"], 1, "{channel}: at the first attempt: {r}");
    }

    let seen = gateway.requests();
    assert_eq!(seen.len(), 1, "one SMS over HTTPS: {seen:?}");
    assert_eq!(seen[0]["path"], "/send");
    let sms: serde_json::Value =
        serde_json::from_str(seen[0]["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(sms["to"], "+36301234567");
    assert!(
        sms["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Lakcimbejelentés")),
        "{sms}"
    );
    let mails = smtp.wait_messages(1, 10 * SECOND);
    assert_eq!(mails.len(), 1, "one email");
    assert_eq!(mails[0]["tls"], true, "sent after STARTTLS");
    assert_eq!(
        mails[0]["rcpt_tos"],
        serde_json::json!(["lakos@example.hu"])
    );
    assert_eq!(mails[0]["subject"], "Kért nyomtatvány: Lakcímbejelentés");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn before_the_ca_is_added_both_channels_refuse_the_servers_and_say_why() {
    // The same servers, and this machine's own store (the daemon finds it by itself: the
    // harness clears SSL_CERT_FILE and SSL_CERT_DIR), which has never heard of the CA.
    let dir = scratch_dir("system-ca-missing");
    let pki = make_pki(&dir);
    let gateway = HttpsGateway::start(&dir, &pki);
    let smtp = starttls_sink(&pki);
    let env = tls_peers_env(&gateway, &smtp);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let daemon = Daemon::start(&pairs);

    let phone = send_both_during_a_call(&daemon);
    let rows = outbox_when(&daemon, |rows| {
        rows.len() == 2 && rows.iter().all(|r| r["last_error"].is_string())
    });
    phone.hangup();
    for channel in ["sms", "email"] {
        let r = row(&rows, channel);
        assert_ne!(r["state"], "sent", "{channel}: {r}");
        let reason = r["last_error"].as_str().unwrap_or_default();
        assert!(
            reason.contains("invalid peer certificate: UnknownIssuer"),
            "{channel}: the reason names the untrusted certificate: {reason}"
        );
    }
    assert!(gateway.requests().is_empty(), "no request got through");
    assert!(smtp.messages().is_empty(), "no mail got through");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_tls_peers_when_the_system_store_is_empty_and_says_what_to_install() {
    let dir = scratch_dir("system-ca-empty");
    let empty = dir.join("empty.crt");
    fs::write(&empty, "").expect("write empty store");
    let out = Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .arg("check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SSL_CERT_FILE", &empty)
        .env_remove("SSL_CERT_DIR")
        .env("UGYELET_STATE__DIR", dir.join("state"))
        .env("UGYELET_NOTIFY__SMS__KIND", "generic")
        .env("UGYELET_NOTIFY__SMS__URL", "https://sms.example.hu/send")
        .env("UGYELET_NOTIFY__SMS__BODY_TEMPLATE", "{to} {text}")
        .env("UGYELET_NOTIFY__SMTP__HOST", "mail.example.hu")
        .env("UGYELET_NOTIFY__SMTP__PORT", "587")
        .env("UGYELET_NOTIFY__SMTP__SECURITY", "starttls")
        .env("UGYELET_NOTIFY__SMTP__FROM", "ugyelet@example.hu")
        .env("UGYELET_NOTIFY__SMTP__OFFICE", "ugyfelszolgalat@example.hu")
        .output()
        .expect("run ugyelet check");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in ["notify.sms: ", "notify.smtp: "] {
        let line = text
            .lines()
            .find(|l| l.contains(expected))
            .unwrap_or_else(|| panic!("no {expected} error in:\n{text}"));
        assert!(
            line.contains(
                "expected trusted CA certificates in the system store \
                 (/etc/ssl/certs, Debian package ca-certificates), found none"
            ),
            "{line}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}
