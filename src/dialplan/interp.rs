//! Runs a [`Plan`] for one call.
//!
//! A sans-IO state machine: the call feeds it key presses, "playback finished", results of
//! long-running actions (queue, voicemail, form sending) and timeouts, each with `now`; it
//! answers with [`Action`]s, [`Trace`]s saying why it did what it did, and the instant it
//! next wants to be woken. It reads no clock: civil time (for schedules) is the call's
//! start time plus the `Instant`s it is given.
//!
//! ```text
//!            enter(node)
//!                 │
//!   play ─────────┼─► Playing ──finished / key (barge-in)──► enter(next)
//!   menu ─────────┼─► Prompting ──finished──► Waiting ──key──► enter(target)
//!                 │       └── key (barge-in) ──────────────┘   └ bad key / timeout: retry
//!   collect ──────┼─► Prompting ─► Entering ─► [ReadingBack ─► Confirming] ─► enter(next)
//!   schedule, caller, set, goto: decide at once ─► enter(…)
//!   queue, voicemail, send_form, callback, transfer ─► Busy ──result──► enter(…)
//!   hangup ─► Done
//! ```
//!
//! Key presses during a `play` node without barge-in are ignored; with barge-in they stop
//! the prompt and are handed on to the next node, so a caller who knows the menu can press
//! a key during the welcome ("type-ahead").

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::ZonedDateTime as Zoned;

use super::{
    Address, CallerMatch, Channel, DigitCheck, FormRef, Item, NodeId, NodeKind, Plan,
    TransferTarget,
};
use crate::media::say;
use crate::phone;

/// A schedule's verdict at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    pub open: bool,
    /// Why, in words an admin reads in logs and the simulator.
    pub why: String,
}

/// What a plan may ask about opening hours: the calendar with holidays, closures and the
/// admins' manual override, seen from outside the dial-plan layer.
pub trait Schedules: Send + Sync {
    fn state(&self, schedule: &str, at: &Zoned) -> Option<ScheduleState>;
    fn next_opening(&self, schedule: &str, at: &Zoned) -> Option<Zoned>;
}

/// What the interpreter knows about the call.
#[derive(Clone)]
pub struct CallEnv {
    /// The caller's number in E.164, if there was a usable caller ID.
    pub caller: Option<String>,
    /// Civil time (Europe/Budapest) when the call started.
    pub civil_start: Zoned,
    pub schedules: Arc<dyn Schedules>,
}

/// One thing to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayItem {
    Prompt(String),
    /// Silence, in milliseconds (between digit groups of a number read back).
    Pause(u32),
}

/// What the call must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue these items after whatever is playing.
    Play {
        items: Vec<PlayItem>,
        barge_in: bool,
    },
    /// Drop everything queued or playing (barge-in).
    StopPlayback,
    /// End the call.
    Hangup,
    /// Put the caller in an operator queue; answer with [`ActionResult`].
    Queue { queue: String },
    /// The caller pressed a key of the queue node: take them out of the queue (the plan
    /// goes on at that key's node).
    LeaveQueue,
    /// Record a voice message; answer with [`ActionResult`].
    Voicemail,
    /// Send a form; answer with [`ActionResult`].
    SendForm {
        form: String,
        channel: Channel,
        to: String,
    },
    /// Ask for a callback of `number` (E.164 for a usable caller ID or a checked entry, else
    /// as keyed in); answer with [`ActionResult`] once the request is kept.
    Callback { number: String },
    /// Pass the call on (a queue, an operator, an allowed number); answer with
    /// [`ActionResult`] when it fails (`Done` never comes: whoever takes the call over
    /// keeps it to its end).
    Transfer { to: TransferTarget },
}

/// How a long-running action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionResult {
    Done,
    Failed,
    /// A queue had nobody who could take the call.
    NoAgents,
}

/// Why the interpreter did something: for logs and the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub node: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Prompts playing; keys may barge in.
    Prompting,
    /// Waiting for (more) digits until the deadline.
    Entering(Instant),
    /// Reading the entry back.
    ReadingBack,
    /// Waiting for 1 (yes) or 2 (again) until the deadline.
    Confirming(Option<Instant>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Playing(NodeId),
    Prompting(NodeId),
    Waiting(NodeId, Instant),
    Collecting(NodeId, Phase),
    Busy(NodeId),
    Done,
}

/// The interpreter for one call.
pub struct Interp {
    plan: Arc<Plan>,
    env: CallEnv,
    started: Option<Instant>,
    state: State,
    retries: u32,
    digits: String,
    vars: HashMap<String, String>,
    actions: VecDeque<Action>,
    traces: VecDeque<Trace>,
    path: Vec<NodeId>,
    /// A schedule node found the line closed during this call.
    saw_closed: bool,
}

/// Pause between the groups of a number read back, so the caller can follow.
const GROUP_PAUSE_MS: u32 = 300;

impl Interp {
    pub fn new(plan: Arc<Plan>, env: CallEnv) -> Self {
        Interp {
            plan,
            env,
            started: None,
            state: State::Idle,
            retries: 0,
            digits: String::new(),
            vars: HashMap::new(),
            actions: VecDeque::new(),
            traces: VecDeque::new(),
            path: Vec::new(),
            saw_closed: false,
        }
    }

