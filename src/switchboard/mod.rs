//! The operators' side of a call: registrar, operator queue and operator legs, as one
//! sans-IO core.
//!
//! ```text
//!  REGISTER ─► handle_register ─► Registrar ──reachable──► Acd ◄── handle_enqueue / call_gone
//!                                    │ keep-alives            │ Ring / CancelRing / NoAgents
//!                                    ▼                        ▼ Announce
//!                     Action::Probe / Action::Crlf    Action::Ring ─► driver binds a port,
//!                                                     sends the INVITE ─► ring_started
//!   operator's phone:  OutgoingAnswered ─► answered ─► Action::Bridge (the leg's port to the call)
//!                      OutgoingFailed   ─► failed   ─► Acd tries the next operator
//!                      Ended (BYE)      ─► ended    ─► Action::Tell(OperatorHungUp)
//!                      ReInvite (hold)  ─► reinvite ─► Action::Answer + Action::Tell(OperatorMedia)
//!                      Refer (transfer) ─► handle_refer ─► Action::Respond, Action::Notify,
//!                                          Action::Tell(Held), a direct Ring (transfer.rs)
//!   the dial plan:     transfer node    ─► handle_transfer ─► a direct Ring, or the queue
//! ```
//!
//! Like every core it reads no clock and touches no socket: each `handle_*` takes `now`, and
//! what must happen on the wire comes out of [`Switchboard::poll_action`]. The driver owns the
//! SIP endpoint, the RTP ports and the call tasks and carries the actions out; the only
//! round trip is [`Action::Ring`], which needs an RTP port bound before the INVITE's offer can
//! be written: the driver binds one and reports back with [`Switchboard::ring_started`] (or
//! [`Switchboard::ring_failed`]).
//!
//! The switchboard knows calls only by their caller leg's [`DialogId`]; what a call does
//! with queue news is the call core's business (`call.rs` stays the only translator
//! between legs and the dial plan).
//!
//! Callback jobs (`callbacks.rs`) use the same queue and operator legs: a due job rings an
//! operator like a waiting caller, and once they answer, [`Action::Dial`] calls the
//! resident through the trunk and [`Action::Relay`] joins the two legs.

mod board;
mod callbacks;
mod ring;
mod secure;
#[cfg(test)]
mod tests;
mod transfer;

pub use board::{Board, CallerView, CurrentCall, OperatorRow, WaitingRow};
pub use callbacks::{DeskSettings, Dial, job_of, job_ref};
pub use ring::{Ring, TOPIC_MAX_CHARS, TOPIC_SEPARATOR, call_info, operator_display_name};
pub use secure::{CALL_WARNING, Insecure};
pub use transfer::{CallOut, Reach};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::acd::{Acd, AcdAction, AcdConfig, AgentOp, RingFailure, SavedAgents, Strategy};
use crate::call::QueueNews;
use crate::config::{OperatorsConfig, QueueStrategy};
use crate::dialplan::interp::ActionResult;
use crate::operators::Operators;
use crate::pii::{Pii, Security, security};
use crate::registrar::{
    AuthNote, KeepAliveKind, Registrar, RegistrarEvent, Restored, SavedBinding, Source,
};
use crate::sdp::offer_answer::{self, Codec, MediaSession, Negotiated};
use crate::sip::auth::Verdict;
use crate::sip::endpoint::{DialogId, RequestId, Transport};
use crate::sip::msg::{Request, Response, Uri};

/// The RFC 4733 payload type offered to operators' phones.
const TELEPHONE_EVENT_PT: u8 = 101;

