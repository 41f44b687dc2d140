//! Where the SIP task tells the latency histograms (`metrics::timing`) what happened: a
//! part of the SIP task's impl, kept apart so its loop only gains one call per kind of
//! input.

use std::time::Instant;

use super::super::messages::ToSip;
use super::SipTask;
use crate::call::{CallCommand, QueueNews};
use crate::switchboard::Action;

impl SipTask {
    /// A message from a call: entering or leaving the queue, or the call's end.
    pub(super) fn time_message(&self, now: Instant, msg: &ToSip) {
        let t = &self.shared.metrics.timings;
        match msg {
            ToSip::Command(call, CallCommand::Enqueue { .. }) => t.queue_entered(*call, now),
            ToSip::Command(call, CallCommand::LeaveQueue) => t.queue_left(*call, now, false),
            ToSip::CallGone(call) => t.call_gone(*call, now),
            _ => {}
        }
    }

    /// A switchboard action: an operator answered a queued caller, or the queue gave the
    /// caller back to the plan (nobody logged in, waited too long).
    pub(super) fn time_action(&self, now: Instant, action: &Action) {
        let t = &self.shared.metrics.timings;
        match action {
            Action::Bridge { call, .. } => t.queue_left(*call, now, true),
            Action::Tell {
                call,
                news: QueueNews::Left(_),
            } => t.queue_left(*call, now, false),
            _ => {}
        }
    }
}
