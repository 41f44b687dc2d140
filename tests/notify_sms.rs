//! SMS adapters against a real HTTP server on 127.0.0.1 standing in for the gateway: the
//! exact request each adapter sends, and the outbox + SQLite store + worker delivering
//! exactly one SMS through a gateway that answers 503 twice. Also the form-download and
//! delivery-report routes over real HTTP.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use ugyelet::driver::outbox_worker::{Transports, Worker};
use ugyelet::http::forms::{FormsState, router};
use ugyelet::notify::catalog::Catalog;
use ugyelet::notify::link::{Link, LinkKey};
use ugyelet::notify::outbox::{Outcome, RetryPolicy, State as MsgState};
use ugyelet::notify::sms::{GenericHttp, Infobip, Sms, SmsSender, Twilio};
use ugyelet::notify::text;
use ugyelet::store::{Channel, NewMessage, Store};

/// One request as the gateway saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Gateway {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answers in order; when empty, 200 `{}`.
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
}

async fn record(State(gw): State<Gateway>, req: Request) -> impl IntoResponse {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("small body");
    gw.seen.lock().expect("lock").push(Seen {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    });
    let (status, body) = gw
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or((200, "{}".into()));
    (
        StatusCode::from_u16(status).expect("valid status"),
        [("content-type", "application/json")],
        body,
    )
}

/// Starts the stand-in gateway; returns its base URL.
async fn start_gateway(gw: Gateway) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(record).with_state(gw);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn sms() -> Sms {
    Sms {
        to: "+36301234567".into(),
        text: text::transliterate("Lakcímbejelentés: https://ugyelet.example.hu/f/AbC_d-1")
            .into_owned(),
        key: "3f1c0ffee".into(),
    }
}

fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    ugyelet::http::forms::parse_form(std::str::from_utf8(body).expect("ASCII form body"))
}

#[tokio::test]
async fn twilio_adapter_posts_the_documented_form_with_basic_auth() {
    let gw = Gateway::default();
    gw.script.lock().expect("lock").push_back((
        201,
        r#"{"sid":"SM0123456789abcdef","status":"queued"}"#.into(),
    ));
    let base = start_gateway(gw.clone()).await;
    let sender = SmsSender::new(
        Box::new(Twilio {
            base_url: base,
            account_sid: "AC0011".into(),
            auth_token: "tok3n".into(),
            from: "+3612345678".into(),
            status_callback: Some("https://ugyelet.example.hu/hooks/twilio/s3cr3t".into()),
        }),
        Duration::from_secs(5),
    )
    .expect("client");
    let outcome = sender.send(&sms()).await;
    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_id: Some("SM0123456789abcdef".into())
        }
    );
    let seen = gw.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path_and_query,
        "/2010-04-01/Accounts/AC0011/Messages.json"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("AC0011:tok3n");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form_fields(&r.body),
        [
            ("To".into(), "+36301234567".into()),
            ("From".into(), "+3612345678".into()),
            (
                "Body".into(),
                "Lakcimbejelentés: https://ugyelet.example.hu/f/AbC_d-1".into()
            ),
            (
                "StatusCallback".into(),
                "https://ugyelet.example.hu/hooks/twilio/s3cr3t".into()
            ),
        ]
    );
}

