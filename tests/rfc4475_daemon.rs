//! RFC 4475 end to end: all 49 torture messages sent in one sequence, over UDP, to one
//! running `ugyelet` daemon, which is what a host on the open internet gets sent.
//!
//! `tests/rfc4475.rs` checks the parser and `tests/rfc4475_endpoint.rs` the sans-IO
//! endpoint, each message on its own. Here the real binary, with its registrar, call layer
//! and rate limits, gets them one after the other: each must get the RFC's answer, or,
//! where it shares a transaction key (RFC 3261 §17.2.3: branch, sent-by and method of the
//! top Via) with an earlier message, that earlier transaction's response again, as a
//! retransmission would. Every refusal must leave a log line and a metric.
//!
//! The messages name foreign hosts (192.0.2.x, example.com) in Via, Contact and SDP, so
//! the test runs inside its own network namespace (`common::netns`), and sends from
//! 192.0.2.200 port 5060: answers routed by a Via without `rport` go to the source address
//! and the Via's port (RFC 3261 §18.2.2), 5060 for all but one (5050, `quotbal`).
//!
//! After each message the test sends an OPTIONS of its own from the same socket and waits
//! for its 200: the daemon reads one socket in order, so whatever it answered the message
//! with has been sent by then. Final answers to INVITEs are acknowledged (RFC 3261
//! §17.1.1.3), so no retransmission of one falls into a later message's window. New calls
//! ring for longer than the test lasts, so no 200 comes late either.

mod common;

use common::*;
use std::collections::{BTreeMap, HashMap};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use ugyelet::sip::msg::{CSeq, Message, Method, Request, Response, parse};

/// The address the messages come from, inside the namespace.
const SRC_IP: &str = "192.0.2.200";

/// What the daemon answers one message with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A new call: 100 (Trying), then 180 (Ringing) once the call layer took it.
    Rings,
    /// One final response with this status, from the SIP layer.
    Status(u16),
    /// The registrar's challenge: 401 with a Digest `WWW-Authenticate`.
    Challenge,
    /// No answer: a response matching no transaction (discarded), or a request whose Via
    /// cannot be read (dropped). Either is counted.
    Nothing,
    /// Shares its transaction key with this earlier message: the earlier transaction
    /// answers it again with the very same bytes (RFC 3261 §17.2.3 matching; §17.2.2 "the
    /// server transaction ... MUST pass the final response to the transport layer for
    /// retransmission" on a retransmitted request).
    SameAs(&'static str),
}
use Answer::*;