/// What the driver must do.
#[derive(Debug)]
pub enum Action {
    /// Answer a REGISTER.
    Respond {
        id: RequestId,
        response: Box<Response>,
    },
    /// Keep a TCP binding's connection open with a CRLF ping (RFC 5626 §4.4.1).
    Crlf { conn: u64 },
    /// Keep a UDP binding's NAT pinhole open with an OPTIONS to `contact`; report the
    /// outcome with [`Switchboard::probe_result`].
    Probe {
        probe: u64,
        target: Source,
        contact: Uri,
    },
    /// Ring an operator's phone: bind an RTP port towards `ring.target`, build the INVITE
    /// with [`Ring::invite`], send it, and report with [`Switchboard::ring_started`] or
    /// [`Switchboard::ring_failed`].
    Ring(Ring),
    /// Withdraw a ringing INVITE (CANCEL).
    Cancel { leg: DialogId },
    /// End an answered operator leg (BYE).
    Hangup { leg: DialogId },
    /// 200 OK with this SDP to the operator leg's pending re-INVITE.
    Answer { leg: DialogId, sdp: Vec<u8> },
    /// A final error to the operator leg's pending re-INVITE.
    Reject { leg: DialogId, status: u16 },
    /// The operator answered: hand the leg's RTP port to the call, which relays from now on.
    Bridge {
        call: DialogId,
        leg: DialogId,
        operator: String,
        negotiated: Negotiated,
    },
    /// News for a waiting or bridged call.
    Tell { call: DialogId, news: QueueNews },
    /// Call a callback's resident through the trunk (see [`Dial`]).
    Dial(Dial),
    /// Both legs of a callback answered: relay RTP between their ports.
    Relay {
        job: crate::callback::JobId,
        operator_leg: DialogId,
        resident_leg: DialogId,
        operator: Negotiated,
        resident: Negotiated,
    },
    /// A callback leg's media was renegotiated (hold, resume): the relay maps anew.
    RelayMedia {
        leg: DialogId,
        negotiated: Negotiated,
    },
    /// The leg is over (or was never bridged): its RTP port, if still held, can go.
    Release { leg: DialogId },
    /// Call a number outside through the trunk for a transfer: bind an RTP port, build the
    /// INVITE, send it, and report with [`Switchboard::call_out_started`] or
    /// [`Switchboard::call_out_failed`].
    CallOut(CallOut),
    /// Tell the operator leg how the transfer it asked for goes (RFC 3515 §2.4.4: a
    /// NOTIFY of the `refer` event, id `refer_cseq`, with `status` as a sipfrag); report
    /// its answer with [`Switchboard::notify_answered`].
    Notify {
        leg: DialogId,
        id: u64,
        refer_cseq: u32,
        status: u16,
    },
}

/// What to do with an INVITE to a feature code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    /// Not a feature code: an ordinary call to the line.
    No,
    /// Ask for credentials (401 with these challenges).
    Challenge(Vec<String>),
    /// Refuse with this status (unknown code, throttled, bad credentials format).
    Refuse(u16),
    /// Done: confirm with a tone.
    Done,
    /// An operator (authenticated on this INVITE) calls a colleague: the call is theirs,
    /// passed on to the colleague (see [`Switchboard::colleague_call`]).
    Colleague(Colleague),
    /// An authenticated `require_secure` account called without TLS (403) or without SRTP
    /// (488): refused with this status and a `Warning` saying why.
    NotSecure(u16),
}

/// An operator's call to a colleague through the daemon (to consult before a transfer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Colleague {
    /// The operator who calls.
    pub from: String,
    /// The operator called.
    pub to: String,
}

/// Who asks for an operator, as the operators' phones and board show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// E.164 when the caller ID could be normalised, else as received (empty: none).
    pub number: String,
    /// The menu path as calls record it (node names joined by `>`), for `X-Ugyelet-Path`.
    pub path: String,
    /// The same path as operators read it (`Főmenü › Ügyintéző`, see
    /// [`Plan::path_label`](crate::dialplan::Plan::path_label)).
    pub path_label: String,
    /// Its one step the operator's phone shows (`Főmenü`, see
    /// [`Plan::path_topic`](crate::dialplan::Plan::path_topic)).
    pub topic: String,
}

/// A caller waiting in (or connected through) the queue, or being transferred.
struct Waiting {
    caller: Caller,
    codec: Codec,
    /// The operator leg once one answered, and when.
    connected: Option<(DialogId, Instant)>,
    /// The queue the call last waited in: where it goes back to when a transfer fails and
    /// the operator who asked is gone.
    queue: Option<String>,
    /// A transfer under way.
    transfer: Option<transfer::Transfer>,
}

impl Waiting {
    fn connected_leg(&self) -> Option<DialogId> {
        self.connected.map(|(leg, _)| leg)
    }
}

