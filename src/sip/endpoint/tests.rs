//! Unit tests of the endpoint in virtual time: SIP text in, SIP text and events out.
//!
//! They use only the endpoint's public methods (`handle_message`, `handle_timeout`, the
//! call decisions, `poll_*`), so they pin what goes on the wire and not how the endpoint is
//! built inside. The machines' own timer schedules are tested in `crate::sip::transaction`.

use super::*;
use std::time::Duration;

use crate::sip::msg::{Method, NameAddr, Request, Response, Uri};
use crate::sip::transaction::TimerConfig;

const CALLER: &str = "127.0.0.1:5062";
const LOCAL: &str = "127.0.0.1:5060";

fn ep() -> SipEndpoint {
    SipEndpoint::new(
        EndpointConfig {
            timers: TimerConfig::default(),
            user_agent: "ugyelet-test".into(),
            contact_user: "ugyelet".into(),
            registrar: false,
        },
        42,
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

fn invite(branch: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport\r\n\
         From: <sip:+36301234567@127.0.0.1>;tag=caller1\r\n\
         To: <sip:ugyelet@127.0.0.1>\r\n\
         Call-ID: call-1@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:5062>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn in_dialog(
    method: &str,
    branch: &str,
    to_tag: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "{method} sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport\r\n\
         From: <sip:+36301234567@127.0.0.1>;tag=caller1\r\n\
         To: <sip:ugyelet@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: call-1@test\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn feed(e: &mut SipEndpoint, now: Instant, text: &str) {
    e.handle_message(
        now,
        addr(CALLER),
        addr(LOCAL),
        Transport::Udp,
        text.as_bytes(),
    );
}

fn sent(e: &mut SipEndpoint) -> Vec<Message> {
    std::iter::from_fn(|| e.poll_transmit())
        .map(|t| {
            assert_eq!(t.dst, addr(CALLER), "rport: reply goes to the source");
            msg::parse(&t.bytes).expect("we send parseable messages")
        })
        .collect()
}

fn statuses(msgs: &[Message]) -> Vec<u16> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some(r.status),
            Message::Request(_) => None,
        })
        .collect()
}

fn incoming(e: &mut SipEndpoint) -> DialogId {
    match e.poll_event() {
        Some(SipEvent::IncomingCall {
            dialog, request, ..
        }) => {
            assert_eq!(request.from.uri.user(), Some("+36301234567"));
            dialog
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    }
}

fn to_tag(msgs: &[Message]) -> String {
    msgs.iter()
        .find_map(|m| match m {
            Message::Response(r) if r.status >= 180 => r.to.tag().map(str::to_owned),
            _ => None,
        })
        .expect("a response with a To tag")
}

#[test]
fn invite_gets_100_then_180_then_200_retransmitted_until_ack() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    assert_eq!(statuses(&sent(&mut e)), vec![100]);
    let d = incoming(&mut e);
    e.ringing(t0, d);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let out = sent(&mut e);
    assert_eq!(statuses(&out), vec![180, 200]);
    let tag = to_tag(&out);
    // RFC 3261 §13.3.1.4: retransmit at T1, then 2·T1 ...
    e.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(statuses(&sent(&mut e)), vec![200]);
    e.handle_timeout(t0 + Duration::from_millis(1499));
    assert!(sent(&mut e).is_empty());
    e.handle_timeout(t0 + Duration::from_millis(1500));
    assert_eq!(statuses(&sent(&mut e)), vec![200]);
    feed(
        &mut e,
        t0 + Duration::from_secs(2),
        &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""),
    );
    assert!(matches!(e.poll_event(), Some(SipEvent::Confirmed { dialog }) if dialog == d));
    e.handle_timeout(t0 + Duration::from_secs(10));
    assert!(sent(&mut e).is_empty(), "no 200 after the ACK");
}

