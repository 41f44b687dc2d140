//! Fuzz target for the RTP packet boundary and RFC 4733 telephone-event payloads: any
//! datagram never panics; whatever parses is written back by our own writer to a packet that
//! parses to the same header and payload; the RFC 4733 decoder takes any payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ugyelet::rtp::dtmf::rfc4733;
use ugyelet::rtp::packet::{RtpHeader, parse};

fuzz_target!(|data: &[u8]| {
    // The raw bytes as a telephone-event payload, whatever they are.
    if let Ok(ev) = rfc4733::decode(data) {
        assert!(data.len() >= 4);
        assert_eq!(ev.event, data[0]);
        assert!(ev.volume <= 0x3f);
        let _ = rfc4733::event_to_digit(ev.event);
    }
    let Ok(p) = parse(data) else { return };
    assert!(p.payload.len() + 12 <= data.len());
    let _ = rfc4733::decode(p.payload);

    let header = RtpHeader {
        payload_type: p.payload_type,
        marker: p.marker,
        sequence: p.sequence,
        timestamp: p.timestamp,
        ssrc: p.ssrc,
    };
    let mut out = Vec::new();
    header
        .write_to_vec(p.payload, &mut out)
        .expect("a parsed payload type is 0-127");
    let again = parse(&out).expect("our own packet parses");
    assert_eq!(again, p);
});
