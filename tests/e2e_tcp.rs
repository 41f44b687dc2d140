//! SIP over TCP end to end: the real `ugyelet` binary on 127.0.0.1, called by SIPp over
//! TCP, pinged with CRLF keep-alives, and fed a message that cannot be framed.
//!
//! The caller's audio is judged at a UDP socket of the test that the SDP offer names:
//! the prompts heard there are recognised by normalised cross-correlation against the
//! prompt files (see `tests/common/mod.rs`).

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ugyelet::rtp::g711::decode;
use ugyelet::rtp::packet::parse;
use ugyelet::sdp::offer_answer::Codec;

const SECOND: Duration = Duration::from_secs(1);
/// A prompt counts as heard above this NCC (G.711 keeps true matches above ~0.99 here).
const HEARD: f64 = 0.9;

/// Records the A-law audio arriving on a UDP socket, placed by RTP timestamp.
struct RtpSink {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<(Vec<i16>, usize)>,
}

impl RtpSink {
    fn start() -> RtpSink {
        let port = free_ports(2);
        let sock = UdpSocket::bind(("127.0.0.1", port)).expect("bind RTP sink");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("sink timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut audio: Vec<i16> = Vec::new();
            let mut first_ts: Option<u32> = None;
            let mut packets = 0;
            let mut buf = [0u8; 2048];
            let mut pcm = [0i16; 2048];
            while !flag.load(Ordering::Relaxed) {
                let Ok(len) = sock.recv(&mut buf) else {
                    continue;
                };
                let Ok(p) = parse(&buf[..len]) else { continue };
                if p.payload_type != 8 {
                    continue;
                }
                packets += 1;
                let at = p
                    .timestamp
                    .wrapping_sub(*first_ts.get_or_insert(p.timestamp))
                    as usize;
                if at > 120 * 8000 {
                    continue;
                }
                let n = decode(Codec::Pcma, p.payload, &mut pcm);
                if audio.len() < at + n {
                    audio.resize(at + n, 0);
                }
                audio[at..at + n].copy_from_slice(&pcm[..n]);
            }
            (audio, packets)
        });
        RtpSink { port, stop, thread }
    }

    /// Stops recording; returns the audio and the number of PCMA packets.
    fn finish(self) -> (Vec<i16>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sink thread")
    }
}

#[test]
fn sipp_caller_over_tcp_hears_welcome_then_menu_and_hangs_up_with_bye() {
    let mut daemon = Daemon::start(&[]);
    let sink = RtpSink::start();
    let welcome = load_prompt("welcome");
    // Hold the call through the welcome and 4 s of the menu (plus the 200 ms answer delay).
    let hold_ms = (welcome.len() * 1000 / RATE) as u64 + 4500;
    let result = sipp(
        &scenario("caller_listens_to_menu_then_hangs_up.xml"),
        &[
            "-t",
            "t1",
            "-d",
            &hold_ms.to_string(),
            "-key",
            "rtp_sink_port",
            &sink.port.to_string(),
            "-timeout",
            "40s",
            &daemon.addr(),
        ],
    );
    let (audio, packets) = sink.finish();
    result.assert_success();
    assert_eq!(result.stat("SuccessfulCall(C)"), Some("1"));
    assert!(daemon.is_running(), "daemon survives the call over TCP");

    let (w_at, w_ncc) = find_prompt(&audio, &welcome).expect("audio arrived");
    let menu_head = &load_prompt("main_menu")[..ms(3000)];
    let w_end = w_at + welcome.len();
    let (m_at, m_ncc) = find_prompt(&audio[w_end..], menu_head).expect("audio after welcome");
    eprintln!(
        "{packets} PCMA packets; welcome at {w_at} ncc {w_ncc:.4}; menu +{m_at} after it, ncc {m_ncc:.4}"
    );
    assert!(
        w_ncc > HEARD,
        "welcome not heard over the TCP call (ncc {w_ncc:.4})"
    );
    assert!(
        w_at < ms(1000),
        "welcome opens the call, found at sample {w_at}"
    );
    assert!(
        m_ncc > HEARD,
        "menu not heard after welcome (ncc {m_ncc:.4})"
    );
    assert!(m_at < ms(2000), "menu follows welcome, gap {m_at} samples");
}

/// An OPTIONS request sent from `from` over TCP.
fn tcp_options(from: SocketAddr, port: u16, n: u32) -> String {
    options_request(from, port, n).replace("SIP/2.0/UDP", "SIP/2.0/TCP")
}

