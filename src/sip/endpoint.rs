//! The SIP endpoint: a user agent server (and the client half it needs to hang up), as a
//! sans-IO core.
//!
//! It owns the transactions and the dialogs and is the only place that turns SIP messages
//! into call events and call decisions into SIP messages:
//!
//! ```text
//!  datagram/stream bytes ──► parse ──► server transaction? ──► dialog? ──► SipEvent
//!                               │            (§17.2.3)          (§12.2.2)
//!                               └── malformed: stateless 400/505, or counted drop
//!  ringing/answer/reject/hangup ──► response or BYE ──► transaction ──► Transmit
//! ```
//!
//! What it answers by itself: OPTIONS (200 with `Allow`), unknown methods (501), methods it
//! knows but does not serve (405 with `Allow`), unsupported `Require` extensions (420),
//! unknown URI schemes (416), INVITE bodies other than SDP (415) and INVITEs whose `Accept`
//! rules SDP out (406), requests inside a dialog it does not know (481), CANCEL (200,
//! then 487 on the INVITE), BYE (200) and INFO (200). Everything about *what to do* with a
//! call is left to its user through [`SipEvent`]s.
//!
//! Timers of all transactions sit in one lazy min-heap: an entry is pushed whenever a
//! transaction is touched; stale entries only cause a harmless early wake-up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::msg::{self, Host, Message, Method, NameAddr, Request, Response, Uri, Via};
use super::transaction::{
    ClientInvite, ClientNonInvite, Disposition, ServerInvite, ServerNonInvite, TimerConfig,
    Transaction, TxEvent, Uas2xxRetransmitter,
};

/// Methods this endpoint serves, for `Allow` (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";

/// `Allow` of an endpoint that also serves as the operators' registrar.
pub const ALLOW_WITH_REGISTER: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER";

/// RFC 3261 §8.1.1.7: "The branch ID inserted by an element compliant with this
/// specification MUST always begin with the characters "z9hG4bK"."
pub const BRANCH_MAGIC: &str = "z9hG4bK";

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram socket.
    Udp,
    /// A TCP connection, by the driver's id for it. Responses go back on the same
    /// connection (RFC 3261 §18.2.2).
    Tcp(u64),
}

impl Transport {
    fn reliable(self) -> bool {
        matches!(self, Transport::Tcp(_))
    }

    fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp(_) => "TCP",
        }
    }
}

/// Bytes for the driver to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    pub transport: Transport,
    pub dst: SocketAddr,
    pub bytes: Arc<[u8]>,
}

/// A dialog (and its call) inside the endpoint.
pub type DialogId = u64;

/// Why a dialog ended without the local side asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The peer sent BYE.
    PeerBye,
    /// The peer cancelled before we answered.
    Cancelled,
    /// Our 2xx was never acknowledged (RFC 3261 §13.3.1.4); we sent BYE.
    AckTimeout,
    /// Our final error response was never acknowledged (Timer H) or the transport failed.
    Failed,
}

/// What happened, for the endpoint's user.
#[derive(Debug)]
pub enum SipEvent {
    /// A new INVITE. Answer it with [`SipEndpoint::ringing`], [`SipEndpoint::answer`] or
    /// [`SipEndpoint::reject`].
    IncomingCall {
        dialog: DialogId,
        request: Box<Request>,
        source: SocketAddr,
        local: SocketAddr,
    },
    /// The ACK for our 2xx arrived: the call is established.
    Confirmed { dialog: DialogId },
    /// A re-INVITE (e.g. hold). Answer it with [`SipEndpoint::answer`] or `reject`.
    ReInvite {
        dialog: DialogId,
        request: Box<Request>,
    },
    /// An INFO request inside the dialog (already answered 200).
    Info {
        dialog: DialogId,
        content_type: String,
        body: Vec<u8>,
    },
    /// The dialog ended from the far side or by a timeout.
    Ended { dialog: DialogId, reason: EndReason },
    /// Our INVITE (see [`SipEndpoint::invite`]) got a provisional response.
    OutgoingProgress { dialog: DialogId, status: u16 },
    /// Our INVITE was answered (the ACK is already sent); the body is the answer SDP.
    OutgoingAnswered { dialog: DialogId, sdp: Vec<u8> },
    /// Our INVITE failed: a final error, a timeout (408), or our own CANCEL (487).
    OutgoingFailed { dialog: DialogId, status: u16 },
    /// A REGISTER (only with [`EndpointConfig::registrar`]). Answer it with
    /// [`SipEndpoint::respond`]; its server transaction absorbs retransmissions meanwhile.
    Register {
        id: RequestId,
        request: Box<Request>,
        /// Where it really came from (the NAT binding to reach the softphone at).
        source: SocketAddr,
        transport: Transport,
    },
    /// The answer to a keep-alive OPTIONS sent with [`SipEndpoint::probe`]: `Some(status)`
    /// for any response (the path is open), `None` when none came (Timer F).
    ProbeResult { probe: u64, status: Option<u16> },
}

/// A request handed to the endpoint's user to answer.
pub type RequestId = u64;

/// An INVITE the daemon sends (the operator leg of a bridged call).
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// Request-URI: the Contact the operator's softphone registered.
    pub request_uri: Uri,
    /// Where to send it: the address the REGISTER really came from (its NAT binding).
    pub dst: SocketAddr,
    pub transport: Transport,
    /// Our address as `dst` sees it.
    pub local: SocketAddr,
    /// The operator's address of record.
    pub to: NameAddr,
    /// Who the operator sees calling (display name and user: the caller's number).
    pub from: NameAddr,
    /// Extra headers, e.g. `X-Ugyelet-Path`.
    pub headers: Vec<(String, String)>,
    pub sdp: Vec<u8>,
}

/// Counters for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    /// Requests by method, in the order of [`STATS_METHODS`] (last: any other).
    pub requests_by_method: [u64; 8],
    pub responses: u64,
    /// Responses received, by class (1xx … 6xx).
    pub responses_by_class: [u64; 6],
    /// New calls refused with 503 while the daemon drains for shutdown.
    pub refused_draining: u64,
    pub malformed_answered: u64,
    pub malformed_dropped: u64,
    pub retransmissions_absorbed: u64,
}

/// Methods counted one by one in [`Stats::requests_by_method`]; others share the last slot.
pub const STATS_METHODS: [&str; 8] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "REGISTER", "other",
];

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub timers: TimerConfig,
    pub user_agent: String,
    /// User part of our Contact URI.
    pub contact_user: String,
    /// Serve REGISTER (as [`SipEvent::Register`]); without it REGISTER gets 405.
    pub registrar: bool,
}

/// RFC 3261 §17.2.3: a server transaction is matched by the top Via's branch, its
/// sent-by, and the method (ACK and CANCEL match the INVITE's by branch; CANCEL has its own
/// transaction, keyed with its own method).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: String,
    sent_by: String,
    method: Method,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TxKey {
    Server(ServerKey),
    /// Non-INVITE client transactions by [`client_key`].
    Client(String),
    /// Our INVITEs by branch.
    Invite(String),
}

/// An INVITE of ours in progress.
struct UacInvite {
    tx: ClientInvite,
    dialog: DialogId,
    dst: SocketAddr,
    transport: Transport,
    request: Request,
    provisional: bool,
    cancel_pending: bool,
    cancelled: bool,
    answered: bool,
}

enum ServerTx {
    Invite { tx: ServerInvite, dialog: DialogId },
    NonInvite(ServerNonInvite),
}

struct ServerEntry {
    tx: ServerTx,
    dst: SocketAddr,
    transport: Transport,
}

