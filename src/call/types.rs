//! The call's vocabulary: what it needs to start, what it is told, what it asks of SIP
//! and the driver, and how it ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dialplan::interp::{Action, ActionResult, CallEnv};
use crate::dialplan::{Plan, TransferTarget};
use crate::media::prompts::PromptSet;
use crate::outcome::Outcome;
use crate::sdp::offer_answer::{Codec, MediaSession, Negotiated};
use crate::sip::endpoint::{DialogId, EndReason};

use super::DigitSource;

/// How long after the stream may start its frame 0 is due. The 200 OK has already been
/// sent by then ([`CallInput::AnswerSent`]); one packet interval more gives the phone time
/// to take it in and open its media before the greeting's first frame arrives, at the cost
/// of 20 ms before the greeting starts.
pub const ANSWER_LEAD: Duration = crate::rtp::pacer::FRAME_INTERVAL;

/// Size of one outgoing packet: 12-byte RTP header + 160 bytes of G.711 (20 ms at 8 kHz).
pub const PACKET_LEN: usize = 12 + 160;

/// The prompt looped while a caller waits for an operator (and to a held party).
pub use crate::media::hold::MUSIC_ON_HOLD;

/// One outgoing RTP packet.
pub type RtpFrame = [u8; PACKET_LEN];

/// Everything a call needs to start.
#[derive(Clone)]
pub struct CallSetup {
    pub dialog: DialogId,
    /// An operator's feature-code call (`*21`–`*24`), not a resident's: kept out of the
    /// call records and the resident call counts.
    pub operator_call: bool,
    /// The caller's number or user part, as received (normalised later by the forms layer).
    pub caller: String,
    /// Where the INVITE came from.
    pub source: SocketAddr,
    pub negotiated: Negotiated,
    pub answer_sdp: Vec<u8>,
    /// Our media description, for re-INVITE answers.
    pub media: MediaSession,
    pub plan: Arc<Plan>,
    pub prompts: Arc<PromptSet>,
    /// When to send 200 OK (the caller hears ringback until then).
    pub answer_at: Instant,
    pub max_duration: Duration,
    /// Hang up an answered call when no RTP arrives for this long.
    pub inactivity: Option<Duration>,
    /// Seeds SSRC, initial sequence number and timestamp (RFC 3550 §5.1: random).
    pub seed: u64,
    /// What the dial plan knows of the call: caller (E.164), civil start time, schedules.
    pub env: CallEnv,
    /// The SIP Call-ID of the caller's leg (for the call record).
    pub sip_call_id: String,
    /// What the caller dialled (for the call record).
    pub called: String,
    /// Wall-clock time of the INVITE (for the call record).
    pub start_ts: jiff::Timestamp,
    /// Send media to an SDP address on another host than the signalling before any media
    /// came from it (`rtp.trust_sdp_address`, for trunks with separate media servers).
    pub trust_sdp_address: bool,
}

/// SIP happenings for the call, from the endpoint.
#[derive(Debug, Clone)]
pub enum CallInput {
    /// Our 200 OK to the INVITE has been sent: the phone knows the session, so media may
    /// start (a packet arriving before the 200 OK would be dropped by the phone).
    AnswerSent,
    /// The ACK for our 200 arrived.
    Confirmed,
    /// A re-INVITE with this offer (possibly empty: then we offer, RFC 3261 §14.2).
    ReInvite { body: Vec<u8> },
    /// An INFO (DTMF relay, or anything else).
    Info { content_type: String, body: Vec<u8> },
    /// The far side ended the call, or SIP gave up on it.
    Ended(EndReason),
    /// News from the operator queue the call waits in.
    Queue(QueueNews),
}

