//! Callback jobs in the queue: a resident to call back waits for an operator like a caller
//! on the line, known to the router by an id of the switchboard's choosing.
//!
//! Offering, ring timeouts, rounds, misses and wrap-up are the same as for callers; what
//! differs is where a job stands. Every waiting call has a rank, `(class, since)`, and the
//! line is kept in rank order: callers are class 1 by arrival, a job comes with its own
//! class (0 before callers, 1 among them by when it became due, 2 after every caller,
//! [`crate::callback::Priority`]). A job hears no announcements and takes no place in the
//! positions callers are told.

use std::time::Instant;

use super::{Acd, AcdAction, CallRef, Waiting};

impl Acd {
    /// A callback job waits for an operator of `queue`, ranked `(class, since)` among the
    /// waiting calls. Nobody logged in for the queue: [`AcdAction::NoAgents`] at once, as
    /// for a caller.
    pub fn handle_enqueue_job(
        &mut self,
        now: Instant,
        call: CallRef,
        queue: &str,
        class: u8,
        since: Instant,
    ) {
        if self.calls.iter().any(|c| c.call == call) {
            return;
        }
        if !self.staffed(queue) {
            self.actions.push_back(AcdAction::NoAgents { call });
            return;
        }
        self.insert_ranked(Waiting {
            call,
            queue: queue.to_owned(),
            since: now,
            tried: Vec::new(),
            next_announce: None,
            overflowed: false,
            round_since: now,
            retry_at: None,
            rank: (class, since),
            job: true,
        });
        self.tick(now);
    }

    /// Someone logged in and reachable serves `queue` (busy or paused counts).
    pub fn is_staffed(&self, queue: &str) -> bool {
        self.staffed(queue)
    }

    /// Whether an operator's phone rings for `call` now.
    pub fn is_ringing(&self, call: CallRef) -> bool {
        self.agents.iter().any(|a| a.ringing_for(call))
    }

    /// Whether `call` waits in the queue (ringing or not).
    pub fn is_waiting(&self, call: CallRef) -> bool {
        self.calls.iter().any(|c| c.call == call)
    }

    /// Puts `w` behind every waiting call of the same or a lower rank.
    pub(super) fn insert_ranked(&mut self, w: Waiting) {
        let at = self
            .calls
            .iter()
            .rposition(|c| c.rank <= w.rank)
            .map_or(0, |i| i + 1);
        self.calls.insert(at, w);
    }
}
