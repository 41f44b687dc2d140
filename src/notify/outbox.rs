//! The message outbox: one small state machine per SMS or email, with retry timing.
//!
//! ```text
//!                 handle_timeout (due)            Outcome::Sent
//!   ┌────────┐ ─────────────────────────► ┌─────────┐ ──────────────► ┌──────┐
//!   │ Queued │                            │ Sending │                 │ Sent │
//!   └────────┘ ◄───────────────────────── └─────────┘                 └──────┘
//!       ▲         Outcome::Transient           │   │                     │  │
//!       │         (attempts left: due =        │   │ Outcome::Permanent  │  │ Report::Delivered
//!   restart       now + backoff + jitter)      │   │ or attempts used up │  ▼
//!   recovery                                   │   ▼                     │ ┌───────────┐
//!   (Sending → Queued,                         │ ┌────────┐  Report::    │ │ Delivered │
//!    same key)                                 │ │ Failed │◄─Undelivered─┘ └───────────┘
//!                                              │ └────────┘
//!                                              └── Report::Delivered (report before response)
//! ```
//!
//! States only move forward (`Queued < Sending < Sent < Delivered | Failed`) except for the
//! one retry edge `Sending → Queued`. A delivery report never moves a message back: a late
//! "sent" after "delivered", or "undelivered" after "delivered", is ignored.
//!
//! The outbox is a core: it takes `now`, reads no clock, and its jitter comes from a seed.
//! Sending happens elsewhere: [`Outbox::poll_transmit`] says which message to send now,
//! the sender reports back with [`Outbox::handle_outcome`]. Every state change is an
//! [`Event`] the caller persists before acting on the next one. Senders must give every
//! attempt an outcome (their own timeouts become [`Outcome::Transient`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Queued,
    Sending,
    Sent,
    Delivered,
    Failed,
}

impl State {
    /// The name stored in the database and shown in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses [`State::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Delivered and failed are final.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed)
    }

    fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sending => 1,
            Self::Sent => 2,
            Self::Delivered | Self::Failed => 3,
        }
    }

    /// Whether a delivery report may move a message from `self` to `to`: strictly
    /// forward, and never out of a final state.
    pub fn may_advance_to(self, to: State) -> bool {
        !self.is_final() && to.rank() > self.rank()
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one send attempt came to, as classified by the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The gateway or SMTP server accepted the message.
    Sent { provider_id: Option<String> },
    /// Worth retrying: timeout, connection refused, HTTP 429 or 5xx, SMTP 4xx.
    Transient {
        reason: String,
        /// The peer's `Retry-After`, honoured as a lower bound for the next delay.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: HTTP 4xx other than 429, SMTP 5xx, bad address.
    Permanent { reason: String },
}

/// A provider's delivery report, from a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Accepted by the network (does not move a message past `Sent`).
    Sent,
    /// Reached the handset or mailbox.
    Delivered,
    /// The network gave up.
    Undelivered { reason: String },
}

/// Retry timing: `initial × 2^(n−1)` after the n-th transient failure, capped at `max`,
/// then scaled by a factor in `[1 − jitter, 1 + jitter)`; after `max_attempts` attempts
/// the message fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
    /// Fraction of the delay to spread retries by (0.0 ..= 1.0).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(30 * 60),
            max_attempts: 12,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay after the `failures`-th transient failure, before jitter.
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << shift)
            .map_or(self.max, |d| d.min(self.max))
    }
}

/// A stable idempotency key from the parts that make a message the same message
/// (e.g. call id, dial-plan node, form, recipient): hex SHA-256, 32 characters.
pub fn derive_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One message as the outbox sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u64,
    /// Sent with every attempt so a gateway that deduplicates can tell a retry.
    pub key: String,
    pub state: State,
    /// Attempts started so far.
    pub attempts: u32,
    /// When a queued message is next due.
    pub due: Option<Instant>,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
}

impl Message {
    /// A new message, due at `due`.
    pub fn queued(id: u64, key: String, due: Instant) -> Self {
        Self {
            id,
            key,
            state: State::Queued,
            attempts: 0,
            due: Some(due),
            last_error: None,
            provider_id: None,
        }
    }
}

/// "Send this message now."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: u64,
    pub key: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// A state change, to be persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub from: State,
    pub to: State,
    pub attempts: u32,
    /// When the message is next due (only for `to == Queued`).
    pub due: Option<Instant>,
    pub reason: Option<String>,
    pub provider_id: Option<String>,
}

/// Errors from feeding the outbox something it does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxError {
    UnknownMessage(u64),
    /// An outcome arrived for a message that is not being sent.
    NotSending {
        id: u64,
        found: State,
    },
}

