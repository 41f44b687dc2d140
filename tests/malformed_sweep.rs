//! Malformed-input sweep: every truncation and thousands of seeded mutations of real
//! messages must give Ok or Err, never a panic; whatever parses must print and
//! re-parse to the same value, and framing must never claim more bytes than exist.

use ugyelet::sip::framing::{Frame, next_frame};
use ugyelet::sip::msg::parse;

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let sdp = "v=0\no=- 1 1 IN IP4 192.168.1.20\ns=-\nc=IN IP4 192.168.1.20\nt=0 0\nm=audio 10000 RTP/AVP 0 8 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=sendrecv\n";
    let with_body = |head: &str| {
        let body = crlf(sdp);
        let mut m = crlf(&head.replace("{len}", &body.len().to_string()));
        m.extend_from_slice(&body);
        m
    };
    vec![
        (
            "baresip INVITE",
            with_body(
                "INVITE sip:100@192.168.1.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK4a5b3c2d1e;rport\nContact: <sip:alice-0x5600@192.168.1.20:5060;transport=udp>\nMax-Forwards: 70\nTo: <sip:100@192.168.1.10>\nFrom: \"Alice\" <sip:alice@192.168.1.10>;tag=8f3e1b2c4d5a6e7f\nCall-ID: 9c8b7a6f5e4d3c2b\nCSeq: 17052 INVITE\nUser-Agent: baresip v3.10.1 (x86_64/linux)\nAllow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER\nSupported: replaces,norefersub,100rel\nContent-Type: application/sdp\nContent-Length: {len}\n\n",
            ),
        ),
        (
            "Linphone INVITE",
            with_body(
                "INVITE sip:100@example.hu SIP/2.0\nVia: SIP/2.0/TCP [2001:db8::20]:51234;alias;branch=z9hG4bK.Xy3kQ9;rport\nFrom: \"Kovács Béla\" <sip:bela@example.hu>;tag=qT5~n2Ab\nTo: sip:100@example.hu\nCSeq: 20 INVITE\nCall-ID: 2hVvKx6Lm3\nMax-Forwards: 70\nSupported: replaces, outbound, gruu, path\nAllow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE\nContent-Type: application/sdp\nContact: <sip:bela@[2001:db8::20]:51234;transport=tcp>;+org.linphone.specs=\"ephemeral,groupchat/1.1\"\nUser-Agent: Linphone-Desktop/5.2.0 (belle-sip/5.2.0)\nContent-Length: {len}\n\n",
            ),
        ),
        (
            "MicroSIP INVITE",
            with_body(
                "INVITE sip:06301234567@sip.example.hu SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKPj5b1f2e3d4c\nMax-Forwards: 70\nFrom: \"Recepció\" <sip:201@sip.example.hu>;tag=cb1e2d3f4a\nTo: <sip:06301234567@sip.example.hu>\nContact: \"Recepció\" <sip:201@10.0.0.5:5060;ob>\nCall-ID: 6f1d3c0a2b9e4d5f8a7c\nCSeq: 4711 INVITE\nRoute: <sip:proxy.example.hu;lr>, <sip:edge.example.hu;lr;transport=udp>\nAllow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS\nSupported: replaces, 100rel, timer, norefersub\nSession-Expires: 1800\nMin-SE: 90\nUser-Agent: MicroSIP/3.21.3\nContent-Type: application/sdp\nContent-Length:   {len}\n\n",
            ),
        ),
        (
            "SIPp INVITE",
            with_body(
                "INVITE sip:service@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-1234-1-0\nFrom: sipp <sip:sipp@127.0.1.1:5061>;tag=1234SIPpTag001\nTo: service <sip:service@127.0.0.1:5060>\nCall-ID: 1-1234@127.0.1.1\nCSeq: 1 INVITE\nContact: sip:sipp@127.0.1.1:5061\nMax-Forwards: 70\nSubject: Performance Test\nContent-Type: application/sdp\nContent-Length: {len}\n\n",
            ),
        ),
        (
            "trunk INVITE with tel: URIs",
            with_body(
                "INVITE tel:+3612345678 SIP/2.0\nv: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKtrunk1\nf: <tel:+36301234567;phone-context=+36>;tag=tr1\nt: <tel:+3612345678>\ni: trunk-1@198.51.100.7\nCSeq: 1 INVITE\nP-Asserted-Identity: <tel:+36301234567>\nm: <sip:+36301234567@198.51.100.7:5060>\nc: application/sdp\nl: {len}\n\n",
            ),
        ),
        (
            "200 OK",
            with_body(
                "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK4a5b3c2d1e;rport=5060;received=192.168.1.20\nVia: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKproxy\nRecord-Route: <sip:10.1.1.1;lr>\nFrom: \"Alice\" <sip:alice@192.168.1.10>;tag=8f3e1b2c4d5a6e7f\nTo: <sip:100@192.168.1.10>;tag=as5f3a2b1c\nCall-ID: 9c8b7a6f5e4d3c2b\nCSeq: 17052 INVITE\nServer: ugyelet\nContact: <sip:100@192.168.1.10:5060>\nContent-Type: application/sdp\nContent-Length: {len}\n\n",
            ),
        ),
        (
            "REGISTER with Authorization",
            crlf(
                "REGISTER sip:sip.example.hu SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKPjreg2\nMax-Forwards: 70\nFrom: <sip:201@sip.example.hu>;tag=reg1\nTo: <sip:201@sip.example.hu>\nCall-ID: reg-call-1\nCSeq: 2 REGISTER\nContact: <sip:201@10.0.0.5:5060;ob>;expires=300;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\nExpires: 300\nAuthorization: Digest username=\"201\", realm=\"sip.example.hu\", nonce=\"5f1e2d3c\", uri=\"sip:sip.example.hu\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"a1b2\"\nContent-Length: 0\n\n",
            ),
        ),
    ]
}

