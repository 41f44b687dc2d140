//! The operators' side of the SIP task: registrar, operator queue and operator legs.
//!
//! ```text
//!  REGISTER ──► Registrar ──reachable──► Acd ◄── Enqueue / CallGone ── call tasks
//!                  │ keep-alives              │
//!                  ▼                          ▼ Ring / CancelRing / NoAgents / Announce
//!            OPTIONS / CRLF          SipEndpoint::invite / cancel ──► operator's phone
//!                                             │ answered
//!                                             ▼
//!                              ToCall::Bridge (RTP socket + SDP) ──► call task relays
//! ```
//!
//! Lives inside the SIP task (it drives the endpoint), so nothing here is shared or locked;
//! what the admin API reads is published into [`super::live::Shared`] after each turn.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::AgentOp;
use super::call_task::ToCall;
use crate::acd::{Acd, AcdAction, AcdConfig, RingFailure, SavedAgents, Strategy};
use crate::call::{CallInput, QueueNews};
use crate::config::{Config, QueueStrategy};
use crate::dialplan::interp::ActionResult;
use crate::operators::Operators;
use crate::pii::Pii;
use crate::registrar::{KeepAliveKind, Registrar, RegistrarConfig, RegistrarEvent, Source};
use crate::sdp::offer_answer::{self, Codec, LocalMedia};
use crate::sip::auth::{Algorithm, DigestAuth, DigestConfig};
use crate::sip::endpoint::{DialogId, OutgoingCall, RequestId, SipEndpoint, Transport};
use crate::sip::msg::{NameAddr, Request, Uri};

/// A caller waiting in (or connected through) the queue.
struct Waiting {
    /// The caller's number as the operator's phone should show it.
    caller: String,
    /// The menu path, for `X-Ugyelet-Path`.
    path: String,
    /// The caller leg's codec: offered first to the operator, so no transcoding is needed.
    codec: Codec,
    /// The operator leg once one answered.
    connected: Option<DialogId>,
}

/// An INVITE to an operator (ringing or answered).
struct Leg {
    call: DialogId,
    agent: String,
    socket: Option<UdpSocket>,
    local_media: LocalMedia,
}

pub(super) struct Switchboard {
    pub registrar: Registrar,
    pub accounts: Operators,
    pub acd: Acd,
    waiting: HashMap<DialogId, Waiting>,
    legs: HashMap<DialogId, Leg>,
    /// Keep-alive probes in flight → binding.
    probes: HashMap<u64, u64>,
    next_probe: u64,
    /// Set when agent states changed and must be published and saved.
    pub dirty: bool,
    published: Instant,
    saved_path: PathBuf,
    last_saved: SavedAgents,
}

/// What the switchboard needs from the SIP task for one turn.
pub(super) struct Ctx<'a> {
    pub endpoint: &'a mut SipEndpoint,
    pub calls: &'a HashMap<DialogId, mpsc::UnboundedSender<ToCall>>,
    pub ports: &'a mut super::rtp_ports::RtpPorts,
    pub locals: &'a mut super::LocalAddrs,
    pub tcp: &'a HashMap<u64, mpsc::UnboundedSender<Arc<[u8]>>>,
    pub listen_ip: std::net::IpAddr,
}

impl Switchboard {
    pub fn new(registrar: Registrar, accounts: Operators, acd: Acd, saved_path: PathBuf) -> Self {
        let last_saved = acd.saved_state();
        Switchboard {
            published: Instant::now(),
            saved_path,
            last_saved,
            registrar,
            accounts,
            acd,
            waiting: HashMap::new(),
            legs: HashMap::new(),
            probes: HashMap::new(),
            next_probe: 1,
            // Publish the first view at once.
            dirty: true,
        }
    }

    /// Whether `dialog` is an operator leg (its events are ours, not a call task's).
    pub fn owns(&self, dialog: DialogId) -> bool {
        self.legs.contains_key(&dialog)
    }

    /// A REGISTER arrived.
    pub fn register(
        &mut self,
        now: Instant,
        cx: &mut Ctx<'_>,
        id: RequestId,
        request: &Request,
        source: SocketAddr,
        transport: Transport,
    ) {
        let out = self.registrar.handle_register(
            now,
            request,
            Source {
                addr: source,
                transport,
            },
            &self.accounts,
        );
        match &out.error {
            Some(e) => {
                info!(src = %Pii(source), status = out.response.status, "REGISTER refused: {e}");
            }
            // 403 without a reason of its own: too many failed answers from this address.
            None if out.response.status == 403 => {
                warn!(src = %Pii(source), "REGISTER refused: throttled after failed passwords");
            }
            None => {}
        }
        cx.endpoint.respond(now, id, out.response);
        self.after_registrar(now);
    }

