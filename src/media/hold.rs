//! Music on hold inside a bridge: who hears it, and on which stream.
//!
//! While one leg of a [`Bridge`] holds (see `media/bridge.rs`), the other hears music on
//! hold from us. Each phone keeps seeing one stream: the music goes out on the SSRC the
//! relay uses towards that leg, its sequence number and timestamp going on from the relay's
//! last packet with the marker bit set ([`music_stream`]), and the relay goes on after the
//! music's last packet the same way ([`end_music`]). If both legs hold, nobody listens and
//! nothing is sent.
//!
//! The pieces are shared by the two kinds of bridge: a caller's call (`call/hold.rs`, whose
//! caller side plays on the call's own stream and player) and a callback's relay, which has
//! no call core behind it and plays with a [`HoldMusic`] of its own:
//!
//! ```text
//!   renegotiated ─► HoldMusic::hold_changed ─► music starts, moves or stops (music_to)
//!   every 20 ms   ─► HoldMusic::next_packet  ─► one packet for the held leg, or nothing
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use crate::media::bridge::{Bridge, Side};
use crate::media::player::{FrameCodec, Player, PlayerEvent};
use crate::media::prompts::PromptSet;
use crate::rtp::stream::{OutgoingStream, SAMPLES_PER_FRAME};
use crate::sdp::offer_answer::Codec;

/// The prompt looped to a held party (and to a caller waiting for an operator).
pub const MUSIC_ON_HOLD: &str = "music_on_hold";

/// Who should hear music: the leg that does not hold while the other does.
pub fn music_to(bridge: &Bridge) -> Option<Side> {
    match (bridge.holds(Side::Caller), bridge.holds(Side::Operator)) {
        (true, false) => Some(Side::Operator),
        (false, true) => Some(Side::Caller),
        _ => None,
    }
}

/// The prompt encoding for a negotiated codec.
pub fn frame_codec(codec: Codec) -> FrameCodec {
    match codec {
        Codec::Pcma => FrameCodec::Pcma,
        Codec::Pcmu => FrameCodec::Pcmu,
    }
}

/// The stream music on hold to `side` goes out on: the relay's stream towards it, going on
/// after the relay's last packet, in the leg's payload type; its first packet is marked.
pub fn music_stream(bridge: &Bridge, side: Side) -> OutgoingStream {
    let (ssrc, seq, ts) = bridge.stream_next(side);
    OutgoingStream::new(ssrc, bridge.negotiated(side).pt, seq, ts)
}

/// The music to `side` on `out` stopped: the relay towards it goes on after its last packet.
pub fn end_music(bridge: &mut Bridge, side: Side, out: &OutgoingStream) {
    bridge.continue_stream(side, out.next_sequence(), out.next_timestamp());
}

/// Writes one packet of `payload` for `side` on `out` into `buf`: where it goes and its
/// length. With nowhere to send (the leg moved and has not sent from its new address), the
/// timeline goes on without a packet and the next one starts a talkspurt; `None` then, as
/// when `buf` is too short.
pub fn write_music_packet(
    bridge: &Bridge,
    side: Side,
    out: &mut OutgoingStream,
    payload: &[u8],
    buf: &mut [u8],
) -> Option<(SocketAddr, usize)> {
    let Some(dst) = bridge.target(side) else {
        out.skip(SAMPLES_PER_FRAME);
        out.start_talkspurt();
        return None;
    };
    let len = 12 + payload.len();
    if buf.len() < len {
        return None;
    }
    out.next_header(SAMPLES_PER_FRAME)
        .write_into(payload, buf)
        .ok()?;
    Some((dst, len))
}

/// Music on hold for a bridge with no call core behind it (a callback's relay): its own
/// player, looping the prompt, and the stream it plays on.
#[derive(Debug)]
pub struct HoldMusic {
    player: Player,
    /// Whether the prompt set has the music (else the held party hears nothing).
    present: bool,
    playing: Option<(Side, OutgoingStream)>,
}

