//! DTMF from callers: RFC 4733 telephone events in RTP, and in-band tones detected with the
//! Goertzel algorithm for peers that send no events.

pub mod goertzel;
pub mod rfc4733;
