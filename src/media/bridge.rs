//! RTP relay between the two legs of a bridged call (caller ↔ operator).
//!
//! Each direction rewrites what it forwards so that each far end sees one well-formed stream
//! from us (RFC 3550 §5.1 and RFC 3550 §7 on translators):
//!
//! ```text
//!   caller ──(SSRC c, seq s, ts t)──► [latch, check PT] ──► (SSRC ours_o, s+Δs, t+Δt) ──► operator
//!   operator ──────────────────────── the same, mirrored ─────────────────────────────► caller
//! ```
//!
//! - the SSRC becomes ours for that leg; sequence numbers and timestamps are shifted by an
//!   offset fixed at the first packet, so gaps and timing pass through untouched; a new
//!   incoming SSRC (the far end restarted its stream) re-bases the offsets and sets the
//!   marker bit, so the receiver sees a new talkspurt rather than a jump;
//! - audio payload types are mapped to the other leg's; if one leg talks A-law and the
//!   other µ-law, samples are transcoded through the G.711 tables (a table lookup per byte);
//! - RFC 4733 telephone-events pass through with the payload type mapped, when the other
//!   leg negotiated them; otherwise they are dropped (and the call layer may still act on
//!   them);
//! - packets from anyone but the latched source of a leg are ignored (symmetric RTP,
//!   RFC 4961), so a third party can neither inject audio nor redirect it;
//! - while a leg holds the call (its last offer said `sendonly` or `inactive`, or
//!   `c=0.0.0.0`), nothing is relayed either way: the holder takes no audio, and the held
//!   party hears the daemon's music on hold (the call's business) instead of whatever the
//!   holder still sends. The music goes out on the held leg's rewritten stream
//!   ([`Bridge::stream_next`]) and the relay carries on after it
//!   ([`Bridge::continue_stream`]), so that leg still sees one stream.
//!
//! Nothing here allocates: packets are parsed in place and written into the caller's
//! buffer.

use std::net::SocketAddr;

use crate::rtp::g711;
use crate::rtp::packet::RtpHeader;
use crate::rtp::stream::IncomingStream;
use crate::sdp::offer_answer::{Codec, Direction, Negotiated};

/// Which leg a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The resident who called the line.
    Caller,
    /// The operator the call was given to.
    Operator,
}

/// Per-direction header rewriting.
#[derive(Debug, Clone)]
struct Rewrite {
    ssrc: u32,
    /// Incoming SSRC the offsets were computed for.
    from_ssrc: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// Next sequence number and timestamp to continue from after a re-base.
    next_seq: u16,
    next_ts: u32,
    marker_pending: bool,
}

impl Rewrite {
    fn new(ssrc: u32, seq0: u16, ts0: u32) -> Self {
        Rewrite {
            ssrc,
            from_ssrc: None,
            seq_offset: 0,
            ts_offset: 0,
            next_seq: seq0,
            next_ts: ts0,
            marker_pending: true,
        }
    }

    fn apply(&mut self, ssrc: u32, seq: u16, ts: u32) -> (u16, u32, bool) {
        if self.from_ssrc != Some(ssrc) {
            self.from_ssrc = Some(ssrc);
            self.seq_offset = self.next_seq.wrapping_sub(seq);
            self.ts_offset = self.next_ts.wrapping_sub(ts);
            self.marker_pending = true;
        }
        let out_seq = seq.wrapping_add(self.seq_offset);
        let out_ts = ts.wrapping_add(self.ts_offset);
        // Continue after the newest packet if the source restarts.
        if out_seq.wrapping_sub(self.next_seq) < 0x8000 {
            self.next_seq = out_seq.wrapping_add(1);
            self.next_ts = out_ts.wrapping_add(160);
        }
        let marker = std::mem::take(&mut self.marker_pending);
        (out_seq, out_ts, marker)
    }
}

/// One leg as the bridge sees it.
#[derive(Debug, Clone)]
struct Leg {
    negotiated: Negotiated,
    incoming: IncomingStream,
}

