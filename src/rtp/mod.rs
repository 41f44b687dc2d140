//! RTP for ugyelet's calls: the packet boundary, G.711, the outgoing and incoming stream
//! state, DTMF, and the 20 ms pacer.
//!
//! ```text
//!  pacer ──frames due──► stream (seq, ts, marker) ──RtpHeader──► packet ──bytes──► driver
//!  driver ──datagram──► packet::parse ──► stream (latch, stats) ──► g711 / dtmf::rfc4733
//! ```
//!
//! Everything here is a core: time comes in as `now`, identifiers and initial values come
//! in as arguments, and nothing touches a socket.

pub mod dtmf;
pub mod g711;
pub mod pacer;
pub mod packet;
pub mod stream;
