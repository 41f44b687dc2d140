//! The start of a call on the wire: the real `ugyelet` binary on 127.0.0.1, called by a
//! bare SIP/RTP peer made of two plain UDP sockets, so every datagram the daemon sends is
//! seen as it arrives, with nothing in between that buffers, reorders or conceals.
//!
//! A phone can only play RTP for a session it knows of, and it learns of the session from
//! the 200 OK: a frame that arrives before the 200 OK is lost to the caller. So the first
//! RTP packet must arrive after the 200 OK, and it must carry the very first 20 ms of the
//! greeting.

mod common;

use common::*;
use std::net::UdpSocket;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use ugyelet::rtp::g711::alaw_encode;
use ugyelet::rtp::packet;
use ugyelet::sip::msg::{Message, parse};

/// Packets compared against the prompt: the first 200 ms.
const FRAMES: usize = 10;

/// The first prompt the shipped dial plan plays: the `start` node's first prompt.
fn first_prompt_of_the_dial_plan() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans/main.toml");
    let text = std::fs::read_to_string(&path).expect("read the dial plan");
    let plan: toml::Table = toml::from_str(&text).expect("the dial plan is TOML");
    let start = plan["start"].as_str().expect("start names a node");
    let node = &plan["nodes"][start];
    assert_eq!(
        node["type"].as_str(),
        Some("play"),
        "the start node {start:?} plays prompts"
    );
    node["prompts"][0]
        .as_str()
        .expect("the start node has a prompt")
        .to_owned()
}

