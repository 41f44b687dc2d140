//! Malformed input end to end: the real `ugyelet` binary on 127.0.0.1 is sent garbage and
//! broken SIP over UDP and must keep serving real calls, and must explain a salvageable
//! broken request with a 400 carrying a Warning (RFC 3261 §21.4.1, §20.43).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ugyelet::sip::msg::{Message, parse};

/// xorshift64*: a tiny seeded generator, so a failure reproduces.
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

/// A real INVITE (as SIPp sends it) from `from`. Its SDP offers only G.729, so even a
/// mutation that leaves it valid cannot set up a call: the daemon answers it 488.
fn invite(from: SocketAddr, port: u16, n: u32) -> Vec<u8> {
    let sdp = format!(
        "v=0\r\no=- 53655766 2353687638 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = from.ip()
    );
    format!(
        "INVITE sip:ugyelet@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-garbage-{n};rport\r\n\
         From: <sip:36301234567@{from}>;tag=garbage{n}\r\n\
         To: <sip:ugyelet@127.0.0.1:{port}>\r\n\
         Call-ID: garbage-{n}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:36301234567@{from}>\r\n\
         Max-Forwards: 70\r\n\
         Subject: malformed input\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// A few hundred datagrams: every 4th truncation of the INVITE, seeded mutations of it,
/// random bytes, and a few odd shapes (empty, keep-alive, oversized).
fn garbage(from: SocketAddr, port: u16) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let whole = invite(from, port, 0);
    // Truncations: a cut anywhere leaves Content-Length unmet or the headers unterminated.
    for cut in (0..whole.len()).step_by(4) {
        out.push(whole[..cut].to_vec());
    }
    let mut rng = Rng(0x005e_ed0f_da7a);
    for n in 1..=200u32 {
        let mut m = invite(from, port, n);
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(m.len());
            match rng.below(4) {
                0 => m[at] = INTERESTING[rng.below(INTERESTING.len())],
                1 => m.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                2 => {
                    let end = (at + 1 + rng.below(40)).min(m.len());
                    m.drain(at..end);
                }
                _ => m[at] ^= 1 << rng.below(8),
            }
        }
        out.push(m);
    }
    for _ in 0..30 {
        let len = rng.below(1500);
        out.push((0..len).map(|_| rng.next() as u8).collect());
    }
    out.push(Vec::new());
    out.push(b"\r\n\r\n".to_vec());
    out.push(b"SIP/2.0 200 OK\r\n\r\n".to_vec());
    out.push(vec![b'A'; 60_000]);
    out
}

/// Receives every datagram arriving on `sock` until it has been quiet for `quiet`.
fn drain(sock: &UdpSocket, quiet: Duration) -> Vec<Vec<u8>> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut last = Instant::now();
    let mut buf = vec![0u8; 65536];
    while last.elapsed() < quiet {
        if let Ok(len) = sock.recv(&mut buf) {
            got.push(buf[..len].to_vec());
            last = Instant::now();
        }
    }
    got
}