    /// The plan this call runs on (it keeps it even when a reload swaps the daemon's).
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Starts at the plan's entry node.
    pub fn start(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.started = Some(now);
            let start = self.plan.start;
            self.enter(now, start, None);
        }
    }

    /// The items queued by the last `Play` action have all been played.
    pub fn handle_playback_finished(&mut self, now: Instant) {
        match self.state {
            State::Playing(id) => {
                if let NodeKind::Play { next, .. } = self.plan.nodes[id].kind {
                    self.enter(now, next, None);
                }
            }
            State::Prompting(id) => {
                if let NodeKind::Menu(m) = &self.plan.nodes[id].kind {
                    self.state = State::Waiting(id, now + m.timeout);
                }
            }
            State::Collecting(id, Phase::Prompting) => {
                if let NodeKind::Collect(c) = &self.plan.nodes[id].kind {
                    let wait = if self.digits.is_empty() {
                        c.timeout
                    } else {
                        c.inter_digit_timeout
                    };
                    self.state = State::Collecting(id, Phase::Entering(now + wait));
                }
            }
            State::Collecting(id, Phase::ReadingBack | Phase::Confirming(None)) => {
                if let NodeKind::Collect(c) = &self.plan.nodes[id].kind {
                    self.state = State::Collecting(id, Phase::Confirming(Some(now + c.timeout)));
                }
            }
            _ => {}
        }
    }

    /// The caller pressed a key (from any DTMF source, already de-duplicated).
    pub fn handle_digit(&mut self, now: Instant, key: char) {
        match self.state {
            State::Playing(id) => {
                if let NodeKind::Play {
                    barge_in: true,
                    next,
                    ..
                } = self.plan.nodes[id].kind
                {
                    self.actions.push_back(Action::StopPlayback);
                    self.enter(now, next, Some(key));
                }
            }
            State::Prompting(id) => {
                let barge = matches!(&self.plan.nodes[id].kind, NodeKind::Menu(m) if m.barge_in);
                if barge {
                    self.actions.push_back(Action::StopPlayback);
                    self.menu_key(now, id, key);
                }
            }
            State::Waiting(id, _) => self.menu_key(now, id, key),
            State::Collecting(id, phase) => self.collect_key(now, id, phase, key),
            State::Busy(id) => {
                if let NodeKind::Queue { keys, .. } = &self.plan.nodes[id].kind
                    && let Some(&(_, target)) = keys.iter().find(|(k, _)| *k == key)
                {
                    self.actions.push_back(Action::LeaveQueue);
                    self.actions.push_back(Action::StopPlayback);
                    // The key was the caller's choice, as in a menu, not type-ahead for the
                    // node it leads to (a `collect` there would take it as a first digit).
                    self.enter(now, target, None);
                }
            }
            State::Idle | State::Done => {}
        }
    }

    /// Time passed; acts on menu and entry deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Waiting(id, deadline) if now >= deadline => self.retry(now, id, false),
            State::Collecting(id, Phase::Entering(deadline)) if now >= deadline => {
                if self.digits.is_empty() {
                    self.retry(now, id, false);
                } else {
                    self.finish_entry(now, id);
                }
            }
            State::Collecting(id, Phase::Confirming(Some(deadline))) if now >= deadline => {
                self.retry(now, id, false);
            }
            _ => {}
        }
    }

    /// A long-running action (queue, voicemail, send_form, transfer) ended.
    pub fn handle_result(&mut self, now: Instant, result: ActionResult) {
        let State::Busy(id) = self.state else { return };
        let plan = Arc::clone(&self.plan);
        let next = match (&plan.nodes[id].kind, result) {
            (NodeKind::Queue { no_agents, .. }, ActionResult::NoAgents | ActionResult::Failed) => {
                Some(*no_agents)
            }
            // The operator hung up first: the plan goes on there, if it says so.
            (
                NodeKind::Queue { after_operator, .. } | NodeKind::Transfer { after_operator, .. },
                ActionResult::Done,
            ) => *after_operator,
            (
                NodeKind::Voicemail { next, on_error }
                | NodeKind::SendForm { next, on_error, .. }
                | NodeKind::Callback { next, on_error, .. },
                r,
            ) => Some(if r == ActionResult::Done {
                *next
            } else {
                *on_error
            }),
            (
                NodeKind::Transfer { on_error, .. },
                ActionResult::Failed | ActionResult::NoAgents,
            ) => Some(*on_error),
            _ => None,
        };
        let words = match result {
            ActionResult::Done => "done",
            ActionResult::Failed => "failed",
            ActionResult::NoAgents => "no operator could take the call",
        };
        self.trace(id, format!("result: {words}"));
        match next {
            Some(n) => self.enter(now, n, None),
            // The operator or the transfer target took the call over; the call layer ends it.
            None => self.state = State::Done,
        }
    }

    /// When [`Interp::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting(_, d)
            | State::Collecting(_, Phase::Entering(d) | Phase::Confirming(Some(d))) => Some(d),
            _ => None,
        }
    }

    /// The next action, if any.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next explanation, if any.
    #[must_use]
    pub fn poll_trace(&mut self) -> Option<Trace> {
        self.traces.pop_front()
    }

    /// Names of the nodes the call went through, e.g. `welcome>main_menu>office_hours`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for (i, id) in self.path.iter().enumerate() {
            if i > 0 {
                out.push('>');
            }
            out.push_str(&self.plan.nodes[*id].name);
        }
        out
    }

    /// A variable's value (set by `set` or `collect`).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether the call waits on (or talks through) a queue or transfer node that goes on
    /// at `after_operator` when the operator hangs up first.
    pub fn goes_on_after_operator(&self) -> bool {
        let State::Busy(id) = self.state else {
            return false;
        };
        matches!(
            self.plan.nodes[id].kind,
            NodeKind::Queue {
                after_operator: Some(_),
                ..
            } | NodeKind::Transfer {
                after_operator: Some(_),
                ..
            }
        )
    }

    /// Whether a schedule node found the line closed during this call.
    pub fn saw_closed(&self) -> bool {
        self.saw_closed
    }

    /// Whether the plan has finished with the call.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Civil time now, from the call's start and the monotonic clock.
    pub fn civil_now(&self, now: Instant) -> Zoned {
        let elapsed = self
            .started
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        jiff::SignedDuration::try_from(elapsed)
            .ok()
            .and_then(|d| self.env.civil_start.checked_add(d).ok())
            .unwrap_or_else(|| self.env.civil_start.clone())
    }

    fn trace(&mut self, id: NodeId, text: String) {
        self.traces.push_back(Trace {
            node: self.plan.nodes[id].name.clone(),
            text,
        });
    }

    fn menu_key(&mut self, now: Instant, id: NodeId, key: char) {
        let plan = Arc::clone(&self.plan);
        let NodeKind::Menu(m) = &plan.nodes[id].kind else {
            return;
        };
        let chosen = m.choice.as_ref().and_then(|c| {
            let (_, value) = c.values.iter().find(|(k, _)| *k == key)?;
            Some((c, value))
        });
        match (m.target(key), chosen) {
            (Some(t), _) => {
                self.trace(id, format!("key {key} → {}", plan.nodes[t].name));
                self.enter(now, t, None);
            }
            (None, Some((c, value))) => {
                self.trace(
                    id,
                    format!(
                        "key {key}: {} = {value} → {}",
                        c.var, plan.nodes[c.next].name
                    ),
                );
                self.vars.insert(c.var.clone(), value.clone());
                self.enter(now, c.next, None);
            }
            (None, None) => {
                self.trace(id, format!("key {key} is not in the menu"));
                self.retry(now, id, true);
            }
        }
    }

    fn collect_key(&mut self, now: Instant, id: NodeId, phase: Phase, key: char) {
        let plan = Arc::clone(&self.plan);
        let NodeKind::Collect(c) = &plan.nodes[id].kind else {
            return;
        };
        match phase {
            Phase::Prompting if !c.barge_in => {}
            Phase::Prompting | Phase::Entering(_) => {
                if phase == Phase::Prompting {
                    self.actions.push_back(Action::StopPlayback);
                }
                if Some(key) == c.terminator {
                    if self.digits.is_empty() {
                        self.retry(now, id, true);
                    } else {
                        self.finish_entry(now, id);
                    }
                    return;
                }
                if !key.is_ascii_digit() {
                    self.trace(id, format!("key {key} is not a digit"));
                    self.retry(now, id, true);
                    return;
                }
                self.digits.push(key);
                if self.digits.len() >= c.max_digits {
                    self.finish_entry(now, id);
                } else {
                    self.state =
                        State::Collecting(id, Phase::Entering(now + c.inter_digit_timeout));
                }
            }
            // The terminator pressed after an entry that was already complete (max_digits
            // reached) must not cut the read-back short: callers were told to press it.
            Phase::ReadingBack | Phase::Confirming(_) if Some(key) == c.terminator => {}
            Phase::ReadingBack | Phase::Confirming(_) => {
                if phase == Phase::ReadingBack {
                    self.actions.push_back(Action::StopPlayback);
                }
                match key {
                    '1' => {
                        let value = self.vars.get(&c.var).cloned().unwrap_or_default();
                        self.trace(id, format!("confirmed {} = {}", c.var, value));
                        self.enter(now, c.next, None);
                    }
                    '2' => {
                        self.trace(id, "caller asked to key the number again".to_owned());
                        self.digits.clear();
                        let items = self.expand(now, &c.prompts);
                        self.actions.push_back(Action::Play {
                            items,
                            barge_in: c.barge_in,
                        });
                        self.state = State::Collecting(id, Phase::Prompting);
                    }
                    _ => {
                        let items = self.expand(now, &c.confirm_prompts);
                        self.actions.push_back(Action::Play {
                            items,
                            barge_in: true,
                        });
                        self.state = State::Collecting(id, Phase::Confirming(None));
                    }
                }
            }
        }
    }

    fn finish_entry(&mut self, now: Instant, id: NodeId) {
        let plan = Arc::clone(&self.plan);
        let NodeKind::Collect(c) = &plan.nodes[id].kind else {
            return;
        };
        let digits = std::mem::take(&mut self.digits);
        let value = if digits.len() < c.min_digits {
            None
        } else {
            match c.check {
                DigitCheck::Any => Some(digits.clone()),
                DigitCheck::HuMobile => phone::normalize(&digits).filter(|n| phone::is_mobile(n)),
                DigitCheck::HuPhone => phone::normalize(&digits).filter(|n| n.starts_with("+36")),
            }
        };
        let Some(value) = value else {
            self.trace(id, format!("entry {digits} refused"));
            self.retry(now, id, true);
            return;
        };
        self.vars.insert(c.var.clone(), value.clone());
        if c.readback {
            let mut items = vec![PlayItem::Prompt("readback_intro".to_owned())];
            items.extend(number_items(&value));
            items.push(PlayItem::Pause(GROUP_PAUSE_MS));
            items.extend(self.expand(now, &c.confirm_prompts));
            self.actions.push_back(Action::Play {
                items,
                barge_in: true,
            });
            self.state = State::Collecting(id, Phase::ReadingBack);
        } else {
            self.trace(id, format!("{} = {value}", c.var));
            self.enter(now, c.next, None);
        }
    }

    fn retry(&mut self, now: Instant, id: NodeId, invalid: bool) {
        let plan = Arc::clone(&self.plan);
        let (max, fail, mut items, barge_in, collect) = match &plan.nodes[id].kind {
            NodeKind::Menu(m) => (
                m.max_retries,
                m.on_max_retries,
                if invalid {
                    m.invalid_prompts.clone()
                } else {
                    m.timeout_prompts.clone()
                },
                m.barge_in,
                false,
            ),
            NodeKind::Collect(c) => (
                c.max_retries,
                c.on_max_retries,
                if invalid {
                    c.invalid_prompts.clone()
                } else {
                    c.timeout_prompts.clone()
                },
                c.barge_in,
                true,
            ),
            _ => return,
        };
        self.retries += 1;
        self.digits.clear();
        if self.retries > max {
            self.trace(
                id,
                format!("{} retries used up → {}", max, plan.nodes[fail].name),
            );
            self.enter(now, fail, None);
            return;
        }
        self.trace(
            id,
            (if invalid {
                "invalid input, again"
            } else {
                "no input, again"
            })
            .to_owned(),
        );
        match &plan.nodes[id].kind {
            NodeKind::Menu(m) => items.extend(m.prompts.iter().cloned()),
            NodeKind::Collect(c) => items.extend(c.prompts.iter().cloned()),
            _ => {}
        }
        let items = self.expand(now, &items);
        self.actions.push_back(Action::Play { items, barge_in });
        self.state = if collect {
            State::Collecting(id, Phase::Prompting)
        } else {
            State::Prompting(id)
        };
    }

    /// Enters a node. `carried` is a key pressed during the previous node (type-ahead).
    fn enter(&mut self, now: Instant, mut id: NodeId, mut carried: Option<char>) {
        // A valid plan cannot loop without waiting for the caller (validation refuses
        // that), so more hops than twice the nodes means a bug: hang up rather than spin.
        for _ in 0..self.plan.nodes.len() * 2 + 1 {
            self.path.push(id);
            let plan = Arc::clone(&self.plan);
            let was_here = matches!(
                self.state,
                State::Prompting(n) | State::Waiting(n, _) | State::Collecting(n, _) if n == id
            );
            if !was_here {
                self.retries = 0;
            }
            match &plan.nodes[id].kind {
                NodeKind::Play {
                    items,
                    barge_in,
                    next,
                } => {
                    if carried.is_some() && *barge_in || items.is_empty() {
                        id = *next;
                        continue;
                    }
                    let items = self.expand(now, items);
                    self.actions.push_back(Action::Play {
                        items,
                        barge_in: *barge_in,
                    });
                    self.state = State::Playing(id);
                    return;
                }
                NodeKind::Menu(m) => {
                    if let Some(key) = carried.take() {
                        self.state = State::Waiting(id, now + m.timeout);
                        self.menu_key(now, id, key);
                        return;
                    }
                    let items = self.expand(now, &m.prompts);
                    self.actions.push_back(Action::Play {
                        items,
                        barge_in: m.barge_in,
                    });
                    self.state = State::Prompting(id);
                    return;
                }
                NodeKind::Collect(c) => {
                    self.digits.clear();
                    self.state =
                        State::Collecting(id, Phase::Entering(now + c.inter_digit_timeout));
                    if let Some(key) = carried.take() {
                        self.collect_key(now, id, Phase::Entering(now), key);
                        return;
                    }
                    let items = self.expand(now, &c.prompts);
                    self.actions.push_back(Action::Play {
                        items,
                        barge_in: c.barge_in,
                    });
                    self.state = State::Collecting(id, Phase::Prompting);
                    return;
                }
                NodeKind::Schedule {
                    schedule,
                    open,
                    closed,
                } => {
                    let at = self.civil_now(now);
                    let state = self.env.schedules.state(schedule, &at);
                    let (is_open, why) = match state {
                        Some(s) => (s.open, s.why),
                        None => (
                            false,
                            format!("unknown schedule {schedule}: treated as closed"),
                        ),
                    };
                    let target = if is_open { *open } else { *closed };
                    self.saw_closed |= !is_open;
                    self.trace(
                        id,
                        format!(
                            "{schedule} at {}: {} ({why}) → {}",
                            at.strftime("%Y-%m-%d %H:%M"),
                            if is_open { "open" } else { "closed" },
                            plan.nodes[target].name
                        ),
                    );
                    id = target;
                }
                NodeKind::Caller { rules, default } => {
                    let caller = self.env.caller.as_deref();
                    let hit = rules.iter().find(|(m, _)| match (m, caller) {
                        (CallerMatch::Numbers(list), Some(c)) => list.iter().any(|n| n == c),
                        (CallerMatch::Mobile, Some(c)) => phone::is_mobile(c),
                        (CallerMatch::Landline, Some(c)) => !phone::is_mobile(c),
                        (CallerMatch::Anonymous, None) => true,
                        _ => false,
                    });
                    let (why, target) = match hit {
                        Some((m, t)) => (format!("{m:?}"), *t),
                        None => ("no rule matched".to_owned(), *default),
                    };
                    self.trace(
                        id,
                        format!(
                            "caller {}: {why} → {}",
                            caller.unwrap_or("anonymous"),
                            plan.nodes[target].name
                        ),
                    );
                    id = target;
                }
                NodeKind::Set { vars, next } => {
                    for (k, v) in vars {
                        self.vars.insert(k.clone(), v.clone());
                    }
                    id = *next;
                }
                NodeKind::Goto { next } => id = *next,
                NodeKind::Queue { queue, .. } => {
                    self.actions.push_back(Action::Queue {
                        queue: queue.clone(),
                    });
                    self.state = State::Busy(id);
                    return;
                }
                NodeKind::Voicemail { .. } => {
                    self.actions.push_back(Action::Voicemail);
                    self.state = State::Busy(id);
                    return;
                }
                NodeKind::SendForm {
                    form,
                    channel,
                    to,
                    on_error,
                    ..
                } => {
                    let address = match to {
                        Address::Caller => self.env.caller.clone(),
                        Address::Var(v) => self.vars.get(v).cloned(),
                    };
                    let form = match form {
                        FormRef::Id(f) => Some(f.clone()),
                        FormRef::Var(v) => self.vars.get(v).cloned(),
                    };
                    match (address, form) {
                        (Some(to), Some(form)) => {
                            self.actions.push_back(Action::SendForm {
                                form,
                                channel: *channel,
                                to,
                            });
                            self.state = State::Busy(id);
                            return;
                        }
                        (None, _) => {
                            self.trace(id, "no address to send to".to_owned());
                            id = *on_error;
                        }
                        (_, None) => {
                            self.trace(id, "no form was chosen".to_owned());
                            id = *on_error;
                        }
                    }
                }
                NodeKind::Callback { to, on_error, .. } => {
                    let number = match to {
                        Address::Caller => self.env.caller.clone(),
                        Address::Var(v) => self.vars.get(v).cloned(),
                    };
                    match number {
                        Some(number) => {
                            self.actions.push_back(Action::Callback { number });
                            self.state = State::Busy(id);
                            return;
                        }
                        None => {
                            self.trace(id, "no number to call back".to_owned());
                            id = *on_error;
                        }
                    }
                }
                NodeKind::Transfer { to, .. } => {
                    self.actions.push_back(Action::Transfer { to: to.clone() });
                    self.state = State::Busy(id);
                    return;
                }
                NodeKind::Hangup => {
                    self.actions.push_back(Action::Hangup);
                    self.state = State::Done;
                    return;
                }
            }
        }
        self.actions.push_back(Action::Hangup);
        self.state = State::Done;
    }

    /// Turns plan items into prompt ids, composing the dynamic ones.
    fn expand(&mut self, now: Instant, items: &[Item]) -> Vec<PlayItem> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Item::Prompt(id) => out.push(PlayItem::Prompt(id.clone())),
                Item::Var(name) => {
                    if let Some(v) = self.vars.get(name) {
                        out.extend(number_items(v));
                    }
                }
                Item::Caller => {
                    if let Some(c) = &self.env.caller {
                        out.extend(number_items(c));
                    }
                }
                Item::NextOpening(schedule) => {
                    let at = self.civil_now(now);
                    if let Some(opening) = self.env.schedules.next_opening(schedule, &at) {
                        // More than a week away the words would mislead: say nothing.
                        if let Some(words) = next_opening_words(&at, &opening) {
                            out.extend(words.into_iter().map(|w| PlayItem::Prompt(w.to_owned())));
                        }
                    }
                }
            }
        }
        out
    }
}