fn invite(sip: &UdpSocket, rtp: &UdpSocket, port: u16) -> Vec<u8> {
    let from = sip.local_addr().expect("SIP socket address");
    let rtp_port = rtp.local_addr().expect("RTP socket address").port();
    let sdp = format!(
        "v=0\r\no=- 4711 4711 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    format!(
        "INVITE sip:ugyelet@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-first-frame-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:36301234567@127.0.0.1>;tag=first-frame\r\n\
         To: <sip:ugyelet@127.0.0.1:{port}>\r\n\
         Call-ID: first-frame@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:36301234567@{from}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// An in-dialog request without a body: the ACK (CSeq 1) or the BYE (CSeq 2).
fn in_dialog(method: &str, cseq: u32, sip: &UdpSocket, port: u16, to_tag: &str) -> Vec<u8> {
    let from = sip.local_addr().expect("SIP socket address");
    let branch = method.to_ascii_lowercase();
    format!(
        "{method} sip:ugyelet@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-first-frame-{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:36301234567@127.0.0.1>;tag=first-frame\r\n\
         To: <sip:ugyelet@127.0.0.1:{port}>;tag={to_tag}\r\n\
         Call-ID: first-frame@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// One datagram as the peer saw it.
struct Arrival {
    at: Instant,
    bytes: Vec<u8>,
}

#[test]
fn first_rtp_packet_follows_200_ok_and_carries_first_frame_of_welcome() {
    let id = first_prompt_of_the_dial_plan();
    let prompt = load_prompt(&id);
    assert!(prompt.len() >= FRAMES * 160, "{id} is long enough");
    // The daemon decodes the same file and encodes it with the same G.711 table, so the
    // payloads must match byte for byte.
    let expected: Vec<Vec<u8>> = prompt
        .chunks(160)
        .take(FRAMES)
        .map(|c| c.iter().map(|s| alaw_encode(*s)).collect())
        .collect();
    assert_ne!(
        expected[0], expected[1],
        "the first two frames of {id} differ, so a lost first frame shows"
    );

    let daemon = Daemon::start(&[]);
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind SIP socket");
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind RTP socket");
    sip.set_nonblocking(true).expect("non-blocking SIP socket");
    rtp.set_nonblocking(true).expect("non-blocking RTP socket");
    sip.send_to(&invite(&sip, &rtp, daemon.sip_port), daemon.addr())
        .expect("send INVITE");

    // One thread reads both sockets in turn, RTP first: a packet and a response that came
    // in between the same two looks are recorded with the RTP packet as the earlier one,
    // so a tie can only fail the ordering check, never pass it.
    let mut ok: Option<Arrival> = None;
    let mut to_tag = String::new();
    let mut media: Vec<Arrival> = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while media.len() < FRAMES + 2 && Instant::now() < deadline {
        let mut idle = true;
        if let Ok(len) = rtp.recv(&mut buf) {
            idle = false;
            media.push(Arrival {
                at: Instant::now(),
                bytes: buf[..len].to_vec(),
            });
        }
        if let Ok(len) = sip.recv(&mut buf) {
            idle = false;
            let at = Instant::now();
            if let Ok(Message::Response(r)) = parse(&buf[..len])
                && r.status == 200
                && ok.is_none()
            {
                to_tag = r.to.tag().expect("the 200 OK's To has a tag").to_owned();
                let ack = in_dialog("ACK", 1, &sip, daemon.sip_port, &to_tag);
                sip.send_to(&ack, daemon.addr()).expect("send ACK");
                ok = Some(Arrival {
                    at,
                    bytes: buf[..len].to_vec(),
                });
            }
        }
        if idle {
            thread::sleep(Duration::from_micros(200));
        }
    }
    let ok = ok.expect("the call was answered with 200 OK");
    // Hang up, so the daemon has no call to wait for when the test stops it.
    let bye = in_dialog("BYE", 2, &sip, daemon.sip_port, &to_tag);
    sip.send_to(&bye, daemon.addr()).expect("send BYE");
    assert!(
        String::from_utf8_lossy(&ok.bytes).contains("PCMA/8000"),
        "the answer keeps PCMA"
    );
    assert!(
        media.len() >= FRAMES,
        "{FRAMES} RTP packets within 10 s, got {}",
        media.len()
    );

    let first = &media[0];
    let headers: Vec<packet::RtpPacket<'_>> = media
        .iter()
        .map(|a| packet::parse(&a.bytes).expect("the daemon sends valid RTP"))
        .collect();
    // Which frame of the prompt each packet carries, for the failure message.
    let heard: Vec<Option<usize>> = headers
        .iter()
        .map(|p| expected.iter().position(|e| e[..] == *p.payload))
        .collect();
    let offset_us = |a: &Arrival| {
        if a.at >= ok.at {
            a.at.duration_since(ok.at).as_micros() as i128
        } else {
            -(ok.at.duration_since(a.at).as_micros() as i128)
        }
    };
    let before = media.iter().take_while(|a| a.at <= ok.at).count();
    eprintln!(
        "first RTP packet at {} µs from the 200 OK; {before} packet(s) before it; frames of \
         {id} by packet: {heard:?}",
        offset_us(first)
    );
    assert!(
        first.at > ok.at,
        "the first RTP packet arrived {} µs from the 200 OK, {before} packet(s) before it: a \
         phone drops those, having no session to play them in (frames by packet: {heard:?})",
        offset_us(first)
    );
    let p0 = &headers[0];
    assert_eq!(p0.payload_type, 8, "PCMA");
    assert_eq!(
        p0.payload,
        &expected[0][..],
        "the first RTP packet carries samples 0..160 of {id} (frames by packet: {heard:?})"
    );
    assert!(
        p0.marker,
        "RFC 3551 §4.1: the first packet of a talkspurt has the marker bit"
    );
    for (i, p) in headers.iter().enumerate().take(FRAMES).skip(1) {
        assert_eq!(
            p.payload,
            &expected[i][..],
            "packet {i} carries samples {}..{} of {id}",
            160 * i,
            160 * (i + 1)
        );
        assert_eq!(p.ssrc, p0.ssrc, "one stream");
        assert_eq!(p.sequence, p0.sequence.wrapping_add(i as u16), "packet {i}");
        assert_eq!(
            p.timestamp,
            p0.timestamp.wrapping_add(160 * i as u32),
            "packet {i}: timestamps continue 160 per frame"
        );
        assert!(!p.marker, "packet {i} continues the talkspurt");
    }
}
