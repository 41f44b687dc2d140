//! RFC 4475 torture messages through the sans-IO SIP endpoint (no sockets): what a user
//! agent server answers to each, judged against the RFC's prose, and that a retransmission
//! of each gets the same answer again without a second event.
//!
//! `tests/rfc4475.rs` checks the parser on the same files; this file checks the endpoint
//! built on it. The messages carry foreign addresses (192.0.2.x, example.com); the endpoint
//! only hands back bytes, and every test here asserts that an answer would go to the source
//! address of the datagram (RFC 3261 §18.2.2 `received`), never to an address read from the
//! message.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ugyelet::sip::endpoint::{
    ALLOW, EndpointConfig, SipEndpoint, SipEvent, Stats, Transmit, Transport,
};
use ugyelet::sip::msg::{Message, Request, Response, parse};
use ugyelet::sip::transaction::TimerConfig;

/// Where every vector "comes from": loopback, unlike any Via in the vectors.
const SRC: &str = "127.0.0.1:5999";
const LOCAL: &str = "127.0.0.1:5060";

/// What the endpoint does with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A new call: 100 (Trying) and an `IncomingCall` event, left to the call layer.
    Call,
    /// One final response with this status, from the endpoint itself; no event.
    Status(u16),
    /// A broken request whose Via/From/To/Call-ID/CSeq cannot be salvaged, so no response
    /// can be built (RFC 3261 §8.2.6.2 needs them copied): dropped and counted.
    Drop,
    /// A response matching no client transaction: discarded (RFC 3261 §18.1.2, "the
    /// response MUST be silently discarded" by a UAC core when nothing matches).
    Discard,
}
use Answer::*;

