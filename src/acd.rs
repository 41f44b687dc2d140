//! The operator queue (ACD): which waiting caller is offered to which operator, and when.
//!
//! A sans-IO core like every other: the driver tells it what happened (`handle_*`, each with
//! `now`), drains [`Acd::poll_action`] and sleeps until [`Acd::poll_timeout`]. It knows
//! nothing of SIP: a call is a [`CallRef`], an operator a name. "Ring" means "the driver
//! sends an INVITE to that operator's phone for this caller"; the answer, a failure or the
//! end of the bridged call come back as `handle_answered`, `handle_ring_failed` and
//! `handle_call_ended`.
//!
//! # Routing rules
//!
//! * Callers wait in order of arrival, first in first out within each queue; the head call
//!   is offered first.
//! * A call goes to the longest-idle available **on-site** operator. Teleworkers (`Remote`)
//!   are the overflow: they are offered a call once it has waited `overflow_after`, or at
//!   once when no on-site operator of that queue is logged in at all. On-site operators are
//!   still preferred after the overflow.
//! * A ring lasts `ring_timeout`; then it is cancelled and the call moves on. No answer,
//!   busy or a rejection also move on. An operator who already failed to take a call is not
//!   offered the same call again until everyone eligible has failed it; then the round
//!   starts over (a caller is never parked just because the only free operator missed once),
//!   at the earliest `ring_timeout` after the previous round began.
//! * `max_missed` missed offers in a row (no answer, busy, rejected, unreachable by the
//!   network) pause the operator with the reason `"missed calls"`, so one forgotten phone
//!   does not make every caller wait a ring timeout. Offers withdrawn by the router (the
//!   caller hung up, someone else answered, the operator went offline) are not misses.
//! * After each bridged call the operator has `wrap_up` before the next offer.
//! * With [`Strategy::RingAll`] every eligible available operator rings at once; the first
//!   answer wins and the others are cancelled.
//! * A queue with nobody logged in cannot help: a new call gets [`AcdAction::NoAgents`] at
//!   once, and waiting calls get it when the last operator of their queue logs out or
//!   unregisters. "Logged in" means logged in and reachable (has a registration), whether
//!   busy, in wrap-up or paused: a paused team still answers soon, an absent one never.
//! * A caller waits at most `max_wait` ([`AcdAction::MaxWait`]) and hears the position in
//!   the queue every `announce_every`.
//!
//! * Callback jobs (`jobs.rs`) wait in the same line as callers, ranked before, among or
//!   after them as configured; they are offered like callers and hear no announcements.
//!
//! # Operator states
//!
//! ```text
//!                login, registers                      Ring
//!   ┌─────────┐ ───────────────────► ┌─────────────────┐ ───────► ┌─────────┐
//!   │ offline │                      │    available    │          │ ringing │
//!   └─────────┘ ◄─────────────────── └─────────────────┘ ◄─────── └─────────┘
//!        ▲      logout, unregisters    │      ▲      ▲   timeout,      │
//!        │                             │      │      │   busy, reject, │ answered
//!        │                      pause, │      │      │   cancel        ▼
//!        │           max_missed misses │      │      │            ┌─────────┐
//!        │                             ▼      │      │            │ on_call │
//!        │                      ┌────────┐    │      │ wrap_up    └─────────┘
//!        └───────────────────── │ paused │ ───┘      │ elapsed         │
//!                logout         └────────┘ unpause   │                 │
//!                                               ┌─────────┐            │
//!                                               │ wrap_up │ ◄──────────┘
//!                                               └─────────┘  call ended
//! ```
//!
//! `logged_in`, `reachable` and the pause reason are flags beside the busy state (ringing,
//! on call, wrap-up), so an operator paused or logged out during a call finishes the call
//! and then stays out. The reported state is the first that applies of: on call, ringing,
//! offline, wrap-up, paused, available.
//!
//! # Restarts and reloads
//!
//! Accounts come from `operators.toml` ([`Acd::set_agents`] on reload keeps the state of
//! names that remain). A new account is not logged out: registering a phone is enough to
//! take calls. Logging out and pausing are explicit and survive restarts through
//! [`Acd::saved_state`] / [`Acd::restore`]. Every agent starts unreachable: the driver
//! reports the registrar's bindings with [`Acd::handle_reachable`].
//!
//! What the board reports ([`AgentStatus`]) keeps the two apart: `reachable` is "the phone
//! has a registration", `logged_out` is "logged out with `*22` (or the console, the API)
//! and not back with `*21`", and `logged_in` is reachable and not logged out — the one
//! that says whether the operator can be offered calls at all. An account whose phone never
//! registered, or whose registration expired or was removed, is not logged in.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The caller leg's dialog id.
pub type CallRef = u64;