/// What the operator queue tells a waiting call.
#[derive(Debug, Clone)]
pub enum QueueNews {
    /// Where the caller stands, for the periodic announcement.
    Position {
        position: u32,
        estimated_wait: Option<Duration>,
    },
    /// The queue gave the call back to the dial plan: nobody logged in, or the longest
    /// wait passed (both take the queue node's `no_agents` branch).
    Left(ActionResult),
    /// An operator answered with this media: relay from now on.
    Connected {
        operator: String,
        negotiated: Negotiated,
    },
    /// The operator hung up: the caller's leg ends too.
    OperatorHungUp,
    /// The operator's phone renegotiated its media (re-INVITE: hold, resume).
    OperatorMedia(Negotiated),
    /// The operator passes the call on: the relay stops, the caller hears music on hold
    /// until someone takes the call ([`QueueNews::Connected`]) or the plan gets it back.
    Held,
    /// The operator leg went over to another caller's call (an attended transfer): this
    /// call has nobody left to talk to and ends.
    Released,
}

/// What the call asks of SIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    /// 200 OK to the pending INVITE with this SDP.
    Answer { sdp: Vec<u8> },
    /// A final error to the pending (re-)INVITE.
    Reject { status: u16 },
    /// BYE (or 480 while ringing).
    Hangup,
    /// The caller left the queue with a key (the dial plan goes on).
    LeaveQueue,
    /// Put the caller in this operator queue; `path` is the menu path (node names joined by
    /// `>`, for `X-Ugyelet-Path`), `path_label` the same as operators read it
    /// (`Főmenü › Ügyintéző`, from the plan this call runs on), `topic` its one step the
    /// operator's phone shows (`Főmenü`, see `Plan::path_topic`).
    Enqueue {
        queue: String,
        path: String,
        path_label: String,
        topic: String,
        /// The caller's number (E.164 when known) for the operator's display.
        caller: String,
        /// The caller leg's codec, offered first to the operator.
        codec: Codec,
    },
    /// Pass the caller on (a `transfer` node): to a queue, an operator or a number
    /// outside. The caller hears music on hold meanwhile; the fields are as for
    /// [`CallCommand::Enqueue`].
    Transfer {
        to: TransferTarget,
        path: String,
        path_label: String,
        topic: String,
        caller: String,
        codec: Codec,
    },
}

/// How a call ended on the wire. With what the caller did in the plan ([`Facts`]) it
/// becomes the call's [`Outcome`] ([`outcome_of`]), the one word records, metrics and logs
/// use; this value itself is never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The dial plan finished the call (goodbye, hang up).
    Completed,
    /// The caller hung up after the answer.
    CallerHungUp,
    /// The caller gave up before the answer.
    Cancelled,
    /// No RTP from the caller for the inactivity period.
    NoMedia,
    /// The call reached its maximum duration.
    MaxDuration,
    /// SIP failed (no ACK, transport error).
    Failed,
    /// An operator took the call, and one side hung up.
    Operator,
}

/// What happened during a call, besides how it ended, that decides its [`Outcome`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The plan named the outcome (`set` the variable `outcome`, one of
    /// [`crate::outcome::PLAN_OUTCOMES`]).
    pub planned: Option<Outcome>,
    /// The caller left a voice message.
    pub left_message: bool,
    /// The caller was waiting in an operator queue when the call ended.
    pub queued: bool,
    /// The queue gave the call back (nobody logged in, the longest wait passed).
    pub queue_gave_up: bool,
    /// The caller left the queue with a key.
    pub left_queue: bool,
    /// The plan found the line closed.
    pub closed: bool,
    /// The operator hung up first and the plan went on (a survey).
    pub after_operator: bool,
}

/// The outcome of a call that ended so, after what `f` says happened. The first rule that
/// matches wins: a cancelled call is cancelled and an operator's call is the operator's
/// whatever else happened; a voice message beats the plan's own word, the plan's word beats
/// the queue, and the queue beats "closed".
pub fn outcome_of(ending: Ending, f: &Facts) -> Outcome {
    let plan_ended = matches!(ending, Ending::Completed | Ending::CallerHungUp);
    match ending {
        Ending::Cancelled => Outcome::Cancelled,
        Ending::Operator => Outcome::Operator,
        _ if plan_ended && f.after_operator => Outcome::Operator,
        _ if f.left_message => Outcome::Voicemail,
        _ if plan_ended && f.planned.is_some() => f.planned.unwrap_or(Outcome::Completed),
        Ending::CallerHungUp if f.queued => Outcome::AbandonedQueue,
        _ if plan_ended && f.queue_gave_up => Outcome::NoOperator,
        _ if plan_ended && f.left_queue => Outcome::LeftQueue,
        _ if plan_ended && f.closed => Outcome::Closed,
        Ending::Completed => Outcome::Completed,
        Ending::CallerHungUp => Outcome::AbandonedMenu,
        Ending::NoMedia => Outcome::NoMedia,
        Ending::MaxDuration => Outcome::MaxDuration,
        Ending::Failed => Outcome::Failed,
    }
}