/// Every vector, its RFC 4475 section, the answer, and why that answer is the RFC's
/// advice or an acceptable one.
const CASES: &[(&str, &str, Answer, &str)] = &[
    // §3.1.1 valid messages
    (
        "wsinv",
        "3.1.1.1",
        Status(481),
        "valid, but the INVITE carries a To tag that names no dialog here; RFC 3261 §12.2.2: \
         a UAS that does not recreate the dialog MUST answer 481 (the tag-less variant is a \
         new call, see wsinv_without_its_to_tag_is_a_new_call)",
    ),
    (
        "intmeth",
        "3.1.1.2",
        Status(501),
        "RFC 4475: a UA not implementing the method answers 501",
    ),
    ("esc01", "3.1.1.3", Call, "valid INVITE"),
    (
        "escnull",
        "3.1.1.4",
        Status(405),
        "valid REGISTER; not a registrar: 405 with Allow (RFC 3261 §8.2.1)",
    ),
    (
        "esc02",
        "3.1.1.5",
        Status(501),
        "RFC 4475: RE%47IST%45R is not REGISTER, a UA answers 501",
    ),
    ("lwsdisp", "3.1.1.6", Status(200), "valid OPTIONS"),
    ("longreq", "3.1.1.7", Call, "valid INVITE"),
    (
        "dblreq",
        "3.1.1.8",
        Status(405),
        "the REGISTER is served (405) and the trailing INVITE ignored (RFC 3261 §18.3)",
    ),
    ("semiuri", "3.1.1.9", Status(200), "valid OPTIONS"),
    ("transports", "3.1.1.10", Status(200), "valid OPTIONS"),
    (
        "mpart01",
        "3.1.1.11",
        Status(405),
        "valid MESSAGE, a method this UA does not serve: 405 with Allow",
    ),
    (
        "unreason",
        "3.1.1.12",
        Discard,
        "valid response, no transaction",
    ),
    (
        "noreason",
        "3.1.1.13",
        Discard,
        "valid response, no transaction",
    ),
    // §3.1.2 invalid messages
    (
        "badinv01",
        "3.1.2.1",
        Drop,
        "RFC 4475 says 400, but the Via itself is broken: no address to answer",
    ),
    ("clerr", "3.1.2.2", Status(400), "RFC 4475: 400 over UDP"),
    ("ncl", "3.1.2.3", Status(400), "RFC 4475: an error response"),
    (
        "scalar02",
        "3.1.2.4",
        Status(400),
        "RFC 4475: 400 for the CSeq error; the Via parses, so a bare 400 copies the CSeq \
         as it came (RFC 3261 §8.2.6.2 asks for it the same, and it cannot be parsed)",
    ),
    (
        "scalarlg",
        "3.1.2.5",
        Drop,
        "RFC 4475: discard the response",
    ),
    (
        "quotbal",
        "3.1.2.6",
        Status(400),
        "RFC 4475: 400 (or infer the quote); a bare 400, the broken To copied verbatim, \
         to the Via's port 5050",
    ),
    (
        "ltgtruri",
        "3.1.2.7",
        Status(400),
        "RFC 4475: reject with 400",
    ),
    ("lwsruri", "3.1.2.8", Status(400), "RFC 4475: 400"),
    (
        "lwsstart",
        "3.1.2.9",
        Status(400),
        "RFC 4475: acceptable to reject",
    ),
    (
        "trws",
        "3.1.2.10",
        Status(400),
        "RFC 4475: acceptable to reject",
    ),
    (
        "escruri",
        "3.1.2.11",
        Status(400),
        "RFC 4475: acceptable to reject with 400",
    ),
    (
        "baddate",
        "3.1.2.12",
        Call,
        "RFC 4475: the Date does not matter to processing, so it is ignored",
    ),
    (
        "regbadct",
        "3.1.2.13",
        Status(405),
        "RFC 4475 has a registrar answer 400; this UA serves no REGISTER at all, and 405 \
         is the first check of RFC 3261 §8.2.1",
    ),
    (
        "badaspec",
        "3.1.2.14",
        Status(400),
        "RFC 4475: reject with 400; a bare 400, the broken To copied verbatim",
    ),
    (
        "baddn",
        "3.1.2.15",
        Drop,
        "RFC 4475: reject with 400; but this copy's header section never ends (no empty \
         line, see tests/vectors/rfc4475/README.md), so not even a Via can be read",
    ),
    ("badvers", "3.1.2.16", Status(505), "RFC 4475: 505"),
    ("mismatch01", "3.1.2.17", Status(400), "RFC 4475: 400"),
    (
        "mismatch02",
        "3.1.2.18",
        Status(400),
        "RFC 4475: 501 preferred, 400 acceptable",
    ),
    ("bigcode", "3.1.2.19", Drop, "RFC 4475: drop the response"),
    // §3.2 transaction layer
    (
        "badbranch",
        "3.2.1",
        Status(200),
        "OPTIONS without a magic cookie: served, matched the RFC 2543 way",
    ),
    // §3.3 application layer
    (
        "insuf",
        "3.3.1",
        Status(400),
        "RFC 4475: 400; no From/To/Call-ID to copy, so a bare 400 with the Via and CSeq, \
         sent statelessly where the Via says (RFC 3261 §18.2.2)",
    ),
    ("unkscm", "3.3.2", Status(416), "RFC 4475: 416"),
    ("novelsc", "3.3.3", Status(416), "RFC 4475: 416"),
    (
        "unksm2",
        "3.3.4",
        Status(405),
        "RFC 4475: the schemes are no reason to fail; the method (REGISTER) is, with 405",
    ),
    (
        "bext01",
        "3.3.5",
        Status(420),
        "RFC 4475: 420 with Unsupported",
    ),
    ("invut", "3.3.6", Status(415), "RFC 4475: 415 with Accept"),
    (
        "regaut01",
        "3.3.7",
        Status(405),
        "RFC 4475 has a registrar challenge it; not a registrar: 405",
    ),
    ("multi01", "3.3.8", Status(400), "RFC 4475: 400"),
    ("mcl01", "3.3.9", Status(400), "RFC 4475: 400"),
    (
        "bcast",
        "3.3.10",
        Discard,
        "a response matching nothing; never sent on to its broadcast Via",
    ),
    (
        "zeromf",
        "3.3.11",
        Status(200),
        "RFC 4475: a UA may answer the OPTIONS (Max-Forwards only stops proxies)",
    ),
    (
        "cparam01",
        "3.3.12",
        Status(405),
        "valid REGISTER; not a registrar",
    ),
    (
        "cparam02",
        "3.3.13",
        Status(405),
        "valid REGISTER; not a registrar",
    ),
    (
        "regescrt",
        "3.3.14",
        Status(405),
        "valid REGISTER; not a registrar",
    ),
    (
        "sdp01",
        "3.3.15",
        Status(406),
        "RFC 4475: 406 Not Acceptable",
    ),
    // §3.4 backward compatibility
    (
        "inv2543",
        "3.4.1",
        Call,
        "RFC 4475: accept the RFC 2543 INVITE",
    ),
];