/// Where an operator works: on-site operators are offered calls first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    OnSite,
    Remote,
}

/// One operator account as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSpec {
    /// SIP user name.
    pub name: String,
    pub location: Location,
    /// Queues served; empty means every queue.
    pub queues: Vec<String>,
}

impl AgentSpec {
    fn serves(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.iter().any(|q| q == queue)
    }
}

/// How a call is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// One operator at a time, the one idle the longest first.
    #[default]
    LongestIdle,
    /// Every eligible available operator at once; the first answer wins.
    RingAll,
}

/// Queue timing. Durations above a year are treated as a year, so deadline arithmetic on
/// `Instant` cannot overflow whatever the configuration says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcdConfig {
    pub strategy: Strategy,
    /// How long one offer rings before it is cancelled.
    pub ring_timeout: Duration,
    /// How long a call waits for an on-site operator before teleworkers are offered it too.
    pub overflow_after: Duration,
    /// Pause after each bridged call before the next offer.
    pub wrap_up: Duration,
    /// Missed offers in a row that pause an operator (0: never).
    pub max_missed: u32,
    /// Longest a caller waits before the dial plan's `no_agents` branch.
    pub max_wait: Duration,
    /// Interval of position announcements (zero: none).
    pub announce_every: Duration,
    /// Average handle time assumed before any call has been handled.
    pub default_handle_time: Duration,
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            strategy: Strategy::LongestIdle,
            ring_timeout: Duration::from_secs(20),
            overflow_after: Duration::from_secs(30),
            wrap_up: Duration::from_secs(10),
            max_missed: 3,
            max_wait: Duration::from_secs(10 * 60),
            announce_every: Duration::from_secs(45),
            default_handle_time: Duration::from_secs(180),
        }
    }
}

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

impl AcdConfig {
    fn clamped(mut self) -> AcdConfig {
        for d in [
            &mut self.ring_timeout,
            &mut self.overflow_after,
            &mut self.wrap_up,
            &mut self.max_wait,
            &mut self.announce_every,
            &mut self.default_handle_time,
        ] {
            *d = (*d).min(YEAR);
        }
        self
    }
}

/// Why an offer ended without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RingFailure {
    /// Rang until the phone or the network gave up (the router's own timeout counts too).
    NoAnswer,
    /// 486/600: the phone is busy.
    Busy,
    /// 603 or another final refusal.
    Rejected,
    /// Transport error, 408, 480, or the registration went away.
    Unreachable,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcdAction {
    /// INVITE the operator's phone for this call.
    Ring { call: CallRef, agent: String },
    /// CANCEL that INVITE (ring timeout, another operator answered, caller left, operator
    /// went offline or paused).
    CancelRing { call: CallRef, agent: String },
    /// Nobody is logged in for the call's queue; the call has left the queue and takes the
    /// dial plan's `no_agents` branch.
    NoAgents { call: CallRef },
    /// The call waited `max_wait`; it has left the queue and takes the `no_agents` branch.
    MaxWait { call: CallRef },
    /// Tell the caller where they stand. `position` is 1-based; `estimated_wait` is `None`
    /// when nobody serving the queue is taking calls (all paused).
    Announce {
        call: CallRef,
        position: usize,
        estimated_wait: Option<Duration>,
    },
}

/// An operator state change, as the admin API, the console and the feature codes ask it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOp {
    Login,
    Logout,
    /// Pause with a reason (shown to supervisors).
    Pause(String),
    Unpause,
}