/// What the call reports to its driver (for logs and, later, call records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Answered,
    /// A key press, with where it came from.
    Digit {
        key: char,
        source: DigitSource,
    },
    /// Why the dial plan did something (for the call's debug log).
    Plan {
        node: String,
        text: String,
    },
}

/// A long-running action the driver carries out (sending a form, keeping a voice
/// message); the call waits, in silence, until [`Call::handle_action_result`] brings the
/// outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    /// The dial-plan node that asked, and how many nodes the call had been through then:
    /// with the SIP Call-ID they name the request uniquely (its idempotency key).
    pub node: String,
    pub step: usize,
    /// For [`Action::Voicemail`]: what the caller said, 8 kHz 16-bit mono.
    pub audio: Vec<i16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_happened_in_the_plan_decides_the_outcome_of_a_hang_up() {
        let none = Facts::default();
        let hung_up = |f: Facts| outcome_of(Ending::CallerHungUp, &f);
        assert_eq!(hung_up(none), Outcome::AbandonedMenu);
        assert_eq!(outcome_of(Ending::Completed, &none), Outcome::Completed);
        assert_eq!(
            hung_up(Facts {
                closed: true,
                ..none
            }),
            Outcome::Closed
        );
        assert_eq!(
            hung_up(Facts {
                queued: true,
                closed: true,
                ..none
            }),
            Outcome::AbandonedQueue
        );
        // Nobody took the call: the queue gave it back, and the plan said goodbye.
        assert_eq!(
            outcome_of(
                Ending::Completed,
                &Facts {
                    queue_gave_up: true,
                    closed: true,
                    ..none
                }
            ),
            Outcome::NoOperator
        );
        assert_eq!(
            hung_up(Facts {
                left_queue: true,
                ..none
            }),
            Outcome::LeftQueue
        );
        assert_eq!(
            hung_up(Facts {
                left_queue: true,
                planned: Some(Outcome::Callback),
                ..none
            }),
            Outcome::Callback,
            "the plan's word beats the queue's"
        );
        assert_eq!(
            hung_up(Facts {
                left_message: true,
                planned: Some(Outcome::Callback),
                ..none
            }),
            Outcome::Voicemail,
            "a message beats the plan's word"
        );
    }

    #[test]
    fn how_the_wire_ended_wins_for_cancelled_operator_and_failed_calls() {
        let all = Facts {
            planned: Some(Outcome::Callback),
            left_message: false,
            queued: true,
            queue_gave_up: true,
            left_queue: true,
            closed: true,
            after_operator: false,
        };
        assert_eq!(outcome_of(Ending::Cancelled, &all), Outcome::Cancelled);
        assert_eq!(outcome_of(Ending::Operator, &all), Outcome::Operator);
        assert_eq!(outcome_of(Ending::Failed, &all), Outcome::Failed);
        assert_eq!(outcome_of(Ending::NoMedia, &all), Outcome::NoMedia);
        assert_eq!(outcome_of(Ending::MaxDuration, &all), Outcome::MaxDuration);
    }

    #[test]
    fn a_call_that_goes_on_after_the_operator_hung_up_is_still_the_operators() {
        let after = Facts {
            planned: None,
            left_message: false,
            queued: false,
            queue_gave_up: false,
            left_queue: false,
            closed: false,
            after_operator: true,
        };
        // The caller hangs up during the survey, or the plan hangs up after it.
        assert_eq!(outcome_of(Ending::CallerHungUp, &after), Outcome::Operator);
        assert_eq!(outcome_of(Ending::Completed, &after), Outcome::Operator);
        assert_eq!(outcome_of(Ending::Failed, &after), Outcome::Failed);
    }
}