impl std::fmt::Display for OutboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownMessage(id) => write!(f, "expected a known message id, found {id}"),
            Self::NotSending { id, found } => write!(
                f,
                "expected message {id} to be sending when its outcome came, found {found}"
            ),
        }
    }
}

impl std::error::Error for OutboxError {}

/// All messages not yet final, with their timers.
#[derive(Debug)]
pub struct Outbox {
    policy: RetryPolicy,
    rng: crate::rng::Rng,
    messages: BTreeMap<u64, Message>,
    transmits: VecDeque<Attempt>,
    events: VecDeque<Event>,
}

impl Outbox {
    /// An empty outbox; `seed` drives the jitter (any value; 0 is replaced).
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        Self {
            policy,
            rng: crate::rng::Rng::new(seed),
            messages: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Adds a message (new, or loaded from the store after a restart). Final messages are
    /// not kept; a message loaded as `Sending` is a crash survivor and is queued again,
    /// due at once, with its key unchanged.
    pub fn insert(&mut self, now: Instant, mut msg: Message) {
        if msg.state.is_final() {
            return;
        }
        if msg.state == State::Sending {
            self.events.push_back(Event {
                id: msg.id,
                from: State::Sending,
                to: State::Queued,
                attempts: msg.attempts,
                due: Some(now),
                reason: Some("restarted while sending".into()),
                provider_id: None,
            });
            msg.state = State::Queued;
            msg.due = Some(now);
        }
        if msg.state == State::Queued && msg.due.is_none() {
            msg.due = Some(now);
        }
        self.messages.insert(msg.id, msg);
    }

    pub fn get(&self, id: u64) -> Option<&Message> {
        self.messages.get(&id)
    }

    /// Messages kept (not final).
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Starts every queued message due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for msg in self.messages.values_mut() {
            if msg.state == State::Queued && msg.due.is_some_and(|d| d <= now) {
                msg.state = State::Sending;
                msg.attempts += 1;
                msg.due = None;
                self.events.push_back(Event {
                    id: msg.id,
                    from: State::Queued,
                    to: State::Sending,
                    attempts: msg.attempts,
                    due: None,
                    reason: None,
                    provider_id: None,
                });
                self.transmits.push_back(Attempt {
                    id: msg.id,
                    key: msg.key.clone(),
                    attempt: msg.attempts,
                });
            }
        }
    }

    /// The result of the attempt on message `id`.
    pub fn handle_outcome(
        &mut self,
        now: Instant,
        id: u64,
        outcome: Outcome,
    ) -> Result<(), OutboxError> {
        let jitter = self.next_unit();
        let policy = self.policy;
        let msg = self
            .messages
            .get_mut(&id)
            .ok_or(OutboxError::UnknownMessage(id))?;
        if msg.state != State::Sending {
            return Err(OutboxError::NotSending {
                id,
                found: msg.state,
            });
        }
        let (to, due, reason, provider_id) = match outcome {
            Outcome::Sent { provider_id } => (State::Sent, None, None, provider_id),
            Outcome::Permanent { reason } => (State::Failed, None, Some(reason), None),
            Outcome::Transient { reason, .. } if msg.attempts >= policy.max_attempts => (
                State::Failed,
                None,
                Some(format!(
                    "gave up after {} attempts; last: {reason}",
                    msg.attempts
                )),
                None,
            ),
            Outcome::Transient {
                reason,
                retry_after,
            } => {
                let base = policy.backoff(msg.attempts);
                let spread = policy.jitter.clamp(0.0, 1.0);
                let mut delay = base.mul_f64(1.0 - spread + 2.0 * spread * jitter);
                if let Some(floor) = retry_after {
                    delay = delay.max(floor.min(policy.max));
                }
                (State::Queued, Some(now + delay), Some(reason), None)
            }
        };
        msg.state = to;
        msg.due = due;
        if reason.is_some() {
            msg.last_error.clone_from(&reason);
        }
        if provider_id.is_some() {
            msg.provider_id.clone_from(&provider_id);
        }
        self.events.push_back(Event {
            id,
            from: State::Sending,
            to,
            attempts: msg.attempts,
            due,
            reason,
            provider_id,
        });
        self.forget_final(id);
        Ok(())
    }

    /// A delivery report for message `id` in `current` state (the store's, since sent
    /// messages may have left the outbox). Returns the state to move to, if any: reports
    /// only move forward.
    pub fn report_transition(current: State, report: &Report) -> Option<State> {
        let to = match report {
            Report::Sent => State::Sent,
            Report::Delivered => State::Delivered,
            Report::Undelivered { .. } => State::Failed,
        };
        current.may_advance_to(to).then_some(to)
    }