/// A request about an operator the router does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcdError {
    UnknownAgent { name: String, known: Vec<String> },
}

impl fmt::Display for AcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcdError::UnknownAgent { name, known } => write!(
                f,
                "expected an operator name (known: {}), found \"{name}\"",
                known.join(", ")
            ),
        }
    }
}

impl std::error::Error for AcdError {}

mod jobs;
mod view;
pub use view::{AcdStats, AgentState, AgentStatus, SavedAgent, SavedAgents, WaitingCall};

/// The reason given to operators paused by [`AcdConfig::max_missed`].
pub const MISSED_CALLS: &str = "missed calls";

/// Weight of the newest call in the average handle time: an exponential moving average, so
/// the estimate follows the evening's mix of calls without storing them. 1/8 as in TCP's
/// smoothed RTT (RFC 6298 §2): one long call moves the estimate, it does not replace it.
const HANDLE_TIME_WEIGHT: f64 = 0.125;

/// Why a ringing offer ends without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Withdraw {
    /// The router takes it back (caller left, another operator answered, the operator
    /// logged out or paused, maximum wait): CANCEL, nobody to blame.
    Router,
    /// `ring_timeout` elapsed: CANCEL, a miss.
    TimedOut,
    /// The INVITE failed (the driver says so, nothing to cancel): a miss, whatever the
    /// reason, since the call was offered and not taken.
    Failed(RingFailure),
    /// The operator's registration went away: CANCEL, try someone else, but not a miss.
    Unregistered,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Busy {
    Idle,
    Ringing { call: CallRef, until: Instant },
    OnCall { since: Instant },
    WrapUp { until: Instant },
}

#[derive(Debug)]
struct Agent {
    spec: AgentSpec,
    logged_in: bool,
    reachable: bool,
    paused: Option<String>,
    busy: Busy,
    /// When the operator last became available; the oldest is offered the next call. A
    /// missed offer does not reset it: that operator took no call.
    idle_since: Instant,
    calls_taken: u64,
    missed_in_row: u32,
    last_missed: Option<RingFailure>,
}

impl Agent {
    fn new(spec: AgentSpec, now: Instant) -> Agent {
        Agent {
            spec,
            logged_in: true,
            reachable: false,
            paused: None,
            busy: Busy::Idle,
            idle_since: now,
            calls_taken: 0,
            missed_in_row: 0,
            last_missed: None,
        }
    }

    /// Counts for "is anyone there for this queue": logged in and registered, busy or not.
    fn signed_in(&self) -> bool {
        self.logged_in && self.reachable
    }

    fn available(&self) -> bool {
        self.signed_in() && self.paused.is_none() && self.busy == Busy::Idle
    }

    fn ringing_for(&self, call: CallRef) -> bool {
        matches!(self.busy, Busy::Ringing { call: c, .. } if c == call)
    }

    fn state(&self) -> AgentState {
        match self.busy {
            Busy::OnCall { .. } => AgentState::OnCall,
            Busy::Ringing { .. } => AgentState::Ringing,
            _ if !self.signed_in() => AgentState::Offline,
            Busy::WrapUp { .. } => AgentState::WrapUp,
            Busy::Idle if self.paused.is_some() => AgentState::Paused,
            Busy::Idle => AgentState::Available,
        }
    }
}

#[derive(Debug)]
struct Waiting {
    call: CallRef,
    queue: String,
    since: Instant,
    /// Operators who failed to take this call in the current round.
    tried: Vec<String>,
    next_announce: Option<Instant>,
    /// Waited `overflow_after` already (teleworkers may ring).
    overflowed: bool,
    /// When the current round of offers began.
    round_since: Instant,
    /// A new round is due but waits until then (see `dispatch`).
    retry_at: Option<Instant>,
    /// Place in the one line of waiting calls, lowest first: callers `(1, since)`, callback
    /// jobs by their priority (`jobs.rs`).
    rank: (u8, Instant),
    /// A callback job, not a caller: no announcements, no place in callers' positions.
    job: bool,
}