/// What happened to a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    /// Send `len` bytes of the output buffer to `dst` on the other leg.
    Forward { dst: SocketAddr, len: usize },
    /// A telephone-event packet the other leg cannot take; the digit is the call's business.
    DtmfNotForwarded,
    /// Received, but a leg holds the call: nothing is relayed (see the module docs).
    OnHold,
    /// Not for this call, a duplicate, malformed, or nowhere to send yet.
    Dropped,
}

/// Whether a leg whose media negotiated to `n` holds the call: it takes no audio from us
/// (we answered its `sendonly` with `recvonly`, its `inactive` with `inactive`), or it
/// gave no address (RFC 2543 hold, `c=0.0.0.0`).
pub fn holds(n: &Negotiated) -> bool {
    matches!(n.direction, Direction::RecvOnly | Direction::Inactive) || n.remote.is_none()
}

/// The relay of one bridged call.
#[derive(Debug, Clone)]
pub struct Bridge {
    caller: Leg,
    operator: Leg,
    /// caller → operator
    to_operator: Rewrite,
    /// operator → caller
    to_caller: Rewrite,
    /// Packets handed on, both directions together.
    relayed: u64,
}

impl Bridge {
    /// A bridge between the negotiated legs. `caller_stream` is the caller leg's receive
    /// state so far (its latch carries over from the menu); `seed` gives the SSRCs and
    /// initial sequence numbers and timestamps of the two outgoing directions.
    pub fn new(
        caller: Negotiated,
        caller_stream: IncomingStream,
        operator: Negotiated,
        seed: u64,
    ) -> Self {
        let mut rng = crate::rng::Rng::new(seed);
        let mut next = || rng.next_u64();
        let mut op_stream = IncomingStream::from_negotiated(&operator);
        op_stream.answered();
        // Truncating casts: any bits of the seeded generator are equally random.
        let to_operator = Rewrite::new(next() as u32, next() as u16, next() as u32);
        let to_caller = Rewrite::new(next() as u32, next() as u16, next() as u32);
        Bridge {
            caller: Leg {
                negotiated: caller,
                incoming: caller_stream,
            },
            operator: Leg {
                negotiated: operator,
                incoming: op_stream,
            },
            to_operator,
            to_caller,
            relayed: 0,
        }
    }

    /// The caller's leg continues from the outgoing stream the menu used, so the caller's
    /// phone sees one SSRC for the whole call.
    pub fn continue_caller_stream(&mut self, ssrc: u32, next_seq: u16, next_ts: u32) {
        self.to_caller = Rewrite::new(ssrc, next_seq, next_ts);
    }

