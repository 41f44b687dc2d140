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
#[cfg(test)]
mod tests;

pub use board::{Board, CallerView, CurrentCall, OperatorRow, WaitingRow};
pub use callbacks::{DeskSettings, Dial, job_of, job_ref};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::acd::{Acd, AcdAction, AcdConfig, AgentOp, RingFailure, SavedAgents, Strategy};
use crate::call::QueueNews;
use crate::config::{OperatorsConfig, QueueStrategy};
use crate::dialplan::interp::ActionResult;
use crate::operators::Operators;
use crate::phone;
use crate::pii::Pii;
use crate::registrar::{KeepAliveKind, Registrar, RegistrarEvent, Restored, SavedBinding, Source};
use crate::sdp::offer_answer::{self, Codec, MediaSession, Negotiated};
use crate::sip::auth::{Attempt, Verdict};
use crate::sip::endpoint::{DialogId, OutgoingCall, RequestId, Transport};
use crate::sip::msg::{NameAddr, Request, Response, Uri};

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
}

/// An operator to ring for a waiting call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    pub call: DialogId,
    pub agent: String,
    /// Where the operator's newest binding is reached (its NAT binding, its connection).
    pub target: Source,
    /// The Contact the phone registered: the INVITE's Request-URI.
    pub contact: Uri,
    /// The caller leg's codec first, so no transcoding is needed.
    pub codecs: [Codec; 2],
    /// The caller's number (E.164 when known, else as received; empty: hidden).
    pub caller: String,
    /// The menu path, for `X-Ugyelet-Path`.
    pub path: String,
    /// What the caller came about (one step of the readable path, or "Visszahívás" for a
    /// callback), for the display name.
    pub topic: String,
}

impl Ring {
    /// The INVITE for this ring, from our address as the phone sees it and the RTP port the
    /// driver bound for the leg. `console` is the web console's base URL as the operator's
    /// browser reaches it (no trailing slash), for the screen-pop link in `Call-Info`;
    /// `None` leaves the header out.
    ///
    /// The From display name is [`operator_display_name`] (`"Nyomtatványok · +36 30 123
    /// 4567"`); the From user is the caller's number when it is one (a phone's call list
    /// can call back), else `anonymous`.
    pub fn invite(
        &self,
        local: SocketAddr,
        media: &MediaSession,
        console: Option<&str>,
    ) -> Result<OutgoingCall, String> {
        let host = host_port(local);
        let to = NameAddr::parse(&format!("<sip:{}@{host}>", self.agent))
            .map_err(|e| format!("operator name as URI: {e}"))?;
        let user = sip_user(&self.caller);
        let mut from = NameAddr::parse(&format!("<sip:{user}@{host}>"))
            .map_err(|e| format!("caller as URI: {e}"))?;
        // Printed as a quoted-string, escaped there (RFC 3261 §25.1).
        from.display = Some(operator_display_name(&self.topic, &self.caller));
        let mut headers = vec![("X-Ugyelet-Path".to_owned(), self.path.clone())];
        // A callback has no call of the console to point at (its id is the job's).
        if let Some(base) = console.filter(|_| job_of(self.call).is_none()) {
            headers.push(("Call-Info".to_owned(), call_info(base, self.call)));
        }
        Ok(OutgoingCall {
            request_uri: self.contact.clone(),
            dst: self.target.addr,
            transport: self.target.transport,
            local,
            to,
            from,
            headers,
            sdp: media.offer(&self.codecs, TELEPHONE_EVENT_PT),
        })
    }
}

/// The longest topic an operator's phone is shown, in characters: desk phones show 20 to
/// 30 characters of a caller's name, and the number after it must not be pushed off.
pub const TOPIC_MAX_CHARS: usize = 32;

/// What separates the topic from the number in the display name.
pub const TOPIC_SEPARATOR: &str = " · ";

/// The display name of a call to an operator: what the caller came about, then who calls,
/// as the console writes the number (`Nyomtatványok · +36 30 123 4567`; a hidden number
/// reads `rejtett szám`). Without a topic, the number alone.
///
/// A topic longer than [`TOPIC_MAX_CHARS`] is cut there and ends in `…`. Control
/// characters (a line break could not even be escaped in a quoted-string, RFC 3261 §25.1)
/// become spaces and runs of white space one space; quotes and backslashes stay, escaped
/// when the header is printed. Non-ASCII letters are sent as UTF-8, which quoted-string
/// allows (`UTF8-NONASCII`).
pub fn operator_display_name(topic: &str, number: &str) -> String {
    let topic = shorten(&one_line(topic), TOPIC_MAX_CHARS);
    let number = shorten(&one_line(&phone::for_people(number)), TOPIC_MAX_CHARS);
    if topic.is_empty() {
        number
    } else {
        format!("{topic}{TOPIC_SEPARATOR}{number}")
    }
}

/// `Call-Info` of a call to an operator (RFC 3261 §20.9): the console page of the call, for
/// phones that open it when the call rings (screen-pop). `purpose=info` says the URI
/// "describes the caller"; the page is the duty page with the call's id
/// (`/ugyelet?hivas=7`), where the operator sees the caller's whole path and history.
pub fn call_info(console: &str, call: DialogId) -> String {
    format!(
        "<{}/ugyelet?hivas={call}>;purpose=info",
        console.trim_end_matches('/')
    )
}

