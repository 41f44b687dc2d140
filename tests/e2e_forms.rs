//! Forms end to end: the real daemon, a SIPp caller pressing keys (RFC 4733), a real HTTP
//! server on 127.0.0.1 standing in for the SMS gateway, and the daemon's own public
//! listener serving the link. Also a SIGKILL while a message is pending, and the
//! operator API.

mod common;

use common::*;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// Milliseconds into the call by which the welcome prompt is over (the key then lands in
/// the closed-line announcement, which lets it through to the closed menu).
fn into_menu_ms() -> u64 {
    (load_prompt("welcome").len() * 1000 / RATE) as u64 + 1500
}

/// Settings for a generic gateway at `port`, quick retries without jitter.
fn gateway_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("UGYELET_NOTIFY__SMS__KIND", "generic".into()),
        (
            "UGYELET_NOTIFY__SMS__URL",
            format!("http://127.0.0.1:{port}/send"),
        ),
        (
            "UGYELET_NOTIFY__SMS__BODY_TEMPLATE",
            r#"{"to":"{to}","text":"{text}","ref":"{id}"}"#.into(),
        ),
        ("UGYELET_NOTIFY__SMS__TIMEOUT_S", "3".into()),
        ("UGYELET_NOTIFY__RETRY_INITIAL_MS", "400".into()),
        ("UGYELET_NOTIFY__RETRY_MAX_S", "2".into()),
        ("UGYELET_NOTIFY__RETRY_JITTER", "0.0".into()),
    ]
}