/// xorshift64*: a tiny seeded generator, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\r\n \t:;,<>\"\\@[]%=/?0\x00\xff\xc3";

fn check(name: &str, input: &[u8]) -> bool {
    let f = next_frame(input, 8192);
    if let Frame::Message(n) | Frame::KeepAlive(n) = f {
        assert!(
            n <= input.len(),
            "{name}: frame {n} beyond {} bytes",
            input.len()
        );
    }
    match parse(input) {
        Ok(m) => {
            let printed = m.to_bytes();
            let again = parse(&printed).unwrap_or_else(|e| {
                panic!(
                    "{name}: printed form does not parse: {e}\ninput: {:?}\nprinted: {:?}",
                    String::from_utf8_lossy(input),
                    String::from_utf8_lossy(&printed)
                )
            });
            assert_eq!(
                again,
                m,
                "{name}: round-trip changed the message; input {:?}",
                String::from_utf8_lossy(input)
            );
            true
        }
        Err(e) => {
            assert!(matches!(e.status(), 400 | 505));
            if let Some(r) = e.stateless_reply() {
                assert!(
                    parse(&r.to_bytes()).is_ok(),
                    "{name}: stateless reply does not parse"
                );
            }
            if let Some(b) = e.bare_reply() {
                // Only when no full reply could be built; a response of its own, with
                // the Via (and what else parsed), that a peer can still read.
                assert!(e.stateless_reply().is_none(), "{name}: one answer at most");
                let text = String::from_utf8_lossy(&b.to_bytes()).into_owned();
                assert!(
                    text.starts_with(&format!("SIP/2.0 {} ", e.status()))
                        && text.contains("\r\nVia: SIP/")
                        && text.contains("\r\nWarning: 399 ugyelet \"")
                        && text.ends_with("\r\nContent-Length: 0\r\n\r\n"),
                    "{name}: bare reply {text:?}"
                );
            }
            false
        }
    }
}

#[test]
fn every_corpus_message_parses_and_round_trips() {
    for (name, m) in corpus() {
        assert!(check(name, &m), "{name} must parse: {:?}", parse(&m).err());
    }
}

#[test]
fn every_truncation_is_handled_without_panic() {
    for (name, m) in corpus() {
        let mut ok = 0;
        for n in 0..=m.len() {
            ok += usize::from(check(name, &m[..n]));
        }
        // Cutting inside the body of a message with Content-Length must fail; only
        // cuts that keep the whole message (or drop nothing) can parse.
        assert!(ok <= 2, "{name}: {ok} truncations parsed");
    }
}

#[test]
fn seeded_random_mutations_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    let mut total = 0;
    for (name, m) in corpus() {
        for _ in 0..3000 {
            let mut v = m.clone();
            for _ in 0..1 + rng.below(4) {
                let pos = rng.below(v.len() + 1);
                let byte = if rng.below(2) == 0 {
                    INTERESTING[rng.below(INTERESTING.len())]
                } else {
                    rng.next() as u8
                };
                match rng.below(3) {
                    0 if pos < v.len() => v[pos] = byte,
                    1 => v.insert(pos, byte),
                    _ if pos < v.len() => {
                        let end = (pos + 1 + rng.below(8)).min(v.len());
                        v.drain(pos..end);
                    }
                    _ => v.push(byte),
                }
            }
            total += 1;
            parsed += usize::from(check(name, &v));
        }
    }
    // Both outcomes must actually occur, or the sweep tests nothing.
    assert!(
        parsed > total / 10 && parsed < total,
        "{parsed} of {total} mutants parsed"
    );
}
