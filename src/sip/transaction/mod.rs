//! SIP transactions: the four state machines of RFC 3261 §17 (amended by RFC 6026) and
//! the UAS core's 2xx retransmitter of RFC 3261 §13.3.1.4, as sans-IO cores.
//!
//! # What lives here
//!
//! | file                   | machine                          | figure / clause                 |
//! |------------------------|----------------------------------|---------------------------------|
//! | `client_invite.rs`     | [`ClientInvite`]                 | RFC 3261 Figure 5 + RFC 6026 §7.2 ("Accepted", Timer M) |
//! | `client_non_invite.rs` | [`ClientNonInvite`]              | RFC 3261 Figure 6               |
//! | `server_invite.rs`     | [`ServerInvite`]                 | RFC 3261 Figure 7 + RFC 6026 §7.1 ("Accepted", Timer L) |
//! | `server_non_invite.rs` | [`ServerNonInvite`]              | RFC 3261 Figure 8               |
//! | `uas_2xx.rs`           | [`Uas2xxRetransmitter`]          | RFC 3261 §13.3.1.4              |
//!
//! # Message-agnostic on purpose
//!
//! The machines never parse or build a SIP message. They store and re-send bytes that
//! were already encoded by the endpoint, and they are told status codes. The endpoint
//! (in `crate::sip::endpoint`) owns everything that needs the message:
//!
//! - matching an incoming message to a transaction (RFC 3261 §17.1.3 and §17.2.3: branch,
//!   sent-by, method), and telling a request retransmission from a new request;
//! - building the ACK for a 300–699 response (RFC 3261 §17.1.1.3) and handing its bytes
//!   to [`ClientInvite::handle_response`], which keeps them and re-sends them for every
//!   retransmission of that final response;
//! - building the ACK for a 2xx (RFC 3261 §13.2.2.4), which is not part of any
//!   transaction (see [`uas_2xx`] for how it is re-sent);
//! - where to send: every byte string from `poll_transmit()` goes to the transaction's
//!   peer (the request's destination for a client transaction, the response's
//!   destination per RFC 3261 §18.2.2 for a server transaction).
//!
//! # Driving a machine
//!
//! All machines share one shape (see the crate's run-loop contract):
//!
//! ```text
//!   new(now, ...)                     client machines queue their first transmission
//!   handle_*(now, ...)                one input: a response, a request retransmission,
//!                                     an ACK, a response from the TU, a transport error
//!   handle_timeout(now)               when now >= poll_timeout()
//!   poll_transmit() -> bytes          drain until None: send each to the peer, in order
//!   poll_event()    -> TxEvent        drain until None: Timeout, AckTimeout, ...
//!   poll_timeout()  -> Instant        the earliest armed timer; None when nothing is armed
//!   is_terminated() -> bool           done: drop the machine
//!   state()         -> State
//! ```
//!
//! The inputs differ from machine to machine (only a server takes a response from the TU,
//! only a client takes one from the network), so the `handle_*` methods for messages are
//! each machine's own. Everything after the input is the same for all five, and is the
//! [`Transaction`] trait: the endpoint fires timers and drains output without asking which
//! kind of machine it holds.
//!
//! A machine that reaches [`State::Terminated`] emits [`TxEvent::Terminated`] exactly once,
//! after any other event of the same step (so `Timeout` comes before `Terminated`); the
//! endpoint then drains `poll_transmit()` one last time (a reliable client INVITE still has
//! its ACK queued) and drops the machine. RFC 3261 §17.1.1.2: "Once the transaction is in
//! the "Terminated" state, it MUST be destroyed immediately."
//!
//! Responses that arrive for a client transaction, and ACKs that arrive for a server
//! INVITE transaction, return a [`Disposition`]: [`Disposition::PassToTu`] means the
//! endpoint hands the message to the transaction user, [`Disposition::Absorb`] means it is
//! dropped (it was a retransmission the transaction has dealt with).
//!
//! Timers are re-armed from the `now` of the `handle_timeout` call that fired them, as the
//! RFC's "reset the timer" reads; a driver that wakes at `poll_timeout()` therefore
//! reproduces the RFC schedule exactly. Timers of a machine that are due at the same
//! instant fire in the order of [`Timer`]'s variants.
//!
//! # Timers (RFC 3261 §17.1.1.1 Table 4, RFC 6026)
//!
//! | timer | value                                   | clause               | meaning                                      |
//! |-------|-----------------------------------------|----------------------|----------------------------------------------|
//! | T1    | 500 ms default                          | RFC 3261 §17.1.1.1   | round-trip time estimate                     |
//! | T2    | 4 s default                             | RFC 3261 §17.1.2.2   | maximum retransmit interval for non-INVITE requests and INVITE responses |
//! | T4    | 5 s default                             | RFC 3261 §17.1.2.2   | maximum time a message stays in the network  |
//! | A     | T1, doubling; unreliable only           | RFC 3261 §17.1.1.2   | INVITE request retransmit interval           |
//! | B     | 64*T1                                   | RFC 3261 §17.1.1.2   | INVITE client transaction timeout            |
//! | D     | max(32 s, 64*T1) unreliable, 0 reliable | RFC 3261 §17.1.1.2   | wait for 300–699 response retransmissions    |
//! | E     | T1, doubling up to T2; unreliable only  | RFC 3261 §17.1.2.2   | non-INVITE request retransmit interval; T2 in Proceeding |
//! | F     | 64*T1                                   | RFC 3261 §17.1.2.2   | non-INVITE client transaction timeout        |
//! | G     | T1, doubling up to T2; unreliable only  | RFC 3261 §17.2.1     | INVITE 300–699 response retransmit interval  |
//! | H     | 64*T1                                   | RFC 3261 §17.2.1     | wait for ACK                                 |
//! | I     | T4 unreliable, 0 reliable               | RFC 3261 §17.2.1     | wait for ACK retransmissions                 |
//! | J     | 64*T1 unreliable, 0 reliable            | RFC 3261 §17.2.2     | wait for non-INVITE request retransmissions  |
//! | K     | T4 unreliable, 0 reliable               | RFC 3261 §17.1.2.2   | wait for non-INVITE response retransmissions |
//! | L     | 64*T1                                   | RFC 6026 §8.7        | wait for accepted INVITE request retransmissions |
//! | M     | 64*T1                                   | RFC 6026 §8.4        | wait for 2xx retransmissions and 2xx from other forks |
//! | Trying100     | 200 ms                          | RFC 3261 §17.2.1     | send 100 (Trying) if the TU has not responded |
//! | Retransmit2xx | T1, doubling up to T2           | RFC 3261 §13.3.1.4   | UAS core 2xx retransmit interval             |
//! | GiveUp2xx     | 64*T1                           | RFC 3261 §13.3.1.4   | UAS core gives up waiting for the 2xx's ACK  |
//!
//! Timer C (RFC 3261 §16.6 bullet 11) belongs to proxies and is not implemented. Timer D
//! uses max(32 s, 64*T1) so that it still covers the server's 64*T1 of retransmissions
//! when T1 is configured above its default; with the default T1 it is exactly 32 s.
//!
//! A "zero" timer (D, I, J, K on a reliable transport) is not armed: the machine moves to
//! `Terminated` in the same call that would have started it.