fn load(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/vectors/rfc4475/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

fn endpoint() -> SipEndpoint {
    SipEndpoint::new(
        EndpointConfig {
            timers: TimerConfig::default(),
            user_agent: "ugyelet-test".into(),
            contact_user: "ugyelet".into(),
            registrar: false,
        },
        4475,
    )
}

/// What one message produced.
#[derive(Debug)]
struct Outcome {
    sent: Vec<Transmit>,
    events: Vec<SipEvent>,
}

impl Outcome {
    fn responses(&self) -> Vec<Response> {
        self.sent
            .iter()
            .map(|t| match parse(&t.bytes) {
                Ok(Message::Response(r)) => r,
                other => panic!("the endpoint sent a non-response: {other:?}"),
            })
            .collect()
    }

    /// The status of every answer, read from its status line (a bare 400 to a request
    /// missing From, To or Call-ID is no full response, see `BareReply`).
    fn statuses(&self) -> Vec<u16> {
        self.sent
            .iter()
            .map(|t| {
                let text = String::from_utf8_lossy(&t.bytes);
                text.strip_prefix("SIP/2.0 ")
                    .and_then(|r| r.get(..3))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or_else(|| panic!("the endpoint sent a non-response: {text}"))
            })
            .collect()
    }

    fn bytes(&self) -> Vec<Vec<u8>> {
        self.sent.iter().map(|t| t.bytes.to_vec()).collect()
    }
}

fn feed(e: &mut SipEndpoint, now: Instant, bytes: &[u8]) -> Outcome {
    e.handle_message(now, addr(SRC), addr(LOCAL), Transport::Udp, bytes);
    Outcome {
        sent: std::iter::from_fn(|| e.poll_transmit()).collect(),
        events: std::iter::from_fn(|| e.poll_event()).collect(),
    }
}

fn parse_request(bytes: &[u8]) -> Option<Request> {
    match parse(bytes) {
        Ok(Message::Request(r)) => Some(r),
        _ => None,
    }
}

/// Checks every answer the endpoint sent for `name`: routed to the source, a response to
/// this very request, with the headers its status calls for.
fn check_responses(name: &str, bytes: &[u8], out: &Outcome) {
    let req = parse_request(bytes);
    if let Err(e) = parse(bytes)
        && e.stateless_reply().is_none()
        && !out.sent.is_empty()
    {
        // A bare answer: only the Via (and what else parsed) could be copied.
        let mut bare = e
            .bare_reply()
            .expect("an answer was only sent if one could be built");
        bare.headers.set("Server", "ugyelet-test");
        for t in &out.sent {
            assert_eq!(t.bytes.to_vec(), bare.to_bytes(), "{name}");
            let top = bare.via.first().expect("a bare reply has the Via");
            assert_eq!(
                t.dst.ip(),
                addr(SRC).ip(),
                "{name}: answer goes to the source"
            );
            assert_eq!(t.dst.port(), top.port.unwrap_or(5060), "{name}: Via port");
        }
        return;
    }
    for (t, r) in out.sent.iter().zip(out.responses()) {
        assert_eq!(t.transport, Transport::Udp, "{name}: answered on UDP");
        // RFC 3261 §18.2.2: to the `received` address (the source), at the Via port, or
        // the source port with rport (RFC 3581 §4).
        assert_eq!(
            t.dst.ip(),
            addr(SRC).ip(),
            "{name}: answer goes to the source address, not to {}",
            t.dst
        );
        let top = r.via.first().expect("a response copies the Via");
        if top.rport().is_some() {
            assert_eq!(
                t.dst,
                addr(SRC),
                "{name}: rport answer goes to the source port"
            );
        } else {
            assert_eq!(t.dst.port(), top.port.unwrap_or(5060), "{name}: Via port");
        }
        // RFC 3261 §8.2.6.2: "the UAS MUST add a tag to the To header field in the
        // response (with the exception of the 100 (Trying) response".
        if r.status > 100 {
            assert!(
                r.to.tag().is_some(),
                "{name}: {} without a To tag",
                r.status
            );
        }
        if let Some(req) = &req {
            assert_eq!(r.call_id, req.call_id, "{name}: Call-ID copied");
            assert_eq!(r.cseq, req.cseq, "{name}: CSeq copied");
            assert_eq!(r.via.len(), req.via.len(), "{name}: every Via copied");
            if let Some(tag) = req.to.tag() {
                assert_eq!(r.to.tag(), Some(tag), "{name}: the request's To tag kept");
            }
        } else {
            // A stateless answer to a broken request says what was wrong.
            let w = r.headers.get("Warning").unwrap_or_default();
            assert!(
                w.starts_with("399 ugyelet \""),
                "{name}: {} without a Warning: {w:?}",
                r.status
            );
        }
        match r.status {
            405 | 501 => assert_eq!(r.headers.get("Allow"), Some(ALLOW), "{name}: Allow"),
            415 => assert_eq!(
                r.headers.get("Accept"),
                Some("application/sdp"),
                "{name}: RFC 3261 §8.2.3, 415 lists the accepted bodies"
            ),
            _ => {}
        }
    }
}

#[test]
fn every_vector_has_an_answer_and_every_answer_a_vector() {
    let mut files: Vec<String> = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/rfc4475"
    ))
    .expect("vector directory exists")
    .filter_map(|e| {
        e.ok()?
            .file_name()
            .into_string()
            .ok()?
            .strip_suffix(".sip")
            .map(str::to_owned)
    })
    .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
    assert_eq!(CASES.len(), 49);
}