    /// Relays one datagram that arrived on `from`'s socket from `src`, writing the packet
    /// for the other leg into `out` (at least 12 + payload bytes).
    pub fn relay(
        &mut self,
        from: Side,
        src: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Relayed {
        let (inc, dst_leg, rewrite) = match from {
            Side::Caller => (&mut self.caller, &self.operator, &mut self.to_operator),
            Side::Operator => (&mut self.operator, &self.caller, &mut self.to_caller),
        };
        let Ok(pkt) = inc.incoming.handle_datagram(src, datagram) else {
            return Relayed::Dropped;
        };
        if holds(&inc.negotiated) || holds(&dst_leg.negotiated) {
            return Relayed::OnHold;
        }
        let Some(dst) = dst_leg.incoming.send_target() else {
            return Relayed::Dropped;
        };
        let is_event = Some(pkt.payload_type) == inc.negotiated.telephone_event;
        let out_pt = if is_event {
            match dst_leg.negotiated.telephone_event {
                Some(pt) => pt,
                None => return Relayed::DtmfNotForwarded,
            }
        } else {
            dst_leg.negotiated.pt
        };
        let (seq, ts, restart) = rewrite.apply(pkt.ssrc, pkt.sequence, pkt.timestamp);
        let header = RtpHeader {
            payload_type: out_pt,
            marker: pkt.marker || restart,
            sequence: seq,
            timestamp: ts,
            ssrc: rewrite.ssrc,
        };
        let len = 12 + pkt.payload.len();
        if out.len() < len {
            return Relayed::Dropped;
        }
        if header.write_into(pkt.payload, out).is_err() {
            return Relayed::Dropped;
        }
        let (from_codec, to_codec) = (inc.negotiated.codec, dst_leg.negotiated.codec);
        if !is_event && from_codec != to_codec {
            for b in &mut out[12..len] {
                *b = transcode(*b, from_codec, to_codec);
            }
        }
        self.relayed += 1;
        Relayed::Forward { dst, len }
    }

    /// Packets handed on so far, both directions together.
    pub fn relayed(&self) -> u64 {
        self.relayed
    }

    /// A leg's media was renegotiated (a re-INVITE: hold, resume, a new address or codec).
    /// Its latch is released when the address moved, and payload types map anew.
    pub fn renegotiated(&mut self, side: Side, negotiated: Negotiated) {
        let leg = match side {
            Side::Caller => &mut self.caller,
            Side::Operator => &mut self.operator,
        };
        leg.incoming.set_remote(&negotiated);
        leg.negotiated = negotiated;
    }

    /// The sequence number and timestamp the caller should see next from us: where our
    /// own stream goes on when the relay stops (the call goes back on hold).
    pub fn caller_stream_next(&self) -> (u16, u32) {
        (self.to_caller.next_seq, self.to_caller.next_ts)
    }

    /// Whether `side` holds the call.
    pub fn holds(&self, side: Side) -> bool {
        holds(&self.leg(side).negotiated)
    }

    /// What offer/answer agreed with `side`.
    pub fn negotiated(&self, side: Side) -> &Negotiated {
        &self.leg(side).negotiated
    }

    /// Where packets for `side` go: its latched source, else its SDP address.
    pub fn target(&self, side: Side) -> Option<std::net::SocketAddr> {
        self.leg(side).incoming.send_target()
    }

    /// The stream `side` sees from us: its SSRC, and the sequence number and timestamp
    /// it should see next. Music on hold to that leg goes out on it.
    pub fn stream_next(&self, side: Side) -> (u32, u16, u32) {
        let r = self.rewrite(side);
        (r.ssrc, r.next_seq, r.next_ts)
    }

    /// The relay to `side` carries on after packets we sent on its stream ourselves
    /// (music on hold), at `next_seq` and `next_ts`, its next packet marked.
    pub fn continue_stream(&mut self, side: Side, next_seq: u16, next_ts: u32) {
        let ssrc = self.rewrite(side).ssrc;
        match side {
            Side::Caller => self.to_caller = Rewrite::new(ssrc, next_seq, next_ts),
            Side::Operator => self.to_operator = Rewrite::new(ssrc, next_seq, next_ts),
        }
    }

    fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::Caller => &self.caller,
            Side::Operator => &self.operator,
        }
    }

    /// The rewriting of packets towards `side`.
    fn rewrite(&self, side: Side) -> &Rewrite {
        match side {
            Side::Caller => &self.to_caller,
            Side::Operator => &self.to_operator,
        }
    }

    /// What the caller leg has received, for the call's counters.
    pub fn caller_stream(&self) -> &IncomingStream {
        &self.caller.incoming
    }
}