/// An INVITE to an operator (ringing or answered), or to a number outside.
struct Leg {
    call: DialogId,
    /// The operator's name, or the number (E.164) of a leg through the trunk.
    agent: String,
    /// A call out through the trunk (not the queue's: the ACD knows nothing of it).
    external: bool,
    /// Until when a call out may ring before it is given up (operators' rings are timed
    /// by the ACD).
    ring_until: Option<Instant>,
    media: MediaSession,
    /// The media agreed once the phone answered (updated by its re-INVITEs): what a
    /// caller is bridged with again when a transfer fails.
    negotiated: Option<Negotiated>,
}

/// Registrar, queue and operator legs.
pub struct Switchboard {
    registrar: Registrar,
    accounts: Operators,
    acd: Acd,
    waiting: HashMap<DialogId, Waiting>,
    legs: HashMap<DialogId, Leg>,
    /// Keep-alive probes in flight → binding.
    probes: HashMap<u64, u64>,
    next_probe: u64,
    actions: VecDeque<Action>,
    /// Operator states or the queue changed since the last [`Switchboard::take_changed`].
    changed: bool,
    /// The operator states last handed out for saving.
    last_saved: SavedAgents,
    /// REGISTER answers sent since start, by status.
    register_responses: std::collections::BTreeMap<u16, u64>,
    /// Operators' calls to colleagues (their caller leg), by the operator who called.
    colleague_calls: HashMap<DialogId, String>,
    /// NOTIFYs sent so far, for their ids.
    next_notify: u64,
    /// Final NOTIFYs (by id) after whose answer the referrer's leg gets BYE.
    hang_up_after: HashMap<u64, DialogId>,
    /// Callback jobs and their legs, when callbacks are made.
    callbacks: Option<callbacks::Desk>,
}

impl Switchboard {
    pub fn new(registrar: Registrar, accounts: Operators, acd: Acd) -> Self {
        Switchboard {
            last_saved: acd.saved_state(),
            registrar,
            accounts,
            acd,
            waiting: HashMap::new(),
            legs: HashMap::new(),
            probes: HashMap::new(),
            next_probe: 1,
            actions: VecDeque::new(),
            // The first view is published at once.
            changed: true,
            register_responses: std::collections::BTreeMap::new(),
            next_notify: 0,
            hang_up_after: HashMap::new(),
            colleague_calls: HashMap::new(),
            callbacks: None,
        }
    }

    /// Whether `dialog` is an operator leg (its SIP events are ours, not a call's).
    pub fn owns(&self, dialog: DialogId) -> bool {
        self.legs.contains_key(&dialog) || self.is_resident(dialog)
    }

    /// The operator queue, for views and tests.
    pub fn acd(&self) -> &Acd {
        &self.acd
    }

    /// A REGISTER arrived.
    pub fn handle_register(
        &mut self,
        now: Instant,
        id: RequestId,
        request: &Request,
        source: Source,
    ) {
        let out = self
            .registrar
            .handle_register(now, request, source, &self.accounts);
        // The account is an operator's name, not a resident's: it is logged so an admin can
        // tell whose phone is failing.
        let account = request.to.uri.user().unwrap_or("");
        if let Some(e) = &out.error {
            info!(account, src = %Pii(source.addr), status = out.response.status, "REGISTER refused: {e}");
        }
        let account = account.replace(['"', '\\'], "'");
        let detail = |more: &str| format!("method=REGISTER account=\"{account}\"{more}");
        match &out.auth {
            AuthNote::Clean => {}
            AuthNote::Failed => security(Security::AuthFailed, source.addr, &detail("")),
            AuthNote::Malformed(e) => security(
                Security::AuthMalformed,
                source.addr,
                &detail(&format!(" error=\"{}\"", e.replace('"', "'"))),
            ),
            // Too many failed answers from this address: refused (403) without a check.
            AuthNote::Throttled => security(Security::AuthThrottled, source.addr, &detail("")),
        }
        *self
            .register_responses
            .entry(out.response.status)
            .or_insert(0) += 1;
        // Published with the board, for the metrics.
        self.changed = true;
        self.actions.push_back(Action::Respond {
            id,
            response: Box::new(out.response),
        });
        self.after_registrar(now);
    }

    /// A keep-alive OPTIONS was answered (`Some(status)`) or not (`None`).
    pub fn probe_result(&mut self, now: Instant, probe: u64, status: Option<u16>) {
        if let Some(binding) = self.probes.remove(&probe)
            && status.is_none()
        {
            self.registrar.handle_keepalive_failed(now, binding);
            self.after_registrar(now);
        }
    }

