//! One call: the only translator between SIP/RTP events and dial-plan actions.
//!
//! A sans-IO core. The driver feeds it SIP happenings ([`CallInput`]), RTP datagrams and
//! timeouts, each with `now`; it hands back SIP decisions ([`CallCommand`]) and RTP packets
//! to send, and the instant it next needs to run.
//!
//! ```text
//!   Ringing ──answer_at──► Answered ──plan hangs up / BYE / CANCEL / limits──► Ended
//!      │                      │
//!      └─ CANCEL/BYE ─────────┴──────────────────────────────────────────────► Ended
//! ```
//!
//! While answered, media runs on one clock: the pacer says how many 20 ms frames are due
//! (deadline = media start + n × 20 ms), each frame comes from the prompt player (a prompt's
//! pre-encoded frame, or silence so the stream never stops) and becomes one RTP packet.
//!
//! Media starts only when a phone can play it. A phone learns of the session from the
//! 200 OK, so a packet that reaches it earlier is dropped, and a packet with nowhere to go
//! is not sent at all; either way a frame drawn from the player for it would be lost, and
//! with it the first 20 ms of the greeting. So no frame is drawn before SIP has sent the
//! 200 OK (the driver says so with [`CallInput::AnswerSent`]) and an address to send to is
//! known (the SDP address when it is on the host that called, else where the caller's RTP
//! comes from); then the stream starts at the next [`Call::handle_timeout`], with frame 0 of
//! the first prompt due [`ANSWER_LEAD`] later:
//!
//! ```text
//!   answer_at            AnswerSent          next handle_timeout (t)     t + ANSWER_LEAD
//!   ──┬──────────────────────┬──────────────────────┬──────────────────────────┬─────────►
//!     Answer queued,         200 OK on the wire:    pacer epoch =             frame 0,
//!     plan started,          media may start        t + ANSWER_LEAD           marker bit
//!     nothing drawn          (if an address is known)
//! ```
//!
//! Digits arrive in three forms and all end up in [`Call::on_digit`]: RFC 4733 events (when
//! `telephone-event` was negotiated), SIP INFO, and in-band tones heard by a Goertzel
//! detector (only when no `telephone-event` was negotiated, so one key press is never
//! counted twice).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dialplan::interp::{Action, ActionResult, Interp, PlayItem};
use crate::media::bridge::{Bridge, Relayed, Side};
use crate::media::player::{FrameCodec, Player, PlayerEvent};
use crate::outcome::{Outcome, PLAN_OUTCOMES};
use crate::rtp::dtmf::goertzel::Goertzel;
use crate::rtp::dtmf::rfc4733::Rfc4733Receiver;
use crate::rtp::g711;
use crate::rtp::pacer::Pacer;
use crate::rtp::stream::{IncomingStream, OutgoingStream, SAMPLES_PER_FRAME};
use crate::sdp::offer_answer::{Codec, Direction, MediaSession, Negotiated};
use crate::sip::endpoint::{DialogId, EndReason};

mod hold;
mod operator;
mod types;
pub use types::*;

/// Where the caller's audio comes from while the call is answered.
enum Media {
    /// Prompts of the dial plan.
    Menu,
    /// Waiting for an operator: music on hold and position announcements.
    Queued { since: Instant },
    /// Talking to an operator: RTP relayed both ways, or, while one leg holds the call,
    /// music on hold to the other (see `hold.rs`).
    Bridged {
        bridge: Box<Bridge>,
        operator: String,
        music: Option<hold::Music>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    Answered,
    Ended,
}

/// Longest voice message.
pub const VOICEMAIL_MAX: Duration = Duration::from_secs(120);
/// A voice message ends after this long without voice.
pub const VOICEMAIL_SILENCE: Duration = Duration::from_secs(5);

/// Whether a frame of decoded G.711 holds voice rather than line noise: its mean absolute
/// level is above 200 (idle A-law decodes to ±8, quiet speech is in the thousands).
pub fn is_voice(pcm: &[i16]) -> bool {
    if pcm.is_empty() {
        return false;
    }
    let sum: u64 = pcm.iter().map(|s| u64::from(s.unsigned_abs())).sum();
    sum / pcm.len() as u64 > 200
}

/// A voice message being recorded: from the `voicemail` action until `#`, silence,
/// [`VOICEMAIL_MAX`] or the end of the call.
struct Recording {
    pcm: Vec<i16>,
    started: Instant,
    last_voice: Instant,
    node: String,
    step: usize,
}

impl Recording {
    fn deadline(&self) -> Instant {
        (self.started + VOICEMAIL_MAX).min(self.last_voice + VOICEMAIL_SILENCE)
    }
}

/// Where a key press was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    Rfc4733,
    SipInfo,
    InBand,
}

/// One call.
pub struct Call {
    setup: CallSetup,
    state: State,
    interp: Interp,
    player: Player,
    /// Paces the outgoing stream; none before media has started (see the module docs) and
    /// none once RTP is relayed to an operator.
    pacer: Option<Pacer>,
    /// The 200 OK has been handed to SIP (the driver polled it): media may start.
    answer_sent: bool,
    /// The latest instant a `handle_*` was given: what [`Call::poll_timeout`] answers when
    /// something is due at once.
    now: Instant,
    out: OutgoingStream,
    /// What we accept, and where our RTP goes: the SDP address until the caller's own
    /// packets show where they really come from (symmetric RTP, RFC 4961).
    incoming: IncomingStream,
    negotiated: Negotiated,
    /// Our side of offer/answer: every re-INVITE's answer carries the next version.
    session: MediaSession,
    rfc4733: Rfc4733Receiver,
    goertzel: Option<Goertzel>,
    pcm: Vec<i16>,
    packets: VecDeque<RtpFrame>,
    /// Music on hold for the operator leg of a bridged call (see `hold.rs`).
    operator_packets: VecDeque<RtpFrame>,
    commands: VecDeque<CallCommand>,
    events: VecDeque<CallEvent>,
    /// Long-running actions handed to the driver (see [`Call::poll_request`]).
    requests: VecDeque<Request>,
    recording: Option<Recording>,
    /// The form a `send_form` request is waiting for, and the forms sent (for the record).
    awaiting_form: Option<String>,
    forms_sent: Vec<String>,
    last_media: Instant,
    answered_at: Option<Instant>,
    ending: Option<Ending>,
    started: Instant,
    media: Media,
    /// How long the caller waited for an operator, once the wait ended.
    queue_wait: Option<Duration>,
    /// The operator who took the call.
    operator: Option<String>,
    /// The queue gave the call back (no operator, longest wait): a call to return.
    queue_gave_up: bool,
    /// The caller left the queue with a key (for a message or a callback).
    left_queue: bool,
    /// The operator hung up first and the plan went on (`after_operator`, e.g. a survey).
    after_operator: bool,
    /// A voice message was recorded.
    left_message: bool,
    /// Bridges made so far (an operator, then whoever a transfer brought).
    bridges: u32,
}

impl Call {
    /// A ringing call.
    pub fn new(now: Instant, setup: CallSetup) -> Self {
        let mut rng = crate::rng::Rng::new(setup.seed);
        let mut next = || rng.next_u64();
        let negotiated = setup.negotiated;
        // Truncating casts: any bits of the seeded generator are equally random.
        let out = OutgoingStream::new(next() as u32, negotiated.pt, next() as u16, next() as u32);
        Call {
            interp: Interp::new(Arc::clone(&setup.plan), setup.env.clone()),
            player: Player::new(Arc::clone(&setup.prompts)),
            pacer: None,
            answer_sent: false,
            now,
            out,
            incoming: IncomingStream::from_negotiated(&negotiated),
            negotiated,
            session: setup.media.clone(),
            rfc4733: Rfc4733Receiver::new(negotiated.telephone_event.unwrap_or(101)),
            goertzel: negotiated.telephone_event.is_none().then(Goertzel::new),
            pcm: Vec::with_capacity(480),
            packets: VecDeque::with_capacity(8),
            operator_packets: VecDeque::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            requests: VecDeque::new(),
            recording: None,
            awaiting_form: None,
            forms_sent: Vec::new(),
            last_media: now,
            answered_at: None,
            ending: None,
            started: now,
            media: Media::Menu,
            queue_wait: None,
            operator: None,
            queue_gave_up: false,
            left_queue: false,
            after_operator: false,
            left_message: false,
            bridges: 0,
            state: State::Ringing,
            setup,
        }
    }

    pub fn dialog(&self) -> DialogId {
        self.setup.dialog
    }

    pub fn caller(&self) -> &str {
        &self.setup.caller
    }

    /// The dial-plan nodes this call went through.
    pub fn path(&self) -> String {
        self.interp.path()
    }

    /// The codec in use.
    pub fn codec(&self) -> Codec {
        self.negotiated.codec
    }

    /// Whether this is an operator's feature-code call rather than a resident's.
    pub fn is_operator_call(&self) -> bool {
        self.setup.operator_call
    }

    /// The call record, once the call has ended (`now` is its end); none for an
    /// operator's feature-code call. Its outcome is [`Call::outcome`].
    pub fn record(&self, now: Instant) -> Option<crate::cdr::CallRecord> {
        if self.setup.operator_call {
            return None;
        }
        let outcome = self.outcome()?;
        let at = |i: Instant| {
            jiff::SignedDuration::try_from(i.saturating_duration_since(self.started))
                .ok()
                .and_then(|d| self.setup.start_ts.checked_add(d).ok())
                .unwrap_or(self.setup.start_ts)
        };
        Some(crate::cdr::CallRecord {
            call_id: self.setup.sip_call_id.clone(),
            caller: self
                .setup
                .env
                .caller
                .clone()
                .unwrap_or_else(|| self.setup.caller.clone()),
            called: self.setup.called.clone(),
            start: self.setup.start_ts,
            answer: self.answered_at.map(at),
            end: at(now),
            path: self.interp.path(),
            queue_wait_s: match self.media {
                Media::Queued { since } => {
                    Some(self.queue_wait.unwrap_or_default() + now.saturating_duration_since(since))
                }
                _ => self.queue_wait,
            }
            .map(|d| d.as_secs()),
            operator: self.operator.clone(),
            outcome,
            forms: self.forms_sent.clone(),
            rating: self.rating(),
        })
    }