/// The operator queue router.
#[derive(Debug)]
pub struct Acd {
    cfg: AcdConfig,
    agents: Vec<Agent>,
    /// Every waiting call of every queue, in order of arrival.
    calls: Vec<Waiting>,
    actions: VecDeque<AcdAction>,
    avg_handle_s: f64,
    stats: AcdStats,
}

impl Acd {
    /// A router with no waiting calls. Every operator starts logged in, unpaused and
    /// unreachable until the driver reports a registration with [`Acd::handle_reachable`];
    /// apply a saved state with [`Acd::restore`]. A repeated name is taken once.
    pub fn new(cfg: AcdConfig, agents: Vec<AgentSpec>, now: Instant) -> Acd {
        let cfg = cfg.clamped();
        let mut acd = Acd {
            avg_handle_s: cfg.default_handle_time.as_secs_f64(),
            cfg,
            agents: Vec::new(),
            calls: Vec::new(),
            actions: VecDeque::new(),
            stats: AcdStats::default(),
        };
        for spec in agents {
            if acd.index(&spec.name).is_none() {
                acd.agents.push(Agent::new(spec, now));
            }
        }
        acd
    }

    /// New timing for offers made from now on; rings in progress keep their deadline.
    pub fn set_config(&mut self, cfg: AcdConfig) {
        self.cfg = cfg.clamped();
    }

    pub fn config(&self) -> &AcdConfig {
        &self.cfg
    }

    /// Replaces the operator list (a reload of `operators.toml`). Operators that remain keep
    /// their state and take the new location and queues; new ones start logged in and
    /// unreachable; removed ones that were ringing are cancelled (a removed operator on a
    /// call finishes it, unseen by the router).
    pub fn set_agents(&mut self, now: Instant, agents: Vec<AgentSpec>) {
        let mut old = std::mem::take(&mut self.agents);
        for spec in agents {
            if self.index(&spec.name).is_some() {
                continue;
            }
            match old.iter().position(|a| a.spec.name == spec.name) {
                Some(i) => {
                    let mut a = old.swap_remove(i);
                    a.spec = spec;
                    self.agents.push(a);
                }
                None => self.agents.push(Agent::new(spec, now)),
            }
        }
        for gone in old {
            if let Busy::Ringing { call, .. } = gone.busy {
                self.actions.push_back(AcdAction::CancelRing {
                    call,
                    agent: gone.spec.name,
                });
            }
        }
        self.check_staffing();
        self.tick(now);
    }

    /// The registrar's view: whether the operator has at least one binding.
    pub fn handle_reachable(&mut self, now: Instant, agent: &str, reachable: bool) {
        if let Some(i) = self.index(agent) {
            let a = &mut self.agents[i];
            if a.reachable != reachable {
                if reachable {
                    a.reachable = true;
                    if a.available() {
                        a.idle_since = now;
                    }
                } else {
                    self.withdraw_ring(i, Withdraw::Unregistered);
                    self.agents[i].reachable = false;
                    self.check_staffing();
                }
            }
        }
        self.tick(now);
    }

    /// Carries out one [`AgentOp`].
    pub fn apply(&mut self, now: Instant, agent: &str, op: AgentOp) -> Result<(), AcdError> {
        match op {
            AgentOp::Login => self.login(now, agent),
            AgentOp::Logout => self.logout(now, agent),
            AgentOp::Pause(reason) => self.pause(now, agent, &reason),
            AgentOp::Unpause => self.unpause(now, agent),
        }
    }

    pub fn login(&mut self, now: Instant, agent: &str) -> Result<(), AcdError> {
        let i = self.require(agent)?;
        let a = &mut self.agents[i];
        if !a.logged_in {
            a.logged_in = true;
            if a.available() {
                a.idle_since = now;
            }
        }
        self.tick(now);
        Ok(())
    }

    /// Takes the operator out of the queue; a ringing offer is cancelled, a call in progress
    /// goes on. Waiting calls of a queue left with nobody get [`AcdAction::NoAgents`].
    pub fn logout(&mut self, now: Instant, agent: &str) -> Result<(), AcdError> {
        let i = self.require(agent)?;
        self.withdraw_ring(i, Withdraw::Router);
        self.agents[i].logged_in = false;
        self.check_staffing();
        self.tick(now);
        Ok(())
    }