/// Reads one SIP message from `stream` (headers, then Content-Length octets of body),
/// at most `timeout`. Leading CRLFs (keep-alive pongs) are returned on their own.
fn read_message(stream: &mut TcpStream, pending: &mut Vec<u8>, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    loop {
        if pending.starts_with(b"\r\n") && !pending.starts_with(b"\r\n\r\n") {
            return pending.drain(..2).collect();
        }
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_string();
            let cl: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    let k = k.trim();
                    (k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("l"))
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if pending.len() >= end + 4 + cl {
                return pending.drain(..end + 4 + cl).collect();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no complete message within {timeout:?}; have {:?}",
            String::from_utf8_lossy(pending)
        );
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => panic!(
                "connection closed; have {:?}",
                String::from_utf8_lossy(pending)
            ),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn status_line(msg: &[u8]) -> String {
    String::from_utf8_lossy(msg)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The connection is closed by the far end within `timeout` (EOF or reset, no more data).
fn wait_closed(stream: &mut TcpStream, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Err(format!(
        "still open after {timeout:?}; received {:?}",
        String::from_utf8_lossy(&got)
    ))
}

fn udp_options_gets_200(port: u16) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let from = sock.local_addr().expect("addr");
    let mut buf = [0u8; 4096];
    for n in 1..=5 {
        sock.send_to(
            options_request(from, port, 900 + n).as_bytes(),
            ("127.0.0.1", port),
        )
        .expect("send");
        if let Ok((len, _)) = sock.recv_from(&mut buf) {
            assert!(
                buf[..len].starts_with(b"SIP/2.0 200 "),
                "UDP OPTIONS answered with {}",
                status_line(&buf[..len])
            );
            return;
        }
    }
    panic!("no answer to OPTIONS over UDP");
}

#[test]
fn crlf_keepalive_ping_over_tcp_gets_a_pong_and_the_connection_keeps_serving() {
    let daemon = Daemon::start(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", daemon.sip_port)).expect("connect");
    let me = s.local_addr().expect("local addr");
    let mut pending = Vec::new();
    for n in 1..=3 {
        // RFC 5626 §4.4.1: a CRLF CRLF ping is answered with a single CRLF pong.
        s.write_all(b"\r\n\r\n").expect("send ping");
        let pong = read_message(&mut s, &mut pending, 5 * SECOND);
        assert_eq!(pong, b"\r\n", "pong {n}");
        s.write_all(tcp_options(me, daemon.sip_port, n).as_bytes())
            .expect("send OPTIONS");
        let resp = read_message(&mut s, &mut pending, 5 * SECOND);
        assert!(
            resp.starts_with(b"SIP/2.0 200 "),
            "OPTIONS after ping {n}: {}",
            status_line(&resp)
        );
    }
    assert!(pending.is_empty(), "nothing unasked-for arrived");
}

#[test]
fn unframeable_message_over_tcp_closes_that_connection_and_sip_goes_on_over_udp_and_tcp() {
    let mut daemon = Daemon::start(&[]);
    let port = daemon.sip_port;

    // A well-framed but unparseable request is answered 400 on the same connection, which
    // stays open: the next message on it is still served.
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let me = s.local_addr().expect("local addr");
    let mut pending = Vec::new();
    let bad_cseq = tcp_options(me, port, 1).replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    s.write_all(bad_cseq.as_bytes()).expect("send");
    let resp = read_message(&mut s, &mut pending, 5 * SECOND);
    assert!(
        resp.starts_with(b"SIP/2.0 400 "),
        "CSeq mismatch over TCP: {}",
        status_line(&resp)
    );
    s.write_all(tcp_options(me, port, 2).as_bytes())
        .expect("send");
    let resp = read_message(&mut s, &mut pending, 5 * SECOND);
    assert!(resp.starts_with(b"SIP/2.0 200 "), "{}", status_line(&resp));

    // A negative Content-Length leaves no way to find the next message (RFC 3261 §18.3,
    // RFC 4475 §3.1.2.3): the daemon closes this connection.
    let unframeable = tcp_options(me, port, 3).replace("Content-Length: 0", "Content-Length: -999");
    s.write_all(unframeable.as_bytes()).expect("send");
    wait_closed(&mut s, 5 * SECOND).unwrap_or_else(|e| panic!("negative Content-Length: {e}"));

    // So does a header block that never ends within the size limit.
    let mut s2 = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let junk = format!(
        "OPTIONS sip:ugyelet@127.0.0.1:{port} SIP/2.0\r\nX-Junk: {}\r\n",
        "x".repeat(200_000)
    );
    // The daemon may close before everything is written.
    let _ = s2.write_all(junk.as_bytes());
    wait_closed(&mut s2, 5 * SECOND).unwrap_or_else(|e| panic!("endless headers: {e}"));

    assert!(daemon.is_running(), "daemon survives");
    udp_options_gets_200(port);
    let mut s3 = TcpStream::connect(("127.0.0.1", port)).expect("connect again");
    let me3 = s3.local_addr().expect("local addr");
    let mut pending3 = Vec::new();
    s3.write_all(tcp_options(me3, port, 4).as_bytes())
        .expect("send");
    let resp = read_message(&mut s3, &mut pending3, 5 * SECOND);
    assert!(
        resp.starts_with(b"SIP/2.0 200 "),
        "a new TCP connection is served: {}",
        status_line(&resp)
    );
}