pub mod client_invite;
pub mod client_non_invite;
pub mod server_invite;
pub mod server_non_invite;
pub mod uas_2xx;

#[cfg(test)]
mod sim_tests;

pub use client_invite::ClientInvite;
pub use client_non_invite::ClientNonInvite;
pub use server_invite::ServerInvite;
pub use server_non_invite::ServerNonInvite;
pub use uas_2xx::{Uas2xxRetransmitter, Uas2xxState};

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every machine here does after its input: fire timers and hand back output.
///
/// Implemented by the four transaction machines and by [`Uas2xxRetransmitter`], which is
/// not a transaction in RFC 3261's sense (it is the UAS core's, RFC 3261 §13.3.1.4) but is
/// driven the same way. The endpoint keeps its machines in typed tables (a server
/// transaction takes responses from the TU, a client one from the network) and reaches
/// each through this trait for timers and output, so one loop serves all of them.
pub trait Transaction {
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// The next bytes to send to the machine's peer; drain until `None`, in order.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<Arc<[u8]>>;

    /// The next event for the TU; drain until `None`.
    #[must_use]
    fn poll_event(&mut self) -> Option<TxEvent>;

    /// When [`Transaction::handle_timeout`] must next be called; `None` when no timer is
    /// armed.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// The machine has reached its end and sends nothing more once drained. RFC 3261
    /// §17.1.1.2: "Once the transaction is in the "Terminated" state, it MUST be destroyed
    /// immediately."
    #[must_use]
    fn is_terminated(&self) -> bool;
}

/// The transaction timer base values T1, T2 and T4.
///
/// RFC 3261 §17.1.1.1: "T1 is an estimate of the round-trip time (RTT), and it defaults to
/// 500 ms." RFC 3261 §17.1.2.2 and Table 4: T2 defaults to 4 s, T4 to 5 s. Every other
/// timer (A–M) is derived from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip time estimate; the first retransmit interval.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// Maximum time a message can remain in the network.
    pub t4: Duration,
}