#[test]
fn retransmitted_invite_is_absorbed_and_answered_with_the_last_response() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let _ = sent(&mut e);
    let d = incoming(&mut e);
    e.ringing(t0, d);
    let _ = sent(&mut e);
    feed(
        &mut e,
        t0 + Duration::from_millis(500),
        &invite("z9hG4bK-1"),
    );
    assert_eq!(statuses(&sent(&mut e)), vec![180]);
    assert!(
        e.poll_event().is_none(),
        "a retransmission is not a new call"
    );
    assert_eq!(e.stats().retransmissions_absorbed, 1);
}

#[test]
fn cancel_before_answer_gets_200_and_invite_gets_487() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let d = incoming(&mut e);
    e.ringing(t0, d);
    let _ = sent(&mut e);
    let cancel = invite("z9hG4bK-1")
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    let cancel = cancel
        .split("Content-Type")
        .next()
        .expect("has headers")
        .to_owned()
        + "Content-Length: 0\r\n\r\n";
    feed(&mut e, t0, &cancel);
    let out = sent(&mut e);
    let cseqs: Vec<(u16, Method)> = out
        .iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some((r.status, r.cseq.method.clone())),
            Message::Request(_) => None,
        })
        .collect();
    assert_eq!(cseqs, vec![(200, Method::Cancel), (487, Method::Invite)]);
    assert!(matches!(
        e.poll_event(),
        Some(SipEvent::Ended {
            reason: EndReason::Cancelled,
            ..
        })
    ));
}

#[test]
fn bye_from_caller_gets_200_and_ends_the_call() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let d = incoming(&mut e);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let tag = to_tag(&sent(&mut e));
    feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
    let _ = e.poll_event();
    feed(&mut e, t0, &in_dialog("BYE", "z9hG4bK-3", &tag, 2, "", ""));
    assert_eq!(statuses(&sent(&mut e)), vec![200]);
    assert!(matches!(
        e.poll_event(),
        Some(SipEvent::Ended {
            reason: EndReason::PeerBye,
            ..
        })
    ));
    feed(&mut e, t0, &in_dialog("BYE", "z9hG4bK-4", &tag, 3, "", ""));
    assert_eq!(statuses(&sent(&mut e)), vec![481], "the dialog is gone");
}

#[test]
fn daemon_hangup_sends_bye_to_the_contact_and_retransmits_until_answered() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let d = incoming(&mut e);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let tag = to_tag(&sent(&mut e));
    // Hang-up asked before the ACK waits for it (RFC 3261 §15).
    e.hangup(t0, d);
    assert!(sent(&mut e).is_empty());
    feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
    let out = sent(&mut e);
    let Some(Message::Request(bye)) = out.first() else {
        panic!("BYE expected, got {out:?}")
    };
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.from.tag(), Some(tag.as_str()));
    assert_eq!(bye.to.tag(), Some("caller1"));
    assert_eq!(bye.uri.to_string(), "sip:caller@127.0.0.1:5062");
    // Timer E retransmits the BYE after T1.
    e.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(sent(&mut e).len(), 1);
    let mut ok = Response::from_request(bye, 200, "OK", None);
    ok.to.set_tag("caller1");
    feed(
        &mut e,
        t0 + Duration::from_millis(600),
        &String::from_utf8(ok.to_bytes()).expect("utf8"),
    );
    assert!(sent(&mut e).is_empty(), "no retransmission after the 200");
    // RFC 3261 §17.1.2.2: Timer K (T4) absorbs response retransmissions, then the
    // transaction and with it the dialog are gone.
    e.handle_timeout(t0 + Duration::from_millis(600 + 4999));
    assert_eq!(e.dialog_count(), 1);
    e.handle_timeout(t0 + Duration::from_millis(600 + 5000));
    assert_eq!(
        e.dialog_count(),
        0,
        "the dialog is forgotten once BYE completes"
    );
}