    /// The caller's rating of the help (a `survey` node's key, 1–5), if they gave one.
    pub fn rating(&self) -> Option<u8> {
        self.interp
            .var(crate::dialplan::RATING_VAR)
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|r| (1..=5).contains(r))
    }

    /// RTP counts so far, for metrics.
    pub fn media_counts(&self) -> crate::media::MediaCounts {
        let rx = match &self.media {
            Media::Bridged { bridge, .. } => bridge.caller_stream().stats(),
            _ => self.incoming.stats(),
        };
        crate::media::MediaCounts {
            sent: self.out.packets_sent(),
            relayed: match &self.media {
                Media::Bridged { bridge, .. } => bridge.relayed(),
                _ => 0,
            },
            received: rx.received,
            lost: rx.lost,
            late: self.pacer.as_ref().map_or(0, Pacer::skipped_total),
        }
    }

    /// How the call ended on the wire, once it has.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// What the call came to, once it has ended: the word its record, the call metrics
    /// and the log line all use (also for operators' feature-code calls, which have no
    /// record).
    pub fn outcome(&self) -> Option<Outcome> {
        let ending = self.ending?;
        // The plan may name what the call came to (`set` a variable `outcome`), e.g.
        // "callback" when the caller asked to be called back.
        let planned = self
            .interp
            .var("outcome")
            .and_then(|v| Outcome::parse(v).ok())
            .filter(|o| PLAN_OUTCOMES.contains(o));
        let facts = Facts {
            planned,
            left_message: self.left_message,
            queued: matches!(self.media, Media::Queued { .. }),
            queue_gave_up: self.queue_gave_up,
            left_queue: self.left_queue,
            after_operator: self.after_operator,
            closed: self.interp.saw_closed(),
        };
        Some(outcome_of(ending, &facts))
    }

    /// Time since the INVITE.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// A SIP happening.
    pub fn handle_input(&mut self, now: Instant, input: CallInput) {
        self.advance(now);
        match input {
            CallInput::Confirmed => {}
            CallInput::AnswerSent => self.answer_sent = true,
            CallInput::ReInvite { body } => self.reinvite(&body),
            CallInput::Info { content_type, body } => {
                if let Some(key) = info_digit(&content_type, &body) {
                    self.on_digit(now, key, DigitSource::SipInfo);
                }
            }
            CallInput::Ended(reason) => {
                let ending = match (reason, self.state) {
                    (EndReason::Cancelled, _) | (EndReason::PeerBye, State::Ringing) => {
                        Ending::Cancelled
                    }
                    (EndReason::PeerBye, _) => Ending::CallerHungUp,
                    (EndReason::AckTimeout | EndReason::Failed, _) => Ending::Failed,
                };
                let ending = match (ending, &self.media) {
                    (Ending::CallerHungUp, Media::Bridged { .. }) => Ending::Operator,
                    (o, _) => o,
                };
                self.end(ending, false);
            }
            CallInput::Queue(news) => self.queue_news(now, news),
        }
    }

    /// Whether RTP is being relayed to an operator (the driver then also reads the
    /// operator leg's socket and hands its datagrams to [`Call::relay_rtp`]).
    pub fn is_bridged(&self) -> bool {
        matches!(self.media, Media::Bridged { .. })
    }

    /// Relays one datagram of a bridged call, written into `out`; the driver sends
    /// `out[..len]` to `dst` from the other leg's socket.
    pub fn relay_rtp(
        &mut self,
        now: Instant,
        from: Side,
        src: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Relayed {
        self.advance(now);
        let Media::Bridged { bridge, .. } = &mut self.media else {
            return Relayed::Dropped;
        };
        let r = bridge.relay(from, src, datagram, out);
        if from == Side::Caller && !matches!(r, Relayed::Dropped) {
            self.last_media = now;
        }
        r
    }

    /// The operator the call is bridged to, if any.
    pub fn operator(&self) -> Option<&str> {
        match &self.media {
            Media::Bridged { operator, .. } => Some(operator),
            _ => None,
        }
    }

    /// An RTP datagram arrived on the call's media port.
    pub fn handle_rtp(&mut self, now: Instant, src: SocketAddr, datagram: &[u8]) {
        self.advance(now);
        if self.state != State::Answered || self.is_bridged() {
            return;
        }
        // Symmetric RTP (RFC 4961): the first packet from the caller fixes where our packets
        // go; later packets from any other address are ignored, so nobody else can redirect
        // or inject into the stream.
        let Ok(pkt) = self.incoming.handle_datagram(src, datagram) else {
            return;
        };
        let te = self.negotiated.telephone_event;
        self.last_media = now;
        if Some(pkt.payload_type) == te {
            self.rfc4733.handle_packet(now, &pkt);
            self.drain_rfc4733(now);
        } else if self.goertzel.is_some() || self.recording.is_some() {
            self.pcm.clear();
            let decode = match self.negotiated.codec {
                Codec::Pcma => g711::alaw_decode,
                Codec::Pcmu => g711::ulaw_decode,
            };
            self.pcm.extend(pkt.payload.iter().map(|b| decode(*b)));
            // Only the negotiated codec is audio (comfort noise and others are not G.711).
            if let Some(r) = self.recording.as_mut()
                && pkt.payload_type == self.negotiated.pt
            {
                r.pcm.extend_from_slice(&self.pcm);
                if is_voice(&self.pcm) {
                    r.last_voice = now;
                }
            }
            if let Some(g) = self.goertzel.as_mut() {
                g.push(&self.pcm);
                while let Some(key) = self.goertzel.as_mut().and_then(Goertzel::poll_digit) {
                    self.on_digit(now, key, DigitSource::InBand);
                }
            }
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        match self.state {
            State::Ringing if now >= self.setup.answer_at => self.answer(now),
            State::Answered => {}
            _ => return,
        }
        if now >= self.started + self.setup.max_duration {
            self.end(Ending::MaxDuration, true);
            return;
        }
        if self.inactivity_deadline().is_some_and(|t| now >= t) {
            self.end(Ending::NoMedia, true);
            return;
        }
        if self.recording.as_ref().is_some_and(|r| now >= r.deadline()) {
            self.finish_recording();
        }
        self.rfc4733.handle_timeout(now);
        self.drain_rfc4733(now);
        self.interp.handle_timeout(now);
        self.run_actions(now);
        if self.media_may_start() {
            // The 200 OK is with SIP and there is somewhere to send: the stream starts, its
            // frame 0 (the first prompt's first frame, drawn only then) due a lead later.
            self.pacer = Some(Pacer::new(now + ANSWER_LEAD));
        }
        let due = match self.pacer.as_mut() {
            Some(p) => {
                let due = p.handle_timeout(now);
                // Frames the pacer gave up on still advance the timestamp, so the receiver
                // sees a gap rather than a clock shift.
                self.out.skip(p.take_skipped() * SAMPLES_PER_FRAME);
                due
            }
            None => 0,
        };
        for _ in 0..due {
            self.next_packet(now);
            if self.state != State::Answered {
                break;
            }
        }
    }

    /// Next SIP decision.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<CallCommand> {
        self.commands.pop_front()
    }

    /// Next happening worth logging.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// Next long-running action for the driver; answer each with
    /// [`Call::handle_action_result`].
    #[must_use]
    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    /// Whether a command, event or request is waiting, or the call has ended: what a
    /// driver that ran [`Call::handle_timeout`] away from the call's own task must hand on.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        !self.commands.is_empty()
            || !self.events.is_empty()
            || !self.requests.is_empty()
            || self.ending.is_some()
    }

    /// A request from [`Call::poll_request`] finished. Ignored once the call has ended.
    pub fn handle_action_result(&mut self, now: Instant, result: ActionResult) {
        self.advance(now);
        if let Some(form) = self.awaiting_form.take()
            && result == ActionResult::Done
        {
            self.forms_sent.push(form);
        }
        if self.state != State::Answered {
            return;
        }
        self.interp.handle_result(now, result);
        self.run_actions(now);
    }

    /// The caller's number in E.164, when the caller ID could be normalised.
    pub fn caller_e164(&self) -> Option<&str> {
        self.setup.env.caller.as_deref()
    }

    /// The SIP Call-ID of the caller's leg.
    pub fn sip_call_id(&self) -> &str {
        &self.setup.sip_call_id
    }

    /// Next RTP packet and where to send it.
    #[must_use]
    pub fn poll_rtp(&mut self) -> Option<(SocketAddr, RtpFrame)> {
        let frame = self.packets.pop_front()?;
        let dst = self.media_target()?;
        Some((dst, frame))
    }

    /// Where our RTP goes: where the caller's media really comes from once it has arrived
    /// (symmetric RTP, RFC 4961); before that the SDP address, but only when it is the
    /// address the call was signalled from. An INVITE whose SDP names some other host gets
    /// no media until that host itself sends some, so the line cannot be used to aim a
    /// stream of prompts at a third party.
    fn media_target(&self) -> Option<SocketAddr> {
        // While bridged the relay keeps the caller leg's receive state.
        let incoming = match &self.media {
            Media::Bridged { bridge, .. } => bridge.caller_stream(),
            _ => &self.incoming,
        };
        if let Some(latched) = incoming.latched() {
            return Some(latched);
        }
        incoming
            .send_target()
            .filter(|sdp| sdp.ip() == self.setup.source.ip() || self.setup.trust_sdp_address)
    }

    /// When [`Call::handle_timeout`] must next run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Ringing => Some(self.setup.answer_at),
            State::Ended => None,
            State::Answered => {
                let mut t = self.started + self.setup.max_duration;
                for x in [
                    self.inactivity_deadline(),
                    // Media may start: at once (the pacer then sets frame 0's deadline).
                    self.media_may_start().then_some(self.now),
                    self.pacer.as_ref().map(Pacer::poll_timeout),
                    self.interp.poll_timeout(),
                    self.rfc4733.poll_timeout(),
                    self.recording.as_ref().map(Recording::deadline),
                ]
                .into_iter()
                .flatten()
                {
                    t = t.min(x);
                }
                Some(t)
            }
        }
    }

    /// Ends the call from our side (shutdown, operator action).
    pub fn hang_up(&mut self) {
        self.end(Ending::Completed, true);
    }

    fn answer(&mut self, now: Instant) {
        self.commands.push_back(CallCommand::Answer {
            sdp: self.setup.answer_sdp.clone(),
        });
        self.state = State::Answered;
        self.answered_at = Some(now);
        self.last_media = now;
        self.incoming.answered();
        // No pacer yet: media starts once SIP has the answer (see the module docs).
        self.events.push_back(CallEvent::Answered);
        self.interp.start(now);
        self.run_actions(now);
    }

    fn reinvite(&mut self, body: &[u8]) {
        if body.is_empty() {
            // RFC 3261 §14.2: a re-INVITE without an offer asks us to offer; the session
            // stays as it is.
            let sdp = self.session.offer_again(
                &[self.negotiated.codec],
                self.negotiated.telephone_event.unwrap_or(101),
            );
            self.commands.push_back(CallCommand::Answer { sdp });
            return;
        }
        match self.session.answer_again(body) {
            Ok((neg, sdp)) => {
                if neg.codec != self.negotiated.codec || neg.pt != self.negotiated.pt {
                    self.out.set_payload_type(neg.pt);
                    self.out.start_talkspurt();
                }
                // A new offer may move the caller's media: latch again if it did.
                self.incoming.set_remote(&neg);
                if let Media::Bridged { bridge, .. } = &mut self.media {
                    bridge.renegotiated(Side::Caller, neg);
                }
                self.rfc4733 = Rfc4733Receiver::new(neg.telephone_event.unwrap_or(101));
                self.negotiated = neg;
                self.goertzel = neg.telephone_event.is_none().then(Goertzel::new);
                self.commands.push_back(CallCommand::Answer { sdp });
                // The caller may have put the operator on hold, or taken them off it.
                self.hold_changed();
            }
            // RFC 3261 §14.2: a refused re-INVITE leaves the session as it was.
            Err(e) => self
                .commands
                .push_back(CallCommand::Reject { status: e.status() }),
        }
    }

    fn on_digit(&mut self, now: Instant, key: char, source: DigitSource) {
        if self.state != State::Answered {
            return;
        }
        self.events.push_back(CallEvent::Digit { key, source });
        // While bridged, keys are the operator's business (relayed as RFC 4733).
        if self.is_bridged() {
            return;
        }
        if key == '#' && self.recording.is_some() {
            self.finish_recording();
            return;
        }
        self.interp.handle_digit(now, key);
        self.run_actions(now);
    }

    fn run_actions(&mut self, now: Instant) {
        while let Some(action) = self.interp.poll_action() {
            match action {
                Action::Play { items, .. } => {
                    for item in &items {
                        match item {
                            // Validation guarantees the ids exist; a prompt set swapped under
                            // a live call could still lack one, and then it is skipped.
                            PlayItem::Prompt(id) => {
                                if let Some(p) = self.setup.prompts.get(id) {
                                    self.player.play_prompt(p);
                                }
                            }
                            PlayItem::Pause(ms) => self.player.play_silence(*ms),
                        }
                    }
                    self.check_player(now);
                }
                Action::StopPlayback => self.player.stop(),
                Action::Hangup => self.end(Ending::Completed, true),
                Action::LeaveQueue => {
                    if let Media::Queued { since } = self.media {
                        self.waited(since, now);
                        self.left_queue = true;
                        self.media = Media::Menu;
                        self.player.stop();
                        self.commands.push_back(CallCommand::LeaveQueue);
                    }
                }
                Action::Queue { queue } => {
                    let (path, path_label, topic, caller, codec) = self.handed_over(now);
                    self.commands.push_back(CallCommand::Enqueue {
                        queue,
                        path,
                        path_label,
                        topic,
                        caller,
                        codec,
                    });
                }
                Action::Transfer { to } => {
                    let (path, path_label, topic, caller, codec) = self.handed_over(now);
                    self.commands.push_back(CallCommand::Transfer {
                        to,
                        path,
                        path_label,
                        topic,
                        caller,
                        codec,
                    });
                }
                Action::SendForm { ref form, .. } => {
                    self.awaiting_form = Some(form.clone());
                    self.request_here(action);
                }
                // Kept by the driver (a durable job); the plan goes on with its result.
                Action::Callback { .. } => self.request_here(action),
                Action::Voicemail => {
                    let path = self.interp.path();
                    self.recording = Some(Recording {
                        pcm: Vec::new(),
                        started: now,
                        last_voice: now,
                        node: path.rsplit('>').next().unwrap_or("").to_owned(),
                        step: path.split('>').count(),
                    });
                }
            }
            while let Some(t) = self.interp.poll_trace() {
                self.events.push_back(CallEvent::Plan {
                    node: t.node,
                    text: t.text,
                });
            }
        }
    }

    /// The caller waits on hold music for an operator (a queue, a transfer); returns what
    /// the switchboard shows of the call: the menu path, as recorded and as operators read
    /// it, the caller's number, the codec.
    fn handed_over(&mut self, now: Instant) -> (String, String, String, String, Codec) {
        self.media = Media::Queued { since: now };
        self.player.stop();
        self.start_hold_music();
        let path = self.interp.path();
        let label = self.interp.plan().path_label(&path);
        let topic = self.interp.plan().path_topic(&path);
        let caller = self.setup.env.caller.clone();
        let caller = caller.unwrap_or_else(|| self.setup.caller.clone());
        (path, label, topic, caller, self.negotiated.codec)
    }

    /// Music on hold (what to say before the wait is the dial plan's business).
    fn start_hold_music(&mut self) {
        if let Some(p) = self.setup.prompts.get(MUSIC_ON_HOLD) {
            self.player.play_prompt(p);
        }
    }

    fn check_player(&mut self, now: Instant) {
        let mut finished = false;
        while let Some(ev) = self.player.poll_event() {
            if matches!(ev, PlayerEvent::Finished) {
                finished = true;
            }
        }
        if finished && (matches!(self.media, Media::Queued { .. }) || self.music_to().is_some()) {
            // The music loops (and resumes after an announcement) while the caller waits.
            self.start_hold_music();
            return;
        }
        // Nothing else plays while bridged: the plan waits for the operator.
        if finished && !self.is_bridged() {
            self.interp.handle_playback_finished(now);
            self.run_actions(now);
        }
    }

    /// Whether the outgoing stream may start now: answered, the 200 OK handed to SIP,
    /// somewhere to send, not started yet and not relayed to an operator (unless one leg
    /// holds the bridged call: then the other hears music on hold).
    fn media_may_start(&self) -> bool {
        self.state == State::Answered
            && self.answer_sent
            && self.pacer.is_none()
            && match self.music_to() {
                Some(side) => self.music_target(side).is_some(),
                None => !self.is_bridged() && self.media_target().is_some(),
            }
    }

    /// Time as the driver last told it; the threads that step a call may pass instants a
    /// little out of order, and the core's notion of now never goes back.
    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn next_packet(&mut self, now: Instant) {
        if self.music_to() == Some(Side::Operator) {
            self.next_operator_packet();
            self.check_player(now);
            return;
        }
        if self.media_target().is_none() {
            // Nowhere to send (a re-INVITE moved the media to a host that has not sent
            // any yet): the prompt waits instead of playing to nobody. The timeline goes on,
            // so the timestamps stay on the wall clock, and the first packet after the gap
            // starts a talkspurt.
            self.out.skip(SAMPLES_PER_FRAME);
            self.out.start_talkspurt();
            return;
        }
        let send = !matches!(
            self.negotiated.direction,
            Direction::RecvOnly | Direction::Inactive
        );
        let codec = match self.negotiated.codec {
            Codec::Pcma => FrameCodec::Pcma,
            Codec::Pcmu => FrameCodec::Pcmu,
        };
        let payload = self.player.next_frame(codec).payload;
        if send {
            let header = self.out.next_header(SAMPLES_PER_FRAME);
            let mut frame = [0u8; PACKET_LEN];
            if header.write_into(payload, &mut frame).is_ok() {
                self.packets.push_back(frame);
            }
        } else {
            // On hold: the timeline goes on, so the stream resumes without a clock jump.
            self.out.skip(SAMPLES_PER_FRAME);
        }
        self.check_player(now);
    }

    fn drain_rfc4733(&mut self, now: Instant) {
        while let Some(d) = self.rfc4733.poll_event() {
            self.on_digit(now, d.digit, DigitSource::Rfc4733);
        }
    }

    /// Hands `action` to the driver, named by the node the call is at and its step.
    fn request_here(&mut self, action: Action) {
        let path = self.interp.path();
        self.requests.push_back(Request {
            action,
            node: path.rsplit('>').next().unwrap_or("").to_owned(),
            step: path.split('>').count(),
            audio: Vec::new(),
        });
    }

    /// Hands the voice message being recorded to the driver.
    fn finish_recording(&mut self) {
        if let Some(r) = self.recording.take() {
            self.left_message = true;
            self.requests.push_back(Request {
                action: Action::Voicemail,
                node: r.node,
                step: r.step,
                audio: r.pcm,
            });
        }
    }

    fn end(&mut self, ending: Ending, send_hangup: bool) {
        if self.state == State::Ended {
            return;
        }
        // A caller who hangs up while speaking has left a message all the same.
        self.finish_recording();
        self.state = State::Ended;
        self.ending = Some(ending);
        // Frames already produced still go out: the last one may hold the end of "goodbye".
        self.player.stop();
        if send_hangup {
            self.commands.push_back(CallCommand::Hangup);
        }
    }
}