impl Default for TimerConfig {
    /// RFC 3261 §17.1.1.1, Table 4: T1 = 500 ms, T2 = 4 s, T4 = 5 s.
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J (unreliable), L and M, and the UAS 2xx give-up time.
    #[must_use]
    pub fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D on an unreliable transport: max(32 s, 64*T1).
    ///
    /// RFC 3261 §17.1.1.2: "The client transaction SHOULD start timer D [...] with a value
    /// of at least 32 seconds for unreliable transports". 64*T1 keeps it at least as long
    /// as the server's Timer H when T1 is raised.
    #[must_use]
    pub fn timer_d(&self) -> Duration {
        Duration::from_secs(32).max(self.t1_x64())
    }

    /// The next retransmit interval after `interval`: doubled, capped at T2.
    fn doubled_capped(&self, interval: Duration) -> Duration {
        interval.saturating_mul(2).min(self.t2)
    }
}

/// How long the server INVITE transaction waits for the TU's first response before it
/// sends 100 (Trying) itself. RFC 3261 §17.2.1: "The server transaction MUST generate a 100
/// (Trying) response unless it knows that the TU will generate a provisional or final
/// response within 200 ms".
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

/// The name of a timer. Each machine keeps one table of deadlines indexed by this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmission (RFC 3261 §17.1.1.2).
    A,
    /// INVITE client transaction timeout (RFC 3261 §17.1.1.2).
    B,
    /// Wait for 300–699 retransmissions at the INVITE client (RFC 3261 §17.1.1.2).
    D,
    /// Non-INVITE request retransmission (RFC 3261 §17.1.2.2).
    E,
    /// Non-INVITE client transaction timeout (RFC 3261 §17.1.2.2).
    F,
    /// INVITE 300–699 response retransmission (RFC 3261 §17.2.1).
    G,
    /// Wait for ACK (RFC 3261 §17.2.1).
    H,
    /// Wait for ACK retransmissions (RFC 3261 §17.2.1).
    I,
    /// Wait for non-INVITE request retransmissions (RFC 3261 §17.2.2).
    J,
    /// Wait for non-INVITE response retransmissions (RFC 3261 §17.1.2.2).
    K,
    /// Wait in "Accepted" at the INVITE server (RFC 6026 §8.7).
    L,
    /// Wait in "Accepted" at the INVITE client (RFC 6026 §8.4).
    M,
    /// Send 100 (Trying) if the TU has not responded within [`TRYING_DELAY`]
    /// (RFC 3261 §17.2.1). Not named by the RFC.
    Trying100,
    /// UAS core 2xx retransmission (RFC 3261 §13.3.1.4). Not named by the RFC.
    Retransmit2xx,
    /// UAS core stops retransmitting a 2xx after 64*T1 (RFC 3261 §13.3.1.4). Not named by
    /// the RFC.
    GiveUp2xx,
}

impl Timer {
    /// Number of timers; the length of a [`TimerTable`].
    pub const COUNT: usize = 15;
    /// Every timer, in firing order for equal deadlines.
    pub const ALL: [Timer; Timer::COUNT] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
        Timer::Trying100,
        Timer::Retransmit2xx,
        Timer::GiveUp2xx,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines of one machine's timers, indexed by [`Timer`]. `None` means not armed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// The deadline of `timer`, if armed.
    #[must_use]
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Arms `timer` to fire `after` from `now`. A deadline beyond what `Instant` can hold
    /// (an absurd configuration) leaves the timer unarmed rather than panicking.
    fn arm(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.deadlines[timer.index()] = now.checked_add(after);
    }

    fn clear(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    fn clear_all(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    /// The earliest armed deadline.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now` (ties in [`Timer`] order).
    fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let mut best: Option<(Instant, Timer)> = None;
        for timer in Timer::ALL {
            if let Some(at) = self.deadlines[timer.index()]
                && at <= now
                && best.is_none_or(|(b, _)| at < b)
            {
                best = Some((at, timer));
            }
        }
        let (_, timer) = best?;
        self.clear(timer);
        Some(timer)
    }
}

/// The state of a transaction. Each machine uses the subset its figure names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Client INVITE: request sent, no response yet (RFC 3261 Figure 5).
    Calling,
    /// Client and server non-INVITE: no provisional response yet (Figures 6 and 8).
    Trying,
    /// A provisional response was received (client) or sent (server); the server INVITE
    /// transaction starts here (Figure 7).
    Proceeding,
    /// A final response was received (client) or sent (server); retransmissions are
    /// absorbed or answered.
    Completed,
    /// Server INVITE: the ACK for a 300–699 response arrived (Figure 7).
    Confirmed,
    /// INVITE, either side: a 2xx was received or sent (RFC 6026 §7.1, §7.2).
    Accepted,
    /// Done; the endpoint drops the machine.
    Terminated,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Calling => "Calling",
            State::Trying => "Trying",
            State::Proceeding => "Proceeding",
            State::Completed => "Completed",
            State::Confirmed => "Confirmed",
            State::Accepted => "Accepted",
            State::Terminated => "Terminated",
        })
    }
}

