//! The SIP endpoint: a user agent server, and the client half it needs to hang up, ring
//! operators and keep their NAT bindings open, as a sans-IO core.
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
//! then 487 on the INVITE), BYE (200), INFO (200) and REFER outside a dialog (403).
//! Everything about *what to do* with a call (and with a REFER inside one) is left to its
//! user through [`SipEvent`]s.
//!
//! Timers of all transactions sit in one lazy min-heap: an entry is pushed whenever a
//! transaction is touched; stale entries only cause a harmless early wake-up.
//!
//! # Layout
//!
//! One `SipEndpoint` value holds all state; its methods are spread over files by role, so
//! that the answering side, the calling side and the plumbing between them can each be
//! read alone:
//!
//! | file         | what it holds                                                          |
//! |--------------|------------------------------------------------------------------------|
//! | `mod.rs`     | [`SipEndpoint`]: input (`handle_message`, `handle_timeout`), output (`poll_*`), the timer heap |
//! | `types.rs`   | what the endpoint's user exchanges with it: [`Transport`], [`Transmit`], [`SipEvent`], [`OutgoingCall`], [`EndpointConfig`], [`Stats`], `Allow` |
//! | `routing.rs` | the table of transactions, matching a message to one (RFC 3261 §17.1.3, §17.2.3), where a response goes (RFC 3261 §18.2.2), draining their output |
//! | `dialog.rs`  | dialog state (RFC 3261 §12), shared by both sides                      |
//! | `refusals.rs`| broken requests (stateless 400/505 or a counted drop) and the requests the endpoint refuses by itself: counted and logged |
//! | `uas.rs`     | requests we receive: checks, automatic answers, incoming calls and the answer, rejection, challenge or hang-up the call layer decides |
//! | `shed.rs`    | new calls refused with a stateless 503 while the SIP task is behind its socket |
//! | `uac.rs`     | requests we send: INVITE to an operator, CANCEL, BYE, keep-alive OPTIONS, NOTIFY and other in-dialog requests, and their responses |
//! | `tests.rs`   | unit tests in virtual time                                             |

mod dialog;
mod keys;
mod refusals;
mod routing;
mod shed;
mod types;
mod uac;
mod uas;

pub use types::{
    ALLOW, ALLOW_WITH_REGISTER, BRANCH_MAGIC, DialogId, EndReason, EndpointConfig, OutRequest,
    OutgoingCall, REFUSED_STATUSES, RequestId, STATS_METHODS, SipEvent, Stats, Transmit, Transport,
    UacCredentials,
};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::sip::msg::{self, Message};
use crate::sip::transaction::Transaction;
use dialog::Dialog;
use keys::{ServerKey, TxKey};
use routing::Transactions;

/// The sans-IO SIP endpoint.
pub struct SipEndpoint {
    cfg: EndpointConfig,
    rng: crate::rng::Rng,
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
    /// New calls refused while the SIP task is behind (`shed.rs`).
    shed: shed::Shedding,
    /// REGISTERs handed out and not yet answered.
    pending_requests: HashMap<RequestId, ServerKey>,
    next_request: RequestId,
    /// Keep-alive OPTIONS in flight, by client transaction key.
    probes: HashMap<String, u64>,
    /// Our own out-of-dialog requests by client transaction key ([`SipEndpoint::request`]).
    requests: HashMap<String, u64>,
}

/// What an entry of the timer heap wakes: a transaction, or the retransmitter of a 2xx
/// we sent in a dialog (RFC 3261 §13.3.1.4), which lives with the dialog rather than with
/// any transaction.
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
            rng: crate::rng::Rng::new(seed),
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
            shed: shed::Shedding::default(),
            pending_requests: HashMap::new(),
            next_request: 1,
            probes: HashMap::new(),
            requests: HashMap::new(),
        }
    }

    /// While draining for shutdown, new calls are refused with 503 and `Retry-After`
    /// (RFC 3261 §21.5.4); calls in progress and everything else are served as usual.
    pub fn set_draining(&mut self, on: bool) {
        self.draining = on;
    }

    /// What we put in `Allow` (RFC 3261 §20.5): REGISTER only when we serve as registrar.
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

    /// New calls refused so far while the SIP task was behind: read for every datagram
    /// (`driver/sip_task/udp.rs`), so without copying all of [`Stats`].
    pub fn refused_overload(&self) -> u64 {
        self.stats.refused_overload
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
            Err(err) => self.handle_malformed(src, transport, &err),
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

    /// Puts a wake-up for `owner` at `at` on the timer heap.
    fn arm(&mut self, at: Instant, owner: TimerOwner) {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timer_keys.insert(id, owner);
        self.timers.push(Reverse((at, id)));
    }

    /// A random token of `len` characters from [a-z0-9] (seeded by the driver).
    fn token(&mut self, len: usize) -> String {
        self.rng.token(len)
    }

    /// Our Contact (RFC 3261 §8.1.1.8) at `local`, the address the peer reaches us at.
    pub fn contact(&self, local: SocketAddr, transport: Transport) -> String {
        let host = match local.ip() {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        };
        let t = match transport {
            Transport::Udp => "",
            Transport::Tcp(_) => ";transport=tcp",
            Transport::Tls(_) => ";transport=tls",
        };
        format!(
            "<sip:{}@{}:{}{}>",
            self.cfg.contact_user,
            host,
            local.port(),
            t
        )
    }
}

// Last in the file: the architecture test reads everything above the first
// `#[cfg(test)]` as production code.
#[cfg(test)]
mod tests;