    /// A TCP connection closed: bindings over it are gone.
    pub fn connection_closed(&mut self, now: Instant, conn: u64) {
        self.registrar.handle_connection_closed(now, conn);
        self.after_registrar(now);
    }

    fn after_registrar(&mut self, now: Instant) {
        while let Some(ev) = self.registrar.poll_event() {
            let aor = match &ev {
                RegistrarEvent::Registered {
                    aor,
                    refreshed,
                    source,
                    ..
                } => {
                    if !refreshed {
                        info!(operator = %aor, src = %Pii(source.addr), "operator registered");
                    }
                    aor.clone()
                }
                RegistrarEvent::Unregistered { aor, .. }
                | RegistrarEvent::Expired { aor, .. }
                | RegistrarEvent::Lost { aor, .. } => {
                    info!(operator = %aor, event = ?ev, "operator binding removed");
                    aor.clone()
                }
            };
            let reachable = self.registrar.is_registered(&aor);
            self.acd.handle_reachable(now, &aor, reachable);
        }
        self.decide(now);
    }

    /// A call asks for an operator.
    pub fn handle_enqueue(
        &mut self,
        now: Instant,
        call: DialogId,
        queue: &str,
        caller: Caller,
        codec: Codec,
    ) {
        self.waiting.insert(
            call,
            Waiting {
                caller,
                codec,
                connected: None,
                queue: Some(queue.to_owned()),
                transfer: None,
            },
        );
        self.acd.handle_enqueue(now, call, queue);
        self.decide(now);
    }

    /// The call left the queue, or ended (caller hung up, the plan finished).
    pub fn call_gone(&mut self, now: Instant, call: DialogId) {
        self.colleague_calls.remove(&call);
        let Some(w) = self.waiting.remove(&call) else {
            return;
        };
        if let Some(t) = &w.transfer {
            // The ring placed for the transfer is withdrawn (CANCEL): the ACD's, or ours
            // for a call out.
            self.acd.handle_abandon(now, call);
            if let Some(leg) = t
                .ringing
                .filter(|l| self.legs.get(l).is_some_and(|l| l.external))
            {
                self.drop_leg(leg, Action::Cancel { leg });
            }
        }
        match w.connected_leg() {
            Some(leg) => {
                if let Some(l) = self.legs.remove(&leg) {
                    self.actions.push_back(Action::Hangup { leg });
                    self.actions.push_back(Action::Release { leg });
                    self.acd.handle_call_ended(now, &l.agent);
                    self.changed = true;
                }
            }
            None => self.acd.handle_abandon(now, call),
        }
        self.decide(now);
    }

    /// The driver bound a port and sent the INVITE for `ring`: `leg` is its dialog.
    pub fn ring_started(&mut self, ring: &Ring, leg: DialogId, media: MediaSession) {
        info!(leg, operator = %ring.agent, "ringing the operator");
        self.leg_started(
            leg,
            Leg {
                call: ring.call,
                agent: ring.agent.clone(),
                external: false,
                ring_until: None,
                media,
                negotiated: None,
            },
        );
    }

    /// A leg rings for its call (the one a transfer of that call waits for, if any).
    fn leg_started(&mut self, leg: DialogId, l: Leg) {
        if let Some(t) = self
            .waiting
            .get_mut(&l.call)
            .and_then(|w| w.transfer.as_mut())
        {
            t.ringing = Some(leg);
        }
        self.legs.insert(leg, l);
    }

    /// The driver could not ring (no RTP port, an unusable contact): the queue decides again.
    pub fn ring_failed(&mut self, now: Instant, ring: &Ring, why: &str) {
        warn!(operator = %ring.agent, "cannot ring the operator: {why}");
        self.acd
            .handle_ring_failed(now, ring.call, &ring.agent, RingFailure::Unreachable);
        self.transfer_failed(now, ring.call, 503);
        self.decide(now);
    }