    /// A keep-alive OPTIONS was answered (or not).
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
    }

    /// A call asks for an operator.
    pub fn enqueue(
        &mut self,
        now: Instant,
        call: DialogId,
        queue: &str,
        caller: String,
        path: String,
        codec: Codec,
    ) {
        self.waiting.insert(
            call,
            Waiting {
                caller,
                path,
                codec,
                connected: None,
            },
        );
        self.acd.handle_enqueue(now, call, queue);
    }

    /// A call task ended (caller hung up, or the call is over).
    pub fn call_gone(&mut self, now: Instant, cx: &mut Ctx<'_>, call: DialogId) {
        let Some(w) = self.waiting.remove(&call) else {
            return;
        };
        match w.connected {
            Some(leg) => {
                if let Some(l) = self.legs.remove(&leg) {
                    cx.endpoint.hangup(now, leg);
                    self.acd.handle_call_ended(now, &l.agent);
                    self.dirty = true;
                }
            }
            None => self.acd.handle_abandon(now, call),
        }
    }

    /// Timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.registrar.handle_timeout(now);
        self.after_registrar(now);
        self.acd.handle_timeout(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.registrar.poll_timeout(), self.acd.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Carries out what the registrar and the queue decided.
    pub fn drain(&mut self, now: Instant, cx: &mut Ctx<'_>) {
        while let Some(k) = self.registrar.poll_keepalive() {
            match k.kind {
                KeepAliveKind::Crlf => {
                    if let Transport::Tcp(conn) = k.target.transport
                        && let Some(w) = cx.tcp.get(&conn)
                    {
                        let _ = w.send(Arc::from(&b"\r\n\r\n"[..]));
                    }
                }
                KeepAliveKind::Options => {
                    let probe = self.next_probe;
                    self.next_probe += 1;
                    self.probes.insert(probe, k.binding);
                    let local = cx.locals.for_peer(k.target.addr.ip());
                    cx.endpoint.probe(
                        now,
                        probe,
                        k.target.addr,
                        k.target.transport,
                        local,
                        k.contact,
                    );
                }
            }
        }
        // Ringing a phone can fail at once (no binding): the queue then decides again.
        for _ in 0..64 {
            let Some(action) = self.acd.poll_action() else {
                break;
            };
            self.dirty = true;
            match action {
                AcdAction::Ring { call, agent } => {
                    if let Err(why) = self.ring(now, cx, call, &agent) {
                        warn!(operator = %agent, "cannot ring the operator: {why}");
                        self.acd
                            .handle_ring_failed(now, call, &agent, RingFailure::Unreachable);
                    }
                }
                AcdAction::CancelRing { call, agent } => {
                    let legs: Vec<DialogId> = self
                        .legs
                        .iter()
                        .filter(|(_, l)| l.call == call && l.agent == agent)
                        .map(|(d, _)| *d)
                        .collect();
                    for leg in legs {
                        debug!(leg, operator = %agent, "ringing withdrawn");
                        cx.endpoint.cancel(now, leg);
                        self.legs.remove(&leg);
                    }
                }
                AcdAction::NoAgents { call } | AcdAction::MaxWait { call } => {
                    self.waiting.remove(&call);
                    send(
                        cx.calls,
                        call,
                        ToCall::Sip(CallInput::Queue(QueueNews::Left(ActionResult::NoAgents))),
                    );
                }
                AcdAction::Announce {
                    call,
                    position,
                    estimated_wait,
                } => {
                    send(
                        cx.calls,
                        call,
                        ToCall::Sip(CallInput::Queue(QueueNews::Position {
                            position: u32::try_from(position).unwrap_or(u32::MAX),
                            estimated_wait,
                        })),
                    );
                }
            }
        }
    }

    fn ring(
        &mut self,
        now: Instant,
        cx: &mut Ctx<'_>,
        call: DialogId,
        agent: &str,
    ) -> Result<(), String> {
        let w = self
            .waiting
            .get(&call)
            .ok_or_else(|| "the call is no longer waiting".to_owned())?;
        // The newest binding: the phone that registered last.
        let b = self
            .registrar
            .lookup(agent)
            .max_by_key(|b| b.registered_at)
            .ok_or_else(|| "not registered".to_owned())?;
        let local = cx.locals.for_peer(b.source.addr.ip());
        let ip = super::bind_ip(cx.listen_ip, local.ip());
        let (socket, port) = cx.ports.bind(ip).map_err(|e| format!("no RTP port: {e}"))?;
        let local_media = LocalMedia {
            addr: local.ip(),
            port,
            session_id: u64::from(rand::random::<u32>()),
            session_version: 1,
            username: "ugyelet".to_owned(),
        };
        let other = match w.codec {
            Codec::Pcma => Codec::Pcmu,
            Codec::Pcmu => Codec::Pcma,
        };
        let sdp = offer_answer::offer(&local_media, &[w.codec, other], 101);
        let host = host_port(local);
        let to = NameAddr::parse(&format!("<sip:{agent}@{host}>"))
            .map_err(|e| format!("operator name as URI: {e}"))?;
        let user = sip_user(&w.caller);
        let display = w.caller.replace(['"', '\\'], "");
        let from = NameAddr::parse(&format!("\"{display}\" <sip:{user}@{host}>"))
            .or_else(|_| NameAddr::parse(&format!("<sip:anonymous@{host}>")))
            .map_err(|e| format!("caller as URI: {e}"))?;
        let request_uri: Uri = b.contact.uri.clone();
        let leg = cx.endpoint.invite(
            now,
            OutgoingCall {
                request_uri,
                dst: b.source.addr,
                transport: b.source.transport,
                local,
                to,
                from,
                headers: vec![("X-Ugyelet-Path".to_owned(), w.path.clone())],
                sdp,
            },
        );
        info!(leg, operator = %agent, "ringing the operator");
        self.legs.insert(
            leg,
            Leg {
                call,
                agent: agent.to_owned(),
                socket: Some(socket),
                local_media,
            },
        );
        Ok(())
    }

    /// The operator's phone answered.
    pub fn answered(&mut self, now: Instant, cx: &mut Ctx<'_>, leg: DialogId, sdp: &[u8]) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let (call, agent) = (l.call, l.agent.clone());
        let negotiated = match offer_answer::accept_answer(sdp) {
            Ok(n) => n,
            Err(e) => {
                warn!(operator = %agent, "operator's answer unusable: {e}");
                cx.endpoint.hangup(now, leg);
                self.legs.remove(&leg);
                self.acd
                    .handle_ring_failed(now, call, &agent, RingFailure::Rejected);
                return;
            }
        };
        if !self.acd.handle_answered(now, call, &agent) {
            // Too late: the caller left, or another phone answered first (ringall).
            cx.endpoint.hangup(now, leg);
            self.legs.remove(&leg);
            return;
        }
        self.dirty = true;
        let Some(socket) = l.socket.take() else {
            return;
        };
        if let Some(w) = self.waiting.get_mut(&call) {
            w.connected = Some(leg);
        }
        info!(leg, operator = %agent, "operator answered");
        send(
            cx.calls,
            call,
            ToCall::Bridge {
                socket,
                operator: agent,
                negotiated,
            },
        );
    }

    /// The operator's phone refused, or nobody answered in time.
    pub fn failed(&mut self, now: Instant, leg: DialogId, status: u16) {
        let Some(l) = self.legs.remove(&leg) else {
            return;
        };
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
        self.dirty = true;
    }

    /// The operator hung up (or the leg failed after the answer).
    pub fn ended(&mut self, now: Instant, cx: &mut Ctx<'_>, leg: DialogId) {
        let Some(l) = self.legs.remove(&leg) else {
            return;
        };
        info!(leg, operator = %l.agent, "operator hung up");
        self.acd.handle_call_ended(now, &l.agent);
        self.dirty = true;
        if let Some(w) = self.waiting.remove(&l.call)
            && w.connected == Some(leg)
        {
            send(
                cx.calls,
                l.call,
                ToCall::Sip(CallInput::Queue(QueueNews::OperatorHungUp)),
            );
        }
    }

    /// A re-INVITE from the operator's phone (hold, resume): the relay keeps its socket
    /// and port, so the answer repeats our media with a new session version.
    pub fn reinvite(&mut self, now: Instant, cx: &mut Ctx<'_>, leg: DialogId, offer: &[u8]) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.local_media.bump_version();
        match offer_answer::answer(offer, &l.local_media) {
            Ok((neg, sdp)) => {
                cx.endpoint.answer(now, leg, sdp);
                send(
                    cx.calls,
                    l.call,
                    ToCall::Sip(CallInput::Queue(QueueNews::OperatorMedia(neg))),
                );
            }
            Err(e) => cx.endpoint.reject(now, leg, e.status()),
        }
    }
}

