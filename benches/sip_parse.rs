//! Parse and print speed of a typical ~1 kB INVITE (the rsip figure on the
//! development machine was 7 µs per parse).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use ugyelet::sip::msg::parse;

const SDP: &str = "v=0\r\no=- 3912 3912 IN IP4 192.168.1.20\r\ns=baresip\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0 8 101\r\nb=AS:64\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

fn invite() -> Vec<u8> {
    let head = format!(
        "INVITE sip:100@192.168.1.10 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK4a5b3c2d1e;rport\r\n\
         Contact: <sip:alice-0x5600@192.168.1.20:5060;transport=udp>\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:100@192.168.1.10>\r\n\
         From: \"Alice\" <sip:alice@192.168.1.10>;tag=8f3e1b2c4d5a6e7f\r\n\
         Call-ID: 9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49\r\n\
         CSeq: 17052 INVITE\r\n\
         User-Agent: baresip v3.10.1 (x86_64/linux)\r\n\
         Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER\r\n\
         Supported: replaces,norefersub,100rel\r\n\
         Session-Expires: 1800;refresher=uac\r\n\
         P-Asserted-Identity: \"Alice\" <sip:alice@192.168.1.10>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n",
        SDP.len()
    );
    [head.as_bytes(), SDP.as_bytes()].concat()
}

fn bench(c: &mut Criterion) {
    let m = invite();
    assert!(parse(&m).is_ok());
    c.bench_function(&format!("parse INVITE ({} bytes)", m.len()), |b| {
        b.iter(|| parse(black_box(&m)))
    });
    let parsed = parse(&m).expect("parses");
    c.bench_function("print INVITE", |b| b.iter(|| black_box(&parsed).to_bytes()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