    /// The operator's phone answered with this SDP.
    pub fn answered(&mut self, now: Instant, leg: DialogId, sdp: &[u8]) {
        if self.is_resident(leg) {
            return self.resident_answered(now, leg, sdp);
        }
        let Some(l) = self.legs.get(&leg) else {
            return;
        };
        let (call, agent, external) = (l.call, l.agent.clone(), l.external);
        let negotiated = match offer_answer::accept_answer(sdp) {
            Ok(n) => n,
            Err(e) => {
                warn!(operator = %named(&agent), "operator's answer unusable: {e}");
                let transfer = self.ringing_for_transfer(call, leg);
                self.drop_leg(leg, Action::Hangup { leg });
                self.acd
                    .handle_ring_failed(now, call, &agent, RingFailure::Rejected);
                if transfer {
                    self.transfer_failed(now, call, 488);
                }
                self.decide(now);
                return;
            }
        };
        let won = if external {
            self.ringing_for_transfer(call, leg)
        } else {
            self.acd.handle_answered(now, call, &agent)
        };
        if !won {
            // Too late: the caller left, or another phone answered first (ringall).
            self.drop_leg(leg, Action::Hangup { leg });
            self.decide(now);
            return;
        }
        self.changed = true;
        if let Some(job) = job_of(call) {
            self.callback_operator_answered(now, leg, job, agent, negotiated);
            return self.decide(now);
        }
        if let Some(w) = self.waiting.get_mut(&call) {
            w.connected = Some((leg, now));
        }
        if let Some(l) = self.legs.get_mut(&leg) {
            l.negotiated = Some(negotiated);
            l.ring_until = None;
        }
        info!(leg, operator = %named(&agent), "operator answered");
        self.actions.push_back(Action::Bridge {
            call,
            leg,
            operator: agent,
            negotiated,
        });
        self.transfer_connected(now, call);
        self.decide(now);
    }

    /// The operator's phone refused, or nobody answered in time.
    pub fn failed(&mut self, now: Instant, leg: DialogId, status: u16) {
        if self.is_resident(leg) {
            return self.resident_failed(now, leg, status);
        }
        let Some(l) = self.legs.remove(&leg) else {
            return;
        };
        self.actions.push_back(Action::Release { leg });
        let why = match status {
            // Our own CANCEL: the queue already knows.
            487 => return,
            486 | 600 => RingFailure::Busy,
            603 | 403 => RingFailure::Rejected,
            408 | 480 => RingFailure::NoAnswer,
            _ => RingFailure::Unreachable,
        };
        info!(leg, operator = %named(&l.agent), status, "operator's phone did not take the call");
        if !l.external {
            self.acd.handle_ring_failed(now, l.call, &l.agent, why);
        }
        self.changed = true;
        if self.ringing_for_transfer(l.call, leg) {
            self.transfer_failed(now, l.call, status);
        }
        self.decide(now);
    }

    /// The operator hung up (or the leg failed after the answer): the caller's leg ends too.
    pub fn ended(&mut self, now: Instant, leg: DialogId) {
        if self.is_resident(leg) {
            return self.resident_ended(now, leg);
        }
        if let Some(call) = self.legs.get(&leg).map(|l| l.call)
            && self.referrer_left(now, call, leg)
        {
            info!(leg, "the operator who transfers the call hung up");
            self.legs.remove(&leg);
            self.actions.push_back(Action::Release { leg });
            self.decide(now);
            return;
        }
        let Some(l) = self.legs.remove(&leg) else {
            return;
        };
        self.actions.push_back(Action::Release { leg });
        info!(leg, operator = %named(&l.agent), "operator hung up");
        self.acd.handle_call_ended(now, &l.agent);
        self.changed = true;
        if let Some(w) = self.waiting.remove(&l.call)
            && w.connected_leg() == Some(leg)
        {
            self.actions.push_back(Action::Tell {
                call: l.call,
                news: QueueNews::OperatorHungUp,
            });
        }
        if let Some(job) = job_of(l.call) {
            self.callback_operator_gone(now, job);
        }
        self.decide(now);
    }

    /// A re-INVITE from the operator's phone (hold, resume): the relay keeps its port, so
    /// the answer repeats our media with a new session version.
    pub fn reinvite(&mut self, leg: DialogId, offer: &[u8]) {
        if self.callback_reinvite(leg, offer) {
            return;
        }
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        match l.media.answer_again(offer) {
            Ok((negotiated, sdp)) => {
                l.negotiated = Some(negotiated);
                self.actions.push_back(Action::Answer { leg, sdp });
                self.actions.push_back(Action::Tell {
                    call: l.call,
                    news: QueueNews::OperatorMedia(negotiated),
                });
            }
            Err(e) => self.actions.push_back(Action::Reject {
                leg,
                status: e.status(),
            }),
        }
    }