    /// No more offers until [`Acd::unpause`]; a ringing offer is cancelled. Pausing again
    /// replaces the reason.
    pub fn pause(&mut self, now: Instant, agent: &str, reason: &str) -> Result<(), AcdError> {
        let i = self.require(agent)?;
        self.withdraw_ring(i, Withdraw::Router);
        self.agents[i].paused = Some(reason.to_owned());
        self.tick(now);
        Ok(())
    }

    /// Back to taking calls; also forgets the missed offers, so the next miss does not pause
    /// the operator again at once.
    pub fn unpause(&mut self, now: Instant, agent: &str) -> Result<(), AcdError> {
        let i = self.require(agent)?;
        let a = &mut self.agents[i];
        if a.paused.take().is_some() {
            a.missed_in_row = 0;
            if a.available() {
                a.idle_since = now;
            }
        }
        self.tick(now);
        Ok(())
    }

    /// A caller asks for an operator. Calls already waiting are left as they are.
    pub fn handle_enqueue(&mut self, now: Instant, call: CallRef, queue: &str) {
        if self.calls.iter().any(|c| c.call == call) {
            return;
        }
        if !self.staffed(queue) {
            self.stats.no_agents += 1;
            self.actions.push_back(AcdAction::NoAgents { call });
            return;
        }
        let every = self.cfg.announce_every;
        self.insert_ranked(Waiting {
            call,
            queue: queue.to_owned(),
            since: now,
            tried: Vec::new(),
            next_announce: (!every.is_zero()).then(|| now + every),
            overflowed: false,
            round_since: now,
            retry_at: None,
            rank: (1, now),
            job: false,
        });
        self.tick(now);
    }

    /// The caller hung up or left the queue with a key (an offer straight to an operator,
    /// [`Acd::ring_direct`], is withdrawn too).
    pub fn handle_abandon(&mut self, now: Instant, call: CallRef) {
        if let Some(ci) = self.call_index(call) {
            self.remove_call(ci);
            self.stats.abandoned += 1;
        }
        let direct: Vec<usize> = (0..self.agents.len())
            .filter(|&i| self.agents[i].ringing_for(call))
            .collect();
        for i in direct {
            self.withdraw_ring(i, Withdraw::Router);
        }
        self.tick(now);
    }

    /// Offers `call` to `agent` alone, outside any queue: a caller a colleague or the dial
    /// plan passes on. The operator must be logged in, reachable, not paused and free (or
    /// in wrap-up: a handover does not wait for it); the offer then rings, times out and is
    /// answered like a queue's, and a miss counts the same.
    pub fn ring_direct(
        &mut self,
        now: Instant,
        call: CallRef,
        agent: &str,
    ) -> Result<(), RingFailure> {
        let i = self.index(agent).ok_or(RingFailure::Unreachable)?;
        let a = &self.agents[i];
        if !a.signed_in() || a.paused.is_some() {
            return Err(RingFailure::Unreachable);
        }
        if !matches!(a.busy, Busy::Idle | Busy::WrapUp { .. }) {
            return Err(RingFailure::Busy);
        }
        self.ring(i, call, now);
        Ok(())
    }

    /// An operator's phone answered. `false` when that offer is no longer open (cancelled,
    /// timed out, another operator won): the driver then hangs up the operator's leg.
    pub fn handle_answered(&mut self, now: Instant, call: CallRef, agent: &str) -> bool {
        let won = match self.index(agent) {
            Some(i) if self.agents[i].ringing_for(call) => {
                let a = &mut self.agents[i];
                a.busy = Busy::OnCall { since: now };
                a.calls_taken += 1;
                a.missed_in_row = 0;
                a.last_missed = None;
                // A queue's call leaves the queue; a direct offer was never in one.
                if let Some(ci) = self.call_index(call) {
                    self.remove_call(ci);
                }
                self.stats.answered += 1;
                true
            }
            _ => false,
        };
        self.tick(now);
        won
    }