    /// A delivery report for a message still in the outbox (e.g. the webhook beat the
    /// gateway's HTTP response). Returns whether it moved the message.
    pub fn handle_report(&mut self, id: u64, report: &Report) -> bool {
        let Some(msg) = self.messages.get_mut(&id) else {
            return false;
        };
        let Some(to) = Self::report_transition(msg.state, report) else {
            return false;
        };
        let from = msg.state;
        msg.state = to;
        msg.due = None;
        let reason = match report {
            Report::Undelivered { reason } => Some(reason.clone()),
            _ => None,
        };
        self.events.push_back(Event {
            id,
            from,
            to,
            attempts: msg.attempts,
            due: None,
            reason,
            provider_id: None,
        });
        // A message still being sent stays until its outcome arrives (and is then refused
        // as no longer sending), so the sender's answer is never unknown.
        if from != State::Sending {
            self.forget_final(id);
        }
        true
    }

    fn forget_final(&mut self, id: u64) {
        if self
            .messages
            .get(&id)
            .is_some_and(|m| m.state.is_final() || m.state == State::Sent)
        {
            self.messages.remove(&id);
        }
    }

    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Attempt> {
        self.transmits.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest time a queued message is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.messages
            .values()
            .filter(|m| m.state == State::Queued)
            .filter_map(|m| m.due)
            .min()
    }