#[test]
fn garbage_and_truncated_datagrams_leave_the_daemon_serving_a_real_call() {
    // This test is about answers to broken messages, not flood protection: lift the
    // per-source rate limit (tests/e2e_flood.rs covers that).
    let mut daemon = Daemon::start(&[
        ("UGYELET_SIP__RATE_LIMIT_PER_S", "1000000"),
        ("UGYELET_SIP__RATE_LIMIT_BURST", "1000000"),
    ]);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let from = sock.local_addr().expect("addr");
    let datagrams = garbage(from, daemon.sip_port);
    assert!(datagrams.len() > 300, "{} datagrams", datagrams.len());
    // What the parser can answer statelessly: a request whose Via survived, with its From,
    // To, Call-ID and CSeq copied as far as they did (the daemon's 16 KiB datagram limit
    // drops the oversized one unread).
    let stateless = datagrams
        .iter()
        .filter(|d| d.len() <= 16 * 1024)
        .filter(|d| {
            parse(d).is_err_and(|e| e.stateless_reply().is_some() || e.bare_reply().is_some())
        })
        .count();
    // Answers are collected while sending, so that none is lost in this socket's buffer.
    let reader = sock.try_clone().expect("clone socket");
    let collector = std::thread::spawn(move || drain(&reader, Duration::from_millis(1500)));
    for (i, d) in datagrams.iter().enumerate() {
        // The oversized one may be refused by the kernel; that is fine.
        let _ = sock.send_to(d, ("127.0.0.1", daemon.sip_port));
        // Paced a little so the daemon's socket buffer is not what is being tested.
        if i % 16 == 15 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let answers = collector.join().expect("collector thread");
    assert!(
        daemon.is_running(),
        "daemon survived {} datagrams",
        datagrams.len()
    );

    // Whatever came back is a well-formed response; no INVITE was accepted. A 400 comes
    // either from the SIP layer, stateless, for a message it could not parse (with a
    // Warning saying why), or from the call layer after a 100, for an INVITE whose SDP
    // did not parse.
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut trying: Vec<String> = Vec::new();
    let (mut warned, mut sdp_refused) = (0, 0);
    for a in &answers {
        let Ok(Message::Response(r)) = parse(a) else {
            // A bare 400: the broken request's From, To, Call-ID or CSeq could not be
            // copied, so the answer carries its Via, what else parsed, and the Warning.
            let text = String::from_utf8_lossy(a);
            let status = if text.starts_with("SIP/2.0 400 Bad Request\r\n") {
                400
            } else if text.starts_with("SIP/2.0 505 Version Not Supported\r\n") {
                505
            } else {
                0
            };
            assert!(
                status != 0
                    && text.contains("\r\nVia: SIP/2.0/UDP ")
                    && text.contains("\r\nWarning: 399 ugyelet \""),
                "daemon sent something that is not a SIP response: {text:?}"
            );
            warned += usize::from(status == 400);
            *statuses.entry(status).or_default() += 1;
            continue;
        };
        assert!(
            !((200..300).contains(&r.status) && r.cseq.method.to_string() == "INVITE"),
            "a broken INVITE was answered {}",
            r.status
        );
        if r.status == 100 {
            trying.push(r.call_id.clone());
        }
        if r.status == 400 {
            assert!(
                r.headers.get("Warning").is_some(),
                "every 400 says why in a Warning: {}",
                String::from_utf8_lossy(a)
            );
            // After a 100 the INVITE parsed and the call layer refused its SDP; otherwise
            // the SIP layer answered statelessly.
            if trying.contains(&r.call_id) {
                sdp_refused += 1;
            } else {
                warned += 1;
            }
        }
        *statuses.entry(r.status).or_default() += 1;
    }
    eprintln!(
        "{} datagrams sent, {} answers: {statuses:?}; 400s with a Warning {warned} (salvageable: {stateless}), \
         after a 100 (SDP refused) {sdp_refused}",
        datagrams.len(),
        answers.len()
    );
    assert!(
        stateless >= 50,
        "the sweep holds salvageable requests: {stateless}"
    );
    // UDP on a loaded machine may still lose a few; a missing answer is not a wrong one.
    assert!(
        warned <= stateless && warned >= stateless * 9 / 10,
        "every salvageable broken request gets its 400 with a Warning: {warned} of \
         {stateless} ({statuses:?})"
    );

    // A real call still goes through.
    let result = sipp(
        &scenario("caller_hangs_up_with_bye.xml"),
        &["-timeout", "15s", &daemon.addr()],
    );
    result.assert_success();
    assert_eq!(result.stat("SuccessfulCall(C)"), Some("1"));
    assert!(daemon.is_running());
}

#[test]
fn request_with_a_broken_but_salvageable_header_gets_400_with_a_warning() {
    let daemon = Daemon::start(&[]);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let from = sock.local_addr().expect("addr");
    let good = String::from_utf8(invite(from, daemon.sip_port, 1)).expect("utf8");
    for (broken, what) in [
        (
            good.replacen("CSeq: 1 INVITE", "CSeq: 1 BYE", 1),
            "CSeq method differs from the Request-Line (RFC 4475 §3.1.2.17)",
        ),
        (
            good.replacen("Max-Forwards: 70", "Max-Forwards: seventy", 1),
            "Max-Forwards is not 1*DIGIT",
        ),
        (
            good.replacen("Content-Length: ", "Content-Length: 9", 1),
            "Content-Length beyond the datagram (RFC 4475 §3.1.2.2)",
        ),
    ] {
        let mut replies = Vec::new();
        // Sent twice: the stateless answer to a retransmission is the same, To tag included.
        for _ in 0..2 {
            sock.send_to(broken.as_bytes(), ("127.0.0.1", daemon.sip_port))
                .expect("send");
            let mut buf = [0u8; 4096];
            let (len, src) = sock
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
            assert_eq!(
                src.port(),
                daemon.sip_port,
                "{what}: answered from the SIP port"
            );
            replies.push(buf[..len].to_vec());
        }
        let text = String::from_utf8_lossy(&replies[0]).to_string();
        let Ok(Message::Response(r)) = parse(&replies[0]) else {
            panic!("{what}: not a response: {text}")
        };
        eprintln!("{what}: {}", r.headers.get("Warning").unwrap_or_default());
        assert_eq!(r.status, 400, "{what}: {text}");
        assert_eq!(r.call_id, "garbage-1@127.0.0.1", "{what}: Call-ID copied");
        assert_eq!(r.from.tag(), Some("garbage1"), "{what}: From copied");
        assert!(
            r.to.tag().is_some(),
            "{what}: To tag added (RFC 3261 §8.2.6.2)"
        );
        assert_eq!(
            r.via.first().and_then(|v| v.branch()),
            Some("z9hG4bK-garbage-1"),
            "{what}: Via copied"
        );
        // RFC 3261 §20.43: warning-value = warn-code SP warn-agent SP warn-text; 399 is
        // "Miscellaneous warning", the text says what was expected and what was found.
        let warning = r.headers.get("Warning").unwrap_or_default();
        assert!(
            warning.starts_with("399 ugyelet \"") && warning.ends_with('"'),
            "{what}: Warning {warning:?}"
        );
        assert!(warning.contains("expected"), "{what}: Warning {warning:?}");
        assert_eq!(
            replies[0], replies[1],
            "{what}: same answer to the retransmission"
        );
    }
}