#[test]
fn refused_offer_gets_488_with_a_warning_saying_why() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-w"));
    let d = incoming(&mut e);
    let _ = sent(&mut e);
    e.reject_because(
        t0,
        d,
        488,
        "expected PCMA/8000 or PCMU/8000, found \"G729/8000\"",
    );
    let out = sent(&mut e);
    let Some(Message::Response(r)) = out.first() else {
        panic!("a response: {out:?}")
    };
    assert_eq!(r.status, 488);
    assert_eq!(
        r.headers.get("Warning"),
        Some("399 ugyelet \"expected PCMA/8000 or PCMU/8000, found 'G729/8000'\"")
    );
}

#[test]
fn draining_endpoint_refuses_new_calls_with_503_and_retry_after() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    e.set_draining(true);
    feed(&mut e, t0, &invite("z9hG4bK-d"));
    let out = sent(&mut e);
    let Some(Message::Response(r)) = out.first() else {
        panic!("a response: {out:?}")
    };
    assert_eq!(r.status, 503);
    assert_eq!(r.headers.get("Retry-After"), Some("120"));
    assert!(e.poll_event().is_none(), "no call is started");
    assert_eq!(e.stats().refused_draining, 1);
    assert_eq!(e.stats().requests_by_method[0], 1, "counted as an INVITE");
}

const OPERATOR: &str = "127.0.0.1:5070";

fn outgoing() -> OutgoingCall {
    OutgoingCall {
        request_uri: Uri::parse("sip:op1@127.0.0.1:5070").expect("uri"),
        dst: addr(OPERATOR),
        transport: Transport::Udp,
        local: addr(LOCAL),
        to: NameAddr::parse("<sip:op1@127.0.0.1>").expect("name-addr"),
        from: NameAddr::parse("\"+36301234567\" <sip:+36301234567@127.0.0.1>").expect("name-addr"),
        headers: vec![("X-Ugyelet-Path".into(), "welcome>main_menu>operator".into())],
        sdp: b"v=0\r\n".to_vec(),
    }
}

fn to_operator(e: &mut SipEndpoint) -> Vec<Message> {
    std::iter::from_fn(|| e.poll_transmit())
        .map(|t| {
            assert_eq!(
                t.dst,
                addr(OPERATOR),
                "the operator leg goes to the registered flow"
            );
            msg::parse(&t.bytes).expect("we send parseable messages")
        })
        .collect()
}

fn reply(e: &mut SipEndpoint, now: Instant, req: &Request, status: u16, tag: Option<&str>) {
    let mut r = Response::from_request(req, status, msg::reason_phrase(status), tag);
    if status == 200 {
        r.headers.set("Contact", "<sip:op1@127.0.0.1:5070>");
        r.body = b"v=0\r\n".to_vec();
    }
    e.handle_message(
        now,
        addr(OPERATOR),
        addr(LOCAL),
        Transport::Udp,
        &r.to_bytes(),
    );
}

fn sent_invite(out: &[Message]) -> Request {
    match out.first() {
        Some(Message::Request(r)) if r.method == Method::Invite => r.clone(),
        other => panic!("INVITE expected, got {other:?}"),
    }
}

#[test]
fn outgoing_invite_is_acked_on_200_and_the_ack_repeats_for_a_retransmitted_200() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    let d = e.invite(t0, outgoing());
    let inv = sent_invite(&to_operator(&mut e));
    assert_eq!(
        inv.headers.get("X-Ugyelet-Path"),
        Some("welcome>main_menu>operator")
    );
    assert_eq!(
        inv.from.display.as_deref(),
        Some("+36301234567"),
        "the operator sees who calls"
    );
    reply(&mut e, t0, &inv, 180, Some("op"));
    assert!(matches!(
        e.poll_event(),
        Some(SipEvent::OutgoingProgress { status: 180, .. })
    ));
    reply(&mut e, t0, &inv, 200, Some("op"));
    let acks = to_operator(&mut e);
    let Some(Message::Request(ack)) = acks.first() else {
        panic!("ACK expected")
    };
    assert_eq!((ack.method.clone(), ack.cseq.seq), (Method::Ack, 1));
    assert_eq!(ack.to.tag(), Some("op"));
    assert!(
        matches!(e.poll_event(), Some(SipEvent::OutgoingAnswered { dialog, .. }) if dialog == d)
    );
    reply(&mut e, t0, &inv, 200, Some("op"));
    assert_eq!(
        to_operator(&mut e).len(),
        1,
        "RFC 3261 §13.2.2.4: ACK again"
    );
    assert!(e.poll_event().is_none(), "no second answer");
    // The operator hangs up: their BYE ends our dialog.
    let bye = format!(
        "BYE sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-ob;rport\r\n\
         From: <sip:op1@127.0.0.1>;tag=op\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        inv.from, inv.call_id
    );
    e.handle_message(
        t0,
        addr(OPERATOR),
        addr(LOCAL),
        Transport::Udp,
        bye.as_bytes(),
    );
    assert!(
        matches!(e.poll_event(), Some(SipEvent::Ended { reason: EndReason::PeerBye, dialog }) if dialog == d)
    );
}