    /// A uniform value in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.rng.next_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::test_epoch;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            max_attempts: 5,
            jitter: 0.0,
        }
    }

    fn transient() -> Outcome {
        Outcome::Transient {
            reason: "HTTP 503".into(),
            retry_after: None,
        }
    }

    fn drain_events(o: &mut Outbox) -> Vec<(u64, State, State)> {
        std::iter::from_fn(|| o.poll_event())
            .map(|e| (e.id, e.from, e.to))
            .collect()
    }

    #[test]
    fn a_message_is_sent_once_when_due_and_then_leaves_the_outbox() {
        let t0 = test_epoch();
        let mut o = Outbox::new(policy(), 1);
        o.insert(t0, Message::queued(7, "k7".into(), t0));
        assert_eq!(o.poll_timeout(), Some(t0));
        o.handle_timeout(t0);
        assert_eq!(
            o.poll_transmit(),
            Some(Attempt {
                id: 7,
                key: "k7".into(),
                attempt: 1
            })
        );
        assert_eq!(o.poll_transmit(), None);
        assert_eq!(o.poll_timeout(), None, "nothing due while sending");
        o.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(
            o.poll_transmit(),
            None,
            "a sending message is not started again"
        );
        o.handle_outcome(
            t0,
            7,
            Outcome::Sent {
                provider_id: Some("SM1".into()),
            },
        )
        .expect("sending");
        assert_eq!(
            drain_events(&mut o),
            [
                (7, State::Queued, State::Sending),
                (7, State::Sending, State::Sent)
            ]
        );
        assert!(o.is_empty());
    }

    #[test]
    fn transient_failures_back_off_exponentially_then_give_up() {
        let t0 = test_epoch();
        let mut o = Outbox::new(policy(), 1);
        o.insert(t0, Message::queued(1, "k".into(), t0));
        let mut now = t0;
        let mut delays = Vec::new();
        loop {
            o.handle_timeout(now);
            let a = o.poll_transmit().expect("due message starts");
            o.handle_outcome(now, a.id, transient()).expect("sending");
            match o.poll_timeout() {
                Some(due) => {
                    delays.push((due - now).as_secs());
                    // One millisecond early: nothing happens.
                    o.handle_timeout(due - Duration::from_millis(1));
                    assert_eq!(o.poll_transmit(), None);
                    now = due;
                }
                None => break,
            }
        }
        assert_eq!(delays, [10, 20, 40, 80]);
        let last = std::iter::from_fn(|| o.poll_event())
            .last()
            .expect("events");
        assert_eq!(last.to, State::Failed);
        assert_eq!(
            last.reason.as_deref(),
            Some("gave up after 5 attempts; last: HTTP 503")
        );
    }

    #[test]
    fn backoff_is_capped() {
        let p = policy();
        let got: Vec<u64> = (1..=8).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(p.backoff(1000).as_secs(), 300, "no overflow");
    }

    #[test]
    fn jitter_is_seeded_bounded_and_spreads_retries() {
        let t0 = test_epoch();
        let run = |seed: u64| -> Vec<Duration> {
            let mut o = Outbox::new(
                RetryPolicy {
                    jitter: 0.5,
                    ..policy()
                },
                seed,
            );
            for id in 0..20 {
                o.insert(t0, Message::queued(id, format!("k{id}"), t0));
            }
            o.handle_timeout(t0);
            while let Some(a) = o.poll_transmit() {
                o.handle_outcome(t0, a.id, transient()).expect("sending");
            }
            (0..20)
                .map(|id| o.get(id).and_then(|m| m.due).expect("queued") - t0)
                .collect()
        };
        let a = run(42);
        assert_eq!(a, run(42), "same seed, same delays");
        assert_ne!(a, run(43), "another seed, other delays");
        for d in &a {
            assert!(
                (5_000..15_000).contains(&d.as_millis()),
                "{d:?} within 10 s ± 50 %"
            );
        }
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert!(distinct.len() >= 18, "retries are spread: {distinct:?}");
    }

    #[test]
    fn retry_after_is_a_lower_bound() {
        let t0 = test_epoch();
        let mut o = Outbox::new(policy(), 1);
        o.insert(t0, Message::queued(1, "k".into(), t0));
        o.handle_timeout(t0);
        let _ = o.poll_transmit();
        let outcome = Outcome::Transient {
            reason: "HTTP 429".into(),
            retry_after: Some(Duration::from_secs(120)),
        };
        o.handle_outcome(t0, 1, outcome).expect("sending");
        assert_eq!(o.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    }

    #[test]
    fn a_permanent_failure_fails_at_once() {
        let t0 = test_epoch();
        let mut o = Outbox::new(policy(), 1);
        o.insert(t0, Message::queued(1, "k".into(), t0));
        o.handle_timeout(t0);
        let _ = o.poll_transmit();
        let outcome = Outcome::Permanent {
            reason: "HTTP 400: invalid number".into(),
        };
        o.handle_outcome(t0, 1, outcome).expect("sending");
        assert_eq!(
            drain_events(&mut o),
            [
                (1, State::Queued, State::Sending),
                (1, State::Sending, State::Failed)
            ]
        );
        assert_eq!(o.poll_timeout(), None);
        assert!(o.is_empty());
    }

    #[test]
    fn delivery_reports_move_state_only_forward() {
        use State::*;
        let delivered = Report::Delivered;
        let undelivered = Report::Undelivered {
            reason: "absent subscriber".into(),
        };
        let table = [
            (Queued, &Report::Sent, Some(Sent)),
            (Sending, &delivered, Some(Delivered)),
            (Sent, &delivered, Some(Delivered)),
            (Sent, &Report::Sent, None),
            (Sent, &undelivered, Some(Failed)),
            (Delivered, &Report::Sent, None),
            (Delivered, &undelivered, None),
            (Failed, &delivered, None),
            (Delivered, &delivered, None),
        ];
        for (from, report, want) in table {
            assert_eq!(
                Outbox::report_transition(from, report),
                want,
                "{from} + {report:?}"
            );
        }
    }

    #[test]
    fn a_report_that_beats_the_response_wins_and_the_late_response_is_refused() {
        let t0 = test_epoch();
        let mut o = Outbox::new(policy(), 1);
        o.insert(t0, Message::queued(1, "k".into(), t0));
        o.handle_timeout(t0);
        let _ = o.poll_transmit();
        assert!(o.handle_report(1, &Report::Delivered));
        let late = o.handle_outcome(t0, 1, Outcome::Sent { provider_id: None });
        assert_eq!(
            late,
            Err(OutboxError::NotSending {
                id: 1,
                found: State::Delivered
            })
        );
        assert_eq!(
            drain_events(&mut o),
            [
                (1, State::Queued, State::Sending),
                (1, State::Sending, State::Delivered)
            ]
        );
    }

    #[test]
    fn a_message_found_sending_after_a_restart_is_retried_with_the_same_key() {
        let t0 = test_epoch();
        let mut o = Outbox::new(policy(), 1);
        let mut m = Message::queued(9, "same-key".into(), t0);
        m.state = State::Sending;
        m.attempts = 1;
        m.due = None;
        o.insert(t0, m);
        assert_eq!(drain_events(&mut o), [(9, State::Sending, State::Queued)]);
        o.handle_timeout(t0);
        assert_eq!(
            o.poll_transmit(),
            Some(Attempt {
                id: 9,
                key: "same-key".into(),
                attempt: 2
            })
        );
    }

    #[test]
    fn idempotency_keys_are_stable_and_unambiguous() {
        assert_eq!(derive_key(&["a", "b"]), derive_key(&["a", "b"]));
        assert_ne!(derive_key(&["ab", ""]), derive_key(&["a", "b"]));
        assert_eq!(derive_key(&["x"]).len(), 32);
    }

    #[test]
    fn unknown_ids_are_errors_not_panics() {
        let t0 = test_epoch();
        let mut o = Outbox::new(policy(), 1);
        assert_eq!(
            o.handle_outcome(t0, 5, transient()),
            Err(OutboxError::UnknownMessage(5))
        );
        assert!(!o.handle_report(5, &Report::Delivered));
        assert_eq!(
            OutboxError::NotSending {
                id: 3,
                found: State::Queued
            }
            .to_string(),
            "expected message 3 to be sending when its outcome came, found queued"
        );
    }
}
