//! Email through a real SMTP server: Debian's `python3-aiosmtpd`, started by each test on
//! 127.0.0.1 with a handler (`tests/support/smtp_sink.py`) that saves every message it
//! accepts. Checks the Hungarian subject, the UTF-8 body, the attachment bytes against the
//! form file and the Message-ID; STARTTLS with a test certificate; and a server that is
//! down at first receiving the mail once it is back, through the outbox and store.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ugyelet::driver::outbox_worker::{Transports, Worker};
use ugyelet::notify::catalog::Catalog;
use ugyelet::notify::email::{EmailSender, Security, SmtpConfig, form_email};
use ugyelet::notify::outbox::{Outcome, RetryPolicy, State};
use ugyelet::store::{Channel, NewMessage, Store};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// A Python that has aiosmtpd: Debian's first (pyenv shims may shadow it on PATH).
fn python() -> &'static str {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p;
        }
    }
    panic!("aiosmtpd is missing: apt-get install -y python3-aiosmtpd");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

struct Sink {
    child: Child,
    dir: PathBuf,
}

impl Sink {
    fn start(port: u16, dir: &Path, tls: Option<(&Path, &Path)>) -> Self {
        std::fs::create_dir_all(dir).expect("mail dir");
        let mut cmd = Command::new(python());
        cmd.env("PYTHONPATH", Path::new(MANIFEST).join("tests/support"))
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        cmd.args(["-c", "smtp_sink.Saver"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("start aiosmtpd");
        // Wait (bounded) until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            dir: dir.to_owned(),
        }
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .expect("mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("JSON"))
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("notify-email-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn smtp(port: u16, security: Security) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security,
        username: None,
        password: None,
        from: "Polgármesteri Hivatal <ugyelet@example.hu>".into(),
        message_id_domain: "ugyelet.example.hu".into(),
        timeout_s: 10,
        ca_file: None,
        attach_limit_bytes: 1 << 20,
    }
}

fn lakcim_pdf() -> Vec<u8> {
    std::fs::read(Path::new(MANIFEST).join("config/forms/lakcim.pdf")).expect("form file")
}

fn check_form_mail(m: &serde_json::Value, key: &str) {
    assert_eq!(m["subject"], "Kért nyomtatvány: Lakcímbejelentés");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["lakos@example.hu"]));
    assert_eq!(m["message_id"], format!("<{key}@ugyelet.example.hu>"));
    assert_eq!(m["body_charset"], "utf-8");
    let body = m["body"].as_str().expect("text body");
    assert!(body.starts_with("Tisztelt Ügyfelünk!"), "{body}");
    assert!(body.contains("„Lakcímbejelentés” nyomtatványt"), "{body}");
    let atts = m["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0]["filename"], "lakcim.pdf");
    assert_eq!(atts[0]["content_type"], "application/pdf");
    let data = base64::engine::general_purpose::STANDARD
        .decode(atts[0]["data"].as_str().expect("base64"))
        .expect("valid base64");
    assert_eq!(data, lakcim_pdf(), "attachment bytes equal the form file");
}

#[tokio::test]
async fn a_form_mail_arrives_with_hungarian_subject_utf8_body_and_the_pdf() {
    let dir = temp("plain");
    let port = free_port();
    let sink = Sink::start(port, &dir.join("mail"), None);
    let sender = EmailSender::new(&smtp(port, Security::None)).expect("sender");
    let mail = form_email(
        "lakos@example.hu",
        "key-plain-1",
        "Lakcímbejelentés",
        "lakcim.pdf",
        lakcim_pdf(),
        "https://ugyelet.example.hu/f/x",
        1 << 20,
    );
    assert_eq!(
        sender.send(&mail).await,
        Outcome::Sent {
            provider_id: Some("<key-plain-1@ugyelet.example.hu>".into())
        }
    );
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    check_form_mail(&msgs[0], "key-plain-1");
    assert_eq!(msgs[0]["tls"], false);
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn starttls_with_a_trusted_test_certificate_delivers_the_mail() {
    let dir = temp("starttls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        // rustls refuses a CA certificate as the server's own (CaUsedAsEndEntity).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(ok.success(), "test certificate made");
    let port = free_port();
    let sink = Sink::start(port, &dir.join("mail"), Some((&cert, &key)));
    let mut cfg = smtp(port, Security::Starttls);
    cfg.ca_file = Some(cert.clone());
    let sender = EmailSender::new(&cfg).expect("sender");
    let mail = form_email(
        "lakos@example.hu",
        "key-tls-1",
        "Lakcímbejelentés",
        "lakcim.pdf",
        lakcim_pdf(),
        "",
        1 << 20,
    );
    let outcome = sender.send(&mail).await;
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["tls"], true, "the session was upgraded");
    check_form_mail(&msgs[0], "key-tls-1");

    // Without trusting the certificate the attempt fails, transiently: nothing is lost.
    let untrusted = EmailSender::new(&smtp(port, Security::Starttls)).expect("sender");
    assert!(matches!(
        untrusted.send(&mail).await,
        Outcome::Transient { .. }
    ));
    assert_eq!(sink.messages().len(), 1);
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn smtp_server_down_for_a_while_then_the_mail_arrives_once_it_is_back() {
    let dir = temp("down");
    let port = free_port();
    let root = Path::new(MANIFEST);
    let catalog = Catalog::load(&root.join("config/forms.toml")).expect("catalog");
    let store = Mutex::new(Store::open(&dir.join("outbox.sqlite")).expect("open"));
    let t0 = Instant::now();
    let ms0: i64 = 1_800_000_000_000;
    let offset = Mutex::new(Duration::ZERO);
    let clock = || {
        let o = *offset.lock().expect("lock");
        (t0 + o, ms0 + o.as_millis() as i64)
    };
    let mail = form_email(
        "lakos@example.hu",
        "key-down-1",
        "Lakcímbejelentés",
        "lakcim.pdf",
        lakcim_pdf(),
        "",
        1 << 20,
    );
    let id = store
        .lock()
        .expect("lock")
        .enqueue(
            &NewMessage {
                key: mail.key.clone(),
                channel: Channel::Email,
                recipient: mail.to.clone(),
                form_id: Some("lakcim".into()),
                subject: Some(mail.subject.clone()),
            },
            ms0,
            |_| mail.body.clone(),
        )
        .expect("enqueue")
        .id;
    let transports = Transports {
        sms: None,
        email: Some(EmailSender::new(&smtp(port, Security::None)).expect("sender")),
        catalog: catalog.into(),
        attach_limit_bytes: 1 << 20,
    };
    let mut worker = Worker::new(RetryPolicy::default(), 9);

    // Two attempts while nothing listens on the port.
    for _ in 0..2 {
        worker
            .run_due(&store, &transports, &clock)
            .await
            .expect("run");
        let row = store
            .lock()
            .expect("lock")
            .get(id)
            .expect("get")
            .expect("row");
        assert_eq!(row.state, State::Queued, "{:?}", row.last_error);
        assert!(
            row.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("SMTP"))
        );
        let due = worker.poll_timeout().expect("a retry is scheduled");
        *offset.lock().expect("lock") = due - t0;
    }
    // The server comes back; the next due attempt delivers.
    let sink = Sink::start(port, &dir.join("mail"), None);
    worker
        .run_due(&store, &transports, &clock)
        .await
        .expect("run");
    let row = store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("row");
    assert_eq!((row.state, row.attempts), (State::Sent, 3));
    assert_eq!(worker.poll_timeout(), None);
    worker
        .run_due(&store, &transports, &clock)
        .await
        .expect("run");
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1, "delivered exactly once");
    check_form_mail(&msgs[0], "key-down-1");
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}