#[test]
fn cancel_waits_for_a_provisional_response_then_the_487_is_acked() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    let d = e.invite(t0, outgoing());
    let inv = sent_invite(&to_operator(&mut e));
    e.hangup(t0, d);
    assert!(
        to_operator(&mut e).is_empty(),
        "RFC 3261 §9.1: no CANCEL before a provisional"
    );
    reply(&mut e, t0, &inv, 180, Some("op"));
    let out = to_operator(&mut e);
    let Some(Message::Request(cancel)) = out.first() else {
        panic!("CANCEL expected: {out:?}")
    };
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(
        cancel.via[0].branch(),
        inv.via[0].branch(),
        "same branch as the INVITE"
    );
    assert_eq!(cancel.cseq.seq, inv.cseq.seq);
    reply(&mut e, t0, &inv, 487, Some("op"));
    let out = to_operator(&mut e);
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::Request(r) if r.method == Method::Ack))
    );
    assert!(matches!(
        e.poll_event(),
        Some(SipEvent::OutgoingFailed { status: 487, .. })
    ));
}

#[test]
fn unanswered_outgoing_invite_times_out_with_408_after_64_t1() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    let _ = e.invite(t0, outgoing());
    let mut t = t0;
    let mut sends = 0;
    while t <= t0 + Duration::from_secs(33) {
        e.handle_timeout(t);
        sends += to_operator(&mut e).len();
        t += Duration::from_millis(100);
    }
    assert_eq!(sends, 7, "Timer A: the INVITE and six retransmissions");
    let mut failed = Vec::new();
    while let Some(ev) = e.poll_event() {
        if let SipEvent::OutgoingFailed { status, .. } = ev {
            failed.push(status);
        }
    }
    assert_eq!(failed, vec![408]);
}

#[test]
fn options_gets_200_with_allow() {
    let mut e = ep();
    let opt = "OPTIONS sip:ugyelet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-o;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:ugyelet@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    feed(&mut e, crate::clock::test_epoch(), opt);
    let out = sent(&mut e);
    let Some(Message::Response(r)) = out.first() else {
        panic!("response expected")
    };
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("Allow"), Some(ALLOW));
}

