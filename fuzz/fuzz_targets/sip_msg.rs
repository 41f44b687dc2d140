//! Fuzz target for the SIP message parser and stream framing: never panic; whatever
//! parses prints to something that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ugyelet::sip::framing::{Frame, next_frame};
use ugyelet::sip::msg::parse;

fuzz_target!(|data: &[u8]| {
    if let Frame::Message(n) | Frame::KeepAlive(n) = next_frame(data, 65_535) {
        assert!(n <= data.len());
    }
    match parse(data) {
        Ok(m) => {
            let again = parse(&m.to_bytes()).expect("printed message parses");
            assert_eq!(again, m);
        }
        Err(e) => {
            if let Some(r) = e.stateless_reply() {
                assert!(parse(&r.to_bytes()).is_ok());
            }
            // The bare 400: only without a full reply, and always a response's head.
            if let Some(b) = e.bare_reply() {
                assert!(e.stateless_reply().is_none());
                let bytes = b.to_bytes();
                assert!(bytes.starts_with(b"SIP/2.0 ") && bytes.ends_with(b"\r\n\r\n"));
            }
        }
    }
});
