//! Runs a [`Plan`] for one call.
//!
//! A sans-IO state machine: the call feeds it key presses, "playback finished" and timeouts,
//! each with `now`; it answers with [`Action`]s (play these prompts, stop playing, hang up)
//! and the instant it next wants to be woken.
//!
//! ```text
//!            enter(node)
//!                 │
//!      ┌──────────▼──────────┐  finished / key (barge-in)   ┌───────────────┐
//!      │ Playing(play node)  ├─────────────────────────────►│ enter(next)   │
//!      └─────────────────────┘                              └───────────────┘
//!      ┌─────────────────────┐  finished    ┌──────────────────────┐
//!      │ Prompting(menu)     ├─────────────►│ Waiting(menu, until) │
//!      └──────────┬──────────┘              └───┬────────┬─────────┘
//!            key  │ (barge-in)              key │        │ timeout
//!                 ▼                             ▼        ▼
//!        known key → enter(target)     unknown key / timeout: retries += 1,
//!                                      replay invalid/timeout prompt + menu,
//!                                      or enter(on_max_retries) once retries run out
//! ```
//!
//! Key presses during a `play` node without barge-in are ignored; with barge-in they stop
//! the prompt and are handed on to the next node, so a caller who knows the menu can press
//! a key during the welcome ("type-ahead").

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::{NodeId, NodeKind, Plan};

/// What the call must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue these prompts after whatever is playing.
    Play {
        prompts: Vec<String>,
        barge_in: bool,
    },
    /// Drop everything queued or playing (barge-in).
    StopPlayback,
    /// End the call.
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started yet.
    Idle,
    /// Playing a `play` node's prompts.
    Playing(NodeId),
    /// Playing a menu's prompts; keys may barge in.
    Prompting(NodeId),
    /// Menu prompts finished; waiting for a key until the deadline.
    Waiting(NodeId, Instant),
    /// Hung up.
    Done,
}

/// The interpreter for one call.
#[derive(Debug)]
pub struct Interp {
    plan: Arc<Plan>,
    state: State,
    retries: u32,
    actions: VecDeque<Action>,
    /// Node names entered, in order: the call's menu path.
    path: Vec<NodeId>,
}

/// A hop limit per input: a valid plan cannot loop through play nodes (validation refuses
/// that), so more hops than nodes means a bug, and the call hangs up instead of spinning.
const MAX_HOPS_FACTOR: usize = 2;

impl Interp {
    pub fn new(plan: Arc<Plan>) -> Self {
        Interp {
            plan,
            state: State::Idle,
            retries: 0,
            actions: VecDeque::new(),
            path: Vec::new(),
        }
    }

    /// The plan this call runs on (it keeps it even when a reload swaps the daemon's).
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Starts at the plan's entry node.
    pub fn start(&mut self, now: Instant) {
        if self.state == State::Idle {
            let start = self.plan.start;
            self.enter(now, start, None);
        }
    }