impl HoldMusic {
    /// Music from `prompts` ([`MUSIC_ON_HOLD`]); nobody hears it until a leg holds.
    pub fn new(prompts: Arc<PromptSet>) -> Self {
        HoldMusic {
            present: prompts.get(MUSIC_ON_HOLD).is_some(),
            player: Player::new(prompts),
            playing: None,
        }
    }

    /// The leg hearing the music, if any.
    pub fn side(&self) -> Option<Side> {
        self.playing.as_ref().map(|(s, _)| *s)
    }

    /// A leg of `bridge` renegotiated: the music starts, moves or stops to match who holds
    /// now (the relay going on after it). Returns whether who hears it changed.
    pub fn hold_changed(&mut self, bridge: &mut Bridge) -> bool {
        let wanted = music_to(bridge);
        if wanted == self.side() {
            if let Some((side, out)) = &mut self.playing {
                // The phone may have picked another codec meanwhile.
                out.set_payload_type(bridge.negotiated(*side).pt);
            }
            return false;
        }
        if let Some((side, out)) = self.playing.take() {
            end_music(bridge, side, &out);
        }
        self.player.stop();
        if let Some(side) = wanted {
            self.playing = Some((side, music_stream(bridge, side)));
            self.play();
        }
        true
    }

    fn play(&mut self) {
        if self.present {
            // Known to be there: `present` was looked up in the same set.
            let _ = self.player.play(MUSIC_ON_HOLD);
        }
    }