/// Something the transaction user must learn about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxEvent {
    /// Timer B or F fired: no final response. RFC 3261 §8.1.3.1: the TU treats this as a
    /// 408 (Request Timeout) response.
    Timeout,
    /// Timer H fired: no ACK for a 300–699 response (RFC 3261 §17.2.1). The TU is told
    /// the transaction failed.
    AckTimeout,
    /// The transport reported a failure (RFC 3261 §17.1.4, §17.2.4). RFC 3261 §8.1.3.1:
    /// the TU treats this as a 503 (Service Unavailable) response.
    TransportError,
    /// The UAS core retransmitted a 2xx for 64*T1 without an ACK. RFC 3261 §13.3.1.4: "the
    /// dialog is confirmed, but the session SHOULD be terminated. This is accomplished
    /// with a BYE."
    AckNotReceived,
    /// The machine reached its end; drain `poll_transmit()` once more and drop it.
    Terminated,
}

/// What the endpoint does with a message the machine was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Hand the message to the transaction user.
    PassToTu,
    /// Drop it: a retransmission the machine dealt with, or a message the state does not
    /// accept.
    Absorb,
}

/// A response the TU asked a server transaction to send that its state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxError {
    /// The status code is not a SIP status code.
    InvalidStatus {
        /// The code passed in.
        status: u16,
    },
    /// The state does not accept a response of this class.
    ResponseNotAllowed {
        /// What the state accepts.
        expected: &'static str,
        /// The state the machine was in.
        state: State,
        /// The code passed in.
        status: u16,
    },
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::InvalidStatus { status } => {
                write!(f, "expected a status code 100-699, found {status}")
            }
            TxError::ResponseNotAllowed {
                expected,
                state,
                status,
            } => write!(f, "expected {expected} in state {state}, found {status}"),
        }
    }
}

impl std::error::Error for TxError {}

/// The class of a status code, as the machines care about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Provisional,
    Success,
    Failure,
    Invalid,
}

impl Class {
    fn of(status: u16) -> Class {
        match status {
            100..=199 => Class::Provisional,
            200..=299 => Class::Success,
            300..=699 => Class::Failure,
            _ => Class::Invalid,
        }
    }
}

/// State, timers and output queues shared by every machine.
#[derive(Debug)]
struct Core {
    state: State,
    reliable: bool,
    cfg: TimerConfig,
    timers: TimerTable,
    transmits: VecDeque<Arc<[u8]>>,
    events: VecDeque<TxEvent>,
}