struct ClientEntry {
    tx: ClientNonInvite,
    dst: SocketAddr,
    transport: Transport,
    dialog: DialogId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialogState {
    /// INVITE received, no final response yet.
    Early,
    /// 2xx sent; waiting for its ACK.
    Answered,
    /// ACK received.
    Confirmed,
    /// BYE sent or received, or the INVITE failed.
    Terminated,
}

struct Dialog {
    call_id: String,
    local_tag: String,
    remote_tag: String,
    /// Our side as it appears in From of our requests (the INVITE's To plus our tag).
    local: NameAddr,
    /// The peer as it appears in To of our requests (the INVITE's From).
    remote: NameAddr,
    remote_target: Uri,
    route_set: Vec<String>,
    remote_cseq: u32,
    local_cseq: u32,
    peer: SocketAddr,
    local_addr: SocketAddr,
    transport: Transport,
    state: DialogState,
    /// The INVITE (initial or re-INVITE) awaiting our final response.
    pending_invite: Option<(ServerKey, Box<Request>)>,
    retransmit_2xx: Option<Uas2xxRetransmitter>,
    /// Why the pending INVITE is refused, for a `Warning` header.
    warning: Option<String>,
    /// `WWW-Authenticate` challenges for a 401 to the pending INVITE.
    challenges: Vec<String>,
    /// In-dialog requests go to `peer` (the flow the dialog was set up on) rather than to
    /// the Contact: true for dialogs we started towards registered softphones behind NAT.
    use_flow: bool,
    /// The ACK we sent for our INVITE's 2xx, re-sent for each retransmitted 2xx
    /// (RFC 3261 §13.2.2.4).
    ack_2xx: Option<Arc<[u8]>>,
    /// Hang-up requested before the ACK arrived: RFC 3261 §15 "the callee's UA MUST NOT
    /// send a BYE on a confirmed dialog until it has received an ACK for its 2xx response
    /// or until the server transaction times out".
    bye_pending: bool,
}

/// Where a transaction's output goes, and the dialog its events concern (0: none).
#[derive(Debug, Clone, Copy)]
struct Peer {
    dst: SocketAddr,
    transport: Transport,
    dialog: DialogId,
}

/// Every live transaction, by kind. The kinds are kept apart because their inputs differ
/// (a server transaction takes our responses, a client one the peer's); timers and output
/// are the same for all and go through [`Transaction`] (see [`Transactions::get_mut`]).
#[derive(Default)]
struct Transactions {
    servers: HashMap<ServerKey, ServerEntry>,
    clients: HashMap<String, ClientEntry>,
    invites: HashMap<String, UacInvite>,
}

impl Transactions {
    /// The machine behind `key`, whatever its kind, and where its output goes.
    fn get_mut(&mut self, key: &TxKey) -> Option<(&mut dyn Transaction, Peer)> {
        match key {
            TxKey::Server(k) => {
                let e = self.servers.get_mut(k)?;
                let (tx, dialog): (&mut dyn Transaction, DialogId) = match &mut e.tx {
                    ServerTx::Invite { tx, dialog } => (tx, *dialog),
                    ServerTx::NonInvite(tx) => (tx, 0),
                };
                let peer = Peer {
                    dst: e.dst,
                    transport: e.transport,
                    dialog,
                };
                Some((tx, peer))
            }
            TxKey::Client(k) => {
                let e = self.clients.get_mut(k)?;
                let peer = Peer {
                    dst: e.dst,
                    transport: e.transport,
                    dialog: e.dialog,
                };
                Some((&mut e.tx, peer))
            }
            TxKey::Invite(k) => {
                let e = self.invites.get_mut(k)?;
                let peer = Peer {
                    dst: e.dst,
                    transport: e.transport,
                    dialog: e.dialog,
                };
                Some((&mut e.tx, peer))
            }
        }
    }
}

/// The sans-IO SIP endpoint.
pub struct SipEndpoint {
    cfg: EndpointConfig,
    rng: u64,
    txs: Transactions,
    dialogs: HashMap<DialogId, Dialog>,
    by_tags: HashMap<(String, String, String), DialogId>,
    next_dialog: DialogId,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    timer_keys: HashMap<u64, TimerOwner>,
    next_timer: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SipEvent>,
    stats: Stats,
    draining: bool,
    /// REGISTERs handed out and not yet answered.
    pending_requests: HashMap<RequestId, ServerKey>,
    next_request: RequestId,
    /// Keep-alive OPTIONS in flight, by client transaction key.
    probes: HashMap<String, u64>,
}

#[derive(Debug, Clone)]
enum TimerOwner {
    Tx(TxKey),
    Retransmit2xx(DialogId),
}

impl SipEndpoint {
    /// A new endpoint. `seed` drives tags, branches and Call-IDs; the driver passes OS
    /// randomness, tests a constant.
    pub fn new(cfg: EndpointConfig, seed: u64) -> Self {
        SipEndpoint {
            cfg,
            rng: seed | 1,
            txs: Transactions::default(),
            dialogs: HashMap::new(),
            by_tags: HashMap::new(),
            next_dialog: 1,
            timers: BinaryHeap::new(),
            timer_keys: HashMap::new(),
            next_timer: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            draining: false,
            pending_requests: HashMap::new(),
            next_request: 1,
            probes: HashMap::new(),
        }
    }

    /// Answers a request handed out as [`SipEvent::Register`]. The response is sent as
    /// given, with our `Server` header; a second answer to the same request is ignored.
    pub fn respond(&mut self, now: Instant, id: RequestId, mut resp: Response) {
        let Some(key) = self.pending_requests.remove(&id) else {
            return;
        };
        resp.headers.set("Server", self.cfg.user_agent.clone());
        let status = resp.status;
        if let Some(entry) = self.txs.servers.get_mut(&key)
            && let ServerTx::NonInvite(tx) = &mut entry.tx
        {
            refused(tx.send_response(now, status, resp.to_bytes().into()));
        }
        self.drain_tx(now, TxKey::Server(key));
    }

    /// Sends an out-of-dialog OPTIONS to a registered contact to keep its NAT pinhole open
    /// (RFC 3261 §11). The outcome arrives as [`SipEvent::ProbeResult`] with `probe`.
    pub fn probe(
        &mut self,
        now: Instant,
        probe: u64,
        dst: SocketAddr,
        transport: Transport,
        local: SocketAddr,
        uri: Uri,
    ) {
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let mut from = NameAddr::parse(&self.contact(local, transport))
            .unwrap_or_else(|_| NameAddr::new(uri.clone()));
        from.set_tag(&self.token(10));
        let mut headers = msg::Headers::default();
        headers.push("User-Agent", self.cfg.user_agent.clone());
        let req = Request {
            method: Method::Options,
            uri: uri.clone(),
            via: vec![our_via(local, transport, &branch)],
            from,
            to: NameAddr::new(uri),
            call_id: format!("{}@ugyelet", self.token(20)),
            cseq: msg::CSeq {
                seq: 1,
                method: Method::Options,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        self.probes.insert(client_key(&branch, &req.method), probe);
        self.start_client_non_invite(now, &branch, &req, dst, transport, 0);
    }

    /// While draining for shutdown, new calls are refused with 503 and `Retry-After`
    /// (RFC 3261 §21.5.4); calls in progress and everything else are served as usual.
    pub fn set_draining(&mut self, on: bool) {
        self.draining = on;
    }

    fn allow(&self) -> &'static str {
        if self.cfg.registrar {
            ALLOW_WITH_REGISTER
        } else {
            ALLOW
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of dialogs still held (for shutdown and tests).
    pub fn dialog_count(&self) -> usize {
        self.dialogs.len()
    }

    /// One message from the network. `local` is our address as the peer sees it (used in
    /// Via, Contact); `src` is where it came from.
    pub fn handle_message(
        &mut self,
        now: Instant,
        src: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        match msg::parse(bytes) {
            Ok(Message::Request(req)) => {
                self.stats.requests += 1;
                let slot = STATS_METHODS[..7]
                    .iter()
                    .position(|m| *m == req.method.as_str())
                    .unwrap_or(7);
                self.stats.requests_by_method[slot] += 1;
                self.handle_request(now, src, local, transport, req);
            }
            Ok(Message::Response(resp)) => {
                self.stats.responses += 1;
                if let Some(c) = self
                    .stats
                    .responses_by_class
                    .get_mut(usize::from(resp.status / 100).saturating_sub(1))
                {
                    *c += 1;
                }
                self.handle_response(now, resp);
            }
            Err(err) => match err.stateless_reply() {
                Some(mut reply) => {
                    self.stats.malformed_answered += 1;
                    reply.headers.set("Server", self.cfg.user_agent.clone());
                    let dst = response_destination(reply.via.first(), src, transport);
                    self.transmits.push_back(Transmit {
                        transport,
                        dst,
                        bytes: reply.to_bytes().into(),
                    });
                }
                None => self.stats.malformed_dropped += 1,
            },
        }
    }

    /// Sends 180 Ringing for a new call.
    pub fn ringing(&mut self, now: Instant, dialog: DialogId) {
        self.respond_invite(now, dialog, 180, None);
    }

    /// Answers the pending INVITE (initial or re-INVITE) with 200 and this SDP body.
    pub fn answer(&mut self, now: Instant, dialog: DialogId, sdp: Vec<u8>) {
        self.respond_invite(now, dialog, 200, Some(sdp));
    }

    /// Refuses the pending INVITE with a final error (e.g. 488). For the initial INVITE
    /// this ends the dialog; for a re-INVITE the call goes on as before (RFC 3261 §14.2).
    pub fn reject(&mut self, now: Instant, dialog: DialogId, status: u16) {
        debug_assert!(status >= 300, "reject takes a final error status");
        self.respond_invite(now, dialog, status.max(300), None);
    }

    /// As [`SipEndpoint::reject`], with a `Warning` header saying why (RFC 3261 §20.43,
    /// code 399: "Miscellaneous warning"), e.g. what was wrong with the offered SDP.
    pub fn reject_because(&mut self, now: Instant, dialog: DialogId, status: u16, why: &str) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.warning = Some(why.replace(['"', '\\', '\r', '\n'], "'"));
        }
        self.reject(now, dialog, status);
    }

    /// Refuses a new INVITE with 401 and these `WWW-Authenticate` challenges (RFC 3261
    /// §22.3: a UAS may challenge); the phone sends the INVITE again with credentials.
    pub fn challenge(&mut self, now: Instant, dialog: DialogId, challenges: Vec<String>) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.challenges = challenges;
        }
        self.respond_invite(now, dialog, 401, None);
    }

    /// Ends the call from our side: BYE when answered, 480 when still ringing.
    pub fn hangup(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        match d.state {
            DialogState::Early if d.pending_invite.is_none() => self.cancel(now, dialog),
            DialogState::Early => self.respond_invite(now, dialog, 480, None),
            DialogState::Answered => d.bye_pending = true,
            DialogState::Confirmed => self.send_bye(now, dialog),
            DialogState::Terminated => {}
        }
    }