fn transcode(byte: u8, from: Codec, to: Codec) -> u8 {
    match (from, to) {
        (Codec::Pcma, Codec::Pcmu) => g711::ulaw_encode(g711::alaw_decode(byte)),
        (Codec::Pcmu, Codec::Pcma) => g711::alaw_encode(g711::ulaw_decode(byte)),
        _ => byte,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet;
    use crate::sdp::offer_answer::Direction;

    fn neg(codec: Codec, pt: u8, te: Option<u8>, remote: &str) -> Negotiated {
        Negotiated {
            codec,
            pt,
            telephone_event: te,
            remote: Some(remote.parse().expect("literal")),
            ptime_ms: 20,
            direction: Direction::SendRecv,
        }
    }

    fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        RtpHeader {
            payload_type: pt,
            marker: false,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
        .write_to_vec(payload, &mut v)
        .expect("fits");
        v
    }

    const CALLER: &str = "127.0.0.1:40000";
    const OPERATOR: &str = "127.0.0.1:41000";

    fn bridge(caller_codec: Codec, op_codec: Codec, op_te: Option<u8>) -> Bridge {
        let c = neg(caller_codec, caller_codec.payload_type(), Some(101), CALLER);
        let mut cs = IncomingStream::from_negotiated(&c);
        cs.answered();
        Bridge::new(
            c,
            cs,
            neg(op_codec, op_codec.payload_type(), op_te, OPERATOR),
            7,
        )
    }

    #[test]
    fn audio_is_forwarded_with_our_ssrc_and_shifted_seq_and_timestamps() {
        let mut b = bridge(Codec::Pcma, Codec::Pcma, Some(101));
        let src = CALLER.parse().expect("literal");
        let mut out = [0u8; 200];
        let mut got = Vec::new();
        for i in 0..3u16 {
            let payload = [0xD5u8; 160];
            match b.relay(
                Side::Caller,
                src,
                &pkt(8, 1000 + i, 5000 + 160 * u32::from(i), 0xAAAA, &payload),
                &mut out,
            ) {
                Relayed::Forward { dst, len } => {
                    assert_eq!(dst, OPERATOR.parse().expect("literal"));
                    let p = packet::parse(&out[..len]).expect("valid");
                    assert_eq!(p.payload, &payload[..]);
                    got.push((p.ssrc, p.sequence, p.timestamp, p.marker, p.payload_type));
                }
                other => panic!("forward expected, got {other:?}"),
            }
        }
        assert!(
            got.iter().all(|g| g.0 == got[0].0 && g.0 != 0xAAAA),
            "our SSRC: {got:?}"
        );
        assert_eq!(got[1].1, got[0].1.wrapping_add(1));
        assert_eq!(
            got[2].2,
            got[0].2.wrapping_add(320),
            "timing passes through"
        );
        assert_eq!([got[0].3, got[1].3], [true, false], "first packet marked");
    }

    #[test]
    fn alaw_caller_and_ulaw_operator_are_transcoded() {
        let mut b = bridge(Codec::Pcma, Codec::Pcmu, Some(101));
        let src = CALLER.parse().expect("literal");
        let alaw: Vec<u8> = (0..160)
            .map(|i| g711::alaw_encode((i as i16 - 80) * 100))
            .collect();
        let mut out = [0u8; 200];
        let Relayed::Forward { len, .. } =
            b.relay(Side::Caller, src, &pkt(8, 1, 0, 1, &alaw), &mut out)
        else {
            panic!("forward expected");
        };
        let p = packet::parse(&out[..len]).expect("valid");
        assert_eq!(p.payload_type, 0, "PCMU to the operator");
        for (a, u) in alaw.iter().zip(p.payload) {
            let (x, y) = (
                i32::from(g711::alaw_decode(*a)),
                i32::from(g711::ulaw_decode(*u)),
            );
            assert!((x - y).abs() <= (x.abs() / 16).max(8), "{x} vs {y}");
        }
    }

    #[test]
    fn dtmf_events_pass_through_only_when_the_other_leg_has_telephone_event() {
        let src = CALLER.parse().expect("literal");
        let mut out = [0u8; 64];
        let event = [3u8, 10, 0, 160];
        let mut with = bridge(Codec::Pcma, Codec::Pcma, Some(96));
        let Relayed::Forward { len, .. } =
            with.relay(Side::Caller, src, &pkt(101, 1, 0, 1, &event), &mut out)
        else {
            panic!("forward expected");
        };
        let p = packet::parse(&out[..len]).expect("valid");
        assert_eq!(
            (p.payload_type, p.payload),
            (96, &event[..]),
            "PT mapped to the operator's"
        );
        let mut without = bridge(Codec::Pcma, Codec::Pcma, None);
        assert_eq!(
            without.relay(Side::Caller, src, &pkt(101, 1, 0, 1, &event), &mut out),
            Relayed::DtmfNotForwarded
        );
    }

    #[test]
    fn packets_from_a_third_party_are_not_relayed() {
        let mut b = bridge(Codec::Pcma, Codec::Pcma, Some(101));
        let op: SocketAddr = OPERATOR.parse().expect("literal");
        let intruder: SocketAddr = "127.0.0.1:49999".parse().expect("literal");
        let mut out = [0u8; 200];
        assert!(matches!(
            b.relay(Side::Operator, op, &pkt(8, 1, 0, 9, &[0xD5; 160]), &mut out),
            Relayed::Forward { .. }
        ));
        assert_eq!(
            b.relay(
                Side::Operator,
                intruder,
                &pkt(8, 2, 160, 9, &[0; 160]),
                &mut out
            ),
            Relayed::Dropped
        );
        assert_eq!(b.relayed(), 1, "only what was handed on is counted");
    }

    #[test]
    fn a_restarted_source_continues_the_sequence_and_sets_the_marker() {
        let mut b = bridge(Codec::Pcma, Codec::Pcma, Some(101));
        let op: SocketAddr = OPERATOR.parse().expect("literal");
        b.continue_caller_stream(0x1234, 500, 80_000);
        let mut out = [0u8; 200];
        let mut seqs = Vec::new();
        for (seq, ssrc) in [(10u16, 1u32), (11, 1), (7000, 2), (7001, 2)] {
            let Relayed::Forward { len, .. } = b.relay(
                Side::Operator,
                op,
                &pkt(8, seq, u32::from(seq) * 160, ssrc, &[0xD5; 160]),
                &mut out,
            ) else {
                panic!("forward expected");
            };
            let p = packet::parse(&out[..len]).expect("valid");
            assert_eq!(p.ssrc, 0x1234, "the caller keeps seeing the menu's SSRC");
            seqs.push((p.sequence, p.marker));
        }
        assert_eq!(
            seqs,
            vec![(500, true), (501, false), (502, true), (503, false)]
        );
    }

    #[test]
    fn while_a_leg_holds_nothing_is_relayed_and_after_it_the_relay_goes_on_after_our_packets() {
        let mut b = bridge(Codec::Pcma, Codec::Pcma, Some(101));
        let (caller, op): (SocketAddr, SocketAddr) = (
            CALLER.parse().expect("literal"),
            OPERATOR.parse().expect("literal"),
        );
        let mut out = [0u8; 200];
        assert!(matches!(
            b.relay(
                Side::Caller,
                caller,
                &pkt(8, 1, 0, 1, &[0xD5; 160]),
                &mut out
            ),
            Relayed::Forward { .. }
        ));
        // The operator's phone holds: RFC 3264 §8.4 sendonly, answered recvonly.
        let mut held = neg(Codec::Pcma, 8, Some(101), OPERATOR);
        held.direction = Direction::RecvOnly;
        b.renegotiated(Side::Operator, held);
        assert!(b.holds(Side::Operator) && !b.holds(Side::Caller));
        for (from, src) in [(Side::Caller, caller), (Side::Operator, op)] {
            assert_eq!(
                b.relay(from, src, &pkt(8, 2, 160, 1, &[0xD5; 160]), &mut out),
                Relayed::OnHold,
                "from {from:?}"
            );
        }
        // We sent 10 packets of our own on the operator's stream meanwhile.
        let (ssrc, seq, ts) = b.stream_next(Side::Operator);
        b.continue_stream(Side::Operator, seq.wrapping_add(10), ts.wrapping_add(1600));
        b.renegotiated(Side::Operator, neg(Codec::Pcma, 8, Some(101), OPERATOR));
        let Relayed::Forward { len, .. } = b.relay(
            Side::Caller,
            caller,
            &pkt(8, 3, 320, 1, &[0xD5; 160]),
            &mut out,
        ) else {
            panic!("relayed again after the resume");
        };
        let p = packet::parse(&out[..len]).expect("valid");
        assert_eq!(
            (p.ssrc, p.sequence, p.timestamp, p.marker),
            (ssrc, seq.wrapping_add(10), ts.wrapping_add(1600), true)
        );
        // RFC 2543 hold: no address at all.
        let mut old_style = neg(Codec::Pcma, 8, Some(101), CALLER);
        old_style.remote = None;
        b.renegotiated(Side::Caller, old_style);
        assert!(b.holds(Side::Caller));
    }
}
