//! RFC 4475 torture messages, read from tests/vectors/rfc4475/*.sip.

use std::path::PathBuf;

use ugyelet::sip::msg::{Message, Method, ParseErrorKind, Uri, parse};

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Parses; the UA decides what to do with it (see README).
    Parse,
    /// Rejected with this status; `reply` = what stateless answer can be routed.
    Reject { status: u16, reply: Reply },
}
use Expect::*;

/// The stateless answer a broken message gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// None: the message is no request, or its Via cannot be read (nowhere to send one).
    No,
    /// A full response: Via, From, To, Call-ID and CSeq copied (`stateless_reply`).
    Full,
    /// The Via parses but From, To, Call-ID or CSeq is missing or broken: a bare
    /// answer copying what there is (`bare_reply`).
    Bare,
}
use Reply::{Bare, Full, No};

const CASES: &[(&str, &str, Expect)] = &[
    // §3.1.1 valid messages
    ("wsinv", "3.1.1.1", Parse),
    ("intmeth", "3.1.1.2", Parse),
    ("esc01", "3.1.1.3", Parse),
    ("escnull", "3.1.1.4", Parse),
    ("esc02", "3.1.1.5", Parse),
    ("lwsdisp", "3.1.1.6", Parse),
    ("longreq", "3.1.1.7", Parse),
    ("dblreq", "3.1.1.8", Parse),
    ("semiuri", "3.1.1.9", Parse),
    ("transports", "3.1.1.10", Parse),
    ("mpart01", "3.1.1.11", Parse),
    ("unreason", "3.1.1.12", Parse),
    ("noreason", "3.1.1.13", Parse),
    // §3.1.2 invalid messages
    (
        "badinv01",
        "3.1.2.1",
        Reject {
            status: 400,
            reply: No,
        },
    ),
    (
        "clerr",
        "3.1.2.2",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "ncl",
        "3.1.2.3",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "scalar02",
        "3.1.2.4",
        Reject {
            status: 400,
            reply: Bare,
        },
    ),
    (
        "scalarlg",
        "3.1.2.5",
        Reject {
            status: 400,
            reply: No,
        },
    ),
    (
        "quotbal",
        "3.1.2.6",
        Reject {
            status: 400,
            reply: Bare,
        },
    ),
    (
        "ltgtruri",
        "3.1.2.7",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "lwsruri",
        "3.1.2.8",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "lwsstart",
        "3.1.2.9",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "trws",
        "3.1.2.10",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "escruri",
        "3.1.2.11",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    ("baddate", "3.1.2.12", Parse),
    ("regbadct", "3.1.2.13", Parse),
    (
        "badaspec",
        "3.1.2.14",
        Reject {
            status: 400,
            reply: Bare,
        },
    ),
    (
        "baddn",
        "3.1.2.15",
        Reject {
            status: 400,
            reply: No,
        },
    ),
    (
        "badvers",
        "3.1.2.16",
        Reject {
            status: 505,
            reply: Full,
        },
    ),
    (
        "mismatch01",
        "3.1.2.17",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "mismatch02",
        "3.1.2.18",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "bigcode",
        "3.1.2.19",
        Reject {
            status: 400,
            reply: No,
        },
    ),
    // §3.2 transaction layer
    ("badbranch", "3.2.1", Parse),
    // §3.3 application layer
    (
        "insuf",
        "3.3.1",
        Reject {
            status: 400,
            reply: Bare,
        },
    ),
    ("unkscm", "3.3.2", Parse),
    ("novelsc", "3.3.3", Parse),
    ("unksm2", "3.3.4", Parse),
    ("bext01", "3.3.5", Parse),
    ("invut", "3.3.6", Parse),
    ("regaut01", "3.3.7", Parse),
    (
        "multi01",
        "3.3.8",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    (
        "mcl01",
        "3.3.9",
        Reject {
            status: 400,
            reply: Full,
        },
    ),
    ("bcast", "3.3.10", Parse),
    ("zeromf", "3.3.11", Parse),
    ("cparam01", "3.3.12", Parse),
    ("cparam02", "3.3.13", Parse),
    ("regescrt", "3.3.14", Parse),
    ("sdp01", "3.3.15", Parse),
    // §3.4 backward compatibility
    ("inv2543", "3.4.1", Parse),
];

fn load(name: &str) -> Vec<u8> {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "vectors",
        "rfc4475",
        &format!("{name}.sip"),
    ]
    .iter()
    .collect();
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn req(name: &str) -> ugyelet::sip::msg::Request {
    match parse(&load(name)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{name}: expected a request, got {other:?}"),
    }
}

#[test]
fn every_rfc4475_message_meets_its_expected_outcome() {
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
    assert_eq!(
        files, listed,
        "every vector file has an expectation and vice versa"
    );
    assert_eq!(CASES.len(), 49);
    for &(name, section, expect) in CASES {
        let bytes = load(name);
        match (parse(&bytes), expect) {
            (Ok(m), Parse) => {
                // Printing round-trips.
                let again =
                    parse(&m.to_bytes()).unwrap_or_else(|e| panic!("{name}: reprint failed: {e}"));
                assert_eq!(again, m, "{name} (§{section}) round-trip");
            }
            (Err(e), Reject { status, reply }) => {
                assert_eq!(e.status(), status, "{name} (§{section}): {e}");
                let r = e.stateless_reply();
                assert_eq!(
                    r.is_some(),
                    reply == Full,
                    "{name} (§{section}) stateless reply: {e}"
                );
                assert_eq!(
                    e.bare_reply().is_some(),
                    reply == Bare,
                    "{name} (§{section}) bare reply: {e}"
                );
                if let Some(b) = e.bare_reply() {
                    let text = String::from_utf8(b.to_bytes()).expect("a bare reply is text");
                    assert!(
                        text.starts_with(&format!("SIP/2.0 {status} Bad Request\r\n")),
                        "{name}: {text}"
                    );
                    assert!(
                        text.contains("\r\nWarning: 399 ugyelet \"") && text.ends_with("\r\n\r\n"),
                        "{name}: {text}"
                    );
                }
                if let Some(r) = r {
                    assert_eq!(r.status, status);
                    assert!(r.to.tag().is_some(), "{name}: reply carries a To tag");
                    assert!(
                        r.headers
                            .get("Warning")
                            .is_some_and(|w| w.starts_with("399 ugyelet \""))
                    );
                    parse(&r.to_bytes())
                        .unwrap_or_else(|e| panic!("{name}: reply does not parse: {e}"));
                }
            }
            (got, _) => panic!("{name} (§{section}): expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn wsinv_folding_compact_forms_and_leading_zeros() {
    let r = req("wsinv");
    assert_eq!(r.cseq.seq, 9);
    assert_eq!(r.cseq.method, Method::Invite);
    assert_eq!(r.max_forwards, Some(68));
    assert_eq!(r.via.len(), 3);
    assert_eq!(r.via[0].branch(), Some("390skdjuw"));
    assert_eq!(r.via[1].transport, "TCP");
    assert_eq!(r.via[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(r.from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(r.from.tag(), Some("98asjd8"));
    assert_eq!(r.to.tag(), Some("1918181833n"));
    assert_eq!(r.headers.get("Subject"), Some(""));
    assert_eq!(
        r.headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        r.headers.get("UnknownHeaderWithUnusualValue"),
        Some(";;,,;;,;")
    );
    assert_eq!(r.body.len(), 150);
    let c = r.contacts().expect("contact parses");
    assert_eq!(c[0].display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(c[0].param("newparam"), Some(Some("newvalue")));
    assert_eq!(c[0].param("q"), Some(Some("0.33")));
}

#[test]
fn intmeth_extension_method_and_odd_characters() {
    let r = req("intmeth");
    assert_eq!(
        r.method,
        Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    assert_eq!(
        r.uri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(r.to.display.as_deref(), Some("BEL:\x07 NUL:\x00 DEL:\x7f"));
    assert_eq!(
        r.from.display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(r.max_forwards, Some(255));
}

#[test]
fn esc01_escapes_in_user_parts_and_uri_parameters() {
    let r = req("esc01");
    assert_eq!(r.uri.user(), Some("sips:user@example.com"));
    assert_eq!(r.from.uri.user(), Some("I have spaces"));
    assert_eq!(r.to.uri.user(), Some("user"));
    let c = r.contacts().expect("contact");
    let Uri::Sip(u) = &c[0].uri else {
        panic!("sip uri")
    };
    assert_eq!(u.user.as_deref(), Some("caller"));
    assert_eq!(u.param("lr"), Some(None));
    assert_eq!(u.param("name"), Some(Some("value%41")));
}

#[test]
fn escnull_escaped_nul_in_user_part() {
    let r = req("escnull");
    assert_eq!(r.to.uri.user(), Some("null-\0-null"));
    let c = r.contacts().expect("contacts");
    assert_eq!(c.len(), 2);
    assert_eq!(c[1].uri.user(), Some("\0\0"));
}

#[test]
fn esc02_percent_that_is_not_an_escape() {
    let r = req("esc02");
    assert_eq!(r.method, Method::Extension("RE%47IST%45R".into()));
    assert_eq!(r.to.display.as_deref(), Some("%Z%45"));
    assert_eq!(
        r.contacts().expect("contacts").len(),
        2,
        "C%6Fntact is not Contact"
    );
    assert_eq!(
        r.headers.get("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
}

#[test]
fn dblreq_excess_datagram_octets_are_ignored() {
    let r = req("dblreq");
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
}

#[test]
fn semiuri_and_transports_and_longreq() {
    assert_eq!(req("semiuri").uri.user(), Some("user;par=u@example.net"));
    let t = req("transports");
    let tr: Vec<&str> = t.via.iter().map(|v| v.transport.as_str()).collect();
    assert_eq!(tr, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    let l = req("longreq");
    assert_eq!(l.via.len(), 34);
    assert_eq!(l.body.len(), 150);
}

#[test]
fn responses_with_unusual_and_empty_reason_phrases() {
    for (name, reason) in [
        (
            "unreason",
            "= 2**3 * 5**2 но сто девяносто девять - простое",
        ),
        ("noreason", ""),
    ] {
        match parse(&load(name)) {
            Ok(Message::Response(r)) => assert_eq!(r.reason, reason),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn application_layer_cases_parse_for_the_ua_to_judge() {
    assert!(
        matches!(req("unkscm").uri, Uri::Other { ref scheme, .. } if scheme == "nobodyKnowsThisScheme")
    );
    assert!(matches!(req("novelsc").uri, Uri::Other { ref scheme, .. } if scheme == "soap.beep"));
    let u = req("unksm2");
    assert!(matches!(u.to.uri, Uri::Other { ref scheme, .. } if scheme == "isbn"));
    assert_eq!(req("zeromf").max_forwards, Some(0));
    let c1 = req("cparam01").contacts().expect("c1");
    assert_eq!(c1[0].param("unknownparam"), Some(None));
    let c2 = req("cparam02").contacts().expect("c2");
    assert!(c2[0].params.is_empty());
    let Uri::Sip(u2) = &c2[0].uri else { panic!() };
    assert_eq!(u2.param("unknownparam"), Some(None));
    let re = req("regescrt").contacts().expect("regescrt");
    let Uri::Sip(u3) = &re[0].uri else { panic!() };
    assert_eq!(
        u3.headers,
        [("Route".to_owned(), "<sip:sip.example.com>".to_owned())]
    );
    let inv = req("inv2543");
    assert_eq!(
        inv.body.len(),
        105,
        "no Content-Length on a datagram: body is the rest"
    );
    assert_eq!(req("regbadct").contacts().map_err(|e| e.status()), Err(400));
}

#[test]
fn error_texts_say_what_was_expected_and_found() {
    let e = parse(&load("badvers")).expect_err("badvers");
    assert_eq!(e.kind(), ParseErrorKind::UnsupportedVersion);
    assert_eq!(
        e.to_string(),
        "Request-Line: expected SIP-Version \"SIP/2.0\", found \"SIP/7.0\""
    );
    let e = parse(&load("mismatch01")).expect_err("mismatch01");
    assert_eq!(
        e.to_string(),
        "CSeq header: expected the Request-Line method, found \"INVITE\""
    );
    let e = parse(&load("clerr")).expect_err("clerr");
    assert_eq!(e.kind(), ParseErrorKind::BodyTruncated);
    assert_eq!(
        e.to_string(),
        "message body: expected as many octets as Content-Length, found \"154 of 9999\""
    );
    let e = parse(&load("multi01")).expect_err("multi01");
    assert_eq!(e.kind(), ParseErrorKind::DuplicateHeader);
    let e = parse(&load("insuf")).expect_err("insuf");
    assert_eq!(e.kind(), ParseErrorKind::MissingHeader);
}

#[test]
fn insuf_gets_a_bare_400_with_its_via_and_cseq_and_nothing_invented() {
    // RFC 4475 §3.3.1: no Call-ID, From or To. The Via routes an answer, and the CSeq with
    // the branch is what the client matches it by (RFC 3261 §17.1.3).
    let e = parse(&load("insuf")).expect_err("insuf");
    assert!(
        e.stateless_reply().is_none(),
        "no full response can be built"
    );
    let bare = e.bare_reply().expect("the Via parses");
    assert_eq!(
        String::from_utf8(bare.to_bytes()).expect("text"),
        "SIP/2.0 400 Bad Request\r\n\
         Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\n\
         CSeq: 193942 INVITE\r\n\
         Warning: 399 ugyelet \"From header: expected From header, found 'nothing'\"\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // A broken To is copied as it came (RFC 3261 §8.2.6.2 asks for it the same).
    let e = parse(&load("quotbal")).expect_err("quotbal");
    let text = String::from_utf8(e.bare_reply().expect("Via parses").to_bytes()).expect("text");
    assert!(
        text.contains("\r\nTo: \"Mr. J. User <sip:j.user@example.com>\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nFrom: sip:caller@example.net;tag=93334\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nCall-ID: quotbal.aksdj\r\n"), "{text}");
    // A broken Via leaves nothing to answer.
    let e = parse(&load("badinv01")).expect_err("badinv01");
    assert!(e.stateless_reply().is_none() && e.bare_reply().is_none());
}