#[test]
fn unknown_method_gets_501_and_unsupported_method_405_with_allow() {
    let mut e = ep();
    let req = |m: &str, b: &str| {
        format!(
            "{m} sip:ugyelet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{b};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:ugyelet@127.0.0.1>\r\nCall-ID: {b}\r\nCSeq: 1 {m}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    feed(&mut e, crate::clock::test_epoch(), &req("FOOBAR", "a"));
    feed(&mut e, crate::clock::test_epoch(), &req("SUBSCRIBE", "b"));
    let out = sent(&mut e);
    assert_eq!(statuses(&out), vec![501, 405]);
    let Message::Response(r) = &out[1] else {
        panic!("response expected")
    };
    assert_eq!(r.headers.get("Allow"), Some(ALLOW));
}

#[test]
fn wrong_sip_version_gets_505_and_garbage_is_dropped_and_counted() {
    let mut e = ep();
    let bad = invite("z9hG4bK-v").replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
    feed(&mut e, crate::clock::test_epoch(), &bad);
    assert_eq!(statuses(&sent(&mut e)), vec![505]);
    feed(&mut e, crate::clock::test_epoch(), "\u{0}\u{1}garbage");
    assert!(sent(&mut e).is_empty());
    assert_eq!(e.stats().malformed_dropped, 1);
    assert!(e.poll_event().is_none());
}

#[test]
fn reinvite_for_hold_is_passed_on_and_answered() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let d = incoming(&mut e);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let tag = to_tag(&sent(&mut e));
    feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
    let _ = e.poll_event();
    let hold = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\na=sendonly\r\n";
    feed(
        &mut e,
        t0,
        &in_dialog(
            "INVITE",
            "z9hG4bK-5",
            &tag,
            2,
            "Content-Type: application/sdp\r\n",
            hold,
        ),
    );
    assert_eq!(statuses(&sent(&mut e)), vec![100]);
    let Some(SipEvent::ReInvite { dialog, request }) = e.poll_event() else {
        panic!("re-INVITE event")
    };
    assert_eq!(dialog, d);
    assert!(String::from_utf8_lossy(&request.body).contains("sendonly"));
    e.answer(t0, d, b"v=0\r\n".to_vec());
    assert_eq!(statuses(&sent(&mut e)), vec![200]);
}

#[test]
fn info_in_dialog_is_answered_and_delivered() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let d = incoming(&mut e);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let tag = to_tag(&sent(&mut e));
    feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
    let _ = e.poll_event();
    feed(
        &mut e,
        t0,
        &in_dialog(
            "INFO",
            "z9hG4bK-6",
            &tag,
            2,
            "Content-Type: application/dtmf-relay\r\n",
            "Signal=3\r\nDuration=160\r\n",
        ),
    );
    assert_eq!(statuses(&sent(&mut e)), vec![200]);
    let Some(SipEvent::Info {
        content_type, body, ..
    }) = e.poll_event()
    else {
        panic!("INFO event")
    };
    assert_eq!(content_type, "application/dtmf-relay");
    assert_eq!(body, b"Signal=3\r\nDuration=160\r\n");
}

#[test]
fn unanswered_2xx_gives_up_after_64_t1_and_sends_bye() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let d = incoming(&mut e);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let _ = sent(&mut e);
    let mut t = t0;
    while t < t0 + Duration::from_secs(33) {
        t += Duration::from_millis(100);
        e.handle_timeout(t);
    }
    let out = sent(&mut e);
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye))
    );
    let mut reasons = Vec::new();
    while let Some(ev) = e.poll_event() {
        if let SipEvent::Ended { reason, .. } = ev {
            reasons.push(reason);
        }
    }
    assert_eq!(reasons, vec![EndReason::AckTimeout]);
}

#[test]
fn cancelled_ring_is_forgotten_once_its_cancel_transaction_ends() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    let d = e.invite(t0, outgoing());
    let inv = sent_invite(&to_operator(&mut e));
    reply(&mut e, t0, &inv, 180, Some("op"));
    e.hangup(t0, d);
    let out = to_operator(&mut e);
    let Some(Message::Request(cancel)) = out.first() else {
        panic!("CANCEL expected: {out:?}")
    };
    // The phone answers the CANCEL, then ends the INVITE with 487 while the CANCEL's
    // transaction still waits out Timer K.
    reply(&mut e, t0, cancel, 200, Some("op"));
    reply(&mut e, t0, &inv, 487, Some("op"));
    while e.poll_event().is_some() {}
    let mut t = t0;
    while t <= t0 + Duration::from_secs(40) {
        e.handle_timeout(t);
        let _ = to_operator(&mut e);
        t += Duration::from_millis(500);
    }
    assert_eq!(
        e.dialog_count(),
        0,
        "no dialog left behind by a cancelled ring"
    );
}

