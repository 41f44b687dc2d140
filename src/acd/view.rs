//! What the queue shows and keeps: the operator board, the waiting callers, counters, and
//! the operator states saved across restarts.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{CallRef, Location, RingFailure, Withdraw};

/// An operator's state as a supervisor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Offline,
    Available,
    Ringing,
    OnCall,
    WrapUp,
    Paused,
}

/// One row of the operator board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentStatus {
    pub name: String,
    pub location: Location,
    pub state: AgentState,
    pub pause_reason: Option<String>,
    /// The phone has a registration (it registered and neither unregistered nor expired).
    pub reachable: bool,
    /// Reachable and not logged out: the operator takes calls (unless busy or paused).
    pub logged_in: bool,
    /// Logged out with `*22` (or the console, the API) and not back with `*21`: no calls
    /// even while the phone is registered. Survives restarts.
    pub logged_out: bool,
    /// Seconds since the operator became available (only while available).
    pub idle_s: Option<u64>,
    pub calls_taken: u64,
    pub missed_in_row: u32,
    /// Why the last missed offer failed (cleared when the operator answers one): tells a
    /// supervisor whether a "missed calls" pause was a phone left ringing or one refusing.
    pub last_missed: Option<RingFailure>,
}

/// One waiting caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitingCall {
    pub call: CallRef,
    pub queue: String,
    /// 1-based position within its queue.
    pub position: usize,
    pub waited_s: u64,
    /// Operators whose phones ring for this call now.
    pub ringing: Vec<String>,
}

/// Counters since start, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AcdStats {
    pub answered: u64,
    pub abandoned: u64,
    pub max_wait: u64,
    pub no_agents: u64,
}

/// What survives a restart: per operator, logged in or not and the pause reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAgents {
    pub agents: BTreeMap<String, SavedAgent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAgent {
    pub logged_in: bool,
    #[serde(default)]
    pub paused: Option<String>,
}

/// Operators' states kept across restarts.
impl super::Acd {
    /// Who is logged in and who is paused, by name, for the state file.
    pub fn saved_state(&self) -> SavedAgents {
        SavedAgents {
            agents: self
                .agents
                .iter()
                .map(|a| {
                    (
                        a.spec.name.clone(),
                        SavedAgent {
                            logged_in: a.logged_in,
                            paused: a.paused.clone(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Applies a saved state; operators missing from it keep theirs, saved names no longer
    /// configured are ignored.
    pub fn restore(&mut self, now: Instant, saved: &SavedAgents) {
        for i in 0..self.agents.len() {
            let Some(s) = saved.agents.get(&self.agents[i].spec.name) else {
                continue;
            };
            if !s.logged_in || s.paused.is_some() {
                self.withdraw_ring(i, Withdraw::Router);
            }
            let a = &mut self.agents[i];
            let was = a.available();
            a.logged_in = s.logged_in;
            a.paused.clone_from(&s.paused);
            if !was && a.available() {
                a.idle_since = now;
            }
        }
        self.check_staffing();
        self.tick(now);
    }
}
