//! The call's side of the operators: waiting in a queue, being bridged to an operator (or
//! to a number through the trunk), and being passed on.
//!
//! ```text
//!   Menu ──queue/transfer──► Queued ──Connected──► Bridged ──Held──► Queued (music on hold)
//!                              │  ▲                  │  │               │
//!                              │  └──── Left ────────┼──┼── Menu ◄──────┘ Left: the plan
//!                              │                     │  └─Connected (attended: the bridge
//!                              └─ Position           │     now goes to another leg)
//!                                                    └─ OperatorHungUp / Released: ends
//! ```
//!
//! The caller's phone sees one stream from us throughout: our SSRC, with the sequence
//! number and timestamp carried from the menu into the relay and back out of it, and a
//! marker bit where the audio changes hands.
//!
//! Inside `Bridged`, either leg may hold the call with a re-INVITE; the other then hears
//! music on hold from us until the holder resumes (`hold.rs`).

use std::time::Instant;

use super::{Call, CallEvent, Media, QueueNews, State, hold};
use crate::dialplan::interp::ActionResult;
use crate::media::bridge::{Bridge, Side};

impl Call {
    pub(super) fn queue_news(&mut self, now: Instant, news: QueueNews) {
        if self.state != State::Answered {
            return;
        }
        match (news, &mut self.media) {
            (
                QueueNews::Position {
                    position,
                    estimated_wait,
                },
                Media::Queued { .. },
            ) => {
                // The announcement interrupts the music, which resumes after it.
                self.player.stop();
                let mut ids = crate::media::say::queue_position(position);
                if position > 1
                    && let Some(wait) = estimated_wait
                {
                    let minutes = u32::try_from(wait.as_secs().div_ceil(60)).unwrap_or(u32::MAX);
                    ids.extend(crate::media::say::wait_minutes(minutes));
                }
                for id in ids {
                    if let Some(p) = self.setup.prompts.get(id) {
                        self.player.play_prompt(p);
                    }
                }
            }
            (QueueNews::Left(result), Media::Queued { since }) => {
                let since = *since;
                self.waited(since, now);
                self.queue_gave_up = true;
                self.media = Media::Menu;
                self.player.stop();
                self.interp.handle_result(now, result);
                self.run_actions(now);
            }
            (
                QueueNews::Connected {
                    operator,
                    negotiated,
                },
                Media::Queued { since },
            ) => {
                let since = *since;
                self.waited(since, now);
                self.player.stop();
                self.packets.clear();
                // The caller's phone keeps seeing our one stream: same SSRC, sequence
                // and timestamp carry on where the menu left them.
                let next = (self.out.next_sequence(), self.out.next_timestamp());
                self.bridge_to(self.incoming.clone(), next, operator, negotiated);
                self.events.push_back(CallEvent::Plan {
                    node: "queue".to_owned(),
                    text: "an operator answered: media relayed".to_owned(),
                });
            }
            (
                QueueNews::Connected {
                    operator,
                    negotiated,
                },
                Media::Bridged { bridge, music, .. },
            ) => {
                // Attended transfer: the relay goes on with another leg.
                let stream = bridge.caller_stream().clone();
                let next = hold::caller_next(bridge, music.as_ref(), &self.out);
                self.bridge_to(stream, next, operator, negotiated);
                self.events.push_back(CallEvent::Plan {
                    node: "transfer".to_owned(),
                    text: "the call was handed to another operator".to_owned(),
                });
            }
            (QueueNews::Held, Media::Bridged { bridge, music, .. }) => {
                // Our own stream takes over from the relay where it stopped.
                let (seq, ts) = hold::caller_next(bridge, music.as_ref(), &self.out);
                self.incoming = bridge.caller_stream().clone();
                self.out.continue_at(seq, ts);
                self.media = Media::Queued { since: now };
                self.player.stop();
                self.start_hold_music();
                self.events.push_back(CallEvent::Plan {
                    node: "transfer".to_owned(),
                    text: "the operator passes the call on: music on hold".to_owned(),
                });
            }
            (QueueNews::OperatorHungUp, Media::Bridged { bridge, music, .. })
                if self.interp.goes_on_after_operator() =>
            {
                // Our own stream takes over from the relay where it stopped, as on hold.
                let (seq, ts) = hold::caller_next(bridge, music.as_ref(), &self.out);
                self.incoming = bridge.caller_stream().clone();
                self.out.continue_at(seq, ts);
                self.media = Media::Menu;
                self.player.stop();
                self.after_operator = true;
                self.events.push_back(CallEvent::Plan {
                    node: "queue".to_owned(),
                    text: "the operator hung up: the plan goes on".to_owned(),
                });
                self.interp.handle_result(now, ActionResult::Done);
                self.run_actions(now);
            }
            (QueueNews::OperatorHungUp | QueueNews::Released, Media::Bridged { .. }) => {
                self.end(super::Ending::Operator, true);
            }
            (QueueNews::OperatorMedia(neg), Media::Bridged { bridge, .. }) => {
                bridge.renegotiated(Side::Operator, neg);
                // The operator may have put the caller on hold, or taken them off it.
                self.hold_changed();
            }
            _ => {}
        }
    }

    /// Relays from now on between the caller (`stream`: its receive state so far) and the
    /// leg that answered; the caller's stream goes on at `next` (sequence, timestamp).
    fn bridge_to(
        &mut self,
        stream: crate::rtp::stream::IncomingStream,
        next: (u16, u32),
        operator: String,
        negotiated: crate::sdp::offer_answer::Negotiated,
    ) {
        // Each bridge draws its own SSRCs towards the far leg.
        let seed = self.setup.seed.rotate_left(17) ^ u64::from(self.bridges);
        self.bridges += 1;
        let mut bridge = Bridge::new(self.negotiated, stream, negotiated, seed);
        bridge.continue_caller_stream(self.out.ssrc(), next.0, next.1);
        self.pacer = None;
        self.operator = Some(operator.clone());
        self.media = Media::Bridged {
            bridge: Box::new(bridge),
            operator,
            music: None,
        };
        // A caller who holds (a re-INVITE while being passed on) keeps the new leg on hold.
        self.hold_changed();
    }

    /// The caller waited on hold from `since` to `now`: added to the call's queue wait.
    pub(super) fn waited(&mut self, since: Instant, now: Instant) {
        let before = self.queue_wait.unwrap_or_default();
        self.queue_wait = Some(before + now.saturating_duration_since(since));
    }
}