#[test]
fn retransmitted_2xx_goes_where_the_first_went_for_a_client_without_rport() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    // No rport, and the datagram comes from another port than the Via names: RFC 3261
    // §18.2.2 answers to the Via's sent-by port.
    let inv = invite("z9hG4bK-nr").replace(";rport", "");
    e.handle_message(
        t0,
        addr("127.0.0.1:40000"),
        addr(LOCAL),
        Transport::Udp,
        inv.as_bytes(),
    );
    let d = incoming(&mut e);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let mut t = t0;
    let mut dsts = Vec::new();
    while t <= t0 + Duration::from_secs(2) {
        e.handle_timeout(t);
        dsts.extend(std::iter::from_fn(|| e.poll_transmit()).map(|x| x.dst));
        t += Duration::from_millis(100);
    }
    assert!(dsts.len() >= 3, "the 2xx and its retransmissions: {dsts:?}");
    assert!(
        dsts.iter().all(|d| *d == addr(CALLER)),
        "every copy to the Via's port: {dsts:?}"
    );
}

#[test]
fn refer_in_a_call_is_handed_out_and_its_progress_goes_back_as_notify() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    feed(&mut e, t0, &invite("z9hG4bK-1"));
    let d = incoming(&mut e);
    e.answer(t0, d, b"v=0\r\n".to_vec());
    let tag = to_tag(&sent(&mut e));
    feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
    let _ = e.poll_event();
    let refer = in_dialog(
        "REFER",
        "z9hG4bK-7",
        &tag,
        3,
        "Refer-To: <sip:bela@127.0.0.1>\r\n",
        "",
    );
    feed(&mut e, t0, &refer);
    assert!(sent(&mut e).is_empty(), "the answer is the switchboard's");
    let Some(SipEvent::Refer {
        dialog,
        id,
        request,
    }) = e.poll_event()
    else {
        panic!("REFER event")
    };
    assert_eq!(dialog, d);
    assert_eq!(
        request.headers.get("Refer-To"),
        Some("<sip:bela@127.0.0.1>")
    );
    // A retransmission is absorbed while the decision is pending.
    feed(&mut e, t0, &refer);
    assert!(sent(&mut e).is_empty());
    let accepted = Response::from_request(&request, 202, "Accepted", None);
    e.respond(t0, id, accepted);
    assert_eq!(statuses(&sent(&mut e)), vec![202]);
    // RFC 3515 §2.4.4: the NOTIFY goes inside the same dialog, to the caller's Contact.
    let headers = crate::sip::refer::notify_headers(3, 100);
    assert!(e.request_in_dialog(
        t0,
        d,
        77,
        Method::Notify,
        headers,
        crate::sip::refer::sipfrag(100)
    ));
    let out = sent(&mut e);
    let Some(Message::Request(notify)) = out.first() else {
        panic!("a NOTIFY expected: {out:?}")
    };
    assert_eq!(notify.method, Method::Notify);
    assert_eq!(notify.uri.to_string(), "sip:caller@127.0.0.1:5062");
    assert_eq!(notify.call_id, "call-1@test");
    assert_eq!(notify.from.tag(), Some(tag.as_str()));
    assert_eq!(notify.to.tag(), Some("caller1"));
    assert_eq!(notify.cseq.seq, 2);
    assert_eq!(notify.headers.get("Event"), Some("refer;id=3"));
    assert_eq!(
        notify.headers.get("Subscription-State"),
        Some("active;expires=60")
    );
    assert_eq!(
        notify.headers.get("Content-Type"),
        Some("message/sipfrag;version=2.0")
    );
    assert_eq!(notify.body, b"SIP/2.0 100 Trying\r\n");
    let ok = Response::from_request(notify, 200, "OK", None);
    e.handle_message(
        t0,
        addr(CALLER),
        addr(LOCAL),
        Transport::Udp,
        &ok.to_bytes(),
    );
    match e.poll_event() {
        Some(SipEvent::Answered { id: 77, response }) => {
            assert_eq!(response.map(|r| r.status), Some(200));
        }
        other => panic!("the NOTIFY's answer expected, got {other:?}"),
    }
}