#[tokio::test]
async fn infobip_adapter_posts_the_documented_json_with_app_auth() {
    let gw = Gateway::default();
    gw.script.lock().expect("lock").push_back((
        200,
        r#"{"bulkId":"b1","messages":[{"messageId":"3f1c0ffee","status":{"groupName":"PENDING","name":"PENDING_ENROUTE"},"to":"36301234567"}]}"#.into(),
    ));
    let base = start_gateway(gw.clone()).await;
    let sender = SmsSender::new(
        Box::new(Infobip {
            base_url: base,
            api_key: "k3y".into(),
            from: "Hivatal".into(),
            notify_url: Some("https://ugyelet.example.hu/hooks/infobip/s3cr3t".into()),
        }),
        Duration::from_secs(5),
    )
    .expect("client");
    assert_eq!(
        sender.send(&sms()).await,
        Outcome::Sent {
            provider_id: Some("3f1c0ffee".into())
        }
    );
    let seen = gw.seen.lock().expect("lock").clone();
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path_and_query, "/sms/2/text/advanced");
    assert_eq!(r.header("authorization"), Some("App k3y"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(
        body,
        serde_json::json!({"messages": [{
            "destinations": [{"to": "36301234567", "messageId": "3f1c0ffee"}],
            "from": "Hivatal",
            "text": "Lakcimbejelentés: https://ugyelet.example.hu/f/AbC_d-1",
            "notifyUrl": "https://ugyelet.example.hu/hooks/infobip/s3cr3t",
            "notifyContentType": "application/json",
        }]})
    );
}

#[tokio::test]
async fn generic_adapter_sends_its_template_and_reads_the_id_field() {
    let gw = Gateway::default();
    gw.script
        .lock()
        .expect("lock")
        .push_back((202, r#"{"ref":"g-77"}"#.into()));
    let base = start_gateway(gw.clone()).await;
    let sender = SmsSender::new(
        Box::new(GenericHttp {
            url: format!("{base}/api/send?dest={{to}}"),
            method: "PUT".into(),
            headers: vec![("X-Api-Key".into(), "abc".into())],
            body_template: r#"{"number":"{to}","message":"{text}","client_ref":"{id}"}"#.into(),
            content_type: "application/json; charset=utf-8".into(),
            id_field: Some("ref".into()),
        }),
        Duration::from_secs(5),
    )
    .expect("client");
    assert_eq!(
        sender.send(&sms()).await,
        Outcome::Sent {
            provider_id: Some("g-77".into())
        }
    );
    let r = gw.seen.lock().expect("lock")[0].clone();
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path_and_query, "/api/send?dest=%2B36301234567");
    assert_eq!(r.header("x-api-key"), Some("abc"));
    assert_eq!(r.header("idempotency-key"), Some("3f1c0ffee"));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        std::str::from_utf8(&r.body).expect("UTF-8"),
        r#"{"number":"+36301234567","message":"Lakcimbejelentés: https://ugyelet.example.hu/f/AbC_d-1","client_ref":"3f1c0ffee"}"#
    );
}

#[tokio::test]
async fn statuses_and_network_failures_are_classified() {
    let gw = Gateway::default();
    {
        let mut s = gw.script.lock().expect("lock");
        s.push_back((429, "slow down".into()));
        s.push_back((
            400,
            r#"{"code":21211,"message":"Invalid 'To' Phone Number"}"#.into(),
        ));
    }
    let base = start_gateway(gw.clone()).await;
    let twilio = |base: String| Twilio {
        base_url: base,
        account_sid: "AC1".into(),
        auth_token: "t".into(),
        from: "+3612345678".into(),
        status_callback: None,
    };
    let sender = SmsSender::new(Box::new(twilio(base)), Duration::from_secs(5)).expect("client");
    assert!(matches!(
        sender.send(&sms()).await,
        Outcome::Transient { reason, .. } if reason.starts_with("HTTP 429")
    ));
    assert!(matches!(
        sender.send(&sms()).await,
        Outcome::Permanent { reason } if reason.contains("21211")
    ));
    // Nothing listens on a port just released: connection refused is transient.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let down = SmsSender::new(
        Box::new(twilio(format!("http://127.0.0.1:{port}"))),
        Duration::from_secs(5),
    )
    .expect("client");
    assert!(matches!(
        down.send(&sms()).await,
        Outcome::Transient {
            retry_after: None,
            ..
        }
    ));
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("notify-sms-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Self(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn catalog() -> Catalog {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Catalog::load(&root.join("config/forms.toml")).expect("shipped catalog")
}

fn link_key() -> LinkKey {
    LinkKey::new(b"a test secret of thirty-two bytes!!").expect("long enough")
}

/// Virtual time for the worker: (Instant, Unix ms) moved by the test.
struct VClock {
    t0: Instant,
    ms0: i64,
    offset: Mutex<Duration>,
}

impl VClock {
    fn new() -> Self {
        Self {
            t0: Instant::now(),
            ms0: 1_800_000_000_000,
            offset: Mutex::new(Duration::ZERO),
        }
    }
    fn now(&self) -> (Instant, i64) {
        let o = *self.offset.lock().expect("lock");
        (self.t0 + o, self.ms0 + o.as_millis() as i64)
    }
    fn set(&self, at: Instant) {
        *self.offset.lock().expect("lock") = at - self.t0;
    }
}

fn enqueue_form_sms(store: &Mutex<Store>, key: &str, ms: i64) -> u64 {
    let cat = catalog();
    let form = cat.get("lakcim").expect("lakcim in catalog");
    let lk = link_key();
    store
        .lock()
        .expect("lock")
        .enqueue(
            &NewMessage {
                key: key.into(),
                channel: Channel::Sms,
                recipient: "+36301234567".into(),
                form_id: Some("lakcim".into()),
                subject: None,
            },
            ms,
            |id| {
                let token = lk
                    .sign(&Link {
                        form_id: "lakcim".into(),
                        expires_at: (ms / 1000) as u64 + 72 * 3600,
                        message_id: id,
                    })
                    .expect("expiry in range");
                let t = format!("{}: https://ugyelet.example.hu/f/{token}", form.title);
                text::transliterate(&t).into_owned()
            },
        )
        .expect("enqueue")
        .id
}

#[tokio::test]
async fn gateway_503_twice_then_200_delivers_exactly_one_sms() {
    let gw = Gateway::default();
    {
        let mut s = gw.script.lock().expect("lock");
        s.push_back((503, "busy".into()));
        s.push_back((503, "busy".into()));
        s.push_back((201, r#"{"sid":"SMok"}"#.into()));
    }
    let base = start_gateway(gw.clone()).await;
    let dir = TempDir::new("503");
    let store = Mutex::new(Store::open(&dir.0.join("outbox.sqlite")).expect("open"));
    let clock = VClock::new();
    let id = enqueue_form_sms(&store, "call-1/lakcim/+36301234567", clock.now().1);
    let row = store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("row");
    assert_eq!(text::segments(&row.body).count, 1, "{}", row.body);

    let transports = Transports {
        sms: Some(
            SmsSender::new(
                Box::new(Twilio {
                    base_url: base,
                    account_sid: "AC1".into(),
                    auth_token: "t".into(),
                    from: "+3612345678".into(),
                    status_callback: None,
                }),
                Duration::from_secs(5),
            )
            .expect("client"),
        ),
        email: None,
        catalog: catalog().into(),
        attach_limit_bytes: 1 << 20,
    };
    let mut worker = Worker::new(RetryPolicy::default(), 0x5eed);
    let now = || clock.now();
    let mut wakeups = Vec::new();
    for _ in 0..6 {
        worker
            .run_due(&store, &transports, &now)
            .await
            .expect("store works");
        match worker.poll_timeout() {
            Some(due) => {
                wakeups.push(due - clock.now().0);
                clock.set(due);
            }
            None => break,
        }
    }
    let seen = gw.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "two refused attempts and one accepted");
    let bodies: Vec<_> = seen.iter().map(|s| s.body.clone()).collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every attempt sends the same SMS"
    );
    assert_eq!(wakeups.len(), 2);
    assert!(wakeups[1] > wakeups[0], "backoff grows: {wakeups:?}");
    let row = store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("row");
    assert_eq!((row.state, row.attempts), (MsgState::Sent, 3));
    assert_eq!(row.provider_id.as_deref(), Some("SMok"));
    // Later passes send nothing more.
    clock.set(clock.now().0 + Duration::from_secs(3600));
    worker
        .run_due(&store, &transports, &now)
        .await
        .expect("run");
    assert_eq!(gw.seen.lock().expect("lock").len(), 3);
}

#[tokio::test]
async fn a_message_left_sending_by_a_crash_is_sent_once_after_restart_with_its_key() {
    let gw = Gateway::default();
    let base = start_gateway(gw.clone()).await;
    let dir = TempDir::new("crash");
    let path = dir.0.join("outbox.sqlite");
    let clock = VClock::new();
    let id = {
        let store = Mutex::new(Store::open(&path).expect("open"));
        let id = enqueue_form_sms(&store, "crash-key", clock.now().1);
        // The worker committed queued → sending and the process died before an answer.
        let mut w = Worker::new(RetryPolicy::default(), 1);
        let (now, ms) = clock.now();
        w.load(&store, now, ms).expect("load");
        let ev = ugyelet::notify::outbox::Event {
            id,
            from: MsgState::Queued,
            to: MsgState::Sending,
            attempts: 1,
            due: None,
            reason: None,
            provider_id: None,
        };
        assert!(
            store
                .lock()
                .expect("lock")
                .apply(&ev, None, ms)
                .expect("apply")
        );
        id
    };
    let store = Mutex::new(Store::open(&path).expect("reopen"));
    let transports = Transports {
        sms: Some(
            SmsSender::new(
                Box::new(GenericHttp {
                    url: format!("{base}/send"),
                    method: "POST".into(),
                    headers: vec![],
                    body_template: r#"{"to":"{to}","text":"{text}"}"#.into(),
                    content_type: "application/json".into(),
                    id_field: None,
                }),
                Duration::from_secs(5),
            )
            .expect("client"),
        ),
        email: None,
        catalog: catalog().into(),
        attach_limit_bytes: 1 << 20,
    };
    let mut worker = Worker::new(RetryPolicy::default(), 2);
    let now = || clock.now();
    worker
        .run_due(&store, &transports, &now)
        .await
        .expect("run");
    worker
        .run_due(&store, &transports, &now)
        .await
        .expect("run");
    let seen = gw.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("idempotency-key"), Some("crash-key"));
    let row = store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("row");
    assert_eq!((row.state, row.attempts), (MsgState::Sent, 2));
}