impl Core {
    fn new(state: State, reliable: bool, cfg: TimerConfig) -> Self {
        Self {
            state,
            reliable,
            cfg,
            timers: TimerTable::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn transmit(&mut self, bytes: &Arc<[u8]>) {
        self.transmits.push_back(Arc::clone(bytes));
    }

    /// Enters `Terminated` (once), disarming every timer and emitting `event` (if any)
    /// before [`TxEvent::Terminated`]. Queued transmissions stay queued.
    fn terminate(&mut self, event: Option<TxEvent>) {
        if self.state == State::Terminated {
            return;
        }
        self.state = State::Terminated;
        self.timers.clear_all();
        if let Some(event) = event {
            self.events.push_back(event);
        }
        self.events.push_back(TxEvent::Terminated);
    }

    /// RFC 3261 §17.1.4 / §17.2.4: the transaction "SHOULD inform the TU that a transport
    /// failure has occurred, and [...] SHOULD transition directly to the "Terminated"
    /// state". Nothing queued is sent any more: the transport just failed.
    fn transport_error(&mut self) {
        if self.state == State::Terminated {
            return;
        }
        self.transmits.clear();
        self.terminate(Some(TxEvent::TransportError));
    }

    fn poll_transmit(&mut self) -> Option<Arc<[u8]>> {
        self.transmits.pop_front()
    }

    fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Virtual-time utilities shared by the machines' tests.

    use super::*;

    /// The origin of virtual time. The only clock read in the tests: every other instant
    /// is this one plus a fixed offset, so no result depends on when the test runs.
    pub fn epoch() -> Instant {
        crate::clock::test_epoch()
    }

    pub fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    pub fn bytes(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    /// What a machine did, with times as milliseconds since `t0`.
    #[derive(Debug, Default)]
    pub struct Log {
        pub sent: Vec<(u64, String)>,
        pub events: Vec<(u64, TxEvent)>,
    }

    impl Log {
        /// The instants (ms since `t0`) of every transmission.
        pub fn sent_at(&self) -> Vec<u64> {
            self.sent.iter().map(|(t, _)| *t).collect()
        }
    }

    fn since(t0: Instant, now: Instant) -> u64 {
        u64::try_from((now - t0).as_millis()).expect("test durations fit in u64")
    }

    /// Drains every output of `m` into `log`, stamped with `now`.
    pub fn drain<M: Transaction>(m: &mut M, t0: Instant, now: Instant, log: &mut Log) {
        while let Some(b) = m.poll_transmit() {
            log.sent
                .push((since(t0, now), String::from_utf8_lossy(&b).into_owned()));
        }
        while let Some(e) = m.poll_event() {
            log.events.push((since(t0, now), e));
        }
    }

    /// Fires timers exactly at their deadlines up to and including `until`, draining
    /// after each; returns the virtual time reached (`until`). The caller drains after
    /// its own `handle_*` calls.
    pub fn run_until<M: Transaction>(
        m: &mut M,
        t0: Instant,
        until: Instant,
        log: &mut Log,
    ) -> Instant {
        while let Some(at) = m.poll_timeout() {
            if at > until {
                break;
            }
            m.handle_timeout(at);
            drain(m, t0, at, log);
        }
        until
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{epoch, ms};
    use super::*;

    #[test]
    fn timer_config_defaults_are_rfc3261_table_4() {
        let cfg = TimerConfig::default();
        assert_eq!(cfg.t1, ms(500));
        assert_eq!(cfg.t2, ms(4_000));
        assert_eq!(cfg.t4, ms(5_000));
        assert_eq!(cfg.t1_x64(), ms(32_000));
        assert_eq!(cfg.timer_d(), ms(32_000));
    }

    #[test]
    fn timer_d_covers_64_t1_when_t1_is_raised() {
        let cfg = TimerConfig {
            t1: ms(1_000),
            ..TimerConfig::default()
        };
        assert_eq!(cfg.timer_d(), ms(64_000));
        let small = TimerConfig {
            t1: ms(100),
            ..TimerConfig::default()
        };
        assert_eq!(small.timer_d(), ms(32_000), "never below 32 s");
    }

    #[test]
    fn timer_table_pops_earliest_then_in_enum_order() {
        let t0 = epoch();
        let mut table = TimerTable::default();
        table.arm(Timer::B, t0, ms(10));
        table.arm(Timer::A, t0, ms(10));
        table.arm(Timer::D, t0, ms(5));
        table.arm(Timer::M, t0, ms(50));
        assert_eq!(table.next_deadline(), Some(t0 + ms(5)));
        assert_eq!(table.pop_expired(t0 + ms(4)), None);
        let now = t0 + ms(20);
        assert_eq!(table.pop_expired(now), Some(Timer::D));
        assert_eq!(table.pop_expired(now), Some(Timer::A));
        assert_eq!(table.pop_expired(now), Some(Timer::B));
        assert_eq!(table.pop_expired(now), None);
        assert_eq!(table.next_deadline(), Some(t0 + ms(50)));
    }

    #[test]
    fn timer_table_has_one_slot_per_timer_in_declaration_order() {
        for (i, timer) in Timer::ALL.into_iter().enumerate() {
            assert_eq!(timer.index(), i, "{timer:?}");
        }
    }

    #[test]
    fn absurd_timer_values_leave_the_timer_unarmed_instead_of_panicking() {
        let t0 = epoch();
        let mut table = TimerTable::default();
        table.arm(Timer::B, t0, Duration::MAX);
        assert_eq!(table.get(Timer::B), None);
        let cfg = TimerConfig {
            t1: Duration::MAX,
            ..TimerConfig::default()
        };
        assert_eq!(cfg.t1_x64(), Duration::MAX);
    }

    #[test]
    fn tx_error_says_what_was_expected_and_found() {
        assert_eq!(
            TxError::InvalidStatus { status: 42 }.to_string(),
            "expected a status code 100-699, found 42"
        );
        assert_eq!(
            TxError::ResponseNotAllowed {
                expected: "a 2xx retransmission",
                state: State::Accepted,
                status: 486,
            }
            .to_string(),
            "expected a 2xx retransmission in state Accepted, found 486"
        );
    }
}