#[test]
fn refer_outside_a_call_is_forbidden_and_in_an_unknown_dialog_gets_481() {
    let t0 = crate::clock::test_epoch();
    let mut e = ep();
    let outside = in_dialog(
        "REFER",
        "z9hG4bK-8",
        "x",
        1,
        "Refer-To: <sip:+3623444555@127.0.0.1>\r\n",
        "",
    )
    .replace(";tag=x", "");
    feed(&mut e, t0, &outside);
    feed(
        &mut e,
        t0,
        &in_dialog(
            "REFER",
            "z9hG4bK-9",
            "nosuchdialog",
            1,
            "Refer-To: <sip:bela@127.0.0.1>\r\n",
            "",
        ),
    );
    assert_eq!(statuses(&sent(&mut e)), vec![403, 481]);
    assert!(e.poll_event().is_none());
}

/// The provider's side of a trunk call: the daemon's own digest server.
fn provider(
    t0: Instant,
) -> (
    crate::sip::auth::DigestAuth,
    std::collections::HashMap<String, crate::sip::auth::Credentials>,
) {
    use crate::sip::auth::{Credentials, DigestAuth, DigestConfig};
    let cfg = DigestConfig {
        realm: "prov.example".into(),
        ..DigestConfig::default()
    };
    (
        DigestAuth::new(cfg, b"0123456789abcdef", t0),
        std::collections::HashMap::from([(
            "budaors".to_owned(),
            Credentials::from_password("budaors", "prov.example", "trunk secret"),
        )]),
    )
}

fn trunk_creds(password: &str) -> UacCredentials {
    UacCredentials {
        username: "budaors".into(),
        password: password.into(),
    }
}