/// `s` on one line: control characters as spaces, white space runs as one space, trimmed.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` cut to at most `max` characters, the last of them `…` when something was cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
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

/// A caller waiting in (or connected through) the queue.
struct Waiting {
    caller: Caller,
    codec: Codec,
    /// The operator leg once one answered, and when.
    connected: Option<(DialogId, Instant)>,
}

impl Waiting {
    fn connected_leg(&self) -> Option<DialogId> {
        self.connected.map(|(leg, _)| leg)
    }
}

/// An INVITE to an operator (ringing or answered).
struct Leg {
    call: DialogId,
    agent: String,
    media: MediaSession,
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
        match &out.error {
            Some(e) => {
                info!(account, src = %Pii(source.addr), status = out.response.status, "REGISTER refused: {e}");
            }
            // 403 without a reason of its own: too many failed answers from this address.
            None if out.response.status == 403 => {
                warn!(account, src = %Pii(source.addr), "REGISTER refused: throttled after failed passwords");
            }
            None => {}
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
            },
        );
        self.acd.handle_enqueue(now, call, queue);
        self.decide(now);
    }

    /// The call left the queue, or ended (caller hung up, the plan finished).
    pub fn call_gone(&mut self, now: Instant, call: DialogId) {
        let Some(w) = self.waiting.remove(&call) else {
            return;
        };
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
        self.legs.insert(
            leg,
            Leg {
                call: ring.call,
                agent: ring.agent.clone(),
                media,
            },
        );
    }

    /// The driver could not ring (no RTP port, an unusable contact): the queue decides again.
    pub fn ring_failed(&mut self, now: Instant, ring: &Ring, why: &str) {
        warn!(operator = %ring.agent, "cannot ring the operator: {why}");
        self.acd
            .handle_ring_failed(now, ring.call, &ring.agent, RingFailure::Unreachable);
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
        let (call, agent) = (l.call, l.agent.clone());
        let negotiated = match offer_answer::accept_answer(sdp) {
            Ok(n) => n,
            Err(e) => {
                warn!(operator = %agent, "operator's answer unusable: {e}");
                self.drop_leg(leg, Action::Hangup { leg });
                self.acd
                    .handle_ring_failed(now, call, &agent, RingFailure::Rejected);
                self.decide(now);
                return;
            }
        };
        if !self.acd.handle_answered(now, call, &agent) {
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
        info!(leg, operator = %agent, "operator answered");
        self.actions.push_back(Action::Bridge {
            call,
            leg,
            operator: agent,
            negotiated,
        });
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
        info!(leg, operator = %l.agent, status, "operator's phone did not take the call");
        self.acd.handle_ring_failed(now, l.call, &l.agent, why);
        self.changed = true;
        self.decide(now);
    }

    /// The operator hung up (or the leg failed after the answer): the caller's leg ends too.
    pub fn ended(&mut self, now: Instant, leg: DialogId) {
        if self.is_resident(leg) {
            return self.resident_ended(now, leg);
        }
        let Some(l) = self.legs.remove(&leg) else {
            return;
        };
        self.actions.push_back(Action::Release { leg });
        info!(leg, operator = %l.agent, "operator hung up");
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
        self.callback_timeouts(now);
        self.decide(now);
    }

    /// When [`Switchboard::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.registrar.poll_timeout(),
            self.acd.poll_timeout(),
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
                        self.drop_leg(leg, Action::Cancel { leg });
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
    /// this very INVITE may use them, and only for their own account.
    pub fn feature_code(&mut self, now: Instant, request: &Request, source: SocketAddr) -> Feature {
        let Some(user) = request.uri.user() else {
            return Feature::No;
        };
        let op = match user {
            "*21" => AgentOp::Login,
            "*22" => AgentOp::Logout,
            "*23" => AgentOp::Pause("phone".to_owned()),
            "*24" => AgentOp::Unpause,
            u if u.starts_with('*') => return Feature::Refuse(404),
            _ => return Feature::No,
        };
        let ruri = request.uri.to_string();
        let attempt = Attempt {
            method: "INVITE",
            request_uri: &ruri,
            authorization: request.headers.get("Authorization"),
            source: source.ip(),
        };
        match self
            .registrar
            .auth_mut()
            .verify(now, &attempt, &self.accounts)
        {
            Verdict::Ok { username, .. } => match self.agent_op(now, &username, op.clone()) {
                Ok(()) => {
                    info!(operator = %username, code = user, ?op, "feature code");
                    Feature::Done
                }
                Err(_) => Feature::Refuse(404),
            },
            Verdict::Challenge {
                www_authenticate, ..
            } => Feature::Challenge(www_authenticate),
            Verdict::BadRequest(_) => Feature::Refuse(400),
            Verdict::Throttled { .. } => Feature::Refuse(403),
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

fn host_port(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// A caller number as a SIP URI user part: digits and `+` pass, anything else becomes
/// `anonymous` (the number is still shown as the display name).
fn sip_user(caller: &str) -> &str {
    if !caller.is_empty() && caller.chars().all(|c| c.is_ascii_digit() || c == '+') {
        caller
    } else {
        "anonymous"
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