/// Every message in RFC 4475 order, the answer, and why that is the RFC's advice (or, for
/// `SameAs`, why the earlier transaction answers).
const CASES: &[(&str, &str, Answer, &str)] = &[
    (
        "wsinv",
        "3.1.1.1",
        Status(481),
        "valid, but its To tag names no dialog: RFC 3261 §12.2.2",
    ),
    (
        "intmeth",
        "3.1.1.2",
        Status(501),
        "RFC 4475: a UA not implementing the method answers 501",
    ),
    (
        "esc01",
        "3.1.1.3",
        Rings,
        "valid INVITE; its SDP offers PCMU",
    ),
    (
        "escnull",
        "3.1.1.4",
        Challenge,
        "valid REGISTER: the registrar asks for credentials first",
    ),
    (
        "esc02",
        "3.1.1.5",
        Status(501),
        "RFC 4475: RE%47IST%45R is not REGISTER; 501",
    ),
    ("lwsdisp", "3.1.1.6", Status(200), "valid OPTIONS"),
    ("longreq", "3.1.1.7", Rings, "valid INVITE"),
    (
        "dblreq",
        "3.1.1.8",
        Challenge,
        "the REGISTER is served (challenged) and the trailing INVITE ignored (RFC 3261 §18.3)",
    ),
    ("semiuri", "3.1.1.9", Status(200), "valid OPTIONS"),
    ("transports", "3.1.1.10", Status(200), "valid OPTIONS"),
    (
        "mpart01",
        "3.1.1.11",
        Status(405),
        "valid MESSAGE, a method not served: 405 with Allow",
    ),
    (
        "unreason",
        "3.1.1.12",
        Nothing,
        "a valid response matching no transaction: discarded",
    ),
    (
        "noreason",
        "3.1.1.13",
        Nothing,
        "a valid response matching no transaction: discarded",
    ),
    (
        "badinv01",
        "3.1.2.1",
        Nothing,
        "RFC 4475 says 400, but the Via itself is broken: nowhere to send it",
    ),
    ("clerr", "3.1.2.2", Status(400), "RFC 4475: 400 over UDP"),
    ("ncl", "3.1.2.3", Status(400), "RFC 4475: an error response"),
    (
        "scalar02",
        "3.1.2.4",
        Status(400),
        "RFC 4475: 400 for the CSeq error (a bare 400)",
    ),
    (
        "scalarlg",
        "3.1.2.5",
        Nothing,
        "RFC 4475: discard the response",
    ),
    (
        "quotbal",
        "3.1.2.6",
        Status(400),
        "RFC 4475: 400 (a bare 400, to the Via's port 5050)",
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
        Rings,
        "RFC 4475: the Date does not matter to processing",
    ),
    (
        "regbadct",
        "3.1.2.13",
        Status(400),
        "RFC 4475: a registrar responds 400 to the bare-URI Contact",
    ),
    (
        "badaspec",
        "3.1.2.14",
        Status(400),
        "RFC 4475: reject with 400 (a bare 400)",
    ),
    (
        "baddn",
        "3.1.2.15",
        Nothing,
        "RFC 4475: reject with 400; but this copy's header section never ends, so not even \
         a Via can be read (tests/vectors/rfc4475/README.md)",
    ),
    ("badvers", "3.1.2.16", Status(505), "RFC 4475: 505"),
    ("mismatch01", "3.1.2.17", Status(400), "RFC 4475: 400"),
    (
        "mismatch02",
        "3.1.2.18",
        Status(400),
        "RFC 4475: 501 preferred, 400 acceptable",
    ),
    (
        "bigcode",
        "3.1.2.19",
        Nothing,
        "RFC 4475: drop the response",
    ),
    (
        "badbranch",
        "3.2.1",
        Status(200),
        "OPTIONS without a magic cookie: matched the RFC 2543 way",
    ),
    (
        "insuf",
        "3.3.1",
        Status(400),
        "RFC 4475: 400; a bare one, with the Via and CSeq only",
    ),
    ("unkscm", "3.3.2", Status(416), "RFC 4475: 416"),
    (
        "novelsc",
        "3.3.3",
        SameAs("unkscm"),
        "RFC 4475 has 416 for it, and it gets unkscm's 416: same branch z9hG4bKkdjuw39234, \
         sent-by host9.example.com and method, so it is that transaction's retransmission",
    ),
    (
        "unksm2",
        "3.3.4",
        Challenge,
        "RFC 4475: the schemes are no reason to fail; a challenge",
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
        Challenge,
        "RFC 4475: the registrar challenges the unknown scheme",
    ),
    ("multi01", "3.3.8", Status(400), "RFC 4475: 400"),
    ("mcl01", "3.3.9", Status(400), "RFC 4475: 400"),
    (
        "bcast",
        "3.3.10",
        Nothing,
        "a response matching nothing; never sent on to its broadcast Via",
    ),
    (
        "zeromf",
        "3.3.11",
        Status(200),
        "RFC 4475: a UA may answer the OPTIONS",
    ),
    (
        "cparam01",
        "3.3.12",
        Challenge,
        "valid REGISTER: the registrar asks for credentials first",
    ),
    (
        "cparam02",
        "3.3.13",
        SameAs("cparam01"),
        "same branch z9hG4bKkdjuw, sent-by saturn.example.com:5060 and method as cparam01: \
         a retransmission of it as far as RFC 3261 §17.2.3 can tell",
    ),
    (
        "regescrt",
        "3.3.14",
        SameAs("escnull"),
        "same branch z9hG4bKkdjuw, sent-by host5.example.com and method as escnull",
    ),
    (
        "sdp01",
        "3.3.15",
        Status(406),
        "RFC 4475: 406 Not Acceptable",
    ),
    (
        "inv2543",
        "3.4.1",
        Rings,
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

fn request(bytes: &[u8]) -> Option<Request> {
    match parse(bytes) {
        Ok(Message::Request(r)) => Some(r),
        _ => None,
    }
}

/// RFC 3261 §17.2.3: branch, sent-by and method of the top Via (ACK as INVITE).
fn tx_key(r: &Request) -> Option<(String, String, String)> {
    let v = r.via.first()?;
    let sent_by = match v.port {
        Some(p) => format!("{}:{p}", v.host),
        None => v.host.to_string(),
    };
    Some((
        v.branch()?.to_owned(),
        sent_by,
        r.method.as_str().to_owned(),
    ))
}

/// The status code of a datagram that starts like a response.
fn status_of(d: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(d);
    text.strip_prefix("SIP/2.0 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("the daemon sent a non-response: {text}"))
}

/// The ACK for a final non-2xx response to `invite` (RFC 3261 §17.1.1.3): same Request-URI,
/// top Via, From, Call-ID and CSeq number, the response's To.
fn ack_for(invite: &Request, resp: &Response) -> Vec<u8> {
    let ack = Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        via: invite.via.iter().take(1).cloned().collect(),
        from: invite.from.clone(),
        to: resp.to.clone(),
        call_id: invite.call_id.clone(),
        cseq: CSeq {
            seq: invite.cseq.seq,
            method: Method::Ack,
        },
        max_forwards: Some(70),
        headers: Default::default(),
        body: Vec::new(),
    };
    ack.to_bytes()
}

/// The test's two sockets: 5060 sends everything and gets most answers, 5050 gets the
/// answer to the one Via naming that port.
struct Wire {
    main: UdpSocket,
    other: UdpSocket,
    daemon: (String, u16),
    barriers: u32,
}

impl Wire {
    fn new(sip_port: u16) -> Wire {
        let main = UdpSocket::bind((SRC_IP, 5060)).expect("bind 192.0.2.200:5060");
        let other = UdpSocket::bind((SRC_IP, 5050)).expect("bind 192.0.2.200:5050");
        for s in [&main, &other] {
            s.set_nonblocking(true).expect("nonblocking");
        }
        Wire {
            main,
            other,
            daemon: ("127.0.0.1".to_owned(), sip_port),
            barriers: 0,
        }
    }

    fn send(&self, bytes: &[u8]) {
        self.main
            .send_to(bytes, (self.daemon.0.as_str(), self.daemon.1))
            .expect("send");
    }

    /// Sends an OPTIONS of the test's own and returns everything that arrived before its
    /// 200, on either socket.
    fn barrier(&mut self) -> Vec<Vec<u8>> {
        self.barriers += 1;
        let me = self.main.local_addr().expect("addr");
        let call_id = format!("probe-{}-{}@127.0.0.1", std::process::id(), self.barriers);
        self.send(options_request(me, self.daemon.1, self.barriers).as_bytes());
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let mut idle = true;
            for s in [&self.main, &self.other] {
                if let Ok(n) = s.recv(&mut buf) {
                    idle = false;
                    let d = buf[..n].to_vec();
                    if let Ok(Message::Response(r)) = parse(&d)
                        && r.call_id == call_id
                    {
                        assert_eq!(r.status, 200, "the barrier OPTIONS is answered 200");
                        // What the daemon sent to the other port before the 200 is queued
                        // there already (loopback delivers at once).
                        while let Ok(n) = self.other.recv(&mut buf) {
                            got.push(buf[..n].to_vec());
                        }
                        return got;
                    }
                    got.push(d);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no answer to the barrier OPTIONS within 5 s"
            );
            if idle {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Prometheus samples `name{labels} value` of `/metrics`, by name and labels.
fn metrics(daemon: &Daemon) -> HashMap<String, u64> {
    let (code, text) = http_get(daemon.admin_port, "/metrics");
    assert_eq!(code, 200, "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn all_49_torture_messages_in_one_sequence_get_their_rfc4475_answers_from_one_daemon() {
    if !netns::inside(
        "all_49_torture_messages_in_one_sequence_get_their_rfc4475_answers_from_one_daemon",
    ) {
        return;
    }
    assert_eq!(CASES.len(), 49);
    let mut daemon = Daemon::start(&[
        // Rate limits are not what is tested here (tests/e2e_flood.rs does that): the test
        // sends about a hundred datagrams in a second or two.
        ("UGYELET_SIP__RATE_LIMIT_PER_S", "1000"),
        ("UGYELET_SIP__RATE_LIMIT_BURST", "1000"),
        // New calls ring for longer than the test lasts: no 200 (and its retransmissions)
        // comes in later messages' windows.
        ("UGYELET_CALL__ANSWER_DELAY_MS", "120000"),
    ]);
    let before = metrics(&daemon);
    let mut wire = Wire::new(daemon.sip_port);
    let mut answers: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    let mut keys: Vec<(&str, (String, String, String))> = Vec::new();
    let mut failures = Vec::new();
    for &(name, section, expect, why) in CASES {
        let bytes = load(name);
        wire.send(&bytes);
        let got = wire.barrier();
        let req = request(&bytes);
        // Acknowledge final error answers to INVITEs, as the INVITE client would.
        if let Some(r) = req.as_ref().filter(|r| r.method == Method::Invite) {
            for d in &got {
                if let Ok(Message::Response(resp)) = parse(d)
                    && resp.status >= 300
                {
                    wire.send(&ack_for(r, &resp));
                }
            }
        }
        let statuses: Vec<u16> = got.iter().map(|d| status_of(d)).collect();
        let sharer = req
            .as_ref()
            .and_then(tx_key)
            .and_then(|k| keys.iter().find(|(_, seen)| *seen == k).map(|(n, _)| *n));
        eprintln!("{name:<10} §{section:<8} {statuses:?} key shared with {sharer:?}");
        let ctx = format!("{name} (RFC 4475 §{section}; {why})");
        let ok = match expect {
            Rings => statuses == [100, 180],
            Status(s) => statuses == [s],
            Challenge => {
                statuses == [401]
                    && parse(&got[0]).is_ok_and(|m| match m {
                        Message::Response(r) => r
                            .headers
                            .get("WWW-Authenticate")
                            .is_some_and(|c| c.starts_with("Digest ")),
                        _ => false,
                    })
            }
            Nothing => statuses.is_empty(),
            SameAs(earlier) => {
                let key = req.as_ref().and_then(tx_key);
                let shared = keys.iter().find(|(_, k)| Some(k) == key.as_ref());
                assert_eq!(
                    shared.map(|(n, _)| *n),
                    Some(earlier),
                    "{ctx}: the transaction key really is {earlier}'s"
                );
                Some(&got) == answers.get(earlier)
            }
        };
        if !ok {
            failures.push(format!("{ctx}: got {statuses:?}"));
        }
        // Every answer that parses answers this very request (or, for SameAs, the earlier
        // one): its Call-ID and CSeq.
        if let (Some(r), false) = (&req, matches!(expect, SameAs(_))) {
            for d in &got {
                if let Ok(Message::Response(resp)) = parse(d)
                    && (resp.call_id != r.call_id || resp.cseq != r.cseq)
                {
                    failures.push(format!(
                        "{ctx}: answers another request ({} {})",
                        resp.call_id, resp.cseq
                    ));
                }
            }
        }
        if let Some(k) = req.as_ref().and_then(tx_key)
            && !keys.iter().any(|(_, seen)| *seen == k)
        {
            keys.push((name, k));
        }
        answers.insert(name, got);
    }
    assert!(
        failures.is_empty(),
        "answers differ:\n{}",
        failures.join("\n")
    );
    assert!(daemon.is_running(), "the daemon survived the sequence");

    // Every refusal left a metric (published at least once a second)...
    std::thread::sleep(Duration::from_millis(1500));
    let after = metrics(&daemon);
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    let count = |pred: &dyn Fn(Answer) -> bool| CASES.iter().filter(|c| pred(c.2)).count() as u64;
    for status in [400u16, 405, 406, 415, 416, 420, 481, 501, 505] {
        // The registrar's 400 (regbadct) is the registrar's, counted with REGISTERs.
        let expected = count(&|a| a == Status(status)) - u64::from(status == 400);
        assert_eq!(
            delta(&format!("ugyelet_sip_refused_total{{status=\"{status}\"}}")),
            expected,
            "refusals with {status} counted"
        );
    }
    let malformed: Vec<&str> = CASES
        .iter()
        .filter(|c| parse(&load(c.0)).is_err())
        .map(|c| c.0)
        .collect();
    let answered = malformed
        .iter()
        .filter(|n| CASES.iter().any(|c| c.0 == **n && c.2 != Nothing))
        .count() as u64;
    assert_eq!(
        delta("ugyelet_sip_malformed_total{action=\"answered\"}"),
        answered
    );
    assert_eq!(
        delta("ugyelet_sip_malformed_total{action=\"dropped\"}"),
        malformed.len() as u64 - answered
    );
    assert_eq!(
        delta("ugyelet_security_events_total{event=\"sip_malformed\"}"),
        malformed.len() as u64
    );
    assert_eq!(
        delta("ugyelet_register_responses_total{status=\"400\"}"),
        1,
        "regbadct"
    );
    // ...and a log line: a security line with the full address for each broken message,
    // an ordinary one for each request refused by the RFC 3261 §8.2 checks or its dialog.
    let log = daemon.stderr();
    let security: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ugyelet::security: sip_malformed ip=192.0.2.200 port=5060 "))
        .collect();
    assert_eq!(security.len(), malformed.len(), "{security:#?}");
    let refused = log
        .lines()
        .filter(|l| l.contains("SIP request refused"))
        .count() as u64;
    let checks = [405u16, 406, 415, 416, 420, 481, 501]
        .iter()
        .map(|s| count(&|a| a == Status(*s)))
        .sum::<u64>();
    assert_eq!(refused, checks, "one line per refused request");
    assert!(
        log.contains("REGISTER refused: expected a Contact name-addr"),
        "regbadct's refusal is logged"
    );
    daemon.kill();
}
