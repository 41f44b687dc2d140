//! Hold inside a bridged call. Either leg may put the other on hold with a re-INVITE whose
//! SDP says `sendonly` or `inactive`, or `c=0.0.0.0` (RFC 3264 §8.4, RFC 2543). The relay
//! then carries nothing (see `media/bridge.rs`), and the held party hears music on hold
//! from us rather than silence; when the holder resumes (`sendrecv`), the relay goes on.
//!
//! ```text
//!                  operator holds ──► music to the caller: the call's own stream, paced
//!   Bridged (relay) ◄── resumes ──┘   as the menu's prompts are, sent from the caller's port
//!         ▲  │
//!         │  └──── caller holds ───► music to the operator: the relay's stream towards
//!         └─────── resumes ──────┘   the operator, paced the same, sent from its port
//! ```
//!
//! Each phone keeps seeing one stream: the music goes out on the SSRC the relay uses towards
//! that leg, its sequence number and timestamp going on from the relay's last packet with
//! the marker bit set (a talkspurt starts), and the relay goes on after the music's last
//! packet the same way (the shared pieces are in `media/hold.rs`, which a callback's relay
//! uses too). If both legs hold, nobody listens and nothing is sent.
//!
//! While the caller holds, it may send nothing at all (`inactive`), so the inactivity limit
//! does not apply; it starts afresh when the hold changes.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Call, CallEvent, MUSIC_ON_HOLD, Media, PACKET_LEN, RtpFrame};
use crate::media::bridge::{Bridge, Side};
use crate::media::hold::{end_music, frame_codec, music_stream, music_to, write_music_packet};
use crate::rtp::stream::OutgoingStream;

/// Music on hold to one leg of a bridged call.
pub(super) enum Music {
    /// The caller is held: the music goes out on the call's own stream (`Call::out`).
    Caller,
    /// The operator is held: the music goes out on this stream, the one the relay uses
    /// towards the operator.
    Operator(OutgoingStream),
}

impl Music {
    fn side(&self) -> Side {
        match self {
            Music::Caller => Side::Caller,
            Music::Operator(_) => Side::Operator,
        }
    }
}

/// The sequence number and timestamp the caller should see next from us when the bridge
/// ends: after the music if the caller is hearing it, else after the relay's last packet.
pub(super) fn caller_next(
    bridge: &Bridge,
    music: Option<&Music>,
    out: &OutgoingStream,
) -> (u16, u32) {
    match music {
        Some(Music::Caller) => (out.next_sequence(), out.next_timestamp()),
        _ => bridge.caller_stream_next(),
    }
}

impl Call {
    /// The leg hearing music on hold in a bridged call, if any.
    pub(super) fn music_to(&self) -> Option<Side> {
        match &self.media {
            Media::Bridged { music: Some(m), .. } => Some(m.side()),
            _ => None,
        }
    }

    /// Where music on hold for `side` goes.
    pub(super) fn music_target(&self, side: Side) -> Option<SocketAddr> {
        match (side, &self.media) {
            (Side::Caller, _) => self.media_target(),
            (Side::Operator, Media::Bridged { bridge, .. }) => bridge.target(Side::Operator),
            (Side::Operator, _) => None,
        }
    }

    /// A leg of a bridged call renegotiated its media: music on hold starts, moves or
    /// stops to match who holds now.
    pub(super) fn hold_changed(&mut self) {
        // The caller may have sent nothing while it held; its silence counts from now.
        self.last_media = self.now;
        let Media::Bridged { bridge, music, .. } = &mut self.media else {
            return;
        };
        let wanted = music_to(bridge);
        if wanted == music.as_ref().map(Music::side) {
            if let Some(Music::Operator(out)) = music {
                // The operator's phone may have picked another codec meanwhile.
                out.set_payload_type(bridge.negotiated(Side::Operator).pt);
            }
            return;
        }
        // The relay goes on after the music's last packet.
        match music.take() {
            Some(Music::Caller) => bridge.continue_stream(
                Side::Caller,
                self.out.next_sequence(),
                self.out.next_timestamp(),
            ),
            Some(Music::Operator(out)) => end_music(bridge, Side::Operator, &out),
            None => {}
        }
        self.player.stop();
        // A new pacer starts at the media clock's next tick (`media_may_start`).
        self.pacer = None;
        self.operator_packets.clear();
        let text = match wanted {
            Some(Side::Caller) => {
                let (_, seq, ts) = bridge.stream_next(Side::Caller);
                self.out.continue_at(seq, ts);
                *music = Some(Music::Caller);
                "the operator holds the call: music on hold to the caller"
            }
            Some(Side::Operator) => {
                *music = Some(Music::Operator(music_stream(bridge, Side::Operator)));
                "the caller holds the call: music on hold to the operator"
            }
            None => "the hold ended: media relayed both ways",
        };
        if wanted.is_some()
            && let Some(p) = self.setup.prompts.get(MUSIC_ON_HOLD)
        {
            self.player.play_prompt(p);
        }
        self.events.push_back(CallEvent::Plan {
            node: "hold".to_owned(),
            text: text.to_owned(),
        });
    }

    /// One frame of music on hold for the operator leg, in its codec.
    pub(super) fn next_operator_packet(&mut self) {
        let Media::Bridged {
            bridge,
            music: Some(Music::Operator(out)),
            ..
        } = &mut self.media
        else {
            return;
        };
        let codec = frame_codec(bridge.negotiated(Side::Operator).codec);
        let payload = self.player.next_frame(codec).payload;
        let mut frame = [0u8; PACKET_LEN];
        if write_music_packet(bridge, Side::Operator, out, payload, &mut frame).is_some() {
            self.operator_packets.push_back(frame);
        }
    }

    /// Next packet of music on hold for the operator leg (sent from that leg's port) and
    /// where to send it.
    #[must_use]
    pub fn poll_operator_rtp(&mut self) -> Option<(SocketAddr, RtpFrame)> {
        let frame = self.operator_packets.pop_front()?;
        Some((self.music_target(Side::Operator)?, frame))
    }

    /// When the call ends for want of the caller's media: never while the caller holds a
    /// bridged call (an `inactive` phone sends nothing).
    pub(super) fn inactivity_deadline(&self) -> Option<Instant> {
        let limit = self.setup.inactivity?;
        match &self.media {
            Media::Bridged { bridge, .. } if bridge.holds(Side::Caller) => None,
            _ => Some(self.last_media + limit),
        }
    }
}