    /// An offer failed; the call moves on to the next operator.
    ///
    /// Every reason counts as a miss, since the call was offered and not taken; `why` is
    /// shown to supervisors as the operator's `last_missed`.
    pub fn handle_ring_failed(
        &mut self,
        now: Instant,
        call: CallRef,
        agent: &str,
        why: RingFailure,
    ) {
        if let Some(i) = self.index(agent)
            && self.agents[i].ringing_for(call)
        {
            self.withdraw_ring(i, Withdraw::Failed(why));
        }
        self.tick(now);
    }

    /// The bridged call is over: wrap-up starts, and its length feeds the average handle
    /// time used in the announced wait estimate.
    pub fn handle_call_ended(&mut self, now: Instant, agent: &str) {
        if let Some(i) = self.index(agent)
            && let Busy::OnCall { since } = self.agents[i].busy
        {
            let took = now.saturating_duration_since(since).as_secs_f64();
            self.avg_handle_s += HANDLE_TIME_WEIGHT * (took - self.avg_handle_s);
            let wrap_up = self.cfg.wrap_up;
            let a = &mut self.agents[i];
            if wrap_up.is_zero() {
                a.busy = Busy::Idle;
                a.idle_since = now;
            } else {
                a.busy = Busy::WrapUp {
                    until: now + wrap_up,
                };
            }
        }
        self.tick(now);
    }