#[test]
fn each_torture_message_gets_the_rfc4475_answer_and_its_retransmission_the_same_again() {
    let t0 = Instant::now();
    for &(name, section, answer, why) in CASES {
        let ctx = format!("{name} (RFC 4475 §{section}; {why})");
        let bytes = load(name);
        let mut e = endpoint();
        let first = feed(&mut e, t0, &bytes);
        check_responses(name, &bytes, &first);
        let stats = e.stats();
        match answer {
            Call => {
                assert_eq!(first.statuses(), vec![100], "{ctx}");
                assert_eq!(first.events.len(), 1, "{ctx}: {:?}", first.events);
                let Some(SipEvent::IncomingCall {
                    request, source, ..
                }) = first.events.first()
                else {
                    panic!("{ctx}: expected IncomingCall, got {:?}", first.events)
                };
                assert_eq!(*source, addr(SRC), "{ctx}");
                let sent = parse_request(&bytes).expect("a Call vector parses");
                assert_eq!(request.call_id, sent.call_id, "{ctx}");
                assert_eq!(request.body, sent.body, "{ctx}: body handed on intact");
                assert_eq!(e.dialog_count(), 1, "{ctx}");
            }
            Status(status) => {
                assert_eq!(first.statuses(), vec![status], "{ctx}");
                assert!(first.events.is_empty(), "{ctx}: {:?}", first.events);
                assert_eq!(e.dialog_count(), 0, "{ctx}: no dialog kept");
            }
            Drop => {
                assert!(first.sent.is_empty(), "{ctx}: {:?}", first.statuses());
                assert!(first.events.is_empty(), "{ctx}");
                assert_eq!(
                    stats,
                    Stats {
                        malformed_dropped: 1,
                        ..Stats::default()
                    },
                    "{ctx}: counted as a drop"
                );
            }
            Discard => {
                assert!(first.sent.is_empty(), "{ctx}");
                assert!(first.events.is_empty(), "{ctx}");
                let mut by_class = [0u64; 6];
                let code: usize = String::from_utf8_lossy(&bytes)
                    .get(8..11)
                    .and_then(|c| c.parse().ok())
                    .expect("a response vector has a status code");
                by_class[code / 100 - 1] = 1;
                assert_eq!(
                    stats,
                    Stats {
                        responses: 1,
                        responses_by_class: by_class,
                        ..Stats::default()
                    },
                    "{ctx}: counted as a response, by its class"
                );
            }
        }
        let malformed_answer = matches!(answer, Status(_)) && parse_request(&bytes).is_none();
        if matches!(answer, Status(_)) {
            assert_eq!(
                stats.malformed_answered,
                u64::from(malformed_answer),
                "{ctx}: answered by the parser's stateless reply or by the endpoint"
            );
        }

        // The same datagram again, 100 ms later: a retransmission.
        let again = feed(&mut e, t0 + Duration::from_millis(100), &bytes);
        assert_eq!(
            again.bytes(),
            first.bytes(),
            "{ctx}: same answer, same bytes"
        );
        assert!(again.events.is_empty(), "{ctx}: no second event");
        let stateful = matches!(answer, Call) || (matches!(answer, Status(_)) && !malformed_answer);
        assert_eq!(
            e.stats().retransmissions_absorbed,
            u64::from(stateful),
            "{ctx}: absorbed by its server transaction"
        );
    }
}

