//! The three latency histograms: queue wait, call set-up, relay delay.
//!
//! The SIP task reports the moments (`now` passed in, as everywhere in the cores); the
//! pairs are matched here by the call's dialog id, in two small maps that only hold calls
//! in progress (an entry goes when its call does). The media receiver reports relay delays
//! directly as durations it measured.
//!
//! ```text
//!   queue wait:  Enqueue ──► Bridge (answered) | LeaveQueue, queue gave up, CallGone (left)
//!   set-up:      INVITE accepted ──► 200 OK flushed to the wire
//!   relay:       packet on one leg's socket (kernel time stamp) ──► copy sent on the other
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::histogram::{self, Histogram, QUEUE_WAIT_BOUNDS, RELAY_BOUNDS, SETUP_BOUNDS};

/// Calls in progress kept at most in each map: a leak (a call whose end was never reported)
/// cannot grow without bound, it only stops new measurements.
const MAX_PENDING: usize = 20_000;

#[derive(Default)]
struct Pending {
    invited: HashMap<u64, Instant>,
    queued: HashMap<u64, Instant>,
}

/// The histograms and the moments waiting for their pair.
pub struct Timings {
    setup: Histogram,
    queue_answered: Histogram,
    queue_left: Histogram,
    relay: Arc<Histogram>,
    pending: Mutex<Pending>,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            setup: Histogram::new(SETUP_BOUNDS),
            queue_answered: Histogram::new(QUEUE_WAIT_BOUNDS),
            queue_left: Histogram::new(QUEUE_WAIT_BOUNDS),
            relay: Arc::new(Histogram::new(RELAY_BOUNDS)),
            pending: Mutex::new(Pending::default()),
        }
    }
}

impl Timings {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Two maps of instants: consistent after every statement.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An INVITE to the line was accepted (it will be answered).
    pub fn invite_received(&self, call: u64, now: Instant) {
        let mut p = self.pending();
        if p.invited.len() < MAX_PENDING {
            p.invited.insert(call, now);
        }
    }

    /// The call's 200 OK has been handed to the socket.
    pub fn answer_sent(&self, call: u64, now: Instant) {
        if let Some(t) = self.pending().invited.remove(&call) {
            self.setup.observe(now.saturating_duration_since(t));
        }
    }

    /// The caller entered an operator queue.
    pub fn queue_entered(&self, call: u64, now: Instant) {
        let mut p = self.pending();
        if p.queued.len() < MAX_PENDING {
            p.queued.insert(call, now);
        }
    }

    /// The caller is out of the queue: an operator answered (`answered`), or the caller
    /// left (hung up, pressed a key, or the queue gave up). Only the first report of a
    /// stay counts.
    pub fn queue_left(&self, call: u64, now: Instant, answered: bool) {
        if let Some(t) = self.pending().queued.remove(&call) {
            let h = if answered {
                &self.queue_answered
            } else {
                &self.queue_left
            };
            h.observe(now.saturating_duration_since(t));
        }
    }

    /// The call is over: a caller still queued left; an unanswered INVITE is forgotten.
    pub fn call_gone(&self, call: u64, now: Instant) {
        self.queue_left(call, now, false);
        self.pending().invited.remove(&call);
    }

    /// One relayed packet's time in the daemon.
    pub fn relayed(&self, delay: Duration) {
        self.relay.observe(delay);
    }

    /// The relay-delay histogram, for the media receiver thread to observe into directly.
    pub fn relay_histogram(&self) -> Arc<Histogram> {
        Arc::clone(&self.relay)
    }

    /// Observations so far: set-up, queue (answered + left), relay.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.setup.count(),
            self.queue_answered.count() + self.queue_left.count(),
            self.relay.count(),
        )
    }

    /// The three histograms in the text format.
    pub fn render(&self, out: &mut String) {
        let name = "ugyelet_queue_wait_seconds";
        histogram::header(
            out,
            name,
            "Time from entering an operator queue to an operator answering (end \
             answered) or the caller leaving it (end left).",
        );
        self.queue_answered
            .render_samples(out, name, "end=\"answered\"");
        self.queue_left.render_samples(out, name, "end=\"left\"");
        let name = "ugyelet_call_setup_seconds";
        histogram::header(
            out,
            name,
            "Time from an accepted INVITE to its 200 OK leaving (includes call.answer_delay_ms).",
        );
        self.setup.render_samples(out, name, "");
        let name = "ugyelet_relay_delay_seconds";
        histogram::header(
            out,
            name,
            "Time a relayed RTP packet spends in the daemon, from the kernel's receive time \
             stamp to the send on the other leg (one packet in 16 sampled).",
        );
        self.relay.render_samples(out, name, "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_wait_ends_at_the_first_report_and_the_outcome_picks_the_series() {
        let t = Timings::default();
        let t0 = crate::clock::test_epoch();
        t.queue_entered(7, t0);
        t.queue_left(7, t0 + Duration::from_secs(12), true);
        // The call ending later is not a second stay.
        t.call_gone(7, t0 + Duration::from_secs(90));
        t.queue_entered(8, t0);
        t.call_gone(8, t0 + Duration::from_secs(3));
        let mut out = String::new();
        t.render(&mut out);
        assert!(
            out.contains(
                "ugyelet_queue_wait_seconds_bucket{end=\"answered\",le=\"10\"} 0\n\
             ugyelet_queue_wait_seconds_bucket{end=\"answered\",le=\"15\"} 1\n"
            ),
            "{out}"
        );
        assert!(out.contains("ugyelet_queue_wait_seconds_sum{end=\"answered\"} 12\n"));
        assert!(out.contains("ugyelet_queue_wait_seconds_sum{end=\"left\"} 3\n"));
        assert_eq!(t.counts(), (0, 2, 0));
    }

    #[test]
    fn set_up_is_measured_only_for_answered_invites() {
        let t = Timings::default();
        let t0 = crate::clock::test_epoch();
        t.invite_received(1, t0);
        t.answer_sent(1, t0 + Duration::from_millis(520));
        t.invite_received(2, t0);
        t.call_gone(2, t0 + Duration::from_secs(1));
        t.answer_sent(2, t0 + Duration::from_secs(2));
        let mut out = String::new();
        t.render(&mut out);
        assert!(out.contains("ugyelet_call_setup_seconds_bucket{le=\"0.5\"} 0\n"));
        assert!(out.contains("ugyelet_call_setup_seconds_bucket{le=\"0.55\"} 1\n"));
        assert!(out.contains("ugyelet_call_setup_seconds_count 1\n"));
    }
}