/// reqwest is built without a TLS crypto provider; the daemon installs ring first.
fn http_client() -> reqwest::Client {
    ugyelet::notify::sms::install_crypto_provider();
    reqwest::Client::new()
}

/// Serves the public routes on a fresh port; `state` is made knowing the base URL (the
/// one Twilio would have been given).
async fn serve_forms(state: impl FnOnce(String) -> FormsState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = state(base.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    base
}

const TWILIO_TOKEN: &str = "twilio-auth-token-0123456789";

#[tokio::test]
async fn a_link_serves_the_form_bytes_counts_downloads_and_refuses_expired_or_forged_tokens() {
    let dir = TempDir::new("links");
    let store = Arc::new(Mutex::new(
        Store::open(&dir.0.join("outbox.sqlite")).expect("open"),
    ));
    let now_s = 1_800_000_000u64;
    let id = enqueue_form_sms(&store, "k-links", now_s as i64 * 1000);
    let base = serve_forms(|base| FormsState {
        store: store.clone(),
        catalog: catalog().into(),
        knowledge: Default::default(),
        link_key: link_key(),
        hook_secret: "s3cr3t".into(),
        twilio_token: TWILIO_TOKEN.into(),
        public_base_url: base,
        refusals: Default::default(),
        unix_now: Arc::new(move || now_s),
    })
    .await;
    let body = store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("row")
        .body;
    let token = body.rsplit('/').next().expect("token at the end");
    let client = http_client();

    let r = client
        .get(format!("{base}/f/{token}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"lakcim.pdf\""
    );
    let want = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/forms/lakcim.pdf"
    ))
    .expect("form file");
    assert_eq!(r.bytes().await.expect("body").to_vec(), want);
    let _ = client
        .get(format!("{base}/f/{token}"))
        .send()
        .await
        .expect("GET");
    let downloads = store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("row")
        .downloads;
    assert_eq!(downloads, 2);

    let expired = link_key()
        .sign(&Link {
            form_id: "lakcim".into(),
            expires_at: now_s - 1,
            message_id: id,
        })
        .expect("in range");
    let r = client
        .get(format!("{base}/f/{expired}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 410);
    let page = r.text().await.expect("page");
    assert!(page.contains("A letöltési link lejárt"), "{page}");
    assert!(page.contains("<html lang=\"hu\">"));

    let mut forged = token.to_owned();
    let last = forged.pop().expect("non-empty");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [forged.as_str(), "nem-link"] {
        let r = client
            .get(format!("{base}/f/{bad}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 404, "{bad}");
        assert!(r.text().await.expect("page").contains("Érvénytelen link"));
    }
    let downloads = store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("row")
        .downloads;
    assert_eq!(downloads, 2, "refused links are not counted");
}

#[tokio::test]
async fn delivery_webhooks_move_messages_only_forward() {
    let dir = TempDir::new("hooks");
    let store = Arc::new(Mutex::new(
        Store::open(&dir.0.join("outbox.sqlite")).expect("open"),
    ));
    let a = enqueue_form_sms(&store, "a", 0);
    let b = enqueue_form_sms(&store, "b", 0);
    for (id, pid) in [(a, "SMa"), (b, "ib-b")] {
        let mut s = store.lock().expect("lock");
        for (from, to) in [
            (MsgState::Queued, MsgState::Sending),
            (MsgState::Sending, MsgState::Sent),
        ] {
            let ev = ugyelet::notify::outbox::Event {
                id,
                from,
                to,
                attempts: 1,
                due: None,
                reason: None,
                provider_id: (to == MsgState::Sent).then(|| pid.to_owned()),
            };
            assert!(s.apply(&ev, None, 1).expect("apply"));
        }
    }
    let base = serve_forms(|base| FormsState {
        store: store.clone(),
        catalog: catalog().into(),
        knowledge: Default::default(),
        link_key: link_key(),
        hook_secret: "s3cr3t".into(),
        twilio_token: TWILIO_TOKEN.into(),
        public_base_url: base,
        refusals: Default::default(),
        unix_now: Arc::new(|| 0),
    })
    .await;
    let client = http_client();
    let url = format!("{base}/hooks/twilio/s3cr3t");
    let twilio = |status: &str, signed: bool| {
        let params: Vec<(String, String)> = [
            ("SmsSid", "SMa"),
            ("SmsStatus", status),
            ("MessageStatus", status),
            ("To", "+36301234567"),
            ("MessageSid", "SMa"),
            ("AccountSid", "AC1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let mut req = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "SmsSid=SMa&SmsStatus={status}&MessageStatus={status}&To=%2B36301234567&MessageSid=SMa&AccountSid=AC1"
            ));
        if signed {
            req = req.header(
                "X-Twilio-Signature",
                ugyelet::http::twilio::sign(TWILIO_TOKEN, &url, &params),
            );
        }
        req.send()
    };
    // Unsigned: refused, and the message stays as it was.
    assert_eq!(
        twilio("undelivered", false).await.expect("POST").status(),
        403
    );
    assert_eq!(
        store
            .lock()
            .expect("lock")
            .get(a)
            .expect("get")
            .expect("row")
            .state,
        MsgState::Sent
    );
    assert_eq!(twilio("delivered", true).await.expect("POST").status(), 200);
    assert_eq!(twilio("sent", true).await.expect("POST").status(), 200);
    assert_eq!(
        twilio("undelivered", true).await.expect("POST").status(),
        200
    );
    let row = store
        .lock()
        .expect("lock")
        .get(a)
        .expect("get")
        .expect("row");
    assert_eq!(
        row.state,
        MsgState::Delivered,
        "late reports do not move it back"
    );

    let wrong = client
        .post(format!("{base}/hooks/twilio/guess"))
        .body("MessageSid=SMa&MessageStatus=undelivered")
        .send()
        .await
        .expect("POST");
    assert_eq!(wrong.status(), 404);

    let report = serde_json::json!({"results": [{
        "bulkId": "x", "messageId": "ib-b", "to": "36301234567",
        "status": {"groupId": 4, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"},
        "error": {"groupName": "HANDSET_ERRORS", "name": "EC_ABSENT_SUBSCRIBER"}
    }]});
    let r = client
        .post(format!("{base}/hooks/infobip/s3cr3t"))
        .json(&report)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let row = store
        .lock()
        .expect("lock")
        .get(b)
        .expect("get")
        .expect("row");
    assert_eq!(row.state, MsgState::Failed);
    assert_eq!(
        row.last_error.as_deref(),
        Some("Infobip UNDELIVERABLE: UNDELIVERABLE_NOT_DELIVERED")
    );
}