fn start(env: &[(&'static str, String)]) -> Daemon {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Daemon::start(&pairs)
}

fn close_the_line(d: &Daemon) {
    let (status, body) = http_request(
        d.admin_port,
        "PUT",
        "/api/override",
        Some(r#"{"mode":"closed","reason":"test"}"#),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

fn call_for_sms(d: &Daemon) -> SippResult {
    let delay = into_menu_ms().to_string();
    sipp(
        &scenario("mobile_caller_picks_form_3_when_closed_and_gets_it_by_sms.xml"),
        &["-d", &delay, "-timeout", "60s", &d.addr()],
    )
}

fn outbox(d: &Daemon, query: &str) -> serde_json::Value {
    let (status, body) = http_request(
        d.admin_port,
        "GET",
        &format!("/api/outbox{query}"),
        None,
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

#[test]
fn mobile_caller_picks_form_3_when_closed_and_gets_one_sms_whose_link_downloads_that_form() {
    // The gateway refuses the first attempt: the retry must not make a second SMS.
    let gateway = HttpStub::start(&[(503, "busy"), (200, r#"{"id":"gw-123"}"#)]);
    let mut env = gateway_env(gateway.port);
    env.push(("UGYELET_NOTIFY__SMS__ID_FIELD", "id".into()));
    let daemon = start(&env);
    close_the_line(&daemon);

    let result = call_for_sms(&daemon);
    result.assert_success();

    let seen = gateway.wait_requests(2, 20 * SECOND);
    std::thread::sleep(2 * SECOND);
    let seen_later = gateway.requests();
    assert_eq!(
        seen_later.len(),
        2,
        "one refused attempt and one accepted: {seen_later:?}"
    );
    assert_eq!(seen[0].body, seen[1].body, "the retry is the same SMS");
    assert_eq!(
        seen[0].header("idempotency-key"),
        seen[1].header("idempotency-key")
    );
    let req: serde_json::Value = serde_json::from_slice(&seen[1].body).expect("JSON body");
    assert_eq!(req["to"], "+36301234567", "the caller's own number, E.164");
    let text = req["text"].as_str().expect("text");
    assert!(
        text.starts_with("Gépjarmüado bevallas: "),
        "the third form's title transliterated (GSM-7 keeps é and ü) then the link: {text}"
    );
    assert!(text.chars().count() <= 160, "one SMS segment: {text}");
    let prefix = format!("http://127.0.0.1:{}/f/", daemon.public_port);
    let at = text
        .find(&prefix)
        .expect("a link to the daemon's public listener");
    let path = &text[at + prefix.len() - 3..];

    let (status, bytes) = http_request(daemon.public_port, "GET", path, None, None);
    assert_eq!(status, 200);
    let want = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/forms/gepjarmuado.pdf"
    ))
    .expect("form file");
    assert_eq!(bytes, want, "the link serves the third form's bytes");

    let sent = outbox(&daemon, "?state=sent");
    let msgs = sent["messages"].as_array().expect("list");
    assert_eq!(msgs.len(), 1, "{sent}");
    assert_eq!(msgs[0]["attempts"], 2);
    assert_eq!(msgs[0]["downloads"], 1);
    assert_eq!(msgs[0]["form"], "gepjarmuado");
    assert_eq!(
        msgs[0]["provider_id"], "gw-123",
        "the gateway's message id (id_field = \"id\") is kept for delivery reports: {sent}"
    );
    // Logs protect callers: the number never appears at info level.
    assert!(
        !daemon.stderr().contains("301234567"),
        "the caller's number leaked into the log"
    );
}

#[test]
fn without_a_gateway_the_caller_hears_sms_failed_and_nothing_is_queued() {
    let daemon = Daemon::start(&[]);
    close_the_line(&daemon);
    call_for_sms(&daemon).assert_success();
    assert!(
        daemon
            .wait_for_line(5 * SECOND, |l| l.contains("form not sent")
                && l.contains("status=503"))
            .is_some(),
        "the refusal is logged"
    );
    assert_eq!(outbox(&daemon, "")["messages"], serde_json::json!([]));
}

#[test]
fn a_message_pending_when_the_daemon_is_killed_is_delivered_once_after_restart() {
    let gateway_port = free_ports(1);
    let state = scratch_dir("forms-kill-state");
    let mut env = gateway_env(gateway_port);
    env.push(("UGYELET_STATE__DIR", state.display().to_string()));

    let mut first = start(&env);
    close_the_line(&first);
    call_for_sms(&first).assert_success();
    let failed = first
        .wait_for_line(10 * SECOND, |l| l.contains("send attempt failed"))
        .expect("the gateway is down: the first attempt fails");
    // The reason is in the log line, at the level an admin reads; the number is not.
    assert!(
        failed.contains(" WARN ") && failed.contains("reason=") && !failed.contains("+36301234567"),
        "{failed}"
    );
    assert!(
        failed
            .contains("reason=http unreachable: error sending request for url (http://127.0.0.1:"),
        "why, and where to: {failed}"
    );
    first.kill();

    let gateway = HttpStub::start_on(gateway_port, &[]);
    let second = start(&env);
    let seen = gateway.wait_requests(1, 15 * SECOND);
    assert_eq!(seen.len(), 1, "delivered after the restart");
    std::thread::sleep(3 * SECOND);
    assert_eq!(gateway.requests().len(), 1, "and only once");
    let req: serde_json::Value = serde_json::from_slice(&seen[0].body).expect("JSON body");
    assert_eq!(req["to"], "+36301234567");
    let msgs = outbox(&second, "");
    assert_eq!(msgs["messages"].as_array().map(Vec::len), Some(1), "{msgs}");
    assert_eq!(msgs["messages"][0]["state"], "sent");
    drop(second);
    let _ = std::fs::remove_dir_all(&state);
}

/// Length of a prompt in milliseconds.
fn prompt_ms(id: &str) -> u64 {
    (load_prompt(id).len() * 1000 / RATE) as u64
}

#[test]
fn a_voice_message_arrives_by_email_with_a_wav_of_what_the_caller_said_and_is_listed_until_done() {
    let smtp = SmtpSink::start();
    // Started by hand from a shell with a careless umask: the recording must still be
    // private (it is a resident's voice).
    let env = smtp.daemon_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let daemon = Daemon::start_with_umask(Some("000"), &pairs);
    close_the_line(&daemon);

    // The caller: quiet until the recording has surely begun, a sentence, then quiet.
    let key_at = into_menu_ms();
    let speak_at = key_at + prompt_ms("voicemail_intro") + prompt_ms("beep") + 1500;
    let speech = espeak_hu("Kérem, hívjanak vissza a lakcímbejelentés ügyében. Köszönöm.");
    let speech_ms = (speech.len() * 1000 / RATE) as u64;
    let mut source = vec![0i16; ms(speak_at)];
    source.extend_from_slice(&speech);
    source.resize(source.len() + ms(60_000), 0);
    let dir = scratch_dir("voicemail-source");
    let wav = dir.join("caller.wav");
    write_wav_8k(&wav, &source);
    let phone = Baresip::start(BaresipConfig {
        source: Some(wav),
        ..BaresipConfig::default()
    });
    phone.dial(&daemon.uri());
    let established = phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let sleep_to = |at_ms: u64| {
        let at = established.at + Duration::from_millis(at_ms);
        std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
    };
    sleep_to(key_at);
    phone.send_dtmf('2');
    sleep_to(speak_at + speech_ms + 1000);
    phone.send_dtmf('#');
    phone.wait_event("CALL_CLOSED", 30 * SECOND);

    let mails = smtp.wait_messages(1, 20 * SECOND);
    assert_eq!(mails.len(), 1, "one email to the office");
    let m = &mails[0];
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["ugyfelszolgalat@example.hu"])
    );
    assert_eq!(m["subject"], "Hangüzenet az ügyeleti vonalon: +36301234567");
    let body = m["body"].as_str().expect("body");
    assert!(body.contains("Hívó: +36301234567"), "{body}");
    assert!(
        body.contains("Menü: welcome>check_open>closed_info>closed_menu>leave_message>record"),
        "{body}"
    );
    assert_eq!(m["attachments"][0]["content_type"], "audio/wav");
    let got = dir.join("received.wav");
    std::fs::write(&got, attachment_bytes(m, 0)).expect("write");
    let recorded = read_wav_8k(&got);
    let (_, ncc) = find_prompt(&recorded, &through_alaw(&speech)).expect("recording long enough");
    assert!(
        ncc > HEARD,
        "the WAV holds what the caller said (ncc {ncc:.4})"
    );
    assert!(
        recorded.len() < ms(speech_ms + 6000),
        "'#' ended the recording ({} samples)",
        recorded.len()
    );

    let list = |q: &str| {
        let (status, body) = http_request(
            daemon.admin_port,
            "GET",
            &format!("/api/messages{q}"),
            None,
            None,
        );
        assert_eq!(status, 200);
        serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")
    };
    let open = list("");
    assert_eq!(open["messages"].as_array().map(Vec::len), Some(1), "{open}");
    assert_eq!(open["messages"][0]["caller"], "+36301234567");
    let id = open["messages"][0]["id"].as_u64().expect("id");
    let done = |id: u64| {
        http_request(
            daemon.admin_port,
            "POST",
            &format!("/api/messages/{id}/done"),
            None,
            None,
        )
        .0
    };
    assert_eq!(done(id), 200);
    assert_eq!(done(id), 409, "already done");
    assert_eq!(done(id + 1), 404);
    assert_eq!(list("")["messages"], serde_json::json!([]));
    assert_eq!(list("?all=1")["messages"][0]["done"], true);

    // The call record says a message was left.
    cdr_rows_when(&daemon, |rows| {
        rows.iter()
            .any(|r| r.get(5).map(String::as_str) == Some("voicemail"))
    });

    // The recording on disk, and its directory, are the daemon's and its group's only.
    use std::os::unix::fs::PermissionsExt;
    let messages = daemon.state_dir.join("messages");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    let wavs: Vec<_> = std::fs::read_dir(&messages)
        .expect("messages dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    assert_eq!(wavs.len(), 1, "{wavs:?}");
    assert_eq!(
        mode(&wavs[0]) & 0o027,
        0,
        "{} {:04o}",
        wavs[0].display(),
        mode(&wavs[0])
    );
    assert_eq!(
        mode(&messages) & 0o027,
        0,
        "messages/ {:04o}",
        mode(&messages)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_operator_sends_a_form_by_email_during_a_call_through_the_api() {
    let smtp = SmtpSink::start();
    let dir = scratch_dir("forms-catalog");
    let catalog = dir.join("forms.toml");
    // A copy elsewhere names the shipped PDFs by absolute path.
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms.toml"))
            .expect("shipped catalog")
            .replace(
                "file = \"forms/",
                concat!("file = \"", env!("CARGO_MANIFEST_DIR"), "/config/forms/"),
            );
    std::fs::write(&catalog, &shipped).expect("write catalog");
    let mut env = smtp.daemon_env();
    env.push(("UGYELET_FORMS__CATALOG", catalog.display().to_string()));
    let daemon = start(&env);
    let phone = Baresip::caller();
    phone.dial(&daemon.uri());
    phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (status, body) = http_request(daemon.admin_port, "GET", "/api/calls", None, None);
    assert_eq!(status, 200);
    let calls: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let call = calls["calls"][0]["id"]
        .as_u64()
        .expect("a call in progress");
    let post = |call: u64, json: &str| {
        let (status, body) = http_request(
            daemon.admin_port,
            "POST",
            &format!("/api/calls/{call}/forms"),
            Some(json),
            None,
        );
        (status, String::from_utf8_lossy(&body).into_owned())
    };

    let good = r#"{"form":"lakcim","channel":"email","to":"Lakos@Example.hu"}"#;
    let (status, first) = post(call, good);
    assert_eq!(status, 202, "{first}");
    let first: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(first["created"], true);
    let (status, again) = post(call, good);
    assert_eq!(status, 202);
    let again: serde_json::Value = serde_json::from_str(&again).expect("JSON");
    assert_eq!(
        (&again["id"], &again["created"]),
        (&first["id"], &serde_json::json!(false)),
        "a second click sends nothing more"
    );

    let (status, e) = post(call + 100, good);
    assert_eq!(status, 404, "{e}");
    let (status, e) = post(call, r#"{"form":"nincs","channel":"email","to":"a@b.hu"}"#);
    assert_eq!(status, 400);
    assert!(
        e.contains(r#"unknown form \"nincs\" (known: tajekoztato, lakcim"#),
        "{e}"
    );
    let (status, e) = post(call, r#"{"form":"lakcim","channel":"fax","to":"a@b.hu"}"#);
    assert_eq!(status, 400);
    assert!(
        e.contains(r#"expected \"sms\" or \"email\", found \"fax\""#),
        "{e}"
    );
    let (status, e) = post(
        call,
        r#"{"form":"lakcim","channel":"email","to":"nem cím"}"#,
    );
    assert_eq!(status, 400);
    assert!(e.contains("expected an email address"), "{e}");
    let (status, e) = post(
        call,
        r#"{"form":"lakcim","channel":"sms","to":"06301234567"}"#,
    );
    assert_eq!(status, 503, "no SMS gateway here: {e}");

    let mails = smtp.wait_messages(1, 20 * SECOND);
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m["rcpt_tos"], serde_json::json!(["lakos@example.hu"]));
    assert_eq!(m["subject"], "Kért nyomtatvány: Lakcímbejelentés");
    assert_eq!(m["attachments"][0]["filename"], "lakcim.pdf");
    let want = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/forms/lakcim.pdf"
    ))
    .expect("form");
    assert_eq!(attachment_bytes(m, 0), want);
    std::thread::sleep(SECOND);
    assert_eq!(smtp.messages().len(), 1, "exactly one mail");
    let sent = outbox(&daemon, "?state=sent");
    assert_eq!(sent["messages"][0]["recipient"], "lakos@example.hu");

    // A form added to the catalog is sendable after a reload, without a restart.
    let new_form = r#"{"form":"uj","channel":"email","to":"lakos@example.hu"}"#;
    assert_eq!(post(call, new_form).0, 400, "not in the catalog yet");
    // Its PDF lies beside the catalog and is named relative to it.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms/lakcim.pdf"),
        dir.join("uj.pdf"),
    )
    .expect("copy form");
    std::fs::write(
        &catalog,
        format!("{shipped}\n[[form]]\nid = \"uj\"\ntitle = \"Új űrlap\"\nfile = \"uj.pdf\"\n"),
    )
    .expect("edit catalog");
    let (status, body) = http_request(daemon.admin_port, "POST", "/api/reload", None, None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, e) = post(call, new_form);
    phone.hangup();
    assert_eq!(status, 202, "{e}");
    let mails = smtp.wait_messages(2, 20 * SECOND);
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1]["subject"], "Kért nyomtatvány: Új űrlap");
    assert_eq!(mails[1]["attachments"][0]["filename"], "uj.pdf");
    let _ = std::fs::remove_dir_all(&dir);
}
