//! The state of one call leg's RTP: what we send ([`OutgoingStream`]) and what we accept
//! ([`IncomingStream`]).
//!
//! Outgoing: SSRC, initial sequence number and initial timestamp come from the caller (seeded
//! per call, RFC 3550 §5.1 wants the initial values random); each packet takes the next
//! sequence number; each 20 ms G.711 frame moves the timestamp by 160.
//!
//! Incoming, with symmetric RTP latching (RFC 4961):
//!
//! ```text
//!                  packets accepted from any source, never sent to
//!   ┌────────────┐  answered()   ┌──────────────┐ first packet with our PT ┌──────────────┐
//!   │ Unanswered │──────────────►│  Answered    │─────────────────────────►│ Latched      │
//!   └────────────┘               │ send to SDP  │   (latch its source)     │ send there;  │
//!                                │ address      │◄─────────────────────────│ other sources│
//!                                └──────────────┘ set_remote() with a new  │ ignored      │
//!                                                  SDP address (re-INVITE) └──────────────┘
//! ```
//!
//! Before the call is answered nothing is sent at all: an SDP address is only a claim, and
//! media goes to where media really comes from once the call is up.

use std::net::SocketAddr;

use super::packet::{self, RtpError, RtpHeader, RtpPacket};
use crate::sdp::offer_answer::Negotiated;

/// Samples in one 20 ms frame at 8000 Hz.
pub const SAMPLES_PER_FRAME: u32 = 160;

/// RFC 3550 §A.1: a forward jump larger than this is not taken as loss without confirmation.
const MAX_DROPOUT: i32 = 3000;
/// RFC 3550 §A.1: a backward step larger than this is not taken as reordering.
const MAX_MISORDER: i32 = 100;
/// How many recent sequence numbers are remembered to spot duplicates.
const DUP_WINDOW: i32 = 64;

/// The sending side of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingStream {
    ssrc: u32,
    payload_type: u8,
    next_sequence: u16,
    next_timestamp: u32,
    marker_pending: bool,
    packets_sent: u64,
}

impl OutgoingStream {
    /// A stream whose first packet carries `initial_sequence` and `initial_timestamp`.
    ///
    /// RFC 3550 §5.1: "The initial value of the sequence number SHOULD be random
    /// (unpredictable)" and "the initial value of the timestamp SHOULD be random": the caller
    /// draws them from its seeded generator.
    pub fn new(ssrc: u32, payload_type: u8, initial_sequence: u16, initial_timestamp: u32) -> Self {
        OutgoingStream {
            ssrc,
            payload_type,
            next_sequence: initial_sequence,
            next_timestamp: initial_timestamp,
            marker_pending: true,
            packets_sent: 0,
        }
    }

    /// The header of the next media packet carrying `samples` samples; advances the stream.
    ///
    /// RFC 3551 §4.1: "the first packet of a talkspurt, that is, the first packet after a
    /// silence period during which packets have not been transmitted contiguously, SHOULD be
    /// distinguished by setting the marker bit in the RTP data header to one." RFC 3550 §5.1
    /// leaves the marker's meaning to the profile. The first packet of the stream and the
    /// first after [`start_talkspurt`](Self::start_talkspurt) carry it.
    pub fn next_header(&mut self, samples: u32) -> RtpHeader {
        let header = RtpHeader {
            payload_type: self.payload_type,
            marker: self.marker_pending,
            sequence: self.next_sequence,
            timestamp: self.next_timestamp,
            ssrc: self.ssrc,
        };
        self.marker_pending = false;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
        self.packets_sent += 1;
        header
    }

    /// Writes the next packet of G.711 `payload` (one byte per sample, so the timestamp
    /// advances by `payload.len()`) into `out`, replacing its contents.
    pub fn write_frame(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), RtpError> {
        let samples = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        self.next_header(samples).write_to_vec(payload, out)
    }