/// The key carried by a DTMF INFO body, if any.
///
/// `application/dtmf-relay` (as sent by Cisco, Zoiper, MicroSIP, Linphone):
/// `Signal=5\r\nDuration=160\r\n`. `application/dtmf`: the bare key, `5`.
pub fn info_digit(content_type: &str, body: &[u8]) -> Option<char> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let text = std::str::from_utf8(body).ok()?;
    let value = if ct.eq_ignore_ascii_case("application/dtmf-relay") {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?
    } else if ct.eq_ignore_ascii_case("application/dtmf") {
        text.trim()
    } else {
        return None;
    };
    let key = match value {
        "10" => '*',
        "11" => '#',
        v if v.chars().count() == 1 => v.chars().next()?.to_ascii_uppercase(),
        _ => return None,
    };
    "0123456789*#ABCD".contains(key).then_some(key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dialplan::interp::CallEnv;
    use crate::dialplan::{TransferTarget, load_str};
    use crate::media::bridge::Relayed;
    use crate::media::prompts::{Prompt, PromptSet};
    use crate::rtp::dtmf::rfc4733::encode_event;
    use crate::rtp::packet::{self, RtpHeader};
    use crate::sdp::offer_answer::LocalMedia;

    const PLAN: &str = r#"start = "welcome"
[nodes.welcome]
type = "play"
prompts = ["welcome"]
next = "menu"
[nodes.menu]
type = "menu"
prompts = ["main_menu"]
keys = { "3" = "hours" }
on_max_retries = "bye"
[nodes.hours]
type = "play"
prompts = ["office_hours"]
barge_in = false
next = "bye"
[nodes.bye]
type = "play"
prompts = ["goodbye"]
barge_in = false
next = "end"
[nodes.end]
type = "hangup"
"#;

    const CALLER_RTP: &str = "127.0.0.1:40000";

    /// The test plan has no schedule nodes.
    struct NoSchedules;
    impl crate::dialplan::interp::Schedules for NoSchedules {
        fn state(
            &self,
            _: &str,
            _: &jiff::ZonedDateTime,
        ) -> Option<crate::dialplan::interp::ScheduleState> {
            None
        }
        fn next_opening(&self, _: &str, _: &jiff::ZonedDateTime) -> Option<jiff::ZonedDateTime> {
            None
        }
    }

    /// A prompt of `frames` 20 ms frames whose samples encode its number, so every frame
    /// on the wire says which prompt it came from.
    fn tone(id: &str, level: i16, frames: usize) -> Prompt {
        Prompt::from_pcm(id, id, vec![level; frames * 160])
    }

    /// A call on a small test plan, answered 500 ms after `t0` (also for the driver's tests).
    pub(crate) fn call(t0: Instant, te: Option<u8>) -> (Call, Arc<PromptSet>) {
        call_with_plan(t0, te, PLAN)
    }

    fn call_with_plan(t0: Instant, te: Option<u8>, plan: &str) -> (Call, Arc<PromptSet>) {
        let prompts = Arc::new(PromptSet::from_prompts([
            tone("welcome", 1000, 5),
            tone("main_menu", 2000, 50),
            tone("office_hours", 4000, 4),
            tone("goodbye", 8000, 3),
            tone(MUSIC_ON_HOLD, MUSIC_LEVEL, 30),
        ]));
        let ids = ["welcome", "main_menu", "office_hours", "goodbye"];
        let known = crate::dialplan::Known {
            skip_prompts: false,
            prompts: &ids,
            forms: &["lakcim"],
            queues: &["operators"],
            ..Default::default()
        };
        let (plan, _) = load_str("t.toml", plan, &known).expect("test plan is valid");
        let negotiated = Negotiated {
            codec: Codec::Pcma,
            pt: 8,
            telephone_event: te,
            remote: Some(CALLER_RTP.parse().expect("literal")),
            ptime_ms: 20,
            direction: Direction::SendRecv,
        };
        let setup = CallSetup {
            dialog: 7,
            operator_call: false,
            caller: "+36301234567".into(),
            source: "127.0.0.1:5062".parse().expect("literal"),
            negotiated,
            answer_sdp: b"v=0\r\n".to_vec(),
            media: MediaSession::new(LocalMedia {
                addr: "127.0.0.1".parse().expect("literal"),
                port: 20000,
                session_id: 1,
                session_version: 1,
                username: "ugyelet".into(),
            }),
            plan: Arc::new(plan),
            prompts: Arc::clone(&prompts),
            answer_at: t0 + Duration::from_millis(500),
            max_duration: Duration::from_secs(3600),
            inactivity: Some(Duration::from_secs(60)),
            seed: 99,
            env: CallEnv {
                caller: Some("+36301234567".into()),
                civil_start: jiff::civil::date(2026, 12, 1)
                    .at(17, 0, 0, 0)
                    .in_tz("Europe/Budapest")
                    .expect("valid civil time"),
                schedules: Arc::new(NoSchedules),
            },
            sip_call_id: "c1@test".into(),
            called: "ugyelet".into(),
            start_ts: "2026-12-01T16:00:00Z".parse().expect("timestamp"),
            trust_sdp_address: false,
        };
        (Call::new(t0, setup), prompts)
    }

    /// Runs the call's timers up to `until` in virtual time as the driver does: the packets
    /// sent are collected in `out`, the commands handed to SIP are returned.
    fn run(c: &mut Call, until: Instant, out: &mut Vec<(Instant, RtpFrame)>) -> Vec<CallCommand> {
        let mut commands = Vec::new();
        while let Some(t) = c.poll_timeout() {
            if t > until {
                break;
            }
            c.handle_timeout(t);
            let polled: Vec<CallCommand> = std::iter::from_fn(|| c.poll_command()).collect();
            if polled
                .iter()
                .any(|c| matches!(c, CallCommand::Answer { .. }))
            {
                // The SIP task sent the 200 OK and says so.
                c.handle_input(t, CallInput::AnswerSent);
            }
            commands.extend(polled);
            while let Some((dst, frame)) = c.poll_rtp() {
                assert_eq!(dst, CALLER_RTP.parse().expect("literal"));
                out.push((t, frame));
            }
        }
        commands
    }

    /// Runs the call's timers up to `until` in virtual time with nobody taking its
    /// commands: the driver has not handed the answer to SIP yet.
    fn run_without_sip(c: &mut Call, until: Instant) -> Vec<RtpFrame> {
        let mut sent = Vec::new();
        let mut last = None;
        while let Some(t) = c.poll_timeout() {
            if t > until {
                break;
            }
            assert!(last < Some(t), "time moves on: {t:?} after {last:?}");
            last = Some(t);
            c.handle_timeout(t);
            sent.extend(std::iter::from_fn(|| c.poll_rtp()).map(|(_, f)| f));
        }
        sent
    }

    fn header(frame: &RtpFrame) -> RtpHeader {
        let p = packet::parse(frame).expect("we send valid RTP");
        RtpHeader {
            payload_type: p.payload_type,
            marker: p.marker,
            sequence: p.sequence,
            timestamp: p.timestamp,
            ssrc: p.ssrc,
        }
    }

    /// The level of the test set's music on hold (see [`source`]: none of the plan's).
    const MUSIC_LEVEL: i16 = 3000;

    /// Whether a frame is music on hold.
    fn is_music(frame: &RtpFrame) -> bool {
        frame[12..]
            .iter()
            .all(|b| *b == g711::alaw_encode(MUSIC_LEVEL))
    }

    /// Which prompt a frame came from: the level its samples were made with.
    fn source(frame: &RtpFrame) -> i16 {
        [1000, 2000, 4000, 8000]
            .into_iter()
            .find(|level| g711::alaw_encode(*level) == frame[12])
            .unwrap_or(0)
    }

    #[test]
    fn answered_call_streams_prompt_frames_every_20_ms_with_consecutive_headers() {
        let t0 = crate::clock::test_epoch();
        let (mut c, prompts) = call(t0, Some(101));
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_millis(499), &mut out);
        assert!(out.is_empty(), "no RTP before the answer");
        let answer_at = t0 + Duration::from_millis(500);
        let commands = run(&mut c, answer_at + Duration::from_millis(2000), &mut out);
        assert_eq!(
            commands,
            [CallCommand::Answer {
                sdp: b"v=0\r\n".to_vec()
            }]
        );
        // Handed to SIP at the answer; frame 0 is due a lead later.
        let start = answer_at + ANSWER_LEAD;
        assert_eq!(out.len(), 100, "one packet per 20 ms from the start on");
        let first = header(&out[0].1);
        assert!(
            first.marker,
            "RFC 3551 §4.1: first packet of the talkspurt is marked"
        );
        for (i, (at, frame)) in out.iter().enumerate() {
            assert_eq!(
                *at,
                start + Duration::from_millis(20 * i as u64),
                "epoch-based deadline"
            );
            let h = header(frame);
            assert_eq!(h.payload_type, 8);
            assert_eq!(h.ssrc, first.ssrc);
            assert_eq!(h.sequence, first.sequence.wrapping_add(i as u16));
            assert_eq!(h.timestamp, first.timestamp.wrapping_add(160 * i as u32));
            assert_eq!(h.marker, i == 0);
        }
        let welcome = prompts.get("welcome").expect("exists");
        for (i, (_, frame)) in out.iter().take(5).enumerate() {
            assert_eq!(
                &frame[12..],
                &welcome.pcma[i][..],
                "welcome frame {i} on the wire"
            );
        }
        assert!(
            out[5..55].iter().all(|(_, f)| source(f) == 2000),
            "then the main menu"
        );
        assert!(
            out[55..]
                .iter()
                .all(|(_, f)| f[12..].iter().all(|b| *b == 0xD5)),
            "then A-law silence while the menu waits for a key: the stream never stops"
        );
    }

    fn dtmf_packet(seq: u16, ts: u32, duration: u16, end: bool) -> Vec<u8> {
        let payload = encode_event('3', duration, end).expect("3 is a DTMF key");
        let mut out = Vec::new();
        RtpHeader {
            payload_type: 101,
            marker: !end && duration == 160,
            sequence: seq,
            timestamp: ts,
            ssrc: 5,
        }
        .write_to_vec(&payload, &mut out)
        .expect("fits");
        out
    }

    #[test]
    fn rfc4733_key_barges_into_the_menu_then_office_hours_goodbye_and_hangup() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, Some(101));
        let mut out = Vec::new();
        let answer_at = t0 + Duration::from_millis(500);
        run(&mut c, answer_at + Duration::from_millis(300), &mut out);
        let src: SocketAddr = CALLER_RTP.parse().expect("literal");
        let mut now = answer_at + Duration::from_millis(300);
        // Seven progress packets and the end packet three times, as SIPp's pcaps send.
        for i in 0..7u16 {
            c.handle_rtp(now, src, &dtmf_packet(100 + i, 8000, 160 * (i + 1), false));
            now += Duration::from_millis(20);
        }
        for _ in 0..3 {
            c.handle_rtp(now, src, &dtmf_packet(107, 8000, 1120, true));
        }
        let events: Vec<CallEvent> = std::iter::from_fn(|| c.poll_event())
            .filter(|e| !matches!(e, CallEvent::Plan { .. }))
            .collect();
        assert_eq!(
            events,
            vec![
                CallEvent::Answered,
                CallEvent::Digit {
                    key: '3',
                    source: DigitSource::Rfc4733
                }
            ],
            "the repeated end packets count once"
        );
        let before = out.len();
        let commands = run(&mut c, now + Duration::from_secs(1), &mut out);
        let after: Vec<i16> = out[before..].iter().map(|(_, f)| source(f)).collect();
        assert!(after.len() >= 7, "{after:?}");
        assert_eq!(
            &after[..7],
            &[4000, 4000, 4000, 4000, 8000, 8000, 8000],
            "office hours, goodbye"
        );
        assert_eq!(commands, [CallCommand::Hangup]);
        assert_eq!(c.outcome(), Some(Outcome::Completed));
        assert_eq!(c.path(), "welcome>menu>hours>bye>end");
    }

    #[test]
    fn inband_tone_is_heard_when_no_telephone_event_was_negotiated() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, None);
        let mut out = Vec::new();
        let answer_at = t0 + Duration::from_millis(500);
        run(&mut c, answer_at + Duration::from_millis(300), &mut out);
        let src: SocketAddr = CALLER_RTP.parse().expect("literal");
        // '3' is 697 Hz + 1477 Hz; 100 ms of tone then silence, A-law coded.
        let mut n = 0u32;
        let mut now = answer_at + Duration::from_millis(300);
        for pkt in 0..15u16 {
            let mut payload = [0u8; 160];
            for b in payload.iter_mut() {
                let t = f64::from(n) / 8000.0;
                let v = if pkt < 5 {
                    8000.0
                        * ((2.0 * std::f64::consts::PI * 697.0 * t).sin()
                            + (2.0 * std::f64::consts::PI * 1477.0 * t).sin())
                } else {
                    0.0
                };
                *b = g711::alaw_encode(v as i16);
                n += 1;
            }
            let mut dgram = Vec::new();
            RtpHeader {
                payload_type: 8,
                marker: false,
                sequence: pkt,
                timestamp: u32::from(pkt) * 160,
                ssrc: 9,
            }
            .write_to_vec(&payload, &mut dgram)
            .expect("fits");
            c.handle_rtp(now, src, &dgram);
            now += Duration::from_millis(20);
        }
        let digits: Vec<CallEvent> = std::iter::from_fn(|| c.poll_event())
            .filter(|e| matches!(e, CallEvent::Digit { .. }))
            .collect();
        assert_eq!(
            digits,
            vec![CallEvent::Digit {
                key: '3',
                source: DigitSource::InBand
            }]
        );
    }

    #[test]
    fn sdp_naming_another_host_gets_no_media_until_media_comes_from_it() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, Some(101));
        c.setup.source = "127.0.0.2:5062".parse().expect("literal");
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_millis(1000), &mut out);
        assert!(
            out.is_empty(),
            "no prompts aimed at {CALLER_RTP}, which did not call"
        );
        let real: SocketAddr = "127.0.0.2:41000".parse().expect("literal");
        let now = t0 + Duration::from_millis(1000);
        c.handle_rtp(now, real, &dtmf_packet(1, 100, 160, false));
        let mut sent = Vec::new();
        while let Some(t) = c.poll_timeout()
            && sent.is_empty()
        {
            c.handle_timeout(t.max(now));
            sent.extend(std::iter::from_fn(|| c.poll_rtp()));
        }
        let (dst, _) = sent.first().expect("media flows once the caller's arrives");
        assert_eq!(*dst, real);
    }

    /// Checks that `frames` are one talkspurt of consecutive packets that opens with every
    /// frame of the test plan's welcome (five) and goes on with the main menu: no frame of
    /// the greeting was drawn without being sent.
    fn assert_whole_welcome_then_menu(frames: &[RtpFrame]) {
        assert!(frames.len() >= 6, "{} frames", frames.len());
        let sources: Vec<i16> = frames.iter().map(source).collect();
        assert_eq!(
            &sources[..6],
            &[1000, 1000, 1000, 1000, 1000, 2000],
            "the whole welcome, then the menu"
        );
        let first = header(&frames[0]);
        assert!(
            first.marker,
            "RFC 3551 §4.1: first packet of the talkspurt is marked"
        );
        for (i, f) in frames.iter().enumerate().skip(1) {
            let h = header(f);
            assert!(!h.marker, "packet {i} continues the talkspurt");
            assert_eq!(h.sequence, first.sequence.wrapping_add(i as u16));
            assert_eq!(h.timestamp, first.timestamp.wrapping_add(160 * i as u32));
        }
    }

    #[test]
    fn no_frame_is_drawn_before_the_answer_is_handed_to_sip() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, Some(101));
        let answer_at = t0 + Duration::from_millis(500);
        // The answer is due, but the driver is slow to take it to SIP.
        let handed = answer_at + Duration::from_millis(300);
        assert!(
            run_without_sip(&mut c, handed).is_empty(),
            "no RTP while the 200 OK has not left"
        );
        assert!(
            c.poll_timeout() > Some(handed),
            "nothing to do meanwhile: no busy wake-ups"
        );
        assert_eq!(
            c.poll_command(),
            Some(CallCommand::Answer {
                sdp: b"v=0\r\n".to_vec()
            })
        );
        c.handle_input(handed, CallInput::AnswerSent);
        // Handed over: the next step of the core starts the stream.
        assert!(c.poll_timeout() <= Some(handed), "media may start at once");
        c.handle_timeout(handed);
        assert!(c.poll_rtp().is_none(), "frame 0 is not due yet");
        assert_eq!(
            c.poll_timeout(),
            Some(handed + ANSWER_LEAD),
            "frame 0 one lead after the hand-over, so the 200 OK goes first"
        );
        let mut out = Vec::new();
        run(&mut c, handed + Duration::from_millis(200), &mut out);
        assert_eq!(out[0].0, handed + ANSWER_LEAD);
        let frames: Vec<RtpFrame> = out.iter().map(|(_, f)| *f).collect();
        assert_whole_welcome_then_menu(&frames);
    }

    #[test]
    fn no_frame_is_drawn_before_the_remote_media_address_is_known() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, None);
        // The SDP names another host than the one that called: no address to send to.
        c.setup.source = "127.0.0.2:5062".parse().expect("literal");
        let mut out = Vec::new();
        let commands = run(&mut c, t0 + Duration::from_millis(1000), &mut out);
        assert!(matches!(commands[..], [CallCommand::Answer { .. }]));
        assert!(out.is_empty(), "nothing sent to {CALLER_RTP}");
        // The caller's media arrives from where it really is.
        let real: SocketAddr = "127.0.0.2:41000".parse().expect("literal");
        let now = t0 + Duration::from_millis(1000);
        c.handle_rtp(now, real, &audio_packet(1, 8));
        assert!(c.poll_timeout() <= Some(now), "media may start at once");
        let mut frames = Vec::new();
        let mut first_at = None;
        while let Some(t) = c.poll_timeout() {
            let t = t.max(now);
            if t > now + Duration::from_millis(200) {
                break;
            }
            c.handle_timeout(t);
            for (dst, f) in std::iter::from_fn(|| c.poll_rtp()) {
                assert_eq!(dst, real, "symmetric RTP");
                first_at.get_or_insert(t);
                frames.push(f);
            }
        }
        assert_eq!(first_at, Some(now + ANSWER_LEAD));
        assert_whole_welcome_then_menu(&frames);
    }

    #[test]
    fn prompt_waits_while_a_reinvite_moves_media_to_a_host_not_heard_from() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, Some(101));
        let start = t0 + Duration::from_millis(500) + ANSWER_LEAD;
        let mut out = Vec::new();
        run(&mut c, start + Duration::from_millis(40), &mut out);
        assert_eq!(out.len(), 3, "welcome frames 0, 1 and 2");
        let moved: SocketAddr = "127.0.0.2:41000".parse().expect("literal");
        let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
                     m=audio 41000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                     a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";
        let mut now = start + Duration::from_millis(50);
        c.handle_input(
            now,
            CallInput::ReInvite {
                body: offer.as_bytes().to_vec(),
            },
        );
        assert!(matches!(c.poll_command(), Some(CallCommand::Answer { .. })));
        // 200 ms with nowhere to send.
        let mut gap = 0;
        while let Some(t) = c.poll_timeout()
            && t <= now + Duration::from_millis(200)
        {
            c.handle_timeout(t);
            assert!(c.poll_rtp().is_none(), "nothing aimed at {moved} yet");
            gap += 1;
        }
        assert_eq!(gap, 10, "ten frame deadlines passed");
        now += Duration::from_millis(200);
        c.handle_rtp(now, moved, &audio_packet(1, 8));
        let mut after = Vec::new();
        while let Some(t) = c.poll_timeout()
            && t <= now + Duration::from_millis(100)
        {
            c.handle_timeout(t);
            for (dst, f) in std::iter::from_fn(|| c.poll_rtp()) {
                assert_eq!(dst, moved);
                after.push(f);
            }
        }
        let sources: Vec<i16> = after.iter().map(source).collect();
        assert_eq!(
            &sources[..3],
            &[1000, 1000, 2000],
            "welcome goes on where it stopped: frames 3 and 4, then the menu"
        );
        let last = header(&out[2].1);
        let resumed = header(&after[0]);
        assert!(resumed.marker, "the first packet after the gap is marked");
        assert_eq!(resumed.sequence, last.sequence.wrapping_add(1), "none lost");
        assert_eq!(
            resumed.timestamp,
            last.timestamp.wrapping_add(160 * (gap + 1)),
            "the timestamps kept to the wall clock over the gap"
        );
    }

    #[test]
    fn rtp_from_a_second_source_is_ignored_after_latching() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, Some(101));
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_millis(600), &mut out);
        let real: SocketAddr = "127.0.0.1:41000".parse().expect("literal");
        let intruder: SocketAddr = "127.0.0.1:42000".parse().expect("literal");
        let now = t0 + Duration::from_millis(600);
        c.handle_rtp(now, real, &dtmf_packet(1, 100, 160, false));
        c.handle_rtp(now, intruder, &dtmf_packet(2, 200, 160, true));
        c.handle_rtp(now, intruder, &dtmf_packet(2, 200, 160, true));
        c.handle_rtp(now, intruder, &dtmf_packet(2, 200, 160, true));
        out.clear();
        c.handle_timeout(now + Duration::from_millis(20));
        let (dst, _) = c.poll_rtp().expect("a frame is due");
        assert_eq!(
            dst, real,
            "symmetric RTP: we send where the caller's packets come from"
        );
        let keys = std::iter::from_fn(|| c.poll_event())
            .filter(|e| matches!(e, CallEvent::Digit { .. }))
            .count();
        assert_eq!(keys, 0, "the intruder's key press is not heard");
    }

    const SEND_PLAN: &str = r#"start = "send"