    /// The next 20 ms of music for the held leg's party, written into `buf`: that leg,
    /// where to send and the length. `None` when nobody hears music or there is nowhere
    /// to send now (the timeline goes on all the same).
    pub fn next_packet(
        &mut self,
        bridge: &Bridge,
        buf: &mut [u8],
    ) -> Option<(Side, SocketAddr, usize)> {
        let (side, out) = self.playing.as_mut()?;
        let side = *side;
        let codec = frame_codec(bridge.negotiated(side).codec);
        let payload = self.player.next_frame(codec).payload;
        let sent = write_music_packet(bridge, side, out, payload, buf);
        if self.player.poll_event() == Some(PlayerEvent::Finished) {
            // The music loops while the hold lasts.
            self.play();
        }
        sent.map(|(dst, len)| (side, dst, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::bridge::Relayed;
    use crate::media::prompts::Prompt;
    use crate::rtp::packet;
    use crate::rtp::stream::IncomingStream;
    use crate::sdp::offer_answer::{Direction, Negotiated};

    const CALLER: &str = "127.0.0.1:4000";
    const OPERATOR: &str = "127.0.0.1:5000";

    fn neg(codec: Codec, pt: u8, remote: &str, direction: Direction) -> Negotiated {
        Negotiated {
            codec,
            pt,
            telephone_event: None,
            remote: Some(remote.parse().expect("literal")),
            ptime_ms: 20,
            direction,
        }
    }

    fn bridge() -> Bridge {
        let caller = neg(Codec::Pcma, 8, CALLER, Direction::SendRecv);
        let mut stream = IncomingStream::from_negotiated(&caller);
        stream.answered();
        let operator = neg(Codec::Pcmu, 0, OPERATOR, Direction::SendRecv);
        Bridge::new(caller, stream, operator, 7)
    }

    /// Music of three frames: the samples say which frame (A-law and µ-law alike).
    fn prompts() -> Arc<PromptSet> {
        let pcm: Vec<i16> = (0..3).flat_map(|f| vec![1000 * (f + 1); 160]).collect();
        Arc::new(PromptSet::from_prompts([Prompt::from_pcm(
            MUSIC_ON_HOLD,
            "zene",
            pcm,
        )]))
    }

    fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut v = Vec::new();
        packet::RtpHeader {
            payload_type: pt,
            marker: false,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
        .write_to_vec(&[0xD5; 160], &mut v)
        .expect("packet");
        v
    }

    fn header(buf: &[u8], len: usize) -> packet::RtpPacket<'_> {
        packet::parse(&buf[..len]).expect("RTP")
    }

    #[test]
    fn music_goes_to_the_leg_that_does_not_hold_and_to_nobody_when_both_do() {
        let mut b = bridge();
        assert_eq!(music_to(&b), None);
        b.renegotiated(
            Side::Operator,
            neg(Codec::Pcmu, 0, OPERATOR, Direction::RecvOnly),
        );
        assert_eq!(music_to(&b), Some(Side::Caller));
        b.renegotiated(
            Side::Caller,
            neg(Codec::Pcma, 8, CALLER, Direction::Inactive),
        );
        assert_eq!(music_to(&b), None);
        b.renegotiated(
            Side::Operator,
            neg(Codec::Pcmu, 0, OPERATOR, Direction::SendRecv),
        );
        assert_eq!(music_to(&b), Some(Side::Operator));
    }

    #[test]
    fn the_held_party_hears_the_music_looped_on_the_relays_stream_and_the_relay_goes_on_after_it() {
        let mut b = bridge();
        let mut buf = [0u8; 256];
        let mut music = HoldMusic::new(prompts());
        assert_eq!(music.next_packet(&b, &mut buf), None, "nobody holds");
        // The caller talks: the operator gets relayed packets.
        let src = CALLER.parse().expect("literal");
        for i in 0..2u16 {
            let p = rtp(8, 100 + i, 1000 + 160 * u32::from(i), 42);
            assert!(matches!(
                b.relay(Side::Caller, src, &p, &mut buf),
                Relayed::Forward { .. }
            ));
        }
        let (ssrc, seq, ts) = b.stream_next(Side::Operator);

        // The caller holds: the operator hears the music, in its µ-law, on the relay's SSRC.
        b.renegotiated(
            Side::Caller,
            neg(Codec::Pcma, 8, CALLER, Direction::RecvOnly),
        );
        assert!(music.hold_changed(&mut b));
        assert!(!music.hold_changed(&mut b), "nothing changed");
        assert_eq!(music.side(), Some(Side::Operator));
        let expected = prompts();
        let prompt = expected.get(MUSIC_ON_HOLD).expect("music");
        for i in 0..5u16 {
            let (side, dst, len) = music.next_packet(&b, &mut buf).expect("music");
            assert_eq!((side, dst), (Side::Operator, OPERATOR.parse().expect("ok")));
            let p = header(&buf, len);
            assert_eq!(p.ssrc, ssrc);
            assert_eq!(p.payload_type, 0);
            assert_eq!(p.sequence, seq.wrapping_add(i));
            assert_eq!(p.timestamp, ts.wrapping_add(160 * u32::from(i)));
            assert_eq!(p.marker, i == 0, "a talkspurt starts");
            // Three frames, then again from the start.
            assert_eq!(p.payload, &prompt.pcmu[usize::from(i) % 3][..]);
        }
        // Held: nothing of the caller is relayed.
        let p = rtp(8, 102, 1320, 42);
        assert_eq!(b.relay(Side::Caller, src, &p, &mut buf), Relayed::OnHold);

        // Resumed: the relay goes on after the music's last packet, marked.
        b.renegotiated(
            Side::Caller,
            neg(Codec::Pcma, 8, CALLER, Direction::SendRecv),
        );
        assert!(music.hold_changed(&mut b));
        assert_eq!(music.side(), None);
        assert_eq!(music.next_packet(&b, &mut buf), None);
        let p = rtp(8, 103, 1480, 42);
        let Relayed::Forward { len, .. } = b.relay(Side::Caller, src, &p, &mut buf) else {
            panic!("relayed again");
        };
        let p = header(&buf, len);
        assert_eq!((p.ssrc, p.sequence), (ssrc, seq.wrapping_add(5)));
        assert_eq!(p.timestamp, ts.wrapping_add(5 * 160));
        assert!(p.marker);
    }

    #[test]
    fn music_moves_to_the_other_leg_when_the_holds_swap() {
        let mut b = bridge();
        let mut buf = [0u8; 256];
        let mut music = HoldMusic::new(prompts());
        b.renegotiated(
            Side::Operator,
            neg(Codec::Pcmu, 0, OPERATOR, Direction::Inactive),
        );
        assert!(music.hold_changed(&mut b));
        let (ssrc, seq, ts) = b.stream_next(Side::Caller);
        let (side, dst, len) = music.next_packet(&b, &mut buf).expect("music");
        assert_eq!((side, dst), (Side::Caller, CALLER.parse().expect("ok")));
        let p = header(&buf, len);
        assert_eq!((p.ssrc, p.sequence, p.timestamp), (ssrc, seq, ts));
        assert_eq!(p.payload_type, 8, "the caller's A-law");
        // Both hold, then only the caller: the operator hears the music now.
        b.renegotiated(
            Side::Caller,
            neg(Codec::Pcma, 8, CALLER, Direction::RecvOnly),
        );
        assert!(music.hold_changed(&mut b));
        assert_eq!(music.next_packet(&b, &mut buf), None, "nobody listens");
        assert_eq!(
            b.stream_next(Side::Caller),
            (ssrc, seq.wrapping_add(1), ts + 160)
        );
        b.renegotiated(
            Side::Operator,
            neg(Codec::Pcmu, 0, OPERATOR, Direction::SendRecv),
        );
        assert!(music.hold_changed(&mut b));
        let (side, _, _) = music.next_packet(&b, &mut buf).expect("music");
        assert_eq!(side, Side::Operator);
    }

    #[test]
    fn with_nowhere_to_send_the_timeline_goes_on_and_the_next_packet_is_marked() {
        let mut b = bridge();
        let mut buf = [0u8; 256];
        let mut music = HoldMusic::new(prompts());
        let mut gone = neg(Codec::Pcmu, 0, OPERATOR, Direction::SendRecv);
        gone.remote = None;
        // The caller holds; the operator's phone has no address for now.
        b.renegotiated(Side::Operator, gone);
        b.renegotiated(
            Side::Caller,
            neg(Codec::Pcma, 8, CALLER, Direction::RecvOnly),
        );
        // c=0.0.0.0 on the operator's side counts as its hold too: nobody hears music.
        assert!(!music.hold_changed(&mut b));
        assert_eq!(music.side(), None);
        let (_, seq, ts) = b.stream_next(Side::Operator);
        let mut out = music_stream(&b, Side::Operator);
        assert_eq!(
            write_music_packet(&b, Side::Operator, &mut out, &[0xFF; 160], &mut buf),
            None
        );
        assert_eq!((out.next_sequence(), out.next_timestamp()), (seq, ts + 160));
        b.renegotiated(
            Side::Operator,
            neg(Codec::Pcmu, 0, OPERATOR, Direction::SendRecv),
        );
        let (_, len) =
            write_music_packet(&b, Side::Operator, &mut out, &[0xFF; 160], &mut buf).expect("sent");
        let p = header(&buf, len);
        assert_eq!((p.sequence, p.timestamp, p.marker), (seq, ts + 160, true));
    }

    #[test]
    fn without_the_prompt_the_held_party_hears_silence_on_the_same_stream() {
        let mut b = bridge();
        let mut buf = [0u8; 256];
        let mut music = HoldMusic::new(Arc::new(PromptSet::from_prompts([])));
        b.renegotiated(
            Side::Caller,
            neg(Codec::Pcma, 8, CALLER, Direction::RecvOnly),
        );
        assert!(music.hold_changed(&mut b));
        let (_, _, len) = music.next_packet(&b, &mut buf).expect("a packet");
        assert_eq!(header(&buf, len).payload, FrameCodec::Pcmu.silence());
    }
}