    /// The prompts queued by the last `Play` action have all been played.
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
            State::Idle | State::Done => {}
        }
    }

    /// Time passed; acts on a menu's no-input deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Waiting(id, deadline) = self.state
            && now >= deadline
        {
            self.retry(now, id, false);
        }
    }

    /// When [`Interp::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting(_, deadline) => Some(deadline),
            _ => None,
        }
    }

    /// The next action, if any.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
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

    /// Whether the plan has hung up.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn menu_key(&mut self, now: Instant, id: NodeId, key: char) {
        let target = match &self.plan.nodes[id].kind {
            NodeKind::Menu(m) => m.target(key),
            _ => None,
        };
        match target {
            Some(t) => self.enter(now, t, None),
            None => self.retry(now, id, true),
        }
    }

    fn retry(&mut self, now: Instant, id: NodeId, invalid: bool) {
        let NodeKind::Menu(m) = &self.plan.nodes[id].kind else {
            return;
        };
        self.retries += 1;
        if self.retries > m.max_retries {
            let fail = m.on_max_retries;
            self.enter(now, fail, None);
            return;
        }
        let mut prompts = if invalid {
            m.invalid_prompts.clone()
        } else {
            m.timeout_prompts.clone()
        };
        prompts.extend(m.prompts.iter().cloned());
        self.actions.push_back(Action::Play {
            prompts,
            barge_in: m.barge_in,
        });
        self.state = State::Prompting(id);
    }

    /// Enters a node. `carried` is a key pressed during the previous node (type-ahead).
    fn enter(&mut self, now: Instant, mut id: NodeId, mut carried: Option<char>) {
        for _ in 0..self.plan.nodes.len() * MAX_HOPS_FACTOR + 1 {
            self.path.push(id);
            let plan = Arc::clone(&self.plan);
            match &plan.nodes[id].kind {
                NodeKind::Play {
                    prompts,
                    barge_in,
                    next,
                } => {
                    if carried.is_some() && *barge_in || prompts.is_empty() {
                        id = *next;
                        continue;
                    }
                    self.actions.push_back(Action::Play {
                        prompts: prompts.clone(),
                        barge_in: *barge_in,
                    });
                    self.state = State::Playing(id);
                    return;
                }
                NodeKind::Menu(m) => {
                    if self.state != State::Prompting(id)
                        && !matches!(self.state, State::Waiting(n, _) if n == id)
                    {
                        self.retries = 0;
                    }
                    if let Some(key) = carried.take() {
                        self.state = State::Waiting(id, now + m.timeout);
                        self.menu_key(now, id, key);
                        return;
                    }
                    self.actions.push_back(Action::Play {
                        prompts: m.prompts.clone(),
                        barge_in: m.barge_in,
                    });
                    self.state = State::Prompting(id);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::load_str;
    use std::time::Duration;

    const PLAN: &str = r#"start = "welcome"
[nodes.welcome]
type = "play"
prompts = ["welcome"]
next = "menu"
[nodes.menu]
type = "menu"
prompts = ["main_menu"]
keys = { "3" = "hours", "*" = "menu" }
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
[nodes.bye]
type = "play"
prompts = ["goodbye"]
barge_in = false
next = "end"
[nodes.end]
type = "hangup"
"#;

    fn interp() -> Interp {
        let ids = [
            "welcome",
            "main_menu",
            "invalid_key",
            "no_input",
            "office_hours",
            "goodbye",
        ];
        let (plan, _) = load_str("t.toml", PLAN, &ids).expect("valid plan");
        Interp::new(Arc::new(plan))
    }

    fn drain(i: &mut Interp) -> Vec<Action> {
        std::iter::from_fn(|| i.poll_action()).collect()
    }

    fn play(p: &[&str]) -> Action {
        Action::Play {
            prompts: p.iter().map(|s| s.to_string()).collect(),
            barge_in: true,
        }
    }

    #[test]
    fn call_hears_welcome_then_menu_and_key_3_leads_to_office_hours_then_hangup() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        assert_eq!(drain(&mut i), vec![play(&["welcome"])]);
        i.handle_playback_finished(t0);
        assert_eq!(drain(&mut i), vec![play(&["main_menu"])]);
        i.handle_playback_finished(t0);
        i.handle_digit(t0, '3');
        assert_eq!(
            drain(&mut i),
            vec![Action::Play {
                prompts: vec!["office_hours".into()],
                barge_in: false
            }]
        );
        i.handle_digit(t0, '1');
        assert!(drain(&mut i).is_empty(), "no barge-in on office hours");
        i.handle_playback_finished(t0);
        i.handle_playback_finished(t0);
        assert_eq!(
            drain(&mut i),
            vec![
                Action::Play {
                    prompts: vec!["goodbye".into()],
                    barge_in: false
                },
                Action::Hangup
            ]
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
        assert_eq!(acts[0], Action::StopPlayback);
        assert_eq!(
            acts[1],
            Action::Play {
                prompts: vec!["office_hours".into()],
                barge_in: false
            }
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
        assert_eq!(drain(&mut i), vec![play(&["no_input", "main_menu"])]);
        i.handle_playback_finished(t1);
        i.handle_digit(t1, '9');
        assert_eq!(drain(&mut i), vec![play(&["invalid_key", "main_menu"])]);
        i.handle_playback_finished(t1);
        i.handle_timeout(t1 + Duration::from_secs(5));
        assert_eq!(
            drain(&mut i),
            vec![Action::Play {
                prompts: vec!["goodbye".into()],
                barge_in: false
            }]
        );
    }

    #[test]
    fn star_repeats_the_menu_and_resets_nothing_else() {
        let t0 = crate::clock::test_epoch();
        let mut i = interp();
        i.start(t0);
        i.handle_playback_finished(t0);
        drain(&mut i);
        i.handle_digit(t0, '*');
        assert_eq!(
            drain(&mut i),
            vec![Action::StopPlayback, play(&["main_menu"])]
        );
    }
}
