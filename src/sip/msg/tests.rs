use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

fn msg(head: &str, body: &str) -> Vec<u8> {
    let mut v = head.replace('\n', "\r\n").into_bytes();
    v.extend_from_slice(b"\r\n");
    v.extend_from_slice(body.as_bytes());
    v
}

const BASE: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1
From: Alice <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.1
CSeq: 1 INVITE
Max-Forwards: 70
";

fn req(bytes: &[u8]) -> Request {
    match parse(bytes) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn with(extra: &str) -> Request {
    req(&msg(&format!("{BASE}{extra}"), ""))
}

fn err(bytes: &[u8]) -> ParseError {
    parse(bytes).expect_err("message must be rejected")
}

#[test]
fn rfc3261_7_3_3_compact_header_names_are_canonicalised() {
    let pairs = [
        ("v", "Via"),
        ("f", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("e", "Content-Encoding"),
        ("k", "Supported"),
        ("s", "Subject"),
        ("o", "Event"),
        ("u", "Allow-Events"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("x", "Session-Expires"),
        ("a", "Accept-Contact"),
        ("j", "Reject-Contact"),
        ("d", "Request-Disposition"),
        ("y", "Identity"),
        ("n", "Identity-Info"),
    ];
    for (short, long) in pairs {
        assert_eq!(canonical_name(short), Some(long), "{short}");
        assert_eq!(canonical_name(&short.to_uppercase()), Some(long));
    }
    let r = req(&msg(
        "OPTIONS sip:bob@example.com SIP/2.0\nv: SIP/2.0/TCP h;branch=z9hG4bK2\nf: <sip:a@b>;tag=1\nt: sip:bob@example.com\ni: x@y\nCSeq: 2 OPTIONS\nk: timer\ns: hi\nl: 0\n",
        "",
    ));
    assert_eq!(r.via[0].transport, "TCP");
    assert_eq!(r.headers.get("Supported"), Some("timer"));
    assert_eq!(
        r.headers.get("k"),
        Some("timer"),
        "compact form accepted in queries"
    );
    assert_eq!(
        r.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        ["Supported", "Subject"]
    );
}

#[test]
fn rfc3261_7_3_1_folded_lines_unfold_to_one_space() {
    let r = with("Subject: first\n  second\n\tthird\n");
    assert_eq!(r.headers.get("Subject"), Some("first second third"));
}

#[test]
fn header_names_are_case_insensitive_and_colon_whitespace_is_allowed() {
    let r = req(&msg(
        "OPTIONS sip:b@example.com SIP/2.0\nvIA   :   SIP/2.0/UDP h;branch=z9hG4bK3\nFROM\t: <sip:a@b>;tag=1\nto:<sip:b@example.com>\ncall-id:x\ncseq:  7   OPTIONS\nX-Custom :  v  \n",
        "",
    ));
    assert_eq!(r.cseq.seq, 7);
    assert_eq!(r.headers.get("x-custom"), Some("v"));
    assert_eq!(r.headers.get("X-CUSTOM"), Some("v"));
}

#[test]
fn comma_lists_split_outside_quotes_and_angle_brackets_only() {
    let r = with(concat!(
        "Contact: \"Doe, John\" <sip:j,k@h;x=a>;q=0.5, <sip:k@h>\n",
        "Allow: INVITE, ACK,BYE\n",
        "WWW-Authenticate: Digest realm=\"a\", nonce=\"b\"\n",
        "X-Unknown: a, b\n",
    ));
    let c = r.contacts().expect("contacts");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].display.as_deref(), Some("Doe, John"));
    assert_eq!(
        r.headers.get_all("Allow").collect::<Vec<_>>(),
        ["INVITE", "ACK", "BYE"]
    );
    assert_eq!(r.headers.get_all("WWW-Authenticate").count(), 1);
    assert_eq!(r.headers.get_all("X-Unknown").collect::<Vec<_>>(), ["a, b"]);
}

#[test]
fn via_lists_keep_order_across_lines_and_commas() {
    let r = req(&msg(
        "OPTIONS sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5070;branch=z9hG4bK2\nVia: SIP / 2.0 / tls c ; branch = z9hG4bK3 ; rport\nFrom: <sip:a@b>;tag=1\nTo: <sip:b@example.com>\nCall-ID: x\nCSeq: 1 OPTIONS\n",
        "",
    ));
    let hosts: Vec<String> = r.via.iter().map(|v| v.host.to_string()).collect();
    assert_eq!(hosts, ["a", "b", "c"]);
    assert_eq!(r.via[1].port, Some(5070));
    assert_eq!(r.via[2].transport, "TLS");
    assert_eq!(r.via[2].rport(), Some(None));
    assert_eq!(r.via[0].rport(), None);
}

#[test]
fn rfc5118_ipv6_references_in_via_uri_and_contact() {
    let r = req(&msg(
        "REGISTER sip:[2001:db8::10]:5070 SIP/2.0\nVia: SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3;received=2001:db8::9:255\nFrom: <sip:a@[2001:db8::1]>;tag=1\nTo: <sip:a@[2001:db8::1]>\nCall-ID: v6\nCSeq: 1 REGISTER\nContact: \"Caller\" <sip:caller@[2001:db8::1]>\n",
        "",
    ));
    let Uri::Sip(u) = &r.uri else { panic!("sip") };
    assert_eq!(u.host, Host::V6("2001:db8::10".parse().expect("v6")));
    assert_eq!(u.port, Some(5070));
    assert_eq!(r.via[0].host.to_string(), "[2001:db8::9:1]");
    assert_eq!(r.via[0].received(), Some("2001:db8::9:255"));
    assert_eq!(
        r.contacts().expect("contact")[0].uri.to_string(),
        "sip:caller@[2001:db8::1]"
    );
    assert_eq!(Host::V6(Ipv6Addr::LOCALHOST).to_string(), "[::1]");
}

#[test]
fn rfc3966_tel_uris_in_request_uri_from_and_to() {
    let r = req(&msg(
        "INVITE tel:+36-1-234-5678;phone-context=example.hu SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: \"06301234567\" <tel:06301234567>;tag=t\nTo: tel:+3612345678\nCall-ID: tel\nCSeq: 1 INVITE\n",
        "",
    ));
    assert_eq!(r.uri.user(), Some("+36-1-234-5678"));
    let Uri::Tel(t) = &r.uri else { panic!("tel") };
    assert_eq!(
        t.params,
        [("phone-context".to_owned(), Some("example.hu".to_owned()))]
    );
    assert_eq!(r.from.uri.user(), Some("06301234567"));
    assert_eq!(r.to.uri.to_string(), "tel:+3612345678");
    assert!(Uri::parse("tel:").is_err());
}

#[test]
fn escaped_user_parts_decode_and_print_escaped() {
    let u = Uri::parse("sip:%61lice%20smith@example.com").expect("uri");
    assert_eq!(u.user(), Some("alice smith"));
    assert_eq!(u.to_string(), "sip:alice%20smith@example.com");
    assert!(
        Uri::parse("sip:a%4@example.com").is_err(),
        "truncated escape"
    );
    assert!(
        Uri::parse("sip:a%FF@example.com").is_err(),
        "escape decoding to non-UTF-8"
    );
}

#[test]
fn display_names_quoted_unquoted_and_absent() {
    let q = NameAddr::parse("\"Kovács \\\"Béla\\\"\" <sip:b@h>;tag=x").expect("quoted");
    assert_eq!(q.display.as_deref(), Some("Kovács \"Béla\""));
    assert_eq!(q.to_string(), "\"Kovács \\\"Béla\\\"\" <sip:b@h>;tag=x");
    let t = NameAddr::parse("Kovacs   Bela<sip:b@h>").expect("tokens");
    assert_eq!(t.display.as_deref(), Some("Kovacs Bela"));
    let a = NameAddr::parse("sip:b@h;tag=1").expect("addr-spec");
    assert_eq!((a.display.as_deref(), a.tag()), (None, Some("1")));
    assert!(
        NameAddr::parse("Kovacs, Bela <sip:b@h>").is_err(),
        "RFC 4475 §3.1.2.15"
    );
    assert!(
        NameAddr::parse("\"open <sip:b@h>").is_err(),
        "RFC 4475 §3.1.2.6"
    );
}

#[test]
fn rfc3261_18_3_content_length_bounds_the_body() {
    let shorter = req(&msg(&format!("{BASE}Content-Length: 3\n"), "abcdef"));
    assert_eq!(shorter.body, b"abc", "excess datagram octets are ignored");
    let missing = req(&msg(BASE, "abcdef"));
    assert_eq!(
        missing.body, b"abcdef",
        "no Content-Length: body is the rest of the datagram"
    );
    let e = err(&msg(&format!("{BASE}Content-Length: 10\n"), "abc"));
    assert_eq!((e.kind(), e.status()), (ParseErrorKind::BodyTruncated, 400));
    assert_eq!(e.stateless_reply().map(|r| r.status), Some(400));
    assert_eq!(
        err(&msg(&format!("{BASE}Content-Length: 0x3\n"), "abc")).status(),
        400
    );
}

#[test]
fn rfc3261_7_1_methods_are_case_sensitive_and_extensions_kept() {
    assert_eq!(Method::from_token("INVITE"), Method::Invite);
    assert_eq!(
        Method::from_token("invite"),
        Method::Extension("invite".into())
    );
    let r = req(&msg(
        "FOO sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:b@example.com>\nCall-ID: x\nCSeq: 1 FOO\n",
        "",
    ));
    assert_eq!(r.method.as_str(), "FOO");
    assert_eq!(r.max_forwards, None);
}

#[test]
fn unknown_headers_are_kept_verbatim_and_empty_values_allowed() {
    let r = with("X-Weird: ;;,,\"q\" <>\nSubject:\nP-Asserted-Identity: <sip:x@y>\n");
    let v: Vec<(&str, &str)> = r.headers.iter().collect();
    assert_eq!(
        v,
        [
            ("X-Weird", ";;,,\"q\" <>"),
            ("Subject", ""),
            ("P-Asserted-Identity", "<sip:x@y>")
        ]
    );
}

#[test]
fn rfc3261_7_1_sip_version_must_be_2_0() {
    assert!(
        parse(&msg(&BASE.replace("SIP/2.0\n", "sip/2.0\n"), "")).is_ok(),
        "case-insensitive"
    );
    let e = err(&msg(&BASE.replace("SIP/2.0\nVia", "SIP/3.0\nVia"), ""));
    assert_eq!(
        (e.kind(), e.status()),
        (ParseErrorKind::UnsupportedVersion, 505)
    );
    let reply = e.stateless_reply().expect("505 is routable");
    assert_eq!(
        (reply.status, reply.reason.as_str()),
        (505, "Version Not Supported")
    );
    assert_eq!(
        err(&msg(&BASE.replace("SIP/2.0\nVia", "HTTP/1.1\nVia"), "")).status(),
        400
    );
}

#[test]
fn max_forwards_must_be_a_number_up_to_255() {
    for bad in ["abc", "-1", "256", "1 2", ""] {
        let e = err(&msg(
            &BASE.replace("Max-Forwards: 70", &format!("Max-Forwards: {bad}")),
            "",
        ));
        assert_eq!(e.status(), 400, "{bad}");
    }
    assert_eq!(with("").max_forwards, Some(70));
}

#[test]
fn rfc3261_8_1_1_5_cseq_method_must_match() {
    let e = err(&msg(&BASE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"), ""));
    assert_eq!(e.kind(), ParseErrorKind::MethodMismatch);
    assert_eq!(
        e.stateless_reply().map(|r| r.cseq.method),
        Some(Method::Bye)
    );
}

#[test]
fn single_valued_headers_appearing_twice_are_rejected() {
    for h in [
        "To: <sip:x@y>",
        "From: <sip:x@y>;tag=2",
        "Call-ID: other",
        "CSeq: 2 INVITE",
        "Max-Forwards: 3",
    ] {
        let e = err(&msg(&format!("{BASE}{h}\n"), ""));
        assert_eq!(
            (e.kind(), e.status()),
            (ParseErrorKind::DuplicateHeader, 400),
            "{h}"
        );
    }
}

#[test]
fn crlf_keepalives_are_not_messages() {
    for ka in [&b"\r\n"[..], b"\r\n\r\n", b""] {
        let e = err(ka);
        assert_eq!(e.kind(), ParseErrorKind::Empty);
        assert!(e.stateless_reply().is_none());
    }
    assert!(
        parse(&[b"\r\n\r\n".as_slice(), &msg(BASE, "")].concat()).is_ok(),
        "RFC 3261 §7.5 leading CRLFs"
    );
}

#[test]
fn rfc3261_17_1_1_3_a_broken_ack_gets_no_reply() {
    let ack = BASE
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 BYE");
    assert!(err(&msg(&ack, "")).stateless_reply().is_none());
}

#[test]
fn stateless_reply_to_tag_is_stable_across_retransmissions() {
    let bad = msg(&BASE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"), "");
    let a = err(&bad).stateless_reply().expect("reply");
    let b = err(&bad).stateless_reply().expect("reply");
    assert_eq!(a.to.tag(), b.to.tag());
    assert!(a.to.tag().is_some_and(|t| t.starts_with("sl")));
    assert_eq!(a.via, with("").via);
    assert_eq!(
        a.headers.get("Warning"),
        Some("399 ugyelet \"CSeq header: expected the Request-Line method, found 'BYE'\"")
    );
}

#[test]
fn rfc3261_8_2_6_2_response_from_request_copies_and_tags() {
    let r = with("");
    let resp = Response::from_request(&r, 180, "Ringing", Some("b1"));
    assert_eq!(
        (
            resp.via.clone(),
            resp.from.clone(),
            resp.call_id.clone(),
            resp.cseq.clone()
        ),
        (
            r.via.clone(),
            r.from.clone(),
            r.call_id.clone(),
            r.cseq.clone()
        )
    );
    assert_eq!(resp.to.tag(), Some("b1"));
    let mut tagged = r.clone();
    tagged.to.set_tag("old");
    assert_eq!(
        Response::from_request(&tagged, 200, "OK", Some("new"))
            .to
            .tag(),
        Some("old")
    );
    let bytes = resp.to_bytes();
    assert!(bytes.starts_with(
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    ));
    assert_eq!(parse(&bytes).expect("reparse"), Message::Response(resp));
}

#[test]
fn printing_computes_content_length_and_round_trips() {
    let mut r = with("Contact: <sip:alice@192.0.2.1>\nContent-Type: application/sdp\n");
    r.body = b"v=0\r\n".to_vec();
    r.headers.push("Content-Length", "999");
    let bytes = r.to_bytes();
    let text = String::from_utf8(bytes.clone()).expect("utf8");
    assert_eq!(text.matches("Content-Length").count(), 1);
    assert!(text.ends_with("Content-Length: 5\r\n\r\nv=0\r\n"));
    let mut expected = r.clone();
    expected.headers.remove("Content-Length");
    assert_eq!(parse(&bytes).expect("reparse"), Message::Request(expected));
    assert_eq!(r.content_type(), Some("application/sdp"));
}

#[test]
fn rfc3581_via_received_and_rport_are_filled_in() {
    let mut v = Via::parse("SIP/2.0/UDP host;branch=z9hG4bKx;rport").expect("via");
    v.set_received(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    v.set_rport(5062);
    assert_eq!(
        v.to_string(),
        "SIP/2.0/UDP host;branch=z9hG4bKx;rport=5062;received=192.0.2.7"
    );
    assert_eq!(
        (v.rport(), v.received()),
        (Some(Some(5062)), Some("192.0.2.7"))
    );
}

#[test]
fn rfc3261_10_2_2_contact_star_is_a_wildcard_variant() {
    let r = with("Contact: *\nExpires: 0\n");
    assert_eq!(r.contact_list(), Ok(Contacts::Wildcard));
    assert_eq!(
        r.contacts().map_err(|e| e.kind()),
        Err(ParseErrorKind::ContactWildcard)
    );
    assert!(with("Contact: *, <sip:a@b>\n").contact_list().is_err());
    assert_eq!(with("").contacts(), Ok(vec![]));
}

#[test]
fn headers_push_set_remove_keep_order() {
    let mut h = Headers::new();
    h.push("X-A", "1");
    h.push("k", "timer");
    h.push("x-a", "2");
    h.set("X-A", "3");
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [("X-A", "3"), ("Supported", "timer")]
    );
    h.remove("supported");
    assert_eq!(h.len(), 1);
    assert_eq!(reason_phrase(486), "Busy Here");
    assert_eq!(reason_phrase(499), "Client Error");
}

#[test]
fn request_line_needs_single_spaces_and_a_plain_request_uri() {
    for bad in [
        "INVITE  sip:bob@example.com SIP/2.0",
        "INVITE sip:bob@example.com SIP/2.0 ",
        "INVITE <sip:bob@example.com> SIP/2.0",
        "INVITE sip:bob@example.com?Route=x SIP/2.0",
    ] {
        let e = err(&msg(
            &BASE.replacen("INVITE sip:bob@example.com SIP/2.0", bad, 1),
            "",
        ));
        assert_eq!(e.status(), 400, "{bad}");
        assert!(
            e.stateless_reply().is_some(),
            "{bad}: headers are intact, so reply"
        );
    }
}

#[test]
fn status_line_needs_three_digits_and_a_space() {
    let resp = "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:b@c>;tag=2\nCall-ID: x\nCSeq: 1 INVITE\n";
    assert!(parse(&msg(resp, "")).is_ok());
    for bad in [
        "SIP/2.0 2000 OK",
        "SIP/2.0 20 OK",
        "SIP/2.0 200",
        "SIP/2.0 099 x",
    ] {
        let e = err(&msg(&resp.replace("SIP/2.0 200 OK", bad), ""));
        assert!(
            e.stateless_reply().is_none(),
            "responses are never answered"
        );
    }
}