[nodes.send]
type = "send_form"
form = "lakcim"
channel = "sms"
to = "@caller"
next = "sent"
on_error = "failed"
[nodes.sent]
type = "play"
prompts = ["goodbye"]
next = "end"
[nodes.failed]
type = "play"
prompts = ["office_hours"]
next = "end"
[nodes.end]
type = "hangup"
"#;

    #[test]
    fn send_form_waits_in_silence_for_the_driver_then_follows_the_result() {
        for (result, heard) in [(ActionResult::Done, 8000), (ActionResult::Failed, 4000)] {
            let t0 = crate::clock::test_epoch();
            let (mut c, _) = call_with_plan(t0, Some(101), SEND_PLAN);
            let mut out = Vec::new();
            run(&mut c, t0 + Duration::from_millis(1500), &mut out);
            let req = c.poll_request().expect("the plan asked for a form");
            assert_eq!(
                req,
                Request {
                    action: Action::SendForm {
                        form: "lakcim".into(),
                        channel: crate::dialplan::Channel::Sms,
                        to: "+36301234567".into(),
                    },
                    node: "send".into(),
                    step: 1,
                    audio: Vec::new(),
                }
            );
            assert_eq!(c.poll_request(), None, "asked once");
            assert!(
                out.iter().all(|(_, f)| f[12..].iter().all(|b| *b == 0xD5)),
                "silence while the driver works"
            );
            out.clear();
            let now = t0 + Duration::from_millis(1500);
            c.handle_action_result(now, result);
            run(&mut c, now + Duration::from_millis(200), &mut out);
            assert!(
                out.iter().take(3).all(|(_, f)| source(f) == heard),
                "{result:?} leads to its branch"
            );
            run(&mut c, now + Duration::from_secs(1), &mut out);
            let record = c.record(now + Duration::from_secs(1)).expect("ended");
            let sent: &[&str] = if result == ActionResult::Done {
                &["lakcim"]
            } else {
                &[]
            };
            assert_eq!(record.forms, sent, "the call record names the forms sent");
        }
    }

    #[test]
    fn a_result_after_the_call_ended_is_ignored() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call_with_plan(t0, Some(101), SEND_PLAN);
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_millis(600), &mut out);
        assert!(c.poll_request().is_some());
        c.handle_input(
            t0 + Duration::from_millis(700),
            CallInput::Ended(EndReason::PeerBye),
        );
        c.handle_action_result(t0 + Duration::from_millis(800), ActionResult::Done);
        assert_eq!(c.ending(), Some(Ending::CallerHungUp));
        assert_eq!(c.path(), "send");
    }

    const VOICEMAIL_PLAN: &str = r#"start = "record"