fn send(calls: &HashMap<DialogId, mpsc::UnboundedSender<ToCall>>, call: DialogId, msg: ToCall) {
    if let Some(tx) = calls.get(&call) {
        let _ = tx.send(msg);
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

/// Where operator states (logged in, paused) are kept across restarts.
fn saved_path(cfg: &Config) -> PathBuf {
    cfg.state.dir.join("operators.json")
}

/// Loads the accounts, sets up registrar and queue, and restores saved operator states.
pub(super) fn build(cfg: &Config, now: Instant) -> Result<Switchboard, Vec<String>> {
    let path = &cfg.sip.operators;
    if !path.exists() {
        warn!(file = %path.display(), "no operator accounts file: nobody can register");
    }
    let accounts = Operators::load(path)?;
    let o = &cfg.operators;
    let secret: [u8; 32] = rand::random();
    let auth = DigestAuth::new(
        DigestConfig {
            realm: cfg.sip.realm.clone(),
            algorithms: cfg
                .sip
                .digest_algorithms
                .iter()
                .filter_map(|a| Algorithm::parse(a))
                .collect(),
            ..DigestConfig::default()
        },
        &secret,
        now,
    );
    let registrar = Registrar::new(
        RegistrarConfig {
            min_expires: o.min_expires_s,
            max_expires: o.max_expires_s,
            default_expires: o.max_expires_s,
            keepalive_udp: Duration::from_secs(o.keepalive_udp_s.max(1)),
            ..RegistrarConfig::default()
        },
        auth,
        now,
    );
    let mut acd = Acd::new(acd_config(o), accounts.specs(), now);
    match std::fs::read(saved_path(cfg)) {
        Ok(bytes) => match serde_json::from_slice::<SavedAgents>(&bytes) {
            Ok(saved) => acd.restore(now, &saved),
            Err(e) => warn!("saved operator states unreadable, starting fresh: {e}"),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!("saved operator states unreadable, starting fresh: {e}"),
    }
    info!(
        operators = accounts.specs().len(),
        "operator accounts loaded"
    );
    Ok(Switchboard::new(registrar, accounts, acd, saved_path(cfg)))
}

fn acd_config(o: &crate::config::OperatorsConfig) -> AcdConfig {
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

/// What to do with an INVITE to a feature code.
pub(super) enum Feature {
    /// Not a feature code: an ordinary call to the line.
    No,
    /// Ask for credentials (401 with these challenges).
    Challenge(Vec<String>),
    /// Refuse with this status (unknown code, throttled, bad credentials format).
    Refuse(u16),
    /// Done: confirm with a tone.
    Done,
}

impl Switchboard {
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
        let attempt = crate::sip::auth::Attempt {
            method: "INVITE",
            request_uri: &ruri,
            authorization: request.headers.get("Authorization"),
            source: source.ip(),
        };
        let verdict = self
            .registrar
            .auth_mut()
            .verify(now, &attempt, &self.accounts);
        match verdict {
            crate::sip::auth::Verdict::Ok { username, .. } => {
                match self.agent_op(now, &username, op.clone()) {
                    Ok(()) => {
                        info!(operator = %username, code = user, ?op, "feature code");
                        Feature::Done
                    }
                    Err(_) => Feature::Refuse(404),
                }
            }
            crate::sip::auth::Verdict::Challenge {
                www_authenticate, ..
            } => Feature::Challenge(www_authenticate),
            crate::sip::auth::Verdict::BadRequest(_) => Feature::Refuse(400),
            crate::sip::auth::Verdict::Throttled { .. } => Feature::Refuse(403),
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
        self.dirty = true;
    }

    /// An operator state change from the admin API.
    pub fn agent_op(&mut self, now: Instant, name: &str, op: AgentOp) -> Result<(), String> {
        let r = match op {
            AgentOp::Login => self.acd.login(now, name),
            AgentOp::Logout => self.acd.logout(now, name),
            AgentOp::Pause(reason) => self.acd.pause(now, name, &reason),
            AgentOp::Unpause => self.acd.unpause(now, name),
        };
        self.dirty = true;
        r.map_err(|e| e.to_string())
    }

    /// Publishes operators and waiting callers for the admin API, and saves operator
    /// states when they changed (at most once a second).
    pub fn publish(&mut self, shared: &super::live::Shared, now: Instant) {
        if !self.dirty && now.saturating_duration_since(self.published) < Duration::from_secs(1) {
            return;
        }
        self.published = now;
        let view = serde_json::json!({
            "operators": self.acd.agents(now),
            "waiting": self.acd.waiting(now),
        });
        if let Ok(mut g) = shared.operators.lock() {
            *g = view;
        }
        if self.dirty {
            self.dirty = false;
            let saved = self.acd.saved_state();
            if saved != self.last_saved {
                match serde_json::to_vec_pretty(&saved) {
                    Ok(bytes) => {
                        if let Err(e) = super::overrides::write_atomic(&self.saved_path, &bytes) {
                            warn!("cannot save operator states: {e}");
                        }
                    }
                    Err(e) => warn!("cannot save operator states: {e}"),
                }
                self.last_saved = saved;
            }
        }
    }
}