    /// The header of a packet of another payload type on this stream, e.g. an RFC 4733
    /// event, whose timestamp is the event's start rather than the media clock now.
    /// Takes a sequence number and leaves the media timestamp alone.
    ///
    /// Following RFC 4733 §2.3.1 and §2.5.1.2, every packet of one event carries the time
    /// the event began as its timestamp, and the first packet of the event is marked.
    pub fn event_header(
        &mut self,
        payload_type: u8,
        event_timestamp: u32,
        marker: bool,
    ) -> RtpHeader {
        let header = RtpHeader {
            payload_type,
            marker,
            sequence: self.next_sequence,
            timestamp: event_timestamp,
            ssrc: self.ssrc,
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.packets_sent += 1;
        header
    }

    /// Moves the timestamp over `samples` that are not sent (frames the pacer skipped, or
    /// time spent in silence). Sequence numbers do not move: nothing was lost.
    pub fn skip(&mut self, samples: u32) {
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
    }

    /// The next media packet begins a talkspurt and carries the marker bit.
    pub fn start_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Goes on at `sequence` and `timestamp` (a relay sent packets on our SSRC meanwhile),
    /// the next packet starting a talkspurt.
    pub fn continue_at(&mut self, sequence: u16, timestamp: u32) {
        self.next_sequence = sequence;
        self.next_timestamp = timestamp;
        self.marker_pending = true;
    }

    /// Changes the payload type of later media packets (a re-INVITE picked another codec).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type;
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    pub fn next_timestamp(&self) -> u32 {
        self.next_timestamp
    }

    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }
}

/// Why a datagram was not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    Malformed(RtpError),
    /// Not from the latched source (RFC 4961).
    UnexpectedSource {
        from: SocketAddr,
    },
    /// A payload type neither the codec's nor telephone-event's (e.g. comfort noise).
    UnexpectedPayloadType {
        payload_type: u8,
    },
    /// A sequence number already received.
    Duplicate {
        sequence: u16,
    },
    /// A sequence number far from the expected one, held back until the next packet
    /// confirms the source restarted (RFC 3550 §A.1).
    SequenceJump {
        sequence: u16,
    },
}

/// Counters of the receiving side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Packets passed on (each sequence number once).
    pub received: u64,
    /// Packets expected from the sequence numbers and never received.
    pub lost: u64,
    pub duplicates: u64,
    /// Packets that arrived after a later one (passed on).
    pub reordered: u64,
    pub unexpected_source: u64,
    pub unexpected_payload_type: u64,
    pub malformed: u64,
    pub sequence_jumps: u64,
    /// Times the latched source changed its SSRC.
    pub ssrc_changes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Latch {
    addr: SocketAddr,
    ssrc: u32,
}

/// Sequence bookkeeping after RFC 3550 §A.1, with a bitmap of the last 64 numbers to
/// recognise duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SeqTracker {
    started: bool,
    /// Extended (cycle-counting) highest sequence number.
    max: u64,
    /// Extended first sequence number of the current run.
    base: u64,
    /// Bit `i` set: `max - i` was received.
    window: u64,
    /// Unique packets in the current run.
    unique: u64,
    /// The sequence number that would confirm a restart after a jump.
    probe: Option<u16>,
    /// Expected and received packets of earlier runs (before restarts).
    prior_expected: u64,
    prior_unique: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeqOutcome {
    InOrder,
    Reordered,
    Duplicate,
    Jump,
}

impl SeqTracker {
    fn start(&mut self, seq: u16) {
        self.prior_expected += self.expected_in_run();
        self.prior_unique += self.unique;
        // Start the extended counter one cycle up so reordered packets before the first one
        // never underflow.
        self.max = (1 << 16) + u64::from(seq);
        self.base = self.max;
        self.window = 1;
        self.unique = 1;
        self.probe = None;
        self.started = true;
    }

    fn expected_in_run(&self) -> u64 {
        if self.started {
            self.max - self.base + 1
        } else {
            0
        }
    }