[nodes.record]
type = "voicemail"
next = "saved"
on_error = "failed"
[nodes.saved]
type = "play"
prompts = ["goodbye"]
next = "end"
[nodes.failed]
type = "play"
prompts = ["office_hours"]
next = "end"
[nodes.end]
type = "hangup"
"#;

    /// One 20 ms PCMA packet whose samples all decode to about `level`.
    fn audio_packet(seq: u16, level: i16) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            payload_type: 8,
            marker: false,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 5,
        }
        .write_to_vec(&[g711::alaw_encode(level); 160], &mut out)
        .expect("fits");
        out
    }

    /// A voicemail call answered at 500 ms, with `voiced` packets of speech-level audio
    /// then `quiet` packets of line noise, 20 ms apart from 600 ms on. Returns the call
    /// and the instant after the last packet.
    fn record(voiced: u16, quiet: u16) -> (Call, Instant) {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call_with_plan(t0, Some(101), VOICEMAIL_PLAN);
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_millis(600), &mut out);
        let src: SocketAddr = CALLER_RTP.parse().expect("literal");
        let mut now = t0 + Duration::from_millis(600);
        for seq in 0..voiced + quiet {
            let level = if seq < voiced { 3000 } else { 8 };
            c.handle_rtp(now, src, &audio_packet(seq, level));
            now += Duration::from_millis(20);
            run(&mut c, now, &mut out);
        }
        (c, now)
    }

    #[test]
    fn voicemail_records_the_callers_audio_until_hash() {
        let (mut c, now) = record(50, 10);
        assert_eq!(c.poll_request(), None, "still recording");
        c.handle_input(
            now,
            CallInput::Info {
                content_type: "application/dtmf".into(),
                body: b"#".to_vec(),
            },
        );
        let req = c.poll_request().expect("the message is handed over");
        assert_eq!(
            (req.action, req.node.as_str()),
            (Action::Voicemail, "record")
        );
        assert_eq!(
            req.audio.len(),
            60 * 160,
            "every packet's samples, in order"
        );
        let level = g711::alaw_decode(g711::alaw_encode(3000));
        assert!(req.audio[..50 * 160].iter().all(|s| *s == level));
        assert!(is_voice(&req.audio[..160]) && !is_voice(&req.audio[50 * 160..]));
        c.handle_action_result(now, ActionResult::Done);
        assert!(c.path().ends_with("record>saved"), "{}", c.path());
    }

    #[test]
    fn voicemail_ends_after_five_seconds_without_voice_or_when_the_caller_hangs_up() {
        let (mut c, now) = record(25, 10);
        let last_voice = now - Duration::from_millis(20 * 11);
        let mut out = Vec::new();
        run(
            &mut c,
            last_voice + VOICEMAIL_SILENCE - Duration::from_millis(1),
            &mut out,
        );
        assert_eq!(c.poll_request(), None, "not yet five seconds");
        run(&mut c, last_voice + VOICEMAIL_SILENCE, &mut out);
        let req = c.poll_request().expect("ended by silence");
        assert_eq!(req.audio.len(), 35 * 160);

        let (mut c, now) = record(25, 0);
        c.handle_input(now, CallInput::Ended(EndReason::PeerBye));
        let req = c.poll_request().expect("a hang-up keeps the message");
        assert_eq!(req.audio.len(), 25 * 160);
        assert_eq!(c.ending(), Some(Ending::CallerHungUp));
    }

    #[test]
    fn info_dtmf_relay_and_plain_dtmf_bodies_yield_the_key() {
        assert_eq!(
            info_digit("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(
            info_digit("Application/DTMF-Relay", b"signal= *\nDuration=250"),
            Some('*')
        );
        assert_eq!(info_digit("application/dtmf", b"#"), Some('#'));
        assert_eq!(
            info_digit("application/dtmf-relay", b"Signal=11\r\n"),
            Some('#')
        );
        assert_eq!(
            info_digit("application/dtmf-relay", b"Duration=160\r\n"),
            None
        );
        assert_eq!(info_digit("application/dtmf-relay", b"Signal=x\r\n"), None);
        assert_eq!(info_digit("text/plain", b"5"), None);
    }

    #[test]
    fn queueing_hands_the_switchboard_the_menu_path_how_operators_read_it_and_its_topic() {
        let t0 = crate::clock::test_epoch();
        let plan = QUEUE_PLAN.replace(
            "[nodes.q]\ntype = \"queue\"\n",
            "[nodes.q]\ntype = \"queue\"\nlabel = \"Ügyintéző\"\n",
        );
        let (mut c, _) = call_with_plan(t0, Some(101), &plan);
        let mut out = Vec::new();
        let commands = run(&mut c, t0 + Duration::from_secs(1), &mut out);
        let enqueue = commands
            .iter()
            .find_map(|c| match c {
                CallCommand::Enqueue {
                    path,
                    path_label,
                    topic,
                    ..
                } => Some((path.as_str(), path_label.as_str(), topic.as_str())),
                _ => None,
            })
            .expect("the call queues");
        assert_eq!(enqueue, ("q", "Ügyintéző", "Ügyintéző"));
    }

    const QUEUE_PLAN: &str = r#"start = "q"
[nodes.q]
type = "queue"
queue = "operators"
no_agents = "bye"
[nodes.bye]
type = "play"
prompts = ["goodbye"]
barge_in = false
next = "end"
[nodes.end]
type = "hangup"
"#;

    #[test]
    fn a_transfer_node_hands_the_caller_to_the_switchboard_and_takes_on_error_when_it_fails() {
        let t0 = crate::clock::test_epoch();
        let plan = QUEUE_PLAN.replace(
            "type = \"queue\"\nqueue = \"operators\"\nno_agents = \"bye\"",
            "type = \"transfer\"\nlabel = \"Béla\"\noperator = \"bela\"\non_error = \"bye\"",
        );
        let (mut c, _) = call_with_plan(t0, Some(101), &plan);
        let mut out = Vec::new();
        let commands = run(&mut c, t0 + Duration::from_secs(1), &mut out);
        let transfer = commands
            .iter()
            .find_map(|c| match c {
                CallCommand::Transfer {
                    to,
                    path_label,
                    caller,
                    ..
                } => Some((to.clone(), path_label.as_str(), caller.as_str())),
                _ => None,
            })
            .expect("the call is passed on");
        assert_eq!(
            transfer,
            (
                TransferTarget::Operator("bela".into()),
                "Béla",
                "+36301234567"
            )
        );
        // While bela rings the caller hears the hold music, never the menu; nobody answers, so the plan goes on at on_error.
        let before = out.len();
        run(&mut c, t0 + Duration::from_secs(3), &mut out);
        assert!(out.len() > before + 90, "the stream goes on while waiting");
        c.handle_input(
            t0 + Duration::from_secs(3),
            CallInput::Queue(QueueNews::Left(ActionResult::Failed)),
        );
        let played = out.len();
        let commands = run(&mut c, t0 + Duration::from_secs(5), &mut out);
        assert!(
            out[played..].iter().any(|(_, f)| source(f) == 8000),
            "the goodbye of on_error plays"
        );
        assert_eq!(commands, vec![CallCommand::Hangup]);
    }

    #[test]
    fn operator_hanging_up_ends_the_bridged_callers_leg_with_bye() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call_with_plan(t0, Some(101), QUEUE_PLAN);
        let mut out = Vec::new();
        let commands = run(&mut c, t0 + Duration::from_secs(1), &mut out);
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, CallCommand::Enqueue { queue, .. } if queue == "operators")),
            "{commands:?}"
        );
        let operator = Negotiated {
            codec: Codec::Pcma,
            pt: 8,
            telephone_event: Some(101),
            remote: Some("127.0.0.1:30000".parse().expect("literal")),
            ptime_ms: 20,
            direction: Direction::SendRecv,
        };
        let now = t0 + Duration::from_secs(2);
        c.handle_input(
            now,
            CallInput::Queue(QueueNews::Connected {
                operator: "anna".to_owned(),
                negotiated: operator,
            }),
        );
        assert!(c.is_bridged());
        c.handle_input(
            now + Duration::from_secs(1),
            CallInput::Queue(QueueNews::OperatorHungUp),
        );
        assert_eq!(c.poll_command(), Some(CallCommand::Hangup));
        assert_eq!(c.outcome(), Some(Outcome::Operator));
    }

    #[test]
    fn a_transfer_plays_hold_music_in_the_callers_one_stream_then_bridges_the_next_operator() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call_with_plan(t0, Some(101), QUEUE_PLAN);
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_secs(1), &mut out);
        let leg = |port: u16| Negotiated {
            codec: Codec::Pcma,
            pt: 8,
            telephone_event: Some(101),
            remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            ptime_ms: 20,
            direction: Direction::SendRecv,
        };
        // Relays what the operator's phone at `port` sends; the headers the caller sees.
        let relay = |c: &mut Call, at: Instant, port: u16, seq: u16| {
            let mut buf = [0u8; 300];
            let from = SocketAddr::from(([127, 0, 0, 1], port));
            match c.relay_rtp(at, Side::Operator, from, &audio_packet(seq, 3000), &mut buf) {
                Relayed::Forward { len, .. } => {
                    let p = packet::parse(&buf[..len]).expect("valid");
                    (p.ssrc, p.sequence, p.marker)
                }
                other => panic!("relayed expected, got {other:?}"),
            }
        };
        let now = t0 + Duration::from_secs(2);
        let connected = |operator: &str, port| {
            CallInput::Queue(QueueNews::Connected {
                operator: operator.to_owned(),
                negotiated: leg(port),
            })
        };
        c.handle_input(now, connected("anna", 30000));
        let last = (0..5u16)
            .map(|i| relay(&mut c, now, 30000, 900 + i))
            .last()
            .expect("relayed");
        // The operator passes the call on: our own stream takes over where the relay
        // stopped (same SSRC, next sequence number, marker bit), playing hold music.
        c.handle_input(now, CallInput::Queue(QueueNews::Held));
        assert!(!c.is_bridged());
        out.clear();
        run(&mut c, now + Duration::from_secs(1), &mut out);
        assert!(out.len() >= 45, "a second of hold frames: {}", out.len());
        let first = header(&out[0].1);
        assert_eq!(
            (first.ssrc, first.sequence, first.marker),
            (last.0, last.1.wrapping_add(1), true)
        );
        let held_last = header(&out[out.len() - 1].1);
        // The colleague answers: relayed again, still the same stream for the caller.
        c.handle_input(now + Duration::from_secs(1), connected("bela", 31000));
        let next = relay(&mut c, now + Duration::from_secs(1), 31000, 7);
        assert_eq!(
            next,
            (last.0, held_last.sequence.wrapping_add(1), true),
            "a talkspurt starts where the hold music ended"
        );
        // An attended transfer takes this operator's leg away: the call ends.
        c.handle_input(
            now + Duration::from_secs(2),
            CallInput::Queue(QueueNews::Released),
        );
        assert_eq!(c.poll_command(), Some(CallCommand::Hangup));
        let record = c.record(now + Duration::from_secs(2)).expect("ended");
        assert_eq!(record.operator.as_deref(), Some("bela"));
        assert_eq!(
            record.queue_wait_s,
            Some(2),
            "the queue and the hold together"
        );
    }

    #[test]
    fn after_the_operator_hangs_up_the_plan_goes_on_to_a_survey_whose_key_is_the_records_rating() {
        let t0 = crate::clock::test_epoch();
        let plan = QUEUE_PLAN.replace(
            "no_agents = \"bye\"",
            "no_agents = \"bye\"\nafter_operator = \"rate\"",
        ) + "[nodes.rate]\ntype = \"survey\"\nprompts = [\"goodbye\"]\nnext = \"end\"\n";
        let (mut c, _) = call_with_plan(t0, Some(101), &plan);
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_secs(1), &mut out);
        let now = t0 + Duration::from_secs(2);
        c.handle_input(
            now,
            CallInput::Queue(QueueNews::Connected {
                operator: "anna".to_owned(),
                negotiated: Negotiated {
                    codec: Codec::Pcma,
                    pt: 8,
                    telephone_event: Some(101),
                    remote: Some(SocketAddr::from(([127, 0, 0, 1], 30000))),
                    ptime_ms: 20,
                    direction: Direction::SendRecv,
                },
            }),
        );
        assert!(c.is_bridged());
        // The operator hangs up: no BYE to the caller, our stream plays the survey.
        let now = now + Duration::from_secs(2);
        c.handle_input(now, CallInput::Queue(QueueNews::OperatorHungUp));
        assert!(!c.is_bridged());
        assert!(
            std::iter::from_fn(|| c.poll_command()).all(|cmd| cmd != CallCommand::Hangup),
            "the call goes on"
        );
        out.clear();
        run(&mut c, now + Duration::from_secs(1), &mut out);
        assert!(
            out.len() >= 45,
            "a second of the survey prompt: {}",
            out.len()
        );
        // The caller presses 4 (RFC 2976 INFO, as some phones send it).
        c.handle_input(
            now + Duration::from_secs(1),
            CallInput::Info {
                content_type: "application/dtmf-relay".to_owned(),
                body: b"Signal=4\r\nDuration=160\r\n".to_vec(),
            },
        );
        run(&mut c, now + Duration::from_secs(2), &mut out);
        assert_eq!(
            c.poll_command(),
            Some(CallCommand::Hangup),
            "next is the hang-up"
        );
        let end = now + Duration::from_secs(2);
        c.handle_input(end, CallInput::Ended(EndReason::PeerBye));
        let record = c.record(end).expect("ended");
        assert_eq!(record.rating, Some(4));
        assert_eq!(record.outcome, Outcome::Operator);
        assert_eq!(record.operator.as_deref(), Some("anna"));
    }

    #[test]
    fn caller_hold_reinvite_is_answered_recvonly_with_the_next_session_version() {
        let t0 = crate::clock::test_epoch();
        let (mut c, _) = call(t0, Some(101));
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_secs(1), &mut out);
        let offer = |direction: &str| {
            format!(
                "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na={direction}\r\n"
            )
            .into_bytes()
        };
        let answer = |c: &mut Call| match c.poll_command() {
            Some(CallCommand::Answer { sdp }) => String::from_utf8_lossy(&sdp).into_owned(),
            other => panic!("expected an answer, found {other:?}"),
        };
        let now = t0 + Duration::from_secs(1);
        c.handle_input(
            now,
            CallInput::ReInvite {
                body: offer("sendonly"),
            },
        );
        let held = answer(&mut c);
        assert!(held.contains("o=ugyelet 1 2 IN IP4"), "version 2: {held}");
        assert!(held.contains("a=recvonly"), "{held}");
        c.handle_input(
            now,
            CallInput::ReInvite {
                body: offer("sendrecv"),
            },
        );
        let resumed = answer(&mut c);
        assert!(
            resumed.contains("o=ugyelet 1 3 IN IP4"),
            "version 3: {resumed}"
        );
        assert!(resumed.contains("a=sendrecv"), "{resumed}");
    }

    /// A call of `QUEUE_PLAN` bridged to anna's phone at 127.0.0.1:30000 at `now`.
    fn bridged(t0: Instant) -> (Call, Instant) {
        let (mut c, _) = call_with_plan(t0, Some(101), QUEUE_PLAN);
        let mut out = Vec::new();
        run(&mut c, t0 + Duration::from_secs(1), &mut out);
        let now = t0 + Duration::from_secs(2);
        c.handle_input(
            now,
            CallInput::Queue(QueueNews::Connected {
                operator: "anna".to_owned(),
                negotiated: operator_leg(Direction::SendRecv),
            }),
        );
        (c, now)
    }

    const OPERATOR_RTP: &str = "127.0.0.1:30000";

    /// Anna's phone's media; `direction` is ours towards it (`RecvOnly` while it holds).
    fn operator_leg(direction: Direction) -> Negotiated {
        Negotiated {
            codec: Codec::Pcma,
            pt: 8,
            telephone_event: Some(101),
            remote: Some(OPERATOR_RTP.parse().expect("literal")),
            ptime_ms: 20,
            direction,
        }
    }

    /// Relays a packet `from` a leg; the header the other leg sees, if relayed.
    fn relay_one(c: &mut Call, at: Instant, from: Side, seq: u16) -> Result<RtpHeader, Relayed> {
        let mut buf = [0u8; 300];
        let src = match from {
            Side::Caller => CALLER_RTP,
            Side::Operator => OPERATOR_RTP,
        };
        let src = src.parse().expect("literal");
        match c.relay_rtp(at, from, src, &audio_packet(seq, 100), &mut buf) {
            Relayed::Forward { len, .. } => Ok(header(
                &<RtpFrame>::try_from(&buf[..len]).expect("a 20 ms frame"),
            )),
            other => Err(other),
        }
    }

    /// Runs the call's timers to `until`: what went to the caller and to the operator.
    fn run_both(c: &mut Call, until: Instant) -> (Vec<RtpFrame>, Vec<RtpFrame>) {
        let (mut caller, mut operator) = (Vec::new(), Vec::new());
        while let Some(t) = c.poll_timeout() {
            if t > until {
                break;
            }
            c.handle_timeout(t);
            while c.poll_command().is_some() {}
            caller.extend(std::iter::from_fn(|| c.poll_rtp()).map(|(_, f)| f));
            while let Some((dst, f)) = c.poll_operator_rtp() {
                assert_eq!(dst, OPERATOR_RTP.parse().expect("literal"));
                operator.push(f);
            }
        }
        (caller, operator)
    }

    /// Asserts `frames` are one run of a stream: consecutive sequence numbers and
    /// timestamps 160 apart on one SSRC, only the first marked.
    fn assert_one_run(frames: &[RtpFrame]) {
        for (i, w) in frames.windows(2).enumerate() {
            let (a, b) = (header(&w[0]), header(&w[1]));
            assert_eq!(b.ssrc, a.ssrc, "frame {i}");
            assert_eq!(b.sequence, a.sequence.wrapping_add(1), "frame {i}");
            assert_eq!(b.timestamp, a.timestamp.wrapping_add(160), "frame {i}");
            assert!(!b.marker, "frame {}", i + 1);
        }
    }

    #[test]
    fn operator_hold_plays_music_on_hold_to_the_caller_in_its_one_stream_until_resumed() {
        let t0 = crate::clock::test_epoch();
        let (mut c, now) = bridged(t0);
        let last = (0..5u16)
            .map(|i| relay_one(&mut c, now, Side::Operator, 900 + i).expect("relayed"))
            .last()
            .expect("five");
        // The operator's softphone holds (sendonly, answered recvonly by the switchboard).
        c.handle_input(
            now,
            CallInput::Queue(QueueNews::OperatorMedia(operator_leg(Direction::RecvOnly))),
        );
        assert!(c.is_bridged(), "still the operator's call");
        // What the holder still sends is not relayed, nor anything to it.
        assert_eq!(
            relay_one(&mut c, now, Side::Operator, 905),
            Err(Relayed::OnHold)
        );
        assert_eq!(
            relay_one(&mut c, now, Side::Caller, 1),
            Err(Relayed::OnHold)
        );
        let (music, to_operator) = run_both(&mut c, now + Duration::from_secs(1));
        assert!(to_operator.is_empty(), "the holder gets nothing");
        assert!(music.len() >= 45, "a second of music: {}", music.len());
        assert!(music.iter().all(is_music), "music on hold, nothing else");
        // The caller's one stream goes on where the relay stopped, a talkspurt starting.
        let first = header(&music[0]);
        assert_eq!(
            (first.ssrc, first.sequence, first.timestamp, first.marker),
            (
                last.ssrc,
                last.sequence.wrapping_add(1),
                last.timestamp.wrapping_add(160),
                true
            )
        );
        assert_one_run(&music);
        let music_last = header(&music[music.len() - 1]);
        // Resumed: relayed again on the same stream, after the music's last packet.
        let later = now + Duration::from_secs(1);
        c.handle_input(
            later,
            CallInput::Queue(QueueNews::OperatorMedia(operator_leg(Direction::SendRecv))),
        );
        let next = relay_one(&mut c, later, Side::Operator, 906).expect("relayed");
        assert_eq!(
            (next.ssrc, next.sequence, next.marker),
            (last.ssrc, music_last.sequence.wrapping_add(1), true)
        );
        assert!(
            relay_one(&mut c, later, Side::Caller, 2).is_ok(),
            "both ways"
        );
        let (caller, _) = run_both(&mut c, later + Duration::from_secs(1));
        assert!(caller.is_empty(), "the music stopped: {}", caller.len());
    }

    #[test]
    fn caller_hold_plays_music_on_hold_to_the_operator_on_the_relays_stream_until_resumed() {
        let t0 = crate::clock::test_epoch();
        let (mut c, now) = bridged(t0);
        let last = (0..5u16)
            .map(|i| relay_one(&mut c, now, Side::Caller, 100 + i).expect("relayed"))
            .last()
            .expect("five");
        let offer = |direction: &str| CallInput::ReInvite {
            body: format!(
                "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na={direction}\r\n"
            )
            .into_bytes(),
        };
        c.handle_input(now, offer("inactive"));
        assert!(
            matches!(c.poll_command(), Some(CallCommand::Answer { sdp }) if String::from_utf8_lossy(&sdp).contains("a=inactive"))
        );
        assert_eq!(
            relay_one(&mut c, now, Side::Operator, 1),
            Err(Relayed::OnHold)
        );
        // An inactive phone sends nothing: a hold longer than the inactivity limit (60 s)
        // does not end the call.
        let until = now + Duration::from_secs(90);
        let (to_caller, music) = run_both(&mut c, until);
        assert!(c.ending().is_none(), "{:?}", c.ending());
        assert!(to_caller.is_empty(), "the holder gets nothing");
        assert!(music.len() >= 4000, "90 s of music: {}", music.len());
        assert!(music.iter().all(is_music), "music on hold, nothing else");
        let first = header(&music[0]);
        assert_eq!(
            (first.ssrc, first.sequence, first.timestamp, first.marker),
            (
                last.ssrc,
                last.sequence.wrapping_add(1),
                last.timestamp.wrapping_add(160),
                true
            ),
            "the operator's stream goes on where the relay stopped"
        );
        assert_one_run(&music);
        let music_last = header(&music[music.len() - 1]);
        c.handle_input(until, offer("sendrecv"));
        assert!(matches!(c.poll_command(), Some(CallCommand::Answer { .. })));
        let next = relay_one(&mut c, until, Side::Caller, 105).expect("relayed");
        assert_eq!(
            (next.ssrc, next.sequence, next.marker),
            (last.ssrc, music_last.sequence.wrapping_add(1), true)
        );
        let (_, operator) = run_both(&mut c, until + Duration::from_secs(1));
        assert!(operator.is_empty(), "the music stopped: {}", operator.len());
        // The inactivity limit counts again from the resume.
        run_both(&mut c, until + Duration::from_secs(59));
        assert!(c.ending().is_none());
        run_both(&mut c, until + Duration::from_secs(61));
        assert_eq!(c.ending(), Some(Ending::NoMedia));
    }

    #[test]
    fn when_both_legs_hold_nobody_gets_music_and_the_one_left_held_gets_it_on_its_stream() {
        let t0 = crate::clock::test_epoch();
        let (mut c, now) = bridged(t0);
        let to_operator = relay_one(&mut c, now, Side::Caller, 100).expect("relayed");
        c.handle_input(
            now,
            CallInput::Queue(QueueNews::OperatorMedia(operator_leg(Direction::RecvOnly))),
        );
        // The resident holds too, the RFC 2543 way: nobody listens, nothing is sent.
        c.handle_input(
            now,
            CallInput::ReInvite {
                body: b"v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                        m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
                    .to_vec(),
            },
        );
        assert!(matches!(c.poll_command(), Some(CallCommand::Answer { .. })));
        let (caller, operator) = run_both(&mut c, now + Duration::from_secs(1));
        assert!(caller.is_empty() && operator.is_empty());
        // The operator resumes: the resident still holds, so the operator hears music.
        let later = now + Duration::from_secs(1);
        c.handle_input(
            later,
            CallInput::Queue(QueueNews::OperatorMedia(operator_leg(Direction::SendRecv))),
        );
        let (caller, music) = run_both(&mut c, later + Duration::from_secs(1));
        assert!(caller.is_empty(), "the holder gets nothing");
        assert!(
            music.len() >= 45 && music.iter().all(is_music),
            "{}",
            music.len()
        );
        let first = header(&music[0]);
        assert_eq!(
            (first.ssrc, first.sequence, first.marker),
            (to_operator.ssrc, to_operator.sequence.wrapping_add(1), true)
        );
    }
}