    /// Deadlines at or before `now`: ring timeouts, ends of wrap-up, maximum waits,
    /// announcements, overflow.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
    }

    #[must_use]
    pub fn poll_action(&mut self) -> Option<AcdAction> {
        self.actions.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let agents = self.agents.iter().filter_map(|a| match a.busy {
            Busy::Ringing { until, .. } | Busy::WrapUp { until } => Some(until),
            Busy::Idle | Busy::OnCall { .. } => None,
        });
        let calls = self.calls.iter().flat_map(|c| {
            [
                Some(c.since + self.cfg.max_wait),
                c.next_announce,
                (!c.overflowed).then(|| c.since + self.cfg.overflow_after),
                c.retry_at,
            ]
            .into_iter()
            .flatten()
        });
        agents.chain(calls).min()
    }

    /// The operator board, in configuration order.
    pub fn agents(&self, now: Instant) -> Vec<AgentStatus> {
        self.agents
            .iter()
            .map(|a| {
                let state = a.state();
                AgentStatus {
                    name: a.spec.name.clone(),
                    location: a.spec.location,
                    state,
                    pause_reason: a.paused.clone(),
                    reachable: a.reachable,
                    logged_in: a.signed_in(),
                    logged_out: !a.logged_in,
                    idle_s: (state == AgentState::Available)
                        .then(|| now.saturating_duration_since(a.idle_since).as_secs()),
                    calls_taken: a.calls_taken,
                    missed_in_row: a.missed_in_row,
                    last_missed: a.last_missed,
                }
            })
            .collect()
    }

    /// Waiting callers in order of arrival.
    pub fn waiting(&self, now: Instant) -> Vec<WaitingCall> {
        self.calls
            .iter()
            .enumerate()
            .map(|(ci, c)| WaitingCall {
                call: c.call,
                queue: c.queue.clone(),
                position: self.position(ci),
                waited_s: now.saturating_duration_since(c.since).as_secs(),
                ringing: self
                    .agents
                    .iter()
                    .filter(|a| a.ringing_for(c.call))
                    .map(|a| a.spec.name.clone())
                    .collect(),
            })
            .collect()
    }

    pub fn stats(&self) -> AcdStats {
        self.stats
    }

    /// The current average handle time (exponential moving average of bridged calls).
    pub fn average_handle_time(&self) -> Duration {
        Duration::try_from_secs_f64(self.avg_handle_s.max(0.0)).unwrap_or(YEAR)
    }

    // ---- internals ----

    fn index(&self, name: &str) -> Option<usize> {
        self.agents.iter().position(|a| a.spec.name == name)
    }

    fn require(&self, name: &str) -> Result<usize, AcdError> {
        self.index(name).ok_or_else(|| AcdError::UnknownAgent {
            name: name.to_owned(),
            known: self.agents.iter().map(|a| a.spec.name.clone()).collect(),
        })
    }

    fn call_index(&self, call: CallRef) -> Option<usize> {
        self.calls.iter().position(|c| c.call == call)
    }

    /// Someone logged in (busy or paused) serves the queue.
    pub fn staffed(&self, queue: &str) -> bool {
        self.agents
            .iter()
            .any(|a| a.signed_in() && a.spec.serves(queue))
    }

    /// 1-based position of a call among the waiting calls of its queue.
    fn position(&self, ci: usize) -> usize {
        let queue = &self.calls[ci].queue;
        self.calls[..ci]
            .iter()
            .filter(|c| &c.queue == queue && !c.job)
            .count()
            + 1
    }

    /// Ends the operator's ringing offer, if any, for the reason given.
    fn withdraw_ring(&mut self, i: usize, why: Withdraw) {
        let Busy::Ringing { call, .. } = self.agents[i].busy else {
            return;
        };
        let a = &mut self.agents[i];
        a.busy = Busy::Idle;
        let name = a.spec.name.clone();
        let (cancel, tried, missed) = match why {
            Withdraw::Router => (true, false, None),
            Withdraw::TimedOut => (true, true, Some(RingFailure::NoAnswer)),
            Withdraw::Failed(failure) => (false, true, Some(failure)),
            Withdraw::Unregistered => (true, true, None),
        };
        if let Some(failure) = missed {
            a.last_missed = Some(failure);
            a.missed_in_row += 1;
            let max = self.cfg.max_missed;
            if max > 0 && a.missed_in_row >= max && a.paused.is_none() {
                a.paused = Some(MISSED_CALLS.to_owned());
            }
        }
        if tried
            && let Some(ci) = self.call_index(call)
            && !self.calls[ci].tried.contains(&name)
        {
            self.calls[ci].tried.push(name.clone());
        }
        if cancel {
            self.actions
                .push_back(AcdAction::CancelRing { call, agent: name });
        }
    }

    /// Removes a call from the queue, cancelling every offer of it.
    fn remove_call(&mut self, ci: usize) {
        let call = self.calls.remove(ci).call;
        for i in 0..self.agents.len() {
            if self.agents[i].ringing_for(call) {
                self.withdraw_ring(i, Withdraw::Router);
            }
        }
    }

    /// Waiting calls whose queue has nobody logged in leave with `NoAgents`.
    fn check_staffing(&mut self) {
        let mut ci = 0;
        while ci < self.calls.len() {
            if self.staffed(&self.calls[ci].queue) {
                ci += 1;
            } else {
                let call = self.calls[ci].call;
                self.remove_call(ci);
                self.stats.no_agents += 1;
                self.actions.push_back(AcdAction::NoAgents { call });
            }
        }
    }

    /// Runs every deadline due at `now`, then offers calls to free operators.
    fn tick(&mut self, now: Instant) {
        // Maximum waits first, so an offer expiring at the same instant is withdrawn
        // rather than counted as the operator's miss.
        let mut ci = 0;
        while ci < self.calls.len() {
            if self.calls[ci].since + self.cfg.max_wait <= now {
                let call = self.calls[ci].call;
                self.remove_call(ci);
                self.stats.max_wait += 1;
                self.actions.push_back(AcdAction::MaxWait { call });
            } else {
                ci += 1;
            }
        }
        for i in 0..self.agents.len() {
            match self.agents[i].busy {
                Busy::Ringing { until, .. } if until <= now => {
                    self.withdraw_ring(i, Withdraw::TimedOut);
                }
                Busy::WrapUp { until } if until <= now => {
                    let a = &mut self.agents[i];
                    a.busy = Busy::Idle;
                    a.idle_since = until;
                }
                _ => {}
            }
        }
        self.announce(now);
        self.dispatch(now);
    }

    fn announce(&mut self, now: Instant) {
        let every = self.cfg.announce_every;
        for ci in 0..self.calls.len() {
            let Some(at) = self.calls[ci].next_announce else {
                continue;
            };
            if at > now || every.is_zero() {
                continue;
            }
            let mut next = at;
            while next <= now {
                next += every;
            }
            self.calls[ci].next_announce = Some(next);
            let position = self.position(ci);
            let estimated_wait = self.estimate(&self.calls[ci].queue, position);
            self.actions.push_back(AcdAction::Announce {
                call: self.calls[ci].call,
                position,
                estimated_wait,
            });
        }
    }

    /// ceil(position × average handle time / operators logged in for the queue), in whole
    /// seconds; `None` when every one of them is paused.
    fn estimate(&self, queue: &str, position: usize) -> Option<Duration> {
        let serving = || {
            self.agents
                .iter()
                .filter(move |a| a.signed_in() && a.spec.serves(queue))
        };
        if serving().all(|a| a.paused.is_some()) {
            return None;
        }
        let n = serving().count().max(1);
        let secs = (position as f64 * self.avg_handle_s / n as f64).ceil();
        Some(Duration::from_secs_f64(secs.clamp(0.0, YEAR.as_secs_f64())))
    }

    /// Offers waiting calls, oldest first, to available operators.
    ///
    /// A round is one pass over the eligible operators for a call; an operator who failed
    /// the call is not offered it again in the same round.
    fn dispatch(&mut self, now: Instant) {
        for ci in 0..self.calls.len() {
            let c = &mut self.calls[ci];
            if !c.overflowed && c.since + self.cfg.overflow_after <= now {
                c.overflowed = true;
            }
            if c.retry_at.is_some_and(|t| t <= now) {
                c.retry_at = None;
            }
            let c = &self.calls[ci];
            let call = c.call;
            let ringing = self.agents.iter().any(|a| a.ringing_for(call));
            if ringing && self.cfg.strategy == Strategy::LongestIdle {
                continue;
            }
            let on_site_here = self.agents.iter().any(|a| {
                a.signed_in() && a.spec.serves(&c.queue) && a.spec.location == Location::OnSite
            });
            let remote_ok = c.overflowed || !on_site_here;
            let eligible: Vec<usize> = (0..self.agents.len())
                .filter(|&i| {
                    let a = &self.agents[i];
                    a.available()
                        && a.spec.serves(&c.queue)
                        && (a.spec.location == Location::OnSite || remote_ok)
                })
                .collect();
            if eligible.is_empty() {
                continue;
            }
            let mut fresh: Vec<usize> = eligible
                .iter()
                .copied()
                .filter(|&i| !c.tried.contains(&self.agents[i].spec.name))
                .collect();
            if fresh.is_empty() {
                if ringing {
                    continue;
                }
                // Everyone eligible has failed this call: start a new round, but at most one
                // per ring timeout, so phones that refuse at once (do-not-disturb answering
                // 486) are not sent a stream of INVITEs.
                let c = &mut self.calls[ci];
                let earliest = c.round_since + self.cfg.ring_timeout;
                if now < earliest {
                    c.retry_at = Some(earliest);
                    continue;
                }
                c.tried.clear();
                c.round_since = now;
                fresh = eligible;
            }
            match self.cfg.strategy {
                Strategy::LongestIdle => {
                    let best = fresh.iter().copied().min_by_key(|&i| {
                        let a = &self.agents[i];
                        (a.spec.location != Location::OnSite, a.idle_since, i)
                    });
                    if let Some(i) = best {
                        self.ring(i, call, now);
                    }
                }
                Strategy::RingAll => {
                    for i in fresh {
                        self.ring(i, call, now);
                    }
                }
            }
        }
    }

    fn ring(&mut self, i: usize, call: CallRef, now: Instant) {
        let a = &mut self.agents[i];
        a.busy = Busy::Ringing {
            call,
            until: now + self.cfg.ring_timeout,
        };
        self.actions.push_back(AcdAction::Ring {
            call,
            agent: a.spec.name.clone(),
        });
    }
}

#[cfg(test)]
mod tests;