    /// Timers are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(owner) = self.timer_keys.remove(&id) else {
                continue;
            };
            if let Some(machine) = self.machine_mut(&owner) {
                machine.handle_timeout(now);
            }
            match owner {
                TimerOwner::Tx(key) => self.drain_tx(now, key),
                TimerOwner::Retransmit2xx(dialog) => self.drain_2xx(now, dialog),
            }
        }
    }

    /// The machine a timer belongs to: a transaction, or a dialog's 2xx retransmitter.
    fn machine_mut(&mut self, owner: &TimerOwner) -> Option<&mut dyn Transaction> {
        match owner {
            TimerOwner::Tx(key) => self.txs.get_mut(key).map(|(tx, _)| tx),
            TimerOwner::Retransmit2xx(dialog) => self
                .dialogs
                .get_mut(dialog)?
                .retransmit_2xx
                .as_mut()
                .map(|r| r as &mut dyn Transaction),
        }
    }

    /// Next bytes to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Whether events wait to be polled.
    #[must_use]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Next event for the user.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SipEvent> {
        self.events.pop_front()
    }

    /// When [`SipEndpoint::handle_timeout`] should next run (may be early, never late).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    // ----- requests -----

    fn handle_request(
        &mut self,
        now: Instant,
        src: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        mut req: Request,
    ) {
        // RFC 3261 §18.2.1: "the server MUST add a "received" parameter to that Via header
        // field value" when sent-by differs from the source; RFC 3581 §4: with "rport" and
        // no value, fill in the source port.
        if let Some(top) = req.via.first_mut() {
            let differs = match &top.host {
                Host::V4(a) => IpAddr::V4(*a) != src.ip(),
                Host::V6(a) => IpAddr::V6(*a) != src.ip(),
                Host::Domain(_) => true,
            };
            if differs {
                top.set_received(src.ip());
            }
            if top.rport() == Some(None) {
                top.set_rport(src.port());
            }
        }
        let Some(key) = server_key(&req) else {
            self.stats.malformed_dropped += 1;
            return;
        };
        let dst = response_destination(req.via.first(), src, transport);

        // Retransmission or ACK of an existing server transaction?
        let lookup = ServerKey {
            method: if req.method == Method::Ack {
                Method::Invite
            } else {
                req.method.clone()
            },
            ..key.clone()
        };
        if let Some(entry) = self.txs.servers.get_mut(&lookup) {
            let tx_key = TxKey::Server(lookup.clone());
            match (&mut entry.tx, &req.method) {
                (ServerTx::Invite { tx, dialog }, Method::Ack) => {
                    let dialog = *dialog;
                    if tx.handle_ack(now) == Disposition::PassToTu {
                        self.drain_tx(now, tx_key);
                        self.dialog_ack(now, dialog);
                    } else {
                        self.stats.retransmissions_absorbed += 1;
                        self.drain_tx(now, tx_key);
                    }
                }
                (ServerTx::Invite { tx, .. }, _) => {
                    tx.handle_request_retransmit(now);
                    self.stats.retransmissions_absorbed += 1;
                    self.drain_tx(now, tx_key);
                }
                (ServerTx::NonInvite(tx), _) => {
                    tx.handle_request_retransmit(now);
                    self.stats.retransmissions_absorbed += 1;
                    self.drain_tx(now, tx_key);
                }
            }
            return;
        }

        match req.method {
            // An ACK matching no transaction is the ACK for a 2xx: it belongs to a dialog
            // (RFC 3261 §17.2.3, §13.3.1.4). Otherwise it is dropped: ACKs get no response.
            Method::Ack => {
                if let Some(d) = self.find_dialog(&req) {
                    self.dialog_ack(now, d);
                }
            }
            Method::Cancel => self.handle_cancel(now, key, dst, transport, &req),
            Method::Invite => self.handle_invite(now, key, src, local, dst, transport, req),
            Method::Register if self.cfg.registrar && self.precheck(&req).is_none() => {
                let tx = ServerNonInvite::new(now, transport.reliable(), self.cfg.timers);
                // RFC 3261 §8.2.6.1: a non-INVITE server transaction sends no 100 on
                // its own; the registrar answers within the same loop turn.
                let id = self.next_request;
                self.next_request += 1;
                self.insert_server(now, key.clone(), ServerTx::NonInvite(tx), dst, transport);
                self.pending_requests.insert(id, key);
                self.events.push_back(SipEvent::Register {
                    id,
                    request: Box::new(req),
                    source: src,
                    transport,
                });
            }
            _ => self.handle_non_invite(now, key, dst, transport, req),
        }
    }

    #[allow(clippy::too_many_arguments)] // one call site; bundling would only rename them
    fn handle_invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        src: SocketAddr,
        local: SocketAddr,
        dst: SocketAddr,
        transport: Transport,
        req: Request,
    ) {
        let trying = self.response(&req, 100, None).to_bytes();
        let mut tx = ServerInvite::new(now, transport.reliable(), self.cfg.timers, trying.into());
        if let Some(status) = self.precheck(&req) {
            let resp = self.error_response(&req, status);
            refused(tx.send_response(now, status, resp.to_bytes().into()));
            self.insert_server(now, key, ServerTx::Invite { tx, dialog: 0 }, dst, transport);
            return;
        }
        if self.draining && req.to.tag().is_none() {
            self.stats.refused_draining += 1;
            let mut resp = self.response(&req, 503, None);
            resp.headers.set("Retry-After", "120");
            refused(tx.send_response(now, 503, resp.to_bytes().into()));
            self.insert_server(now, key, ServerTx::Invite { tx, dialog: 0 }, dst, transport);
            return;
        }
        if req.to.tag().is_some() {
            // re-INVITE
            let Some(dialog) = self.find_dialog(&req) else {
                let resp = self.response(&req, 481, None);
                refused(tx.send_response(now, 481, resp.to_bytes().into()));
                self.insert_server(now, key, ServerTx::Invite { tx, dialog: 0 }, dst, transport);
                return;
            };
            let status = self.check_cseq(dialog, &req);
            let busy = self
                .dialogs
                .get(&dialog)
                .is_some_and(|d| d.pending_invite.is_some() || d.state != DialogState::Confirmed);
            let status = status.or(if busy { Some(491) } else { None });
            if let Some(status) = status {
                let tag = self.dialogs.get(&dialog).map(|d| d.local_tag.clone());
                let resp = self.response(&req, status, tag.as_deref());
                refused(tx.send_response(now, status, resp.to_bytes().into()));
                self.insert_server(now, key, ServerTx::Invite { tx, dialog }, dst, transport);
                return;
            }
            let tag = self.dialogs.get(&dialog).map(|d| d.local_tag.clone());
            let trying = self.response(&req, 100, tag.as_deref());
            refused(tx.send_response(now, 100, trying.to_bytes().into()));
            if let Some(d) = self.dialogs.get_mut(&dialog) {
                d.pending_invite = Some((key.clone(), Box::new(req.clone())));
                if let Some(target) = first_contact_uri(&req) {
                    d.remote_target = target;
                }
            }
            self.insert_server(now, key, ServerTx::Invite { tx, dialog }, dst, transport);
            self.events.push_back(SipEvent::ReInvite {
                dialog,
                request: Box::new(req),
            });
            return;
        }

        let dialog = self.next_dialog;
        self.next_dialog += 1;
        let local_tag = self.token(10);
        let remote_tag = req.from.tag().unwrap_or_default().to_owned();
        let mut local_na = req.to.clone();
        local_na.set_tag(&local_tag);
        let remote_target = first_contact_uri(&req).unwrap_or_else(|| req.from.uri.clone());
        let route_set = req
            .headers
            .get_all("Record-Route")
            .map(str::to_owned)
            .collect();
        let d = Dialog {
            call_id: req.call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: remote_tag.clone(),
            local: local_na,
            remote: req.from.clone(),
            remote_target,
            route_set,
            remote_cseq: req.cseq.seq,
            local_cseq: 0,
            peer: src,
            local_addr: local,
            transport,
            state: DialogState::Early,
            pending_invite: Some((key.clone(), Box::new(req.clone()))),
            retransmit_2xx: None,
            warning: None,
            challenges: Vec::new(),
            use_flow: false,
            ack_2xx: None,
            bye_pending: false,
        };
        self.by_tags
            .insert((req.call_id.clone(), local_tag, remote_tag), dialog);
        self.dialogs.insert(dialog, d);
        // Send 100 at once rather than after 200 ms: the call layer needs a few ms to set up
        // media and the caller's retransmissions stop sooner.
        let trying = self.response(&req, 100, None);
        refused(tx.send_response(now, 100, trying.to_bytes().into()));
        self.insert_server(now, key, ServerTx::Invite { tx, dialog }, dst, transport);
        self.events.push_back(SipEvent::IncomingCall {
            dialog,
            request: Box::new(req),
            source: src,
            local,
        });
    }

    fn handle_cancel(
        &mut self,
        now: Instant,
        key: ServerKey,
        dst: SocketAddr,
        transport: Transport,
        req: &Request,
    ) {
        // RFC 3261 §9.2: the CANCEL matches the INVITE's server transaction by branch and
        // sent-by. "If the UAS did not find a matching transaction for the CANCEL request,
        // it SHOULD respond to the CANCEL with a 481".
        let invite_key = ServerKey {
            method: Method::Invite,
            ..key.clone()
        };
        let target = match self.txs.servers.get(&invite_key) {
            Some(ServerEntry {
                tx: ServerTx::Invite { dialog, .. },
                ..
            }) => Some(*dialog),
            _ => None,
        };
        let status = if target.is_some() { 200 } else { 481 };
        let tag = target
            .and_then(|d| self.dialogs.get(&d))
            .map(|d| d.local_tag.clone());
        let resp = self.response(req, status, tag.as_deref());
        let mut tx = ServerNonInvite::new(now, transport.reliable(), self.cfg.timers);
        refused(tx.send_response(now, status, resp.to_bytes().into()));
        self.insert_server(now, key, ServerTx::NonInvite(tx), dst, transport);
        if let Some(dialog) = target
            && self
                .dialogs
                .get(&dialog)
                .is_some_and(|d| d.state == DialogState::Early)
        {
            // "the UAS SHOULD immediately respond to the INVITE with a 487"
            self.respond_invite(now, dialog, 487, None);
            self.events.push_back(SipEvent::Ended {
                dialog,
                reason: EndReason::Cancelled,
            });
        }
    }

    fn handle_non_invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        dst: SocketAddr,
        transport: Transport,
        req: Request,
    ) {
        let mut tx = ServerNonInvite::new(now, transport.reliable(), self.cfg.timers);
        let mut event = None;
        let (status, tag) = if let Some(status) = self.precheck(&req) {
            (status, None)
        } else if req.to.tag().is_some() && req.method != Method::Options {
            match self.find_dialog(&req) {
                None => (481, None),
                Some(dialog) => {
                    let tag = self.dialogs.get(&dialog).map(|d| d.local_tag.clone());
                    match self.check_cseq(dialog, &req) {
                        Some(status) => (status, tag),
                        None => match req.method {
                            Method::Bye => {
                                self.terminate(dialog);
                                event = Some(SipEvent::Ended {
                                    dialog,
                                    reason: EndReason::PeerBye,
                                });
                                (200, tag)
                            }
                            Method::Info => {
                                event = Some(SipEvent::Info {
                                    dialog,
                                    content_type: req.content_type().unwrap_or("").to_owned(),
                                    body: req.body.clone(),
                                });
                                (200, tag)
                            }
                            _ => (405, tag),
                        },
                    }
                }
            }
        } else {
            match req.method {
                Method::Options => (200, None),
                // Out of a dialog, BYE and INFO have nothing to act on.
                Method::Bye | Method::Info => (481, None),
                _ => (405, None),
            }
        };
        let mut resp = if status >= 300 && status != 481 {
            self.error_response(&req, status)
        } else {
            self.response(&req, status, tag.as_deref())
        };
        if req.method == Method::Options && status == 200 {
            resp.headers.set("Allow", self.allow());
            resp.headers.set("Accept", "application/sdp");
            resp.headers.set("Accept-Language", "hu");
            resp.headers.set("Supported", "");
        }
        refused(tx.send_response(now, status, resp.to_bytes().into()));
        self.insert_server(now, key, ServerTx::NonInvite(tx), dst, transport);
        if let Some(ev) = event {
            self.events.push_back(ev);
        }
    }

    /// Checks every request must pass before it is served; returns the error status.
    fn precheck(&self, req: &Request) -> Option<u16> {
        // RFC 3261 §8.2.1: unknown method → 501 (405 when known but not allowed).
        if let Method::Extension(_) = req.method {
            return Some(501);
        }
        let served = matches!(
            req.method,
            Method::Invite
                | Method::Ack
                | Method::Cancel
                | Method::Bye
                | Method::Options
                | Method::Info
        ) || (req.method == Method::Register && self.cfg.registrar);
        if !served {
            return Some(405);
        }
        // RFC 3261 §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it
        // SHOULD reject the request with a 416 (Unsupported URI Scheme) response."
        if !matches!(req.uri, Uri::Sip(_) | Uri::Tel(_)) {
            return Some(416);
        }
        // RFC 3261 §8.2.2.3: an unsupported option tag in Require → 420 Bad Extension.
        if req.method != Method::Ack
            && req.method != Method::Cancel
            && req.headers.get_all("Require").any(|t| !t.trim().is_empty())
        {
            return Some(420);
        }
        // RFC 3261 §8.2.3: "If a UAS does not understand the body's content type ... the
        // UAS MUST reject the request with a 415 (Unsupported Media Type) response." An
        // INVITE's body is its session description; SDP is the only kind served.
        if req.method == Method::Invite
            && !req.body.is_empty()
            && req
                .content_type()
                .is_some_and(|ct| !media_type_is(ct, "application/sdp"))
        {
            return Some(415);
        }
        // RFC 3261 §20.1: "If no Accept header field is present, the server SHOULD assume a
        // default value of application/sdp"; one that rules SDP out leaves no answer to send,
        // and RFC 4475 §3.3.15 has such an INVITE refused with 406 (Not Acceptable).
        if req.method == Method::Invite
            && req.headers.get("Accept").is_some()
            && !req
                .headers
                .get_all("Accept")
                .flat_map(|v| v.split(','))
                .any(|range| {
                    ["application/sdp", "application/*", "*/*"]
                        .iter()
                        .any(|t| media_type_is(range, t))
                })
        {
            return Some(406);
        }
        None
    }

    fn check_cseq(&mut self, dialog: DialogId, req: &Request) -> Option<u16> {
        let d = self.dialogs.get_mut(&dialog)?;
        // RFC 3261 §12.2.2: "If the remote sequence number is not empty, but the sequence
        // number of the request is lower than the remote sequence number, the request is out
        // of order and MUST be rejected with a 500 (Server Internal Error) response."
        if req.cseq.seq < d.remote_cseq {
            return Some(500);
        }
        d.remote_cseq = req.cseq.seq;
        None
    }

    fn find_dialog(&self, req: &Request) -> Option<DialogId> {
        let local = req.to.tag()?;
        let remote = req.from.tag().unwrap_or_default();
        self.by_tags
            .get(&(req.call_id.clone(), local.to_owned(), remote.to_owned()))
            .copied()
    }

    fn dialog_ack(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        if let Some(r) = d.retransmit_2xx.as_mut() {
            // Later ACKs (one per retransmitted 2xx) are absorbed by the state check below.
            let _ = r.handle_ack(now);
        }
        d.retransmit_2xx = None;
        if d.state == DialogState::Answered {
            d.state = DialogState::Confirmed;
            let bye = d.bye_pending;
            self.events.push_back(SipEvent::Confirmed { dialog });
            if bye {
                self.send_bye(now, dialog);
            }
        }
    }

    // ----- responses we send -----

    fn respond_invite(
        &mut self,
        now: Instant,
        dialog: DialogId,
        status: u16,
        sdp: Option<Vec<u8>>,
    ) {
        let Some(d) = self.dialogs.get(&dialog) else {
            return;
        };
        let Some((key, req)) = d.pending_invite.clone() else {
            return;
        };
        let initial = d.state == DialogState::Early;
        let tag = d.local_tag.clone();
        let contact = self.contact(d.local_addr, d.transport);
        let warning = d.warning.clone();
        let challenges = d.challenges.clone();
        let mut resp = if status >= 300 {
            let mut r = self.error_response(&req, status);
            r.to.set_tag(&tag);
            if let Some(w) = warning {
                r.headers.set("Warning", format!("399 ugyelet \"{w}\""));
            }
            if status == 401 {
                for c in challenges {
                    r.headers.push("WWW-Authenticate", c);
                }
            }
            r
        } else {
            self.response(&req, status, Some(&tag))
        };
        if (101..300).contains(&status) {
            resp.headers.set("Contact", contact);
        }
        if status == 200 {
            resp.headers.set("Allow", self.allow());
            resp.headers.set("Supported", "");
        }
        if let Some(body) = sdp {
            resp.headers.set("Content-Type", "application/sdp");
            resp.body = body;
        }
        let bytes: Arc<[u8]> = resp.to_bytes().into();
        if let Some(entry) = self.txs.servers.get_mut(&key)
            && let ServerTx::Invite { tx, .. } = &mut entry.tx
        {
            refused(tx.send_response(now, status, Arc::clone(&bytes)));
        }
        self.drain_tx(now, TxKey::Server(key));
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        if status >= 200 {
            d.pending_invite = None;
        }
        match status {
            200..=299 => {
                if initial {
                    d.state = DialogState::Answered;
                }
                // RFC 3261 §13.3.1.4: the UAS core retransmits the 2xx until the ACK,
                // "independent of the transport protocol used".
                d.retransmit_2xx = Some(Uas2xxRetransmitter::new(now, bytes, self.cfg.timers));
                self.drain_2xx(now, dialog);
            }
            300.. if initial => self.terminate(dialog),
            _ => {}
        }
    }

    /// A response to `req` with the mandatory headers copied (RFC 3261 §8.2.6.2: "if the
    /// To header field in the request did not contain a tag, ... the UAS MUST add a tag to
    /// the To header field in the response (with the exception of the 100 (Trying)
    /// response"). Without a dialog tag a fresh one is drawn; the transaction resends these
    /// same bytes to retransmissions.
    fn response(&mut self, req: &Request, status: u16, to_tag: Option<&str>) -> Response {
        let fresh =
            (to_tag.is_none() && status > 100 && req.to.tag().is_none()).then(|| self.token(10));
        let to_tag = to_tag.or(fresh.as_deref());
        let mut r = Response::from_request(req, status, msg::reason_phrase(status), to_tag);
        r.headers.set("Server", self.cfg.user_agent.clone());
        r
    }

    fn error_response(&mut self, req: &Request, status: u16) -> Response {
        let mut r = self.response(req, status, None);
        match status {
            405 | 501 => r.headers.set("Allow", self.allow()),
            // RFC 3261 §8.2.3: the 415 "MUST contain an Accept header field listing the
            // types of all bodies it understands".
            415 => r.headers.set("Accept", "application/sdp"),
            420 => {
                let tags: Vec<&str> = req.headers.get_all("Require").map(str::trim).collect();
                r.headers.set("Unsupported", tags.join(", "));
            }
            _ => {}
        }
        r
    }

    fn contact(&self, local: SocketAddr, transport: Transport) -> String {
        let host = match local.ip() {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        };
        let t = if transport.reliable() {
            ";transport=tcp"
        } else {
            ""
        };
        format!(
            "<sip:{}@{}:{}{}>",
            self.cfg.contact_user,
            host,
            local.port(),
            t
        )
    }

    // ----- our BYE -----

    fn send_bye(&mut self, now: Instant, dialog: DialogId) {
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        d.local_cseq = d.local_cseq.max(1) + 1;
        let via = our_via(d.local_addr, d.transport, &branch);
        let mut headers = msg::Headers::default();
        for r in &d.route_set {
            headers.push("Route", r.clone());
        }
        headers.push("User-Agent", self.cfg.user_agent.clone());
        let req = Request {
            method: Method::Bye,
            uri: d.remote_target.clone(),
            via: vec![via],
            from: d.local.clone(),
            to: d.remote.clone(),
            call_id: d.call_id.clone(),
            cseq: msg::CSeq {
                seq: d.local_cseq,
                method: Method::Bye,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        let dst = match &d.remote_target {
            _ if d.use_flow => d.peer,
            // Send to the peer's Contact when it is a literal address; otherwise (a name we
            // would have to resolve) back to where the INVITE came from.
            Uri::Sip(u)
                if d.route_set.is_empty() && matches!(u.host, Host::V4(_) | Host::V6(_)) =>
            {
                let ip = match u.host {
                    Host::V4(a) => IpAddr::V4(a),
                    Host::V6(a) => IpAddr::V6(a),
                    Host::Domain(_) => d.peer.ip(),
                };
                if d.transport.reliable() {
                    d.peer
                } else {
                    SocketAddr::new(ip, u.port.unwrap_or(5060))
                }
            }
            _ => d.peer,
        };
        let transport = d.transport;
        d.state = DialogState::Terminated;
        self.start_client_non_invite(now, &branch, &req, dst, transport, dialog);
    }

    fn handle_response(&mut self, now: Instant, resp: Response) {
        let Some(branch) = resp.via.first().and_then(Via::branch).map(str::to_owned) else {
            return;
        };
        // RFC 3261 §17.1.3: a response matches a client transaction by branch and CSeq
        // method.
        if resp.cseq.method == Method::Invite && self.txs.invites.contains_key(&branch) {
            self.handle_invite_response(now, branch, resp);
            return;
        }
        let branch = client_key(&branch, &resp.cseq.method);
        let Some(entry) = self.txs.clients.get_mut(&branch) else {
            return;
        };
        if entry.tx.handle_response(now, resp.status) == Disposition::Absorb {
            self.stats.retransmissions_absorbed += 1;
        } else if resp.status >= 200
            && let Some(probe) = self.probes.remove(&branch)
        {
            self.events.push_back(SipEvent::ProbeResult {
                probe,
                status: Some(resp.status),
            });
        }
        self.drain_tx(now, TxKey::Client(branch));
    }

    // ----- our INVITEs (the operator leg) -----

    /// Sends an INVITE (RFC 3261 §13.2.1) and returns the dialog it will create. What
    /// happens next arrives as [`SipEvent::OutgoingProgress`], [`SipEvent::OutgoingAnswered`]
    /// or [`SipEvent::OutgoingFailed`]; the daemon ACKs a 2xx by itself.
    pub fn invite(&mut self, now: Instant, call: OutgoingCall) -> DialogId {
        let dialog = self.next_dialog;
        self.next_dialog += 1;
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let local_tag = self.token(10);
        let call_id = format!("{}@ugyelet", self.token(20));
        let mut from = call.from.clone();
        from.set_tag(&local_tag);
        let mut headers = msg::Headers::default();
        headers.push("Contact", self.contact(call.local, call.transport));
        headers.push("Allow", self.allow());
        headers.push("User-Agent", self.cfg.user_agent.clone());
        for (k, v) in &call.headers {
            headers.push(k, v.clone());
        }
        headers.push("Content-Type", "application/sdp");
        let req = Request {
            method: Method::Invite,
            uri: call.request_uri.clone(),
            via: vec![our_via(call.local, call.transport, &branch)],
            from: from.clone(),
            to: call.to.clone(),
            call_id: call_id.clone(),
            cseq: msg::CSeq {
                seq: 1,
                method: Method::Invite,
            },
            max_forwards: Some(70),
            headers,
            body: call.sdp,
        };
        let d = Dialog {
            call_id,
            local_tag,
            remote_tag: String::new(),
            local: from,
            remote: call.to,
            remote_target: call.request_uri,
            route_set: Vec::new(),
            remote_cseq: 0,
            local_cseq: 1,
            peer: call.dst,
            local_addr: call.local,
            transport: call.transport,
            state: DialogState::Early,
            pending_invite: None,
            retransmit_2xx: None,
            warning: None,
            challenges: Vec::new(),
            use_flow: true,
            ack_2xx: None,
            bye_pending: false,
        };
        self.dialogs.insert(dialog, d);
        let tx = ClientInvite::new(
            now,
            req.to_bytes().into(),
            call.transport.reliable(),
            self.cfg.timers,
        );
        self.txs.invites.insert(
            branch.clone(),
            UacInvite {
                tx,
                dialog,
                dst: call.dst,
                transport: call.transport,
                request: req,
                provisional: false,
                cancel_pending: false,
                cancelled: false,
                answered: false,
            },
        );
        self.drain_tx(now, TxKey::Invite(branch));
        dialog
    }

    /// Withdraws our INVITE (the caller hung up while the operator's phone rang).
    ///
    /// RFC 3261 §9.1: "a CANCEL request SHOULD NOT be sent to cancel an INVITE unless a
    /// provisional response has been received"; before that the CANCEL waits for one.
    pub fn cancel(&mut self, now: Instant, dialog: DialogId) {
        let Some((branch, e)) = self
            .txs
            .invites
            .iter_mut()
            .find(|(_, e)| e.dialog == dialog)
        else {
            return;
        };
        if e.answered || e.cancelled {
            return;
        }
        if !e.provisional {
            e.cancel_pending = true;
            return;
        }
        e.cancelled = true;
        let branch = branch.clone();
        self.send_cancel(now, &branch);
    }

    fn send_cancel(&mut self, now: Instant, branch: &str) {
        let Some(e) = self.txs.invites.get(branch) else {
            return;
        };
        let inv = &e.request;
        // RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via
        // (branch included) as the INVITE; method CANCEL.
        let mut headers = msg::Headers::default();
        for r in inv.headers.get_all("Route") {
            headers.push("Route", r.to_owned());
        }
        headers.push("User-Agent", self.cfg.user_agent.clone());
        let cancel = Request {
            method: Method::Cancel,
            uri: inv.uri.clone(),
            via: inv.via.first().cloned().into_iter().collect(),
            from: inv.from.clone(),
            to: inv.to.clone(),
            call_id: inv.call_id.clone(),
            cseq: msg::CSeq {
                seq: inv.cseq.seq,
                method: Method::Cancel,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        let (dst, transport, dialog) = (e.dst, e.transport, e.dialog);
        self.start_client_non_invite(now, branch, &cancel, dst, transport, dialog);
    }

    /// Starts a client non-INVITE transaction (RFC 3261 §17.1.2) for `req`, a request of
    /// ours whose top Via carries `branch`, and sends it.
    /// `dialog` is the dialog it belongs to (0: none, as for a keep-alive OPTIONS).
    fn start_client_non_invite(
        &mut self,
        now: Instant,
        branch: &str,
        req: &Request,
        dst: SocketAddr,
        transport: Transport,
        dialog: DialogId,
    ) {
        let tx = ClientNonInvite::new(
            now,
            req.to_bytes().into(),
            transport.reliable(),
            self.cfg.timers,
        );
        let key = client_key(branch, &req.method);
        self.txs.clients.insert(
            key.clone(),
            ClientEntry {
                tx,
                dst,
                transport,
                dialog,
            },
        );
        self.drain_tx(now, TxKey::Client(key));
    }

    fn handle_invite_response(&mut self, now: Instant, branch: String, resp: Response) {
        let status = resp.status;
        let Some(e) = self.txs.invites.get(&branch) else {
            return;
        };
        // RFC 3261 §17.1.1.3: the ACK for a 300–699 is part of the transaction: same
        // Request-URI, top Via, From, Call-ID, CSeq number; To from the response.
        let ack = (300..700).contains(&status).then(|| {
            let mut headers = msg::Headers::default();
            for r in e.request.headers.get_all("Route") {
                headers.push("Route", r.to_owned());
            }
            Request {
                method: Method::Ack,
                uri: e.request.uri.clone(),
                via: e.request.via.first().cloned().into_iter().collect(),
                from: e.request.from.clone(),
                to: resp.to.clone(),
                call_id: e.request.call_id.clone(),
                cseq: msg::CSeq {
                    seq: e.request.cseq.seq,
                    method: Method::Ack,
                },
                max_forwards: Some(70),
                headers,
                body: Vec::new(),
            }
            .to_bytes()
            .into()
        });
        let Some(e) = self.txs.invites.get_mut(&branch) else {
            return;
        };
        let disposition = e.tx.handle_response(now, status, ack);
        let dialog = e.dialog;
        if disposition == Disposition::Absorb {
            self.stats.retransmissions_absorbed += 1;
            self.drain_tx(now, TxKey::Invite(branch));
            return;
        }
        match status {
            100..=199 => {
                let first = !e.provisional;
                e.provisional = true;
                let cancel_now = e.cancel_pending && !e.cancelled;
                if cancel_now {
                    e.cancelled = true;
                    self.send_cancel(now, &branch);
                } else if first || status != 100 {
                    self.events
                        .push_back(SipEvent::OutgoingProgress { dialog, status });
                }
            }
            200..=299 => {
                let was_answered = e.answered;
                e.answered = true;
                let withdrawn = e.cancelled || e.cancel_pending;
                if was_answered {
                    // A retransmitted 2xx: RFC 3261 §13.2.2.4, the ACK goes again.
                    if let Some(d) = self.dialogs.get(&dialog)
                        && let Some(ack) = d.ack_2xx.clone()
                    {
                        self.transmits.push_back(Transmit {
                            transport: d.transport,
                            dst: d.peer,
                            bytes: ack,
                        });
                    }
                } else {
                    self.confirm_uac_dialog(dialog, &resp);
                    if withdrawn {
                        // The operator answered as we cancelled: RFC 3261 §15, ACK then BYE.
                        self.send_bye(now, dialog);
                        self.events.push_back(SipEvent::OutgoingFailed {
                            dialog,
                            status: 487,
                        });
                    } else {
                        self.events.push_back(SipEvent::OutgoingAnswered {
                            dialog,
                            sdp: resp.body.clone(),
                        });
                    }
                }
            }
            _ => {
                self.terminate(dialog);
                self.events
                    .push_back(SipEvent::OutgoingFailed { dialog, status });
            }
        }
        self.drain_tx(now, TxKey::Invite(branch));
    }

    /// A 2xx to our INVITE: the dialog takes the peer's tag, Contact and route set
    /// (RFC 3261 §12.1.2), and the ACK is sent (§13.2.2.4).
    fn confirm_uac_dialog(&mut self, dialog: DialogId, resp: &Response) {
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        d.remote_tag = resp.to.tag().unwrap_or_default().to_owned();
        d.remote = resp.to.clone();
        if let Some(c) = resp
            .headers
            .get_all("Contact")
            .next()
            .and_then(|c| NameAddr::parse(c).ok())
        {
            d.remote_target = c.uri;
        }
        // RFC 3261 §12.1.2: "The route set MUST be set to the list of URIs in the
        // Record-Route header field from the response, taken in reverse order".
        d.route_set = resp
            .headers
            .get_all("Record-Route")
            .map(str::to_owned)
            .collect();
        d.route_set.reverse();
        d.state = DialogState::Confirmed;
        self.by_tags.insert(
            (d.call_id.clone(), d.local_tag.clone(), d.remote_tag.clone()),
            dialog,
        );
        let mut headers = msg::Headers::default();
        for r in &d.route_set {
            headers.push("Route", r.clone());
        }
        let ack = Request {
            method: Method::Ack,
            uri: d.remote_target.clone(),
            via: vec![our_via(d.local_addr, d.transport, &branch)],
            from: d.local.clone(),
            to: d.remote.clone(),
            call_id: d.call_id.clone(),
            cseq: msg::CSeq {
                seq: 1,
                method: Method::Ack,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        let bytes: Arc<[u8]> = ack.to_bytes().into();
        d.ack_2xx = Some(Arc::clone(&bytes));
        self.transmits.push_back(Transmit {
            transport: d.transport,
            dst: d.peer,
            bytes,
        });
    }

    // ----- plumbing -----

    fn insert_server(
        &mut self,
        now: Instant,
        key: ServerKey,
        tx: ServerTx,
        dst: SocketAddr,
        transport: Transport,
    ) {
        self.txs
            .servers
            .insert(key.clone(), ServerEntry { tx, dst, transport });
        self.drain_tx(now, TxKey::Server(key));
    }

    /// Drains a transaction's transmissions and events and re-arms its timer.
    fn drain_tx(&mut self, now: Instant, key: TxKey) {
        let Some((tx, peer)) = self.txs.get_mut(&key) else {
            return;
        };
        let events = pump(tx, peer.dst, peer.transport, &mut self.transmits);
        let next = tx.poll_timeout();
        let terminated = tx.is_terminated();
        let dialog = peer.dialog;
        for ev in events {
            match ev {
                // Timer B, or the transport failed, before any final response.
                TxEvent::Timeout | TxEvent::TransportError if matches!(key, TxKey::Invite(_)) => {
                    let answered = match &key {
                        TxKey::Invite(b) => self.txs.invites.get(b).is_some_and(|e| e.answered),
                        _ => false,
                    };
                    if !answered
                        && self
                            .dialogs
                            .get(&dialog)
                            .is_some_and(|d| d.state != DialogState::Terminated)
                    {
                        self.terminate(dialog);
                        self.events.push_back(SipEvent::OutgoingFailed {
                            dialog,
                            status: 408,
                        });
                    }
                }
                TxEvent::AckTimeout | TxEvent::TransportError if dialog != 0 => {
                    if let TxKey::Server(_) = key
                        && self
                            .dialogs
                            .get(&dialog)
                            .is_some_and(|d| d.state != DialogState::Terminated)
                    {
                        self.terminate(dialog);
                        self.events.push_back(SipEvent::Ended {
                            dialog,
                            reason: EndReason::Failed,
                        });
                    }
                }
                _ => {}
            }
        }
        if terminated {
            match &key {
                TxKey::Server(k) => {
                    self.txs.servers.remove(k);
                }
                TxKey::Client(b) => {
                    if let Some(e) = self.txs.clients.remove(b)
                        && b.ends_with(" BYE")
                    {
                        self.forget_dialog(e.dialog);
                    }
                    // Terminated without a final response: Timer F or a transport error.
                    if let Some(probe) = self.probes.remove(b) {
                        self.events.push_back(SipEvent::ProbeResult {
                            probe,
                            status: None,
                        });
                    }
                }
                TxKey::Invite(b) => {
                    self.txs.invites.remove(b);
                }
            }
            return;
        }
        if let Some(at) = next {
            self.arm(at.max(now), TimerOwner::Tx(key));
        }
    }

    fn drain_2xx(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        let Some(r) = d.retransmit_2xx.as_mut() else {
            return;
        };
        let (dst, transport) = (d.peer, d.transport);
        let dst = match d.pending_invite.as_ref() {
            Some((_, req)) => response_destination(req.via.first(), dst, transport),
            None => dst,
        };
        let gave_up =
            pump(r, dst, transport, &mut self.transmits).contains(&TxEvent::AckNotReceived);
        let next = r.poll_timeout();
        if gave_up {
            d.retransmit_2xx = None;
            // RFC 3261 §13.3.1.4: "If the server retransmits the 2xx response for 64*T1
            // seconds without receiving an ACK, the dialog is confirmed, but the session
            // SHOULD be terminated. This is accomplished with a BYE".
            d.state = DialogState::Confirmed;
            self.events.push_back(SipEvent::Ended {
                dialog,
                reason: EndReason::AckTimeout,
            });
            self.send_bye(now, dialog);
            return;
        }
        if let Some(at) = next {
            self.arm(at.max(now), TimerOwner::Retransmit2xx(dialog));
        }
    }

    fn arm(&mut self, at: Instant, owner: TimerOwner) {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timer_keys.insert(id, owner);
        self.timers.push(Reverse((at, id)));
    }

    fn terminate(&mut self, dialog: DialogId) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.state = DialogState::Terminated;
            d.retransmit_2xx = None;
        }
        // Keep the dialog while its server transactions may still see retransmissions;
        // it is small, and forgetting it is done when no BYE is outstanding.
        if !self.txs.clients.values().any(|c| c.dialog == dialog) {
            self.forget_dialog(dialog);
        }
    }

    fn forget_dialog(&mut self, dialog: DialogId) {
        if let Some(d) = self.dialogs.remove(&dialog) {
            self.by_tags.remove(&(d.call_id, d.local_tag, d.remote_tag));
        }
    }

    /// A random token of `len` characters from [a-z0-9] (xorshift64*; seeded by the driver).
    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::with_capacity(len);
        for _ in 0..len {
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
            s.push(char::from(ALPHABET[(v >> 58) as usize % ALPHABET.len()]));
        }
        s
    }
}

/// Moves everything `tx` has queued to send onto `out`, addressed to `dst`, and returns
/// its events.
fn pump(
    tx: &mut dyn Transaction,
    dst: SocketAddr,
    transport: Transport,
    out: &mut VecDeque<Transmit>,
) -> Vec<TxEvent> {
    while let Some(bytes) = tx.poll_transmit() {
        out.push_back(Transmit {
            transport,
            dst,
            bytes,
        });
    }
    std::iter::from_fn(|| tx.poll_event()).collect()
}

/// A response the transaction refused is a bug in this module (it asked for a transition
/// the RFC forbids); it is logged, and the transaction keeps its last valid state.
fn refused(r: Result<(), super::transaction::TxError>) {
    if let Err(e) = r {
        tracing::warn!("SIP transaction refused a response: {e}");
    }
}

/// Our Via for a request we send: RFC 3261 §8.1.1.7 (a fresh branch with the magic
/// cookie) and RFC 3581 §3 (`rport`, so answers come back through NAT).
fn our_via(local: SocketAddr, transport: Transport, branch: &str) -> Via {
    let host = match local.ip() {
        IpAddr::V4(a) => Host::V4(a),
        IpAddr::V6(a) => Host::V6(a),
    };
    Via {
        transport: transport.via_name().to_owned(),
        host,
        port: Some(local.port()),
        params: vec![
            ("branch".to_owned(), Some(branch.to_owned())),
            ("rport".to_owned(), None),
        ],
    }
}

/// The key of a client non-INVITE transaction: its branch and method. RFC 3261 §17.1.3
/// matches a response by both, since a CANCEL shares its INVITE's branch (RFC 3261 §9.1).
fn client_key(branch: &str, method: &Method) -> String {
    format!("{branch} {}", method.as_str())
}

/// RFC 3261 §17.2.3 matching key of a request; `None` when it has no Via.
fn server_key(req: &Request) -> Option<ServerKey> {
    let top = req.via.first()?;
    let sent_by = match top.port {
        Some(p) => format!("{}:{p}", top.host),
        None => top.host.to_string(),
    };
    let branch = match top.branch() {
        Some(b) if b.starts_with(BRANCH_MAGIC) => b.to_owned(),
        // RFC 2543 peers: no magic cookie. Fall back on the request's identity (§17.2.3
        // lists the full RFC 2543 rule; Call-ID, From tag and CSeq number identify it well
        // enough for retransmission absorption).
        _ => format!(
            "2543|{}|{}|{}",
            req.call_id,
            req.from.tag().unwrap_or_default(),
            req.cseq.seq
        ),
    };
    Some(ServerKey {
        branch,
        sent_by,
        method: req.method.clone(),
    })
}

/// RFC 3261 §18.2.2 with RFC 3581 §4: where a response goes. Over TCP it goes back on the
/// connection; over UDP to `received`:`rport` when the client asked for rport, else to the
/// source address and the sent-by port.
fn response_destination(top: Option<&Via>, src: SocketAddr, transport: Transport) -> SocketAddr {
    if transport.reliable() {
        return src;
    }
    match top {
        Some(v) if v.rport().is_some() => src,
        Some(v) => SocketAddr::new(src.ip(), v.port.unwrap_or(5060)),
        None => src,
    }
}

/// `value` (a Content-Type or one Accept media range, parameters allowed) names the media
/// type `ty`; RFC 3261 §7.3.1: media types compare case-insensitively.
fn media_type_is(value: &str, ty: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(ty))
}

fn first_contact_uri(req: &Request) -> Option<Uri> {
    req.contacts().ok()?.into_iter().next().map(|c| c.uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const CALLER: &str = "127.0.0.1:5062";
    const LOCAL: &str = "127.0.0.1:5060";

    fn ep() -> SipEndpoint {
        SipEndpoint::new(
            EndpointConfig {
                timers: TimerConfig::default(),
                user_agent: "ugyelet-test".into(),
                contact_user: "ugyelet".into(),
                registrar: false,
            },
            42,
        )
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal address")
    }

    fn invite(branch: &str) -> String {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        format!(
            "INVITE sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport\r\n\
             From: <sip:+36301234567@127.0.0.1>;tag=caller1\r\n\
             To: <sip:ugyelet@127.0.0.1>\r\n\
             Call-ID: call-1@test\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:caller@127.0.0.1:5062>\r\n\
             Max-Forwards: 70\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    fn in_dialog(
        method: &str,
        branch: &str,
        to_tag: &str,
        cseq: u32,
        extra: &str,
        body: &str,
    ) -> String {
        format!(
            "{method} sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport\r\n\
             From: <sip:+36301234567@127.0.0.1>;tag=caller1\r\n\
             To: <sip:ugyelet@127.0.0.1>;tag={to_tag}\r\n\
             Call-ID: call-1@test\r\n\
             CSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn feed(e: &mut SipEndpoint, now: Instant, text: &str) {
        e.handle_message(
            now,
            addr(CALLER),
            addr(LOCAL),
            Transport::Udp,
            text.as_bytes(),
        );
    }

    fn sent(e: &mut SipEndpoint) -> Vec<Message> {
        std::iter::from_fn(|| e.poll_transmit())
            .map(|t| {
                assert_eq!(t.dst, addr(CALLER), "rport: reply goes to the source");
                msg::parse(&t.bytes).expect("we send parseable messages")
            })
            .collect()
    }

    fn statuses(msgs: &[Message]) -> Vec<u16> {
        msgs.iter()
            .filter_map(|m| match m {
                Message::Response(r) => Some(r.status),
                Message::Request(_) => None,
            })
            .collect()
    }

    fn incoming(e: &mut SipEndpoint) -> DialogId {
        match e.poll_event() {
            Some(SipEvent::IncomingCall {
                dialog, request, ..
            }) => {
                assert_eq!(request.from.uri.user(), Some("+36301234567"));
                dialog
            }
            other => panic!("expected IncomingCall, got {other:?}"),
        }
    }

    fn to_tag(msgs: &[Message]) -> String {
        msgs.iter()
            .find_map(|m| match m {
                Message::Response(r) if r.status >= 180 => r.to.tag().map(str::to_owned),
                _ => None,
            })
            .expect("a response with a To tag")
    }

    #[test]
    fn invite_gets_100_then_180_then_200_retransmitted_until_ack() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        assert_eq!(statuses(&sent(&mut e)), vec![100]);
        let d = incoming(&mut e);
        e.ringing(t0, d);
        e.answer(t0, d, b"v=0\r\n".to_vec());
        let out = sent(&mut e);
        assert_eq!(statuses(&out), vec![180, 200]);
        let tag = to_tag(&out);
        // RFC 3261 §13.3.1.4: retransmit at T1, then 2·T1 ...
        e.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(statuses(&sent(&mut e)), vec![200]);
        e.handle_timeout(t0 + Duration::from_millis(1499));
        assert!(sent(&mut e).is_empty());
        e.handle_timeout(t0 + Duration::from_millis(1500));
        assert_eq!(statuses(&sent(&mut e)), vec![200]);
        feed(
            &mut e,
            t0 + Duration::from_secs(2),
            &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""),
        );
        assert!(matches!(e.poll_event(), Some(SipEvent::Confirmed { dialog }) if dialog == d));
        e.handle_timeout(t0 + Duration::from_secs(10));
        assert!(sent(&mut e).is_empty(), "no 200 after the ACK");
    }

    #[test]
    fn retransmitted_invite_is_absorbed_and_answered_with_the_last_response() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        let _ = sent(&mut e);
        let d = incoming(&mut e);
        e.ringing(t0, d);
        let _ = sent(&mut e);
        feed(
            &mut e,
            t0 + Duration::from_millis(500),
            &invite("z9hG4bK-1"),
        );
        assert_eq!(statuses(&sent(&mut e)), vec![180]);
        assert!(
            e.poll_event().is_none(),
            "a retransmission is not a new call"
        );
        assert_eq!(e.stats().retransmissions_absorbed, 1);
    }

    #[test]
    fn cancel_before_answer_gets_200_and_invite_gets_487() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        let d = incoming(&mut e);
        e.ringing(t0, d);
        let _ = sent(&mut e);
        let cancel = invite("z9hG4bK-1")
            .replacen("INVITE sip", "CANCEL sip", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
        let cancel = cancel
            .split("Content-Type")
            .next()
            .expect("has headers")
            .to_owned()
            + "Content-Length: 0\r\n\r\n";
        feed(&mut e, t0, &cancel);
        let out = sent(&mut e);
        let cseqs: Vec<(u16, Method)> = out
            .iter()
            .filter_map(|m| match m {
                Message::Response(r) => Some((r.status, r.cseq.method.clone())),
                Message::Request(_) => None,
            })
            .collect();
        assert_eq!(cseqs, vec![(200, Method::Cancel), (487, Method::Invite)]);
        assert!(matches!(
            e.poll_event(),
            Some(SipEvent::Ended {
                reason: EndReason::Cancelled,
                ..
            })
        ));
    }

    #[test]
    fn bye_from_caller_gets_200_and_ends_the_call() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        let d = incoming(&mut e);
        e.answer(t0, d, b"v=0\r\n".to_vec());
        let tag = to_tag(&sent(&mut e));
        feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
        let _ = e.poll_event();
        feed(&mut e, t0, &in_dialog("BYE", "z9hG4bK-3", &tag, 2, "", ""));
        assert_eq!(statuses(&sent(&mut e)), vec![200]);
        assert!(matches!(
            e.poll_event(),
            Some(SipEvent::Ended {
                reason: EndReason::PeerBye,
                ..
            })
        ));
        feed(&mut e, t0, &in_dialog("BYE", "z9hG4bK-4", &tag, 3, "", ""));
        assert_eq!(statuses(&sent(&mut e)), vec![481], "the dialog is gone");
    }

    #[test]
    fn daemon_hangup_sends_bye_to_the_contact_and_retransmits_until_answered() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        let d = incoming(&mut e);
        e.answer(t0, d, b"v=0\r\n".to_vec());
        let tag = to_tag(&sent(&mut e));
        // Hang-up asked before the ACK waits for it (RFC 3261 §15).
        e.hangup(t0, d);
        assert!(sent(&mut e).is_empty());
        feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
        let out = sent(&mut e);
        let Some(Message::Request(bye)) = out.first() else {
            panic!("BYE expected, got {out:?}")
        };
        assert_eq!(bye.method, Method::Bye);
        assert_eq!(bye.from.tag(), Some(tag.as_str()));
        assert_eq!(bye.to.tag(), Some("caller1"));
        assert_eq!(bye.uri.to_string(), "sip:caller@127.0.0.1:5062");
        // Timer E retransmits the BYE after T1.
        e.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(sent(&mut e).len(), 1);
        let mut ok = Response::from_request(bye, 200, "OK", None);
        ok.to.set_tag("caller1");
        feed(
            &mut e,
            t0 + Duration::from_millis(600),
            &String::from_utf8(ok.to_bytes()).expect("utf8"),
        );
        assert!(sent(&mut e).is_empty(), "no retransmission after the 200");
        // RFC 3261 §17.1.2.2: Timer K (T4) absorbs response retransmissions, then the
        // transaction and with it the dialog are gone.
        e.handle_timeout(t0 + Duration::from_millis(600 + 4999));
        assert_eq!(e.dialog_count(), 1);
        e.handle_timeout(t0 + Duration::from_millis(600 + 5000));
        assert_eq!(
            e.dialog_count(),
            0,
            "the dialog is forgotten once BYE completes"
        );
    }

    #[test]
    fn refused_offer_gets_488_with_a_warning_saying_why() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-w"));
        let d = incoming(&mut e);
        let _ = sent(&mut e);
        e.reject_because(
            t0,
            d,
            488,
            "expected PCMA/8000 or PCMU/8000, found \"G729/8000\"",
        );
        let out = sent(&mut e);
        let Some(Message::Response(r)) = out.first() else {
            panic!("a response: {out:?}")
        };
        assert_eq!(r.status, 488);
        assert_eq!(
            r.headers.get("Warning"),
            Some("399 ugyelet \"expected PCMA/8000 or PCMU/8000, found 'G729/8000'\"")
        );
    }

    #[test]
    fn draining_endpoint_refuses_new_calls_with_503_and_retry_after() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        e.set_draining(true);
        feed(&mut e, t0, &invite("z9hG4bK-d"));
        let out = sent(&mut e);
        let Some(Message::Response(r)) = out.first() else {
            panic!("a response: {out:?}")
        };
        assert_eq!(r.status, 503);
        assert_eq!(r.headers.get("Retry-After"), Some("120"));
        assert!(e.poll_event().is_none(), "no call is started");
        assert_eq!(e.stats().refused_draining, 1);
        assert_eq!(e.stats().requests_by_method[0], 1, "counted as an INVITE");
    }

    const OPERATOR: &str = "127.0.0.1:5070";

    fn outgoing() -> OutgoingCall {
        OutgoingCall {
            request_uri: Uri::parse("sip:op1@127.0.0.1:5070").expect("uri"),
            dst: addr(OPERATOR),
            transport: Transport::Udp,
            local: addr(LOCAL),
            to: NameAddr::parse("<sip:op1@127.0.0.1>").expect("name-addr"),
            from: NameAddr::parse("\"+36301234567\" <sip:+36301234567@127.0.0.1>")
                .expect("name-addr"),
            headers: vec![("X-Ugyelet-Path".into(), "welcome>main_menu>operator".into())],
            sdp: b"v=0\r\n".to_vec(),
        }
    }

    fn to_operator(e: &mut SipEndpoint) -> Vec<Message> {
        std::iter::from_fn(|| e.poll_transmit())
            .map(|t| {
                assert_eq!(
                    t.dst,
                    addr(OPERATOR),
                    "the operator leg goes to the registered flow"
                );
                msg::parse(&t.bytes).expect("we send parseable messages")
            })
            .collect()
    }

    fn reply(e: &mut SipEndpoint, now: Instant, req: &Request, status: u16, tag: Option<&str>) {
        let mut r = Response::from_request(req, status, msg::reason_phrase(status), tag);
        if status == 200 {
            r.headers.set("Contact", "<sip:op1@127.0.0.1:5070>");
            r.body = b"v=0\r\n".to_vec();
        }
        e.handle_message(
            now,
            addr(OPERATOR),
            addr(LOCAL),
            Transport::Udp,
            &r.to_bytes(),
        );
    }

    fn sent_invite(out: &[Message]) -> Request {
        match out.first() {
            Some(Message::Request(r)) if r.method == Method::Invite => r.clone(),
            other => panic!("INVITE expected, got {other:?}"),
        }
    }

    #[test]
    fn outgoing_invite_is_acked_on_200_and_the_ack_repeats_for_a_retransmitted_200() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        let d = e.invite(t0, outgoing());
        let inv = sent_invite(&to_operator(&mut e));
        assert_eq!(
            inv.headers.get("X-Ugyelet-Path"),
            Some("welcome>main_menu>operator")
        );
        assert_eq!(
            inv.from.display.as_deref(),
            Some("+36301234567"),
            "the operator sees who calls"
        );
        reply(&mut e, t0, &inv, 180, Some("op"));
        assert!(matches!(
            e.poll_event(),
            Some(SipEvent::OutgoingProgress { status: 180, .. })
        ));
        reply(&mut e, t0, &inv, 200, Some("op"));
        let acks = to_operator(&mut e);
        let Some(Message::Request(ack)) = acks.first() else {
            panic!("ACK expected")
        };
        assert_eq!((ack.method.clone(), ack.cseq.seq), (Method::Ack, 1));
        assert_eq!(ack.to.tag(), Some("op"));
        assert!(
            matches!(e.poll_event(), Some(SipEvent::OutgoingAnswered { dialog, .. }) if dialog == d)
        );
        reply(&mut e, t0, &inv, 200, Some("op"));
        assert_eq!(
            to_operator(&mut e).len(),
            1,
            "RFC 3261 §13.2.2.4: ACK again"
        );
        assert!(e.poll_event().is_none(), "no second answer");
        // The operator hangs up: their BYE ends our dialog.
        let bye = format!(
            "BYE sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-ob;rport\r\n\
             From: <sip:op1@127.0.0.1>;tag=op\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            inv.from, inv.call_id
        );
        e.handle_message(
            t0,
            addr(OPERATOR),
            addr(LOCAL),
            Transport::Udp,
            bye.as_bytes(),
        );
        assert!(
            matches!(e.poll_event(), Some(SipEvent::Ended { reason: EndReason::PeerBye, dialog }) if dialog == d)
        );
    }

    #[test]
    fn cancel_waits_for_a_provisional_response_then_the_487_is_acked() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        let d = e.invite(t0, outgoing());
        let inv = sent_invite(&to_operator(&mut e));
        e.hangup(t0, d);
        assert!(
            to_operator(&mut e).is_empty(),
            "RFC 3261 §9.1: no CANCEL before a provisional"
        );
        reply(&mut e, t0, &inv, 180, Some("op"));
        let out = to_operator(&mut e);
        let Some(Message::Request(cancel)) = out.first() else {
            panic!("CANCEL expected: {out:?}")
        };
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(
            cancel.via[0].branch(),
            inv.via[0].branch(),
            "same branch as the INVITE"
        );
        assert_eq!(cancel.cseq.seq, inv.cseq.seq);
        reply(&mut e, t0, &inv, 487, Some("op"));
        let out = to_operator(&mut e);
        assert!(
            out.iter()
                .any(|m| matches!(m, Message::Request(r) if r.method == Method::Ack))
        );
        assert!(matches!(
            e.poll_event(),
            Some(SipEvent::OutgoingFailed { status: 487, .. })
        ));
    }

    #[test]
    fn unanswered_outgoing_invite_times_out_with_408_after_64_t1() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        let _ = e.invite(t0, outgoing());
        let mut t = t0;
        let mut sends = 0;
        while t <= t0 + Duration::from_secs(33) {
            e.handle_timeout(t);
            sends += to_operator(&mut e).len();
            t += Duration::from_millis(100);
        }
        assert_eq!(sends, 7, "Timer A: the INVITE and six retransmissions");
        let mut failed = Vec::new();
        while let Some(ev) = e.poll_event() {
            if let SipEvent::OutgoingFailed { status, .. } = ev {
                failed.push(status);
            }
        }
        assert_eq!(failed, vec![408]);
    }

    #[test]
    fn options_gets_200_with_allow() {
        let mut e = ep();
        let opt = "OPTIONS sip:ugyelet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-o;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:ugyelet@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        feed(&mut e, crate::clock::test_epoch(), opt);
        let out = sent(&mut e);
        let Some(Message::Response(r)) = out.first() else {
            panic!("response expected")
        };
        assert_eq!(r.status, 200);
        assert_eq!(r.headers.get("Allow"), Some(ALLOW));
    }

    #[test]
    fn unknown_method_gets_501_and_unsupported_method_405_with_allow() {
        let mut e = ep();
        let req = |m: &str, b: &str| {
            format!(
                "{m} sip:ugyelet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{b};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:ugyelet@127.0.0.1>\r\nCall-ID: {b}\r\nCSeq: 1 {m}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
        };
        feed(&mut e, crate::clock::test_epoch(), &req("FOOBAR", "a"));
        feed(&mut e, crate::clock::test_epoch(), &req("SUBSCRIBE", "b"));
        let out = sent(&mut e);
        assert_eq!(statuses(&out), vec![501, 405]);
        let Message::Response(r) = &out[1] else {
            panic!("response expected")
        };
        assert_eq!(r.headers.get("Allow"), Some(ALLOW));
    }

    #[test]
    fn wrong_sip_version_gets_505_and_garbage_is_dropped_and_counted() {
        let mut e = ep();
        let bad = invite("z9hG4bK-v").replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
        feed(&mut e, crate::clock::test_epoch(), &bad);
        assert_eq!(statuses(&sent(&mut e)), vec![505]);
        feed(&mut e, crate::clock::test_epoch(), "\u{0}\u{1}garbage");
        assert!(sent(&mut e).is_empty());
        assert_eq!(e.stats().malformed_dropped, 1);
        assert!(e.poll_event().is_none());
    }

    #[test]
    fn reinvite_for_hold_is_passed_on_and_answered() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        let d = incoming(&mut e);
        e.answer(t0, d, b"v=0\r\n".to_vec());
        let tag = to_tag(&sent(&mut e));
        feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
        let _ = e.poll_event();
        let hold = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\na=sendonly\r\n";
        feed(
            &mut e,
            t0,
            &in_dialog(
                "INVITE",
                "z9hG4bK-5",
                &tag,
                2,
                "Content-Type: application/sdp\r\n",
                hold,
            ),
        );
        assert_eq!(statuses(&sent(&mut e)), vec![100]);
        let Some(SipEvent::ReInvite { dialog, request }) = e.poll_event() else {
            panic!("re-INVITE event")
        };
        assert_eq!(dialog, d);
        assert!(String::from_utf8_lossy(&request.body).contains("sendonly"));
        e.answer(t0, d, b"v=0\r\n".to_vec());
        assert_eq!(statuses(&sent(&mut e)), vec![200]);
    }

    #[test]
    fn info_in_dialog_is_answered_and_delivered() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        let d = incoming(&mut e);
        e.answer(t0, d, b"v=0\r\n".to_vec());
        let tag = to_tag(&sent(&mut e));
        feed(&mut e, t0, &in_dialog("ACK", "z9hG4bK-2", &tag, 1, "", ""));
        let _ = e.poll_event();
        feed(
            &mut e,
            t0,
            &in_dialog(
                "INFO",
                "z9hG4bK-6",
                &tag,
                2,
                "Content-Type: application/dtmf-relay\r\n",
                "Signal=3\r\nDuration=160\r\n",
            ),
        );
        assert_eq!(statuses(&sent(&mut e)), vec![200]);
        let Some(SipEvent::Info {
            content_type, body, ..
        }) = e.poll_event()
        else {
            panic!("INFO event")
        };
        assert_eq!(content_type, "application/dtmf-relay");
        assert_eq!(body, b"Signal=3\r\nDuration=160\r\n");
    }

    #[test]
    fn unanswered_2xx_gives_up_after_64_t1_and_sends_bye() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        feed(&mut e, t0, &invite("z9hG4bK-1"));
        let d = incoming(&mut e);
        e.answer(t0, d, b"v=0\r\n".to_vec());
        let _ = sent(&mut e);
        let mut t = t0;
        while t < t0 + Duration::from_secs(33) {
            t += Duration::from_millis(100);
            e.handle_timeout(t);
        }
        let out = sent(&mut e);
        assert!(
            out.iter()
                .any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye))
        );
        let mut reasons = Vec::new();
        while let Some(ev) = e.poll_event() {
            if let SipEvent::Ended { reason, .. } = ev {
                reasons.push(reason);
            }
        }
        assert_eq!(reasons, vec![EndReason::AckTimeout]);
    }
}