    fn on_packet(&mut self, seq: u16) -> SeqOutcome {
        if !self.started {
            self.start(seq);
            return SeqOutcome::InOrder;
        }
        let delta = i32::from(seq.wrapping_sub(self.max as u16) as i16);
        if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&delta) {
            if self.probe == Some(seq) {
                self.start(seq);
                return SeqOutcome::InOrder;
            }
            self.probe = Some(seq.wrapping_add(1));
            return SeqOutcome::Jump;
        }
        self.probe = None;
        if delta > 0 {
            self.window = if delta >= DUP_WINDOW {
                0
            } else {
                self.window << delta
            };
            self.window |= 1;
            self.max += delta as u64;
            self.unique += 1;
            SeqOutcome::InOrder
        } else if delta == 0 {
            SeqOutcome::Duplicate
        } else {
            let age = -delta;
            let extended = self.max - age as u64;
            if extended < self.base {
                // Older than the first packet of the run: it widens the run.
                self.base = extended;
            }
            if age < DUP_WINDOW {
                let bit = 1u64 << age;
                if self.window & bit != 0 {
                    return SeqOutcome::Duplicate;
                }
                self.window |= bit;
            }
            self.unique += 1;
            SeqOutcome::Reordered
        }
    }

    fn lost(&self) -> u64 {
        let expected = self.prior_expected + self.expected_in_run();
        expected.saturating_sub(self.prior_unique + self.unique)
    }
}

/// The receiving side of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingStream {
    media_pt: u8,
    telephone_event_pt: Option<u8>,
    signalled: Option<SocketAddr>,
    answered: bool,
    latch: Option<Latch>,
    seq: SeqTracker,
    stats: ReceiveStats,
}

impl IncomingStream {
    /// A stream accepting `media_pt` and, if negotiated, `telephone_event_pt`, whose peer
    /// announced `signalled` in SDP.
    pub fn new(
        media_pt: u8,
        telephone_event_pt: Option<u8>,
        signalled: Option<SocketAddr>,
    ) -> Self {
        IncomingStream {
            media_pt,
            telephone_event_pt,
            signalled,
            answered: false,
            latch: None,
            seq: SeqTracker::default(),
            stats: ReceiveStats::default(),
        }
    }

    /// A stream for what offer/answer agreed.
    pub fn from_negotiated(n: &Negotiated) -> Self {
        IncomingStream::new(n.pt, n.telephone_event, n.remote)
    }

    /// The call is answered: media may be sent, and the next packet of ours latches.
    pub fn answered(&mut self) {
        self.answered = true;
    }

    /// A new SDP from the peer (re-INVITE). A changed address drops the latch so the new
    /// source can be latched; the same address keeps it (a NAT keeps mapping the same way).
    pub fn set_remote(&mut self, negotiated: &Negotiated) {
        self.media_pt = negotiated.pt;
        self.telephone_event_pt = negotiated.telephone_event;
        if negotiated.remote != self.signalled {
            self.latch = None;
        }
        self.signalled = negotiated.remote;
    }

    /// Where to send our RTP now: nowhere before the call is answered, then the latched
    /// source, or the SDP address until something was latched.
    ///
    /// RFC 4961 §3: "A device supports symmetric RTP if it selects, communicates, and uses
    /// IP addresses and port numbers such that, when receiving a packet with source IP
    /// address A and source port number B, it sends packets with destination IP address A
    /// and destination port number B."
    pub fn send_target(&self) -> Option<SocketAddr> {
        if !self.answered {
            return None;
        }
        self.latch.map(|l| l.addr).or(self.signalled)
    }