    /// The daemon stops: every operator leg ends (ringing ones are cancelled, answered
    /// ones get BYE), so no phone is left in a call whose caller is gone. Returns how many
    /// legs were ended.
    pub fn shutdown(&mut self, now: Instant) -> usize {
        let mut legs: Vec<DialogId> = self.legs.keys().copied().collect();
        legs.sort_unstable();
        for &leg in &legs {
            if let Some(l) = self.legs.remove(&leg) {
                let bridged = self
                    .waiting
                    .get(&l.call)
                    .is_some_and(|w| w.connected_leg() == Some(leg))
                    || self.is_callback_operator(leg);
                let end = if bridged {
                    self.acd.handle_call_ended(now, &l.agent);
                    Action::Hangup { leg }
                } else {
                    Action::Cancel { leg }
                };
                self.actions.push_back(end);
                self.actions.push_back(Action::Release { leg });
            }
        }
        self.changed = true;
        legs.len() + self.callback_shutdown(now)
    }

    /// Timers (registrations, keep-alives, ring timeouts, announcements, longest waits).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.registrar.handle_timeout(now);
        self.after_registrar(now);
        self.acd.handle_timeout(now);
        self.calls_out_timed_out(now);
        self.callback_timeouts(now);
        self.decide(now);
    }

    /// When [`Switchboard::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls_out = self.legs.values().filter_map(|l| l.ring_until).min();
        [
            self.registrar.poll_timeout(),
            self.acd.poll_timeout(),
            calls_out,
            self.callback_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next thing to do on the wire.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Turns what the registrar and the queue decided into actions.
    fn decide(&mut self, now: Instant) {
        while let Some(k) = self.registrar.poll_keepalive() {
            match (k.kind, k.target.transport) {
                (KeepAliveKind::Crlf, Transport::Tcp(conn) | Transport::Tls(conn)) => {
                    self.actions.push_back(Action::Crlf { conn });
                }
                (KeepAliveKind::Crlf, Transport::Udp) => {}
                (KeepAliveKind::Options, _) => {
                    let probe = self.next_probe;
                    self.next_probe += 1;
                    self.probes.insert(probe, k.binding);
                    self.actions.push_back(Action::Probe {
                        probe,
                        target: k.target,
                        contact: k.contact,
                    });
                }
            }
        }
        self.offer_callbacks(now);
        // A ring that fails at once makes the queue decide again; the bound keeps one turn
        // finite whatever the queue does, and what is left comes out on the next turn.
        for _ in 0..256 {
            let Some(action) = self.acd.poll_action() else {
                break;
            };
            self.changed = true;
            match action {
                AcdAction::Ring { call, agent } => match self.ring(call, &agent) {
                    Ok(ring) => self.actions.push_back(Action::Ring(ring)),
                    Err(why) => {
                        // The queue decides again at once (next operator, or no one).
                        warn!(operator = %agent, "cannot ring the operator: {why}");
                        self.acd
                            .handle_ring_failed(now, call, &agent, RingFailure::Unreachable);
                        self.transfer_failed(now, call, 503);
                    }
                },
                AcdAction::CancelRing { call, agent } => {
                    let mut legs: Vec<DialogId> = self
                        .legs
                        .iter()
                        .filter(|(_, l)| l.call == call && l.agent == agent)
                        .map(|(d, _)| *d)
                        .collect();
                    legs.sort_unstable();
                    for leg in legs {
                        debug!(leg, operator = %agent, "ringing withdrawn");
                        let transfer = self.ringing_for_transfer(call, leg);
                        self.drop_leg(leg, Action::Cancel { leg });
                        if transfer {
                            // Nobody answered within the ring timeout.
                            self.transfer_failed(now, call, 408);
                        }
                    }
                }
                AcdAction::NoAgents { call } | AcdAction::MaxWait { call }
                    if job_of(call).is_some() =>
                {
                    self.callback_withdrawn(call);
                }
                AcdAction::NoAgents { call } | AcdAction::MaxWait { call } => {
                    self.waiting.remove(&call);
                    self.actions.push_back(Action::Tell {
                        call,
                        news: QueueNews::Left(ActionResult::NoAgents),
                    });
                }
                AcdAction::Announce {
                    call,
                    position,
                    estimated_wait,
                } => self.actions.push_back(Action::Tell {
                    call,
                    news: QueueNews::Position {
                        position: u32::try_from(position).unwrap_or(u32::MAX),
                        estimated_wait,
                    },
                }),
            }
        }
    }

    /// Whether `leg` is the one ringing for a transfer of `call`.
    fn ringing_for_transfer(&self, call: DialogId, leg: DialogId) -> bool {
        self.waiting
            .get(&call)
            .and_then(|w| w.transfer.as_ref())
            .is_some_and(|t| t.ringing == Some(leg))
    }

    fn drop_leg(&mut self, leg: DialogId, end: Action) {
        self.legs.remove(&leg);
        self.actions.push_back(end);
        self.actions.push_back(Action::Release { leg });
    }

    fn ring(&self, call: DialogId, agent: &str) -> Result<Ring, String> {
        let (caller, topic, path, codec) = match job_of(call) {
            Some(job) => {
                let (number, topic) = self
                    .callback_caller(job)
                    .ok_or_else(|| "the callback is no longer open".to_owned())?;
                (number, topic, "callback".to_owned(), Codec::Pcma)
            }
            None => {
                let w = self
                    .waiting
                    .get(&call)
                    .ok_or_else(|| "the call is no longer waiting".to_owned())?;
                (
                    w.caller.number.clone(),
                    w.caller.topic.clone(),
                    w.caller.path.clone(),
                    w.codec,
                )
            }
        };
        // The newest binding: the phone that registered last.
        let b = self
            .registrar
            .lookup(agent)
            .max_by_key(|b| b.registered_at)
            .ok_or_else(|| "not registered".to_owned())?;
        let other = match codec {
            Codec::Pcma => Codec::Pcmu,
            Codec::Pcmu => Codec::Pcma,
        };
        Ok(Ring {
            call,
            agent: agent.to_owned(),
            target: b.source,
            contact: b.contact.uri.clone(),
            codecs: [codec, other],
            caller,
            path,
            topic,
        })
    }

    /// Handles an INVITE whose Request-URI user is a feature code (`*21` log in, `*22` log
    /// out, `*23` pause, `*24` end the pause). Only an operator authenticated by Digest on
    /// this very INVITE may use them, and only for their own account; a `require_secure`
    /// account only over TLS with SRTP (`insecure` says how this call falls short, if it
    /// does). The account is judged only once authenticated: a refusal names no account to
    /// anyone without its password.
    pub fn feature_code(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        insecure: Option<Insecure>,
    ) -> Feature {
        let Some(user) = request.uri.user() else {
            return Feature::No;
        };
        let op = match user {
            "*21" => AgentOp::Login,
            "*22" => AgentOp::Logout,
            "*23" => AgentOp::Pause("phone".to_owned()),
            "*24" => AgentOp::Unpause,
            u if u.starts_with('*') => return Feature::Refuse(404),
            // A call to a colleague (an operator's name): for operators only, as below, and
            // taken as one only from an address an operator's phone registered from; from
            // anywhere else a name is dialled like any other (the menu answers), so a
            // scanner cannot tell operators' names by the challenge.
            u if self.accounts.get(u).is_some() && self.registrar.has_binding_from(source.ip()) => {
                return self.colleague(now, request, source, insecure);
            }
            _ => return Feature::No,
        };
        let verdict = match self.verify_own_call(now, request, source, insecure) {
            Ok(v) => v,
            Err(refused) => return refused,
        };
        match verdict {
            Verdict::Ok { username, .. } => match self.agent_op(now, &username, op.clone()) {
                Ok(()) => {
                    info!(operator = %username, code = user, ?op, "feature code");
                    Feature::Done
                }
                Err(_) => Feature::Refuse(404),
            },
            Verdict::Challenge {
                www_authenticate,
                failed,
                ..
            } => {
                if failed {
                    security(Security::AuthFailed, source, "method=INVITE feature=true");
                }
                Feature::Challenge(www_authenticate)
            }
            Verdict::BadRequest(e) => {
                let error = e.to_string().replace('"', "'");
                let detail = format!("method=INVITE feature=true error=\"{error}\"");
                security(Security::AuthMalformed, source, &detail);
                Feature::Refuse(400)
            }
            Verdict::Throttled { .. } => {
                security(
                    Security::AuthThrottled,
                    source,
                    "method=INVITE feature=true",
                );
                Feature::Refuse(403)
            }
        }
    }

    /// New operator accounts (reload): states of operators that remain are kept.
    pub fn set_accounts(&mut self, now: Instant, accounts: Operators) {
        self.acd.set_agents(now, accounts.specs());
        for name in accounts.iter().map(|o| o.name.clone()).collect::<Vec<_>>() {
            let reachable = self.registrar.is_registered(&name);
            self.acd.handle_reachable(now, &name, reachable);
        }
        self.accounts = accounts;
        self.changed = true;
        self.decide(now);
    }

    /// An operator state change (admin API, console, feature code).
    pub fn agent_op(&mut self, now: Instant, name: &str, op: AgentOp) -> Result<(), String> {
        let r = self.acd.apply(now, name, op);
        self.changed = true;
        self.decide(now);
        r.map_err(|e| e.to_string())
    }

    /// Whether operators or the queue changed since the last call; clears the flag.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Operators (each with the call they are on) and waiting callers (each with number
    /// and menu path), as the console and the admin API show them.
    pub fn board(&self, now: Instant) -> Board {
        Board::new(self, now)
    }

    /// [`Switchboard::board`] as JSON, for the admin API (`GET /api/operators`).
    pub fn view(&self, now: Instant) -> serde_json::Value {
        serde_json::to_value(self.board(now)).unwrap_or_else(|e| {
            // Plain structs of strings and numbers always serialise; keep the API up anyway.
            warn!("cannot serialise the operator board: {e}");
            serde_json::json!({ "operators": [], "waiting": [] })
        })
    }

    /// Bindings kept from the last run come back at start (see `registrar/saved.rs`), so
    /// their operators are reachable at once, without a new REGISTER. Bindings of accounts
    /// no longer in the accounts file are left out. Returns what was restored, for the log.
    pub fn restore_bindings(
        &mut self,
        now: Instant,
        unix_ms: i64,
        saved: &[SavedBinding],
    ) -> Restored {
        let accounts = &self.accounts;
        let is_account = |aor: &str| accounts.iter().any(|o| o.name == aor);
        let restored = self.registrar.restore(now, unix_ms, saved, &is_account);
        for aor in &restored.aors {
            self.acd.handle_reachable(now, aor, true);
        }
        self.changed = true;
        self.decide(now);
        restored
    }

    /// The bindings to keep across a restart, when they changed since the last call
    /// (`unix_ms` is the wall clock at `now`). A binding left out at restore counts as a
    /// change, so the store forgets it too.
    pub fn bindings_to_save(&mut self, now: Instant, unix_ms: i64) -> Option<Vec<SavedBinding>> {
        self.registrar
            .take_changed()
            .then(|| self.registrar.saved_bindings(now, unix_ms))
    }

    /// The operator states to save, when they differ from those last handed out.
    pub fn states_to_save(&mut self) -> Option<SavedAgents> {
        let saved = self.acd.saved_state();
        if saved == self.last_saved {
            return None;
        }
        self.last_saved = saved.clone();
        Some(saved)
    }
}

/// Who a leg rings, for the log: an operator's name, or a number masked like a caller's.
fn named(agent: &str) -> String {
    if agent.starts_with('+') {
        Pii(agent).to_string()
    } else {
        agent.to_owned()
    }
}

/// The queue's settings from the `[operators]` section.
pub fn acd_config(o: &OperatorsConfig) -> AcdConfig {
    AcdConfig {
        strategy: match o.strategy {
            QueueStrategy::LongestIdle => Strategy::LongestIdle,
            QueueStrategy::RingAll => Strategy::RingAll,
        },
        ring_timeout: Duration::from_secs(o.ring_timeout_s),
        overflow_after: Duration::from_secs(o.overflow_after_s),
        wrap_up: Duration::from_secs(o.wrap_up_s),
        max_missed: o.max_missed,
        max_wait: Duration::from_secs(o.max_wait_s),
        announce_every: Duration::from_secs(o.announce_every_s),
        default_handle_time: Duration::from_secs(o.handle_time_s),
    }
}