/// A number read back in digit groups with short pauses. E.164 Hungarian numbers are read
/// the way callers key them: `+36301234567` as "nulla hat, harminc, …".
fn number_items(value: &str) -> Vec<PlayItem> {
    let national = value.strip_prefix("+36").map(|rest| format!("06{rest}"));
    let groups = say::phone_number_groups(national.as_deref().unwrap_or(value));
    let mut out = Vec::new();
    for (i, group) in groups.into_iter().enumerate() {
        if i > 0 {
            out.push(PlayItem::Pause(GROUP_PAUSE_MS));
        }
        out.extend(group.into_iter().map(|w| PlayItem::Prompt(w.to_owned())));
    }
    out
}

/// "A vonal legközelebb holnap reggel hét órakor nyit." — `None` when the opening is more
/// than six days away (a weekday name would then be ambiguous).
pub fn next_opening_words(now: &Zoned, opening: &Zoned) -> Option<Vec<&'static str>> {
    let days = (opening.date() - now.date()).get_days();
    let day = match days {
        0 => say::Day::Today,
        1 => say::Day::Tomorrow,
        2..=6 => match opening.weekday() {
            jiff::civil::Weekday::Monday => say::Day::Monday,
            jiff::civil::Weekday::Tuesday => say::Day::Tuesday,
            jiff::civil::Weekday::Wednesday => say::Day::Wednesday,
            jiff::civil::Weekday::Thursday => say::Day::Thursday,
            jiff::civil::Weekday::Friday => say::Day::Friday,
            jiff::civil::Weekday::Saturday => say::Day::Saturday,
            jiff::civil::Weekday::Sunday => say::Day::Sunday,
        },
        _ => return None,
    };
    let hour = u32::try_from(opening.hour()).unwrap_or(0);
    let minute = u32::try_from(opening.minute()).unwrap_or(0);
    let mut words = say::line_opens_next(day, hour, minute);
    // "holnap reggel hét órakor": morning hours read as 1–9 need "reggel" to be clear.
    if hour < 10 {
        words.insert(2, "word_reggel");
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::{Known, load_str};

    const PLAN: &str = r#"start = "welcome"
[nodes.welcome]
type = "play"
prompts = ["welcome"]
next = "menu"
[nodes.menu]
type = "menu"
prompts = ["main_menu"]
keys = { "3" = "hours", "*" = "menu", "2" = "number" }
invalid_prompts = ["invalid_key"]
timeout_prompts = ["no_input"]
max_retries = 2
timeout_s = 5
on_max_retries = "bye"
[nodes.hours]
type = "play"
prompts = ["office_hours"]
barge_in = false
next = "bye"
[nodes.number]
type = "collect"
prompts = ["enter_mobile"]
var = "mobile"
validate = "hu_mobile"
max_digits = 11
readback = true
invalid_prompts = ["mobile_invalid"]
next = "bye"
on_max_retries = "bye"
[nodes.bye]
type = "play"
prompts = ["goodbye"]
barge_in = false
next = "end"
[nodes.end]
type = "hangup"
"#;

    struct AlwaysOpen;
    impl Schedules for AlwaysOpen {
        fn state(&self, _: &str, _: &Zoned) -> Option<ScheduleState> {
            Some(ScheduleState {
                open: true,
                why: "test".into(),
            })
        }
        fn next_opening(&self, _: &str, _: &Zoned) -> Option<Zoned> {
            None
        }
    }

    fn env() -> CallEnv {
        CallEnv {
            caller: Some("+36301234567".into()),
            civil_start: jiff::civil::date(2026, 12, 1)
                .at(17, 0, 0, 0)
                .in_tz("Europe/Budapest")
                .expect("valid civil time"),
            schedules: Arc::new(AlwaysOpen),
        }
    }

    fn interp() -> Interp {
        let prompts = [
            "welcome",
            "main_menu",
            "invalid_key",
            "no_input",
            "office_hours",
            "goodbye",
            "enter_mobile",
            "mobile_invalid",
            "confirm_number",
            "readback_intro",
        ];
        let known = Known {
            skip_prompts: false,
            prompts: &prompts,
            ..Known::default()
        };
        let (plan, _) = load_str("t.toml", PLAN, &known).expect("valid plan");
        Interp::new(Arc::new(plan), env())
    }

    fn drain(i: &mut Interp) -> Vec<Action> {
        std::iter::from_fn(|| i.poll_action()).collect()
    }

    fn play(p: &[&str], barge_in: bool) -> Action {
        Action::Play {
            items: p.iter().map(|s| PlayItem::Prompt(s.to_string())).collect(),
            barge_in,
        }
    }

    #[test]
    fn call_hears_welcome_then_menu_and_key_3_leads_to_office_hours_then_hangup() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        assert_eq!(drain(&mut i), vec![play(&["welcome"], true)]);
        i.handle_playback_finished(t0);
        assert_eq!(drain(&mut i), vec![play(&["main_menu"], true)]);
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '3');
        assert_eq!(drain(&mut i), vec![play(&["office_hours"], false)]);
        i.handle_digit(t0, '1');
        assert!(drain(&mut i).is_empty(), "no barge-in on office hours");
        i.handle_playback_finished(t0);
        i.handle_playback_finished(t0);
        assert_eq!(
            drain(&mut i),
            vec![play(&["goodbye"], false), Action::Hangup]
        );
        assert!(i.is_done());
        assert_eq!(i.path(), "welcome>menu>hours>bye>end");
    }

    #[test]
    fn key_during_welcome_barges_in_and_reaches_the_menu() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        drain(&mut i);
        i.handle_digit(t0, '3');
        let acts = drain(&mut i);
        assert_eq!(
            acts,
            vec![Action::StopPlayback, play(&["office_hours"], false)]
        );
    }

    #[test]
    fn menu_timeout_replays_with_no_input_prompt_then_gives_up() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        i.handle_playback_finished(t0);
        drain(&mut i);
        i.handle_playback_finished(t0);
        assert_eq!(i.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        i.handle_timeout(t0 + Duration::from_secs(4));
        assert!(drain(&mut i).is_empty(), "deadline not reached");
        let t1 = t0 + Duration::from_secs(5);
        i.handle_timeout(t1);
        assert_eq!(drain(&mut i), vec![play(&["no_input", "main_menu"], true)]);
        i.handle_playback_finished(t1);
        i.handle_digit(t1, '9');
        assert_eq!(
            drain(&mut i),
            vec![play(&["invalid_key", "main_menu"], true)]
        );
        i.handle_playback_finished(t1);
        i.handle_timeout(t1 + Duration::from_secs(5));
        assert_eq!(drain(&mut i), vec![play(&["goodbye"], false)]);
    }

    #[test]
    fn star_repeats_the_menu() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        i.handle_playback_finished(t0);
        drain(&mut i);
        i.handle_digit(t0, '*');
        assert_eq!(
            drain(&mut i),
            vec![Action::StopPlayback, play(&["main_menu"], true)]
        );
    }

    #[test]
    fn collected_mobile_number_is_read_back_in_groups_and_confirmed() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        i.handle_playback_finished(t0);
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '2');
        drain(&mut i);
        i.handle_playback_finished(t0);
        for d in "06301234567".chars() {
            i.handle_digit(t0, d);
        }
        i.handle_digit(t0, '#');
        let acts = drain(&mut i);
        let Some(Action::Play { items, .. }) = acts.first() else {
            panic!("read-back expected: {acts:?}")
        };
        assert_eq!(
            items.first(),
            Some(&PlayItem::Prompt("readback_intro".into()))
        );
        assert_eq!(
            items.last(),
            Some(&PlayItem::Prompt("confirm_number".into()))
        );
        let pauses = items
            .iter()
            .filter(|p| matches!(p, PlayItem::Pause(_)))
            .count();
        assert!(pauses >= 3, "digit groups are separated: {items:?}");
        assert_eq!(i.var("mobile"), Some("+36301234567"));
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '1');
        assert_eq!(drain(&mut i), vec![play(&["goodbye"], false)]);
    }

    const CALLBACK_PLAN: &str = r#"start = "who"