    /// The source latched so far.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latch.map(|l| l.addr)
    }

    pub fn stats(&self) -> ReceiveStats {
        ReceiveStats {
            lost: self.seq.lost(),
            ..self.stats
        }
    }

    /// Judges one datagram from `from`: the packet if it belongs to this stream and is new.
    pub fn handle_datagram<'a>(
        &mut self,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Result<RtpPacket<'a>, Ignored> {
        // Nothing can be sent back to port 0 or an unspecified address: such a source is
        // forged or broken and must never become the latch.
        if from.port() == 0 || from.ip().is_unspecified() {
            self.stats.unexpected_source += 1;
            return Err(Ignored::UnexpectedSource { from });
        }
        let packet = packet::parse(datagram).map_err(|e| {
            self.stats.malformed += 1;
            Ignored::Malformed(e)
        })?;
        if packet.payload_type != self.media_pt
            && Some(packet.payload_type) != self.telephone_event_pt
        {
            self.stats.unexpected_payload_type += 1;
            return Err(Ignored::UnexpectedPayloadType {
                payload_type: packet.payload_type,
            });
        }
        match self.latch {
            Some(latch) if latch.addr != from => {
                self.stats.unexpected_source += 1;
                return Err(Ignored::UnexpectedSource { from });
            }
            Some(latch) if latch.ssrc != packet.ssrc => {
                // Same source, new SSRC: the peer restarted its stream (e.g. after a transfer
                // behind a PBX). Start counting afresh.
                self.stats.ssrc_changes += 1;
                self.latch = Some(Latch {
                    addr: from,
                    ssrc: packet.ssrc,
                });
                self.seq.start(packet.sequence);
                self.stats.received += 1;
                return Ok(packet);
            }
            Some(_) => {}
            None if self.answered => {
                self.latch = Some(Latch {
                    addr: from,
                    ssrc: packet.ssrc,
                });
            }
            None => {}
        }
        match self.seq.on_packet(packet.sequence) {
            SeqOutcome::InOrder => {}
            SeqOutcome::Reordered => self.stats.reordered += 1,
            SeqOutcome::Duplicate => {
                self.stats.duplicates += 1;
                return Err(Ignored::Duplicate {
                    sequence: packet.sequence,
                });
            }
            SeqOutcome::Jump => {
                self.stats.sequence_jumps += 1;
                return Err(Ignored::SequenceJump {
                    sequence: packet.sequence,
                });
            }
        }
        self.stats.received += 1;
        Ok(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet::parse;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test data is valid")
    }

    fn datagram(pt: u8, seq: u16, ssrc: u32) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            payload_type: pt,
            marker: false,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
        }
        .write_to_vec(&[0xd5; 160], &mut out)
        .expect("test data is valid");
        out
    }

    #[test]
    fn outgoing_seq_and_timestamp_start_where_the_caller_says_and_step_per_frame() {
        let mut s = OutgoingStream::new(0xdead_beef, 8, 65534, u32::MAX - 159);
        let a = s.next_header(SAMPLES_PER_FRAME);
        let b = s.next_header(SAMPLES_PER_FRAME);
        let c = s.next_header(SAMPLES_PER_FRAME);
        assert_eq!(
            [a.sequence, b.sequence, c.sequence],
            [65534, 65535, 0],
            "sequence wraps"
        );
        assert_eq!(
            [a.timestamp, b.timestamp, c.timestamp],
            [u32::MAX - 159, 0, 160]
        );
        assert!(
            [a, b, c]
                .iter()
                .all(|h| h.ssrc == 0xdead_beef && h.payload_type == 8)
        );
        assert_eq!(s.packets_sent(), 3);
    }

    #[test]
    fn marker_is_set_on_first_packet_and_first_after_talkspurt_start_only() {
        let mut s = OutgoingStream::new(1, 0, 100, 1000);
        let marks: Vec<bool> = (0..3).map(|_| s.next_header(160).marker).collect();
        assert_eq!(marks, [true, false, false]);
        s.skip(160 * 10);
        s.start_talkspurt();
        let h = s.next_header(160);
        assert!(h.marker);
        assert_eq!((h.sequence, h.timestamp), (103, 1000 + 3 * 160 + 1600));
        assert!(!s.next_header(160).marker);
    }

    #[test]
    fn skipped_frames_move_timestamp_but_not_sequence_or_marker() {
        let mut s = OutgoingStream::new(1, 0, 7, 0);
        s.next_header(160);
        s.skip(3 * 160);
        let h = s.next_header(160);
        assert_eq!((h.sequence, h.timestamp, h.marker), (8, 640, false));
    }

    #[test]
    fn event_packets_take_sequence_numbers_but_keep_event_timestamp() {
        let mut s = OutgoingStream::new(1, 8, 10, 8000);
        s.next_header(160);
        let e1 = s.event_header(101, 8160, true);
        let e2 = s.event_header(101, 8160, false);
        assert_eq!((e1.sequence, e1.timestamp, e1.marker), (11, 8160, true));
        assert_eq!((e2.sequence, e2.timestamp, e2.marker), (12, 8160, false));
        assert_eq!(s.next_timestamp(), 8160);
        assert_eq!(s.next_header(160).sequence, 13);
    }

    #[test]
    fn write_frame_produces_a_parseable_packet() {
        let mut s = OutgoingStream::new(42, 0, 5, 50);
        let mut buf = Vec::with_capacity(172);
        s.write_frame(&[0xff; 160], &mut buf)
            .expect("test data is valid");
        let p = parse(&buf).expect("test data is valid");
        assert_eq!(
            (p.sequence, p.timestamp, p.ssrc, p.marker),
            (5, 50, 42, true)
        );
        assert_eq!(s.next_timestamp(), 210);
    }

    #[test]
    fn nothing_is_sent_before_answer_even_with_an_sdp_address() {
        let mut s = IncomingStream::new(8, Some(101), Some(addr("192.0.2.5:5000")));
        assert_eq!(s.send_target(), None);
        assert!(
            s.handle_datagram(addr("198.51.100.1:7000"), &datagram(8, 1, 9))
                .is_ok()
        );
        assert_eq!(s.send_target(), None);
        assert_eq!(s.latched(), None, "no latching before answer");
    }

    #[test]
    fn after_answer_sdp_address_is_used_until_media_arrives() {
        let mut s = IncomingStream::new(8, None, Some(addr("192.0.2.5:5000")));
        s.answered();
        assert_eq!(s.send_target(), Some(addr("192.0.2.5:5000")));
    }

    #[test]
    fn symmetric_rtp_latches_to_where_media_really_comes_from() {
        let mut s = IncomingStream::new(8, None, Some(addr("10.0.0.5:5000")));
        s.answered();
        let nat = addr("203.0.113.50:31002");
        assert!(s.handle_datagram(nat, &datagram(8, 1, 9)).is_ok());
        assert_eq!(s.send_target(), Some(nat));
    }

    #[test]
    fn packets_from_other_sources_are_ignored_after_latching() {
        let mut s = IncomingStream::new(8, None, None);
        s.answered();
        let real = addr("192.0.2.5:5000");
        let other = addr("192.0.2.99:6666");
        s.handle_datagram(real, &datagram(8, 1, 9))
            .expect("test data is valid");
        assert_eq!(
            s.handle_datagram(other, &datagram(8, 2, 9)),
            Err(Ignored::UnexpectedSource { from: other })
        );
        assert_eq!(s.send_target(), Some(real));
        assert_eq!(s.stats().unexpected_source, 1);
        assert!(s.handle_datagram(real, &datagram(8, 2, 9)).is_ok());
    }

    #[test]
    fn a_source_at_port_zero_is_ignored_and_never_latched() {
        let mut s = IncomingStream::new(8, Some(101), Some(addr("192.0.2.5:5000")));
        s.answered();
        let zero = addr("192.0.2.5:0");
        assert_eq!(
            s.handle_datagram(zero, &datagram(101, 1, 9)),
            Err(Ignored::UnexpectedSource { from: zero })
        );
        assert_eq!(s.latched(), None);
        let real = addr("192.0.2.5:5000");
        assert!(s.handle_datagram(real, &datagram(8, 2, 9)).is_ok());
        assert_eq!(s.latched(), Some(real));
    }

    #[test]
    fn wrong_payload_type_does_not_latch() {
        let mut s = IncomingStream::new(8, Some(101), Some(addr("192.0.2.5:5000")));
        s.answered();
        let cn = addr("192.0.2.66:4000");
        assert_eq!(
            s.handle_datagram(cn, &datagram(13, 1, 9)),
            Err(Ignored::UnexpectedPayloadType { payload_type: 13 })
        );
        assert_eq!(s.latched(), None);
        let dtmf_source = addr("192.0.2.7:5000");
        assert!(s.handle_datagram(dtmf_source, &datagram(101, 1, 9)).is_ok());
        assert_eq!(s.latched(), Some(dtmf_source));
    }

    #[test]
    fn reinvite_with_new_address_relatches() {
        let first = Negotiated {
            codec: crate::sdp::offer_answer::Codec::Pcma,
            pt: 8,
            telephone_event: None,
            remote: Some(addr("192.0.2.5:5000")),
            ptime_ms: 20,
            direction: crate::sdp::offer_answer::Direction::SendRecv,
        };
        let mut s = IncomingStream::from_negotiated(&first);
        s.answered();
        s.handle_datagram(addr("192.0.2.5:5000"), &datagram(8, 1, 9))
            .expect("test data is valid");
        s.set_remote(&first);
        assert_eq!(
            s.latched(),
            Some(addr("192.0.2.5:5000")),
            "same SDP keeps the latch"
        );
        let moved = Negotiated {
            remote: Some(addr("192.0.2.8:7000")),
            ..first
        };
        s.set_remote(&moved);
        assert_eq!(s.latched(), None);
        assert_eq!(s.send_target(), Some(addr("192.0.2.8:7000")));
        s.handle_datagram(addr("192.0.2.8:7000"), &datagram(8, 500, 10))
            .expect("test data is valid");
        assert_eq!(s.latched(), Some(addr("192.0.2.8:7000")));
    }

    #[test]
    fn loss_and_duplicates_are_counted_from_sequence_numbers() {
        let mut s = IncomingStream::new(0, None, None);
        let from = addr("192.0.2.5:5000");
        for seq in [65530u16, 65531, 65533, 65533, 0, 1, 65534, 4] {
            let _ = s.handle_datagram(from, &datagram(0, seq, 1));
        }
        // Expected 65530..=4 across the wrap: 11 packets; 7 unique arrived, so 65532, 65535,
        // 2 and 3 are lost (65534 came late and counts as received).
        let st = s.stats();
        assert_eq!(st.received, 7);
        assert_eq!(st.duplicates, 1);
        assert_eq!(st.reordered, 1);
        assert_eq!(st.lost, 4);
    }

    #[test]
    fn duplicate_is_not_passed_on() {
        let mut s = IncomingStream::new(0, None, None);
        let from = addr("192.0.2.5:5000");
        s.handle_datagram(from, &datagram(0, 10, 1))
            .expect("test data is valid");
        s.handle_datagram(from, &datagram(0, 11, 1))
            .expect("test data is valid");
        assert_eq!(
            s.handle_datagram(from, &datagram(0, 10, 1)),
            Err(Ignored::Duplicate { sequence: 10 })
        );
    }

    #[test]
    fn large_sequence_jump_needs_a_second_packet_to_restart() {
        let mut s = IncomingStream::new(0, None, None);
        let from = addr("192.0.2.5:5000");
        for seq in 100..110 {
            s.handle_datagram(from, &datagram(0, seq, 1))
                .expect("test data is valid");
        }
        assert_eq!(
            s.handle_datagram(from, &datagram(0, 30000, 1)),
            Err(Ignored::SequenceJump { sequence: 30000 })
        );
        assert!(s.handle_datagram(from, &datagram(0, 30001, 1)).is_ok());
        assert!(s.handle_datagram(from, &datagram(0, 30002, 1)).is_ok());
        let st = s.stats();
        assert_eq!((st.received, st.lost, st.sequence_jumps), (12, 0, 1));
    }

    #[test]
    fn new_ssrc_from_latched_source_restarts_counting_without_loss() {
        let mut s = IncomingStream::new(0, None, None);
        s.answered();
        let from = addr("192.0.2.5:5000");
        s.handle_datagram(from, &datagram(0, 100, 1))
            .expect("test data is valid");
        s.handle_datagram(from, &datagram(0, 101, 1))
            .expect("test data is valid");
        s.handle_datagram(from, &datagram(0, 9000, 2))
            .expect("test data is valid");
        s.handle_datagram(from, &datagram(0, 9001, 2))
            .expect("test data is valid");
        let st = s.stats();
        assert_eq!((st.received, st.lost, st.ssrc_changes), (4, 0, 1));
    }

    #[test]
    fn malformed_datagrams_are_counted_not_fatal() {
        let mut s = IncomingStream::new(0, None, None);
        assert!(matches!(
            s.handle_datagram(addr("192.0.2.5:5000"), &[0x80, 0]),
            Err(Ignored::Malformed(RtpError::TooShort { len: 2 }))
        ));
        assert_eq!(s.stats().malformed, 1);
    }
}
