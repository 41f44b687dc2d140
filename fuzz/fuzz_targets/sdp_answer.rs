//! Fuzz target for SDP offer/answer: any bytes as an offer never panic, and every answer
//! that is produced parses back and keeps the offer's m-lines.
//!
//! RFC 3264 §6: "The answer MUST contain exactly the same number of "m=" lines as the
//! offer."
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use ugyelet::sdp::offer_answer::{LocalMedia, answer};

fuzz_target!(|data: &[u8]| {
    let local = LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        port: 16384,
        session_id: 1,
        session_version: 1,
        username: "ugyelet".to_owned(),
    };
    if let Ok((_negotiated, body)) = answer(data, &local) {
        let offer = ugyelet::sdp::parse(data).expect("an answered offer parsed once already");
        let printed = ugyelet::sdp::parse(&body).expect("our answer parses");
        assert_eq!(
            printed.medias.len(),
            offer.medias.len(),
            "answer keeps one m-line per offered m-line"
        );
    }
});