[nodes.who]
type = "caller"
rules = [{ kind = "anonymous", next = "ask" }]
default = "for_caller"
[nodes.ask]
type = "collect"
prompts = ["enter_mobile"]
var = "number"
validate = "hu_phone"
max_digits = 11
readback = true
next = "for_number"
on_max_retries = "end"
[nodes.for_caller]
type = "callback"
next = "end"
on_error = "end"
[nodes.for_number]
type = "callback"
to = "@var:number"
next = "end"
on_error = "end"
[nodes.end]
type = "hangup"
"#;

    fn callback_interp(caller: Option<&str>) -> Interp {
        let prompts = ["enter_mobile", "confirm_number", "readback_intro"];
        let known = Known {
            skip_prompts: false,
            prompts: &prompts,
            ..Known::default()
        };
        let (plan, _) = load_str("t.toml", CALLBACK_PLAN, &known).expect("valid plan");
        Interp::new(
            Arc::new(plan),
            CallEnv {
                caller: caller.map(str::to_owned),
                ..env()
            },
        )
    }

    #[test]
    fn a_callback_goes_to_the_callers_number_or_to_a_landline_a_hidden_caller_keys_in() {
        let t0 = crate::clock::test_epoch();
        let mut i = callback_interp(Some("+36301234567"));
        i.start(t0);
        assert_eq!(
            drain(&mut i),
            vec![Action::Callback {
                number: "+36301234567".into()
            }]
        );
        i.handle_result(t0, ActionResult::Done);
        assert_eq!(drain(&mut i), vec![Action::Hangup]);

        // A hidden number is asked for one, read back, and confirmed with 1.
        let mut i = callback_interp(None);
        i.start(t0);
        drain(&mut i);
        i.handle_playback_finished(t0);
        for d in "0623444555#".chars() {
            i.handle_digit(t0, d);
        }
        assert!(matches!(drain(&mut i).as_slice(), [Action::Play { .. }]));
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '1');
        assert_eq!(
            drain(&mut i),
            vec![Action::Callback {
                number: "+3623444555".into()
            }]
        );
        assert_eq!(i.path(), "who>ask>for_number");
    }

    #[test]
    fn terminator_after_a_full_entry_does_not_cut_the_read_back() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        i.handle_playback_finished(t0);
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '2');
        drain(&mut i);
        i.handle_playback_finished(t0);
        for d in "06301234567".chars() {
            i.handle_digit(t0, d);
        }
        assert!(
            matches!(drain(&mut i).as_slice(), [Action::Play { .. }]),
            "read-back starts"
        );
        i.handle_digit(t0, '#');
        assert!(
            drain(&mut i).is_empty(),
            "# neither stops the read-back nor counts as a wrong key"
        );
    }

    #[test]
    fn landline_number_is_refused_by_hu_mobile_and_asked_again() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        i.handle_playback_finished(t0);
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '2');
        drain(&mut i);
        i.handle_playback_finished(t0);
        for d in "0623444555#".chars() {
            i.handle_digit(t0, d);
        }
        assert_eq!(
            drain(&mut i),
            vec![play(&["mobile_invalid", "enter_mobile"], true)]
        );
        assert_eq!(i.var("mobile"), None);
    }

    #[test]
    fn entry_ends_after_the_inter_digit_timeout() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        i.handle_playback_finished(t0);
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '2');
        drain(&mut i);
        i.handle_playback_finished(t0);
        // Nine digits without the 06 prefix: shorter than max_digits, so only the silence
        // after them ends the entry.
        for d in "701234567".chars() {
            i.handle_digit(t0, d);
        }
        assert_eq!(i.poll_timeout(), Some(t0 + Duration::from_secs(4)));
        i.handle_timeout(t0 + Duration::from_secs(4));
        assert_eq!(i.var("mobile"), Some("+36701234567"));
    }

    #[test]
    fn next_opening_is_spoken_with_day_and_hour() {
        let tz = "Europe/Budapest";
        let mon = jiff::civil::date(2026, 11, 30)
            .at(8, 30, 0, 0)
            .in_tz(tz)
            .expect("valid");
        let tue7 = jiff::civil::date(2026, 12, 1)
            .at(7, 0, 0, 0)
            .in_tz(tz)
            .expect("valid");
        let tue16 = jiff::civil::date(2026, 12, 1)
            .at(16, 0, 0, 0)
            .in_tz(tz)
            .expect("valid");
        let fri = jiff::civil::date(2026, 12, 4)
            .at(8, 10, 0, 0)
            .in_tz(tz)
            .expect("valid");
        let mon7 = jiff::civil::date(2026, 12, 7)
            .at(7, 0, 0, 0)
            .in_tz(tz)
            .expect("valid");
        let text = |w: Option<Vec<&str>>| -> String {
            w.expect("within a week")
                .iter()
                .map(|id| say::fragment_text(id).unwrap_or(id))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            text(next_opening_words(&mon, &tue7)),
            "line_next holnap reggel hét line_opens_at_hour"
        );
        assert_eq!(
            text(next_opening_words(&mon, &tue16)),
            "line_next holnap tizenhat line_opens_at_hour"
        );
        assert_eq!(
            text(next_opening_words(&fri, &mon7)),
            "line_next hétfőn reggel hét line_opens_at_hour"
        );
        let far = jiff::civil::date(2027, 1, 4)
            .at(7, 0, 0, 0)
            .in_tz(tz)
            .expect("valid");
        assert_eq!(next_opening_words(&fri, &far), None);
    }

    #[test]
    fn form_menu_key_sends_the_form_it_names_and_a_wrong_key_asks_again() {
        let plan = r#"start = "choose"
[nodes.choose]
type = "form_menu"
prompts = ["main_menu"]
var = "form"
invalid_prompts = ["invalid_key"]
next = "send"
on_max_retries = "end"
[nodes.send]
type = "send_form"
form = "@var:form"
channel = "sms"
next = "end"
on_error = "end"
[nodes.end]
type = "hangup"
"#;
        let prompts = ["main_menu", "invalid_key", "form_a", "form_b", "pause"];
        let choices = [
            crate::dialplan::FormChoice {
                id: "lakcim",
                key: '2',
                prompt: "form_a",
            },
            crate::dialplan::FormChoice {
                id: "gepjarmuado",
                key: '3',
                prompt: "form_b",
            },
        ];
        let known = Known {
            prompts: &prompts,
            forms: &["lakcim", "gepjarmuado"],
            form_choices: &choices,
            ..Known::default()
        };
        let (plan, _) = load_str("t.toml", plan, &known).expect("valid plan");
        let t0 = crate::clock::test_epoch();
        let mut i = Interp::new(Arc::new(plan), env());
        i.start(t0);
        let menu = [
            "main_menu",
            "form_a",
            "word_nyomja_meg",
            "art_a",
            "key_2",
            "word_gombot",
            "pause",
            "form_b",
            "word_nyomja_meg",
            "art_a",
            "key_3",
            "word_gombot",
            "pause",
        ];
        assert_eq!(drain(&mut i), vec![play(&menu, true)]);
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '4');
        let again: Vec<&str> = std::iter::once("invalid_key").chain(menu).collect();
        assert_eq!(drain(&mut i), vec![play(&again, true)]);
        i.handle_digit(t0, '3');
        assert_eq!(
            drain(&mut i),
            vec![
                Action::StopPlayback,
                Action::SendForm {
                    form: "gepjarmuado".into(),
                    channel: Channel::Sms,
                    to: "+36301234567".into(),
                }
            ]
        );
        assert_eq!(i.var("form"), Some("gepjarmuado"));
        assert_eq!(i.path(), "choose>send");
    }
}