/// The provider challenges `inv` (401 or, as a proxy, 407) with its own nonce.
fn challenge(
    e: &mut SipEndpoint,
    now: Instant,
    auth: &mut crate::sip::auth::DigestAuth,
    inv: &Request,
    status: u16,
) {
    let crate::sip::auth::Verdict::Challenge {
        www_authenticate, ..
    } = auth.verify(
        now,
        &crate::sip::auth::Attempt {
            method: "INVITE",
            request_uri: &inv.uri.to_string(),
            authorization: None,
            source: addr(OPERATOR).ip(),
        },
        &std::collections::HashMap::<String, crate::sip::auth::Credentials>::new(),
    )
    else {
        panic!("a request without credentials is challenged")
    };
    let mut r = Response::from_request(inv, status, msg::reason_phrase(status), Some("prov"));
    let name = if status == 407 {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    for c in www_authenticate {
        r.headers.push(name, c);
    }
    e.handle_message(
        now,
        addr(OPERATOR),
        addr(LOCAL),
        Transport::Udp,
        &r.to_bytes(),
    );
}

#[test]
fn a_trunk_invite_answers_the_challenge_in_the_same_dialog_and_acks_both_answers() {
    let t0 = crate::clock::test_epoch();
    let (mut auth, store) = provider(t0);
    for status in [401, 407] {
        let mut e = ep();
        let d = e.invite_with_credentials(t0, outgoing(), trunk_creds("trunk secret"));
        let first = sent_invite(&to_operator(&mut e));
        challenge(&mut e, t0, &mut auth, &first, status);
        let out = to_operator(&mut e);
        // RFC 3261 §17.1.1.3: the challenge is ACKed; §22.2: the INVITE goes again.
        let methods: Vec<Method> = out
            .iter()
            .filter_map(|m| match m {
                Message::Request(r) => Some(r.method.clone()),
                Message::Response(_) => None,
            })
            .collect();
        assert_eq!(methods, [Method::Ack, Method::Invite], "{status}");
        let Some(Message::Request(second)) = out.get(1) else {
            panic!("INVITE expected")
        };
        assert_eq!(
            second.call_id, first.call_id,
            "RFC 3261 §8.1.3.5: same Call-ID"
        );
        assert_eq!(second.from.tag(), first.from.tag(), "same From tag");
        assert_eq!(second.cseq.seq, first.cseq.seq + 1, "CSeq raised by one");
        assert_ne!(
            second.via[0].branch(),
            first.via[0].branch(),
            "a new branch"
        );
        assert!(e.poll_event().is_none(), "no failure reported: {status}");
        let header = if status == 407 {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let verdict = auth.verify(
            t0,
            &crate::sip::auth::Attempt {
                method: "INVITE",
                request_uri: &second.uri.to_string(),
                authorization: second.headers.get(header),
                source: addr(OPERATOR).ip(),
            },
            &store,
        );
        assert!(
            matches!(verdict, crate::sip::auth::Verdict::Ok { ref username, .. } if username == "budaors"),
            "{status}: the provider accepts the credentials: {verdict:?}"
        );
        reply(&mut e, t0, second, 200, Some("res"));
        let acks = to_operator(&mut e);
        let Some(Message::Request(ack)) = acks.first() else {
            panic!("ACK expected")
        };
        assert_eq!(
            (ack.method.clone(), ack.cseq.seq),
            (Method::Ack, second.cseq.seq),
            "RFC 3261 §13.2.2.4: the ACK has the answered INVITE's CSeq"
        );
        assert!(
            matches!(e.poll_event(), Some(SipEvent::OutgoingAnswered { dialog, .. }) if dialog == d)
        );
        // Our BYE comes after both INVITEs' CSeqs.
        e.hangup(t0, d);
        let bye = to_operator(&mut e);
        let Some(Message::Request(bye)) = bye.first() else {
            panic!("BYE expected")
        };
        assert_eq!((bye.method.clone(), bye.cseq.seq), (Method::Bye, 3));
    }
}

#[test]
fn refused_credentials_end_the_call_with_the_providers_status_and_a_cancel_reaches_the_new_invite()
{
    let t0 = crate::clock::test_epoch();
    let (mut auth, _) = provider(t0);
    // A wrong password: the second challenge is not answered again.
    let mut e = ep();
    let d = e.invite_with_credentials(t0, outgoing(), trunk_creds("wrong"));
    let first = sent_invite(&to_operator(&mut e));
    challenge(&mut e, t0, &mut auth, &first, 401);
    let out = to_operator(&mut e);
    let Some(Message::Request(second)) = out.get(1) else {
        panic!("INVITE expected")
    };
    challenge(&mut e, t0, &mut auth, second, 401);
    let out = to_operator(&mut e);
    assert!(
        out.iter()
            .all(|m| !matches!(m, Message::Request(r) if r.method == Method::Invite)),
        "no third INVITE"
    );
    let ev = e.poll_event();
    assert!(
        matches!(ev, Some(SipEvent::OutgoingFailed { dialog, status: 401 }) if dialog == d),
        "{ev:?}"
    );
    // A plain INVITE (an operator's phone) does not answer challenges.
    let mut e = ep();
    let d = e.invite(t0, outgoing());
    let first = sent_invite(&to_operator(&mut e));
    challenge(&mut e, t0, &mut auth, &first, 401);
    assert!(
        matches!(e.poll_event(), Some(SipEvent::OutgoingFailed { dialog, status: 401 }) if dialog == d)
    );
    // Cancelling after the challenge withdraws the INVITE that carries the credentials.
    let mut e = ep();
    let d = e.invite_with_credentials(t0, outgoing(), trunk_creds("trunk secret"));
    let first = sent_invite(&to_operator(&mut e));
    challenge(&mut e, t0, &mut auth, &first, 401);
    let out = to_operator(&mut e);
    let Some(Message::Request(second)) = out.get(1) else {
        panic!("INVITE expected")
    };
    reply(&mut e, t0, second, 180, Some("res"));
    let _ = e.poll_event();
    e.hangup(t0, d);
    let out = to_operator(&mut e);
    let Some(Message::Request(cancel)) = out.first() else {
        panic!("CANCEL expected: {out:?}")
    };
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.via[0].branch(), second.via[0].branch());
    assert_eq!(cancel.cseq.seq, 2);
}