#[test]
fn the_whole_set_twice_through_one_endpoint_gives_the_same_answers_and_no_new_events() {
    let t0 = Instant::now();
    let mut e = endpoint();
    let all: Vec<(&str, Vec<u8>)> = CASES.iter().map(|c| (c.0, load(c.0))).collect();
    let first: Vec<Outcome> = all.iter().map(|(_, b)| feed(&mut e, t0, b)).collect();
    let after_first = e.stats();
    let calls = CASES.iter().filter(|c| c.2 == Call).count();
    let new_calls = first
        .iter()
        .flat_map(|o| &o.events)
        .filter(|ev| matches!(ev, SipEvent::IncomingCall { .. }))
        .count();
    assert_eq!(new_calls, calls, "one IncomingCall per valid INVITE");
    assert_eq!(e.dialog_count(), calls);

    let later = t0 + Duration::from_secs(1);
    for ((name, bytes), before) in all.iter().zip(&first) {
        let again = feed(&mut e, later, bytes);
        assert_eq!(again.bytes(), before.bytes(), "{name}: same answer again");
        assert!(again.events.is_empty(), "{name}: {:?}", again.events);
    }
    let stats = e.stats();
    // Requests the endpoint served statefully: all of them are absorbed the second time.
    let stateful = CASES
        .iter()
        .filter(|c| matches!(c.2, Call | Status(_)) && parse_request(&load(c.0)).is_some())
        .count() as u64;
    assert_eq!(stats.requests, 2 * after_first.requests);
    assert_eq!(stats.requests, 2 * stateful);
    // Some vectors share branch, sent-by and method (cparam01/cparam02 and others), so in
    // the first pass a few were already matched to an earlier transaction, as RFC 3261
    // §17.2.3 says they must be; in the second pass every one of them is.
    assert_eq!(
        stats.retransmissions_absorbed - after_first.retransmissions_absorbed,
        stateful
    );
    assert_eq!(stats.malformed_dropped, 2 * after_first.malformed_dropped);
    assert_eq!(stats.malformed_answered, 2 * after_first.malformed_answered);
    assert_eq!(e.dialog_count(), calls, "no dialog created or lost");
}

#[test]
fn wsinv_without_its_to_tag_is_a_new_call() {
    let bytes = load("wsinv");
    let text = String::from_utf8(bytes).expect("wsinv is UTF-8");
    let tag = ";   tag    = 1918181833n";
    assert!(
        text.contains(tag),
        "wsinv's To tag, with its odd whitespace"
    );
    let untagged = text.replacen(tag, "", 1);
    let mut e = endpoint();
    let out = feed(&mut e, Instant::now(), untagged.as_bytes());
    check_responses("wsinv untagged", untagged.as_bytes(), &out);
    assert_eq!(out.statuses(), vec![100]);
    let [SipEvent::IncomingCall { request, .. }] = out.events.as_slice() else {
        panic!("expected one IncomingCall, got {:?}", out.events)
    };
    assert_eq!(request.body.len(), 150, "the SDP is handed on");
}

#[test]
fn bext01_420_lists_the_required_options_but_not_the_proxy_required_ones() {
    let mut e = endpoint();
    let out = feed(&mut e, Instant::now(), &load("bext01"));
    let r = &out.responses()[0];
    assert_eq!(r.status, 420);
    // RFC 3261 §8.2.2.3: "listing those option tags in the Unsupported header field";
    // Proxy-Require is for proxies (§20.29) and a UAS ignores it.
    assert_eq!(
        r.headers.get("Unsupported"),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
}

#[test]
fn sdp_invite_that_accepts_sdp_is_a_call_and_one_that_refuses_it_gets_406() {
    // sdp01 with the Accept widened to include SDP is an ordinary call; the media-type
    // match ignores case and parameters (RFC 3261 §7.3.1).
    let text = String::from_utf8(load("sdp01")).expect("sdp01 is UTF-8");
    for (accept, status) in [
        ("text/nobodyKnowsThis, Application/SDP;level=1", 100),
        ("application/*", 100),
        ("*/*", 100),
        ("text/nobodyKnowsThis", 406),
    ] {
        let bytes = text.replacen(
            "Accept: text/nobodyKnowsThis",
            &format!("Accept: {accept}"),
            1,
        );
        let mut e = endpoint();
        let out = feed(&mut e, Instant::now(), bytes.as_bytes());
        assert_eq!(out.statuses(), vec![status], "Accept: {accept}");
        assert_eq!(
            out.events.len(),
            usize::from(status == 100),
            "Accept: {accept}"
        );
    }
}
