//! Which call a form an operator sends belongs to, so that the call's record lists it.
//!
//! Two ways to say it:
//!
//! - **By call id** (the admin API's `POST /api/calls/{id}/forms`): the call in progress
//!   with that id, or one that ended at most [`LATE_FORM_WINDOW`] ago.
//! - **By operator** (the console's "send a form" on the duty page, which names no call):
//!   the call last bridged to that operator's phone, while it lasts or for
//!   [`LATE_FORM_WINDOW`] after it ended. That is the call the page shows as "Jelenlegi
//!   hívásom" and, once the caller hung up, the one the operator is wrapping up; taking the
//!   next call moves the tie to it.
//!
//! Not by the recipient's number: an operator often sends to an email address, or to a
//! relative's mobile the caller dictates, and a hidden caller has no number to match.
//!
//! A value like the other cores: the driver reports calls starting, operators answering
//! and calls ending with `now`, and asks. It remembers live calls and those that ended
//! within the window, nothing older.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long after a call ended a form an operator sends still goes into its record.
pub const LATE_FORM_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The call a form belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiedCall {
    /// The call's id in the daemon (`/api/calls`, the operators' board).
    pub id: u64,
    /// The SIP Call-ID of the caller's leg: the call record's `call_id`.
    pub sip_call_id: String,
    /// The call has ended: its record is stored already (or about to be).
    pub ended: bool,
}

#[derive(Debug)]
struct Entry {
    sip_call_id: String,
    ended: Option<Instant>,
}

/// Live and recently ended calls, and which operator took which.
#[derive(Debug, Default)]
pub struct CallTies {
    calls: BTreeMap<u64, Entry>,
    /// Operator → the call last bridged to their phone.
    operators: HashMap<String, u64>,
    /// Ended calls in the order they ended, to forget them once the window has passed.
    ended: VecDeque<(Instant, u64)>,
}

impl CallTies {
    pub fn new() -> CallTies {
        CallTies::default()
    }

    /// A call started.
    pub fn started(&mut self, id: u64, sip_call_id: &str) {
        self.calls.insert(
            id,
            Entry {
                sip_call_id: sip_call_id.to_owned(),
                ended: None,
            },
        );
    }

    /// An operator answered the call.
    pub fn bridged(&mut self, id: u64, operator: &str) {
        if self.calls.contains_key(&id) {
            self.operators.insert(operator.to_owned(), id);
        }
    }

    /// The call ended; calls that ended more than [`LATE_FORM_WINDOW`] ago are forgotten.
    pub fn ended(&mut self, id: u64, now: Instant) {
        if let Some(e) = self.calls.get_mut(&id)
            && e.ended.is_none()
        {
            e.ended = Some(now);
            self.ended.push_back((now, id));
        }
        while let Some(&(at, old)) = self.ended.front() {
            if now.saturating_duration_since(at) <= LATE_FORM_WINDOW {
                break;
            }
            self.ended.pop_front();
            self.calls.remove(&old);
            self.operators.retain(|_, call| *call != old);
        }
    }

    /// The call with this id: in progress, or ended within the window.
    pub fn call(&self, id: u64, now: Instant) -> Option<TiedCall> {
        let e = self.calls.get(&id)?;
        if let Some(at) = e.ended
            && now.saturating_duration_since(at) > LATE_FORM_WINDOW
        {
            return None;
        }
        Some(TiedCall {
            id,
            sip_call_id: e.sip_call_id.clone(),
            ended: e.ended.is_some(),
        })
    }

    /// The call last bridged to `operator`: in progress, or ended within the window.
    pub fn operators_call(&self, operator: &str, now: Instant) -> Option<TiedCall> {
        self.call(*self.operators.get(operator)?, now)
    }

    /// How many calls are remembered (live and recently ended).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn tied(id: u64, sip: &str, ended: bool) -> Option<TiedCall> {
        Some(TiedCall {
            id,
            sip_call_id: sip.to_owned(),
            ended,
        })
    }

    #[test]
    fn a_call_named_by_id_is_found_while_it_lasts_and_for_the_window_after_it_ended() {
        let t0 = crate::clock::test_epoch();
        let mut t = CallTies::new();
        t.started(7, "a@pbx");
        assert_eq!(t.call(7, t0), tied(7, "a@pbx", false));
        assert_eq!(t.call(8, t0), None, "unknown id");
        t.ended(7, t0 + MINUTE);
        assert_eq!(
            t.call(7, t0 + MINUTE + LATE_FORM_WINDOW),
            tied(7, "a@pbx", true)
        );
        assert_eq!(
            t.call(7, t0 + MINUTE + LATE_FORM_WINDOW + Duration::from_millis(1)),
            None,
            "too late"
        );
    }

    #[test]
    fn an_operator_s_form_goes_to_the_call_on_their_phone_then_to_the_one_they_wrap_up() {
        let t0 = crate::clock::test_epoch();
        let mut t = CallTies::new();
        assert_eq!(t.operators_call("anna", t0), None, "no call taken yet");
        t.started(1, "one@pbx");
        t.started(2, "two@pbx");
        assert_eq!(
            t.operators_call("anna", t0),
            None,
            "waiting calls are nobody's"
        );
        t.bridged(1, "anna");
        t.bridged(2, "bela");
        assert_eq!(t.operators_call("anna", t0), tied(1, "one@pbx", false));
        assert_eq!(t.operators_call("bela", t0), tied(2, "two@pbx", false));
        // The caller hangs up: anna's form in wrap-up still goes to that call.
        t.ended(1, t0 + MINUTE);
        assert_eq!(
            t.operators_call("anna", t0 + 5 * MINUTE),
            tied(1, "one@pbx", true)
        );
        // Her next call takes over.
        t.started(3, "three@pbx");
        t.bridged(3, "anna");
        assert_eq!(
            t.operators_call("anna", t0 + 6 * MINUTE),
            tied(3, "three@pbx", false)
        );
        // Long after the call ended, a form is nobody's call's.
        t.ended(3, t0 + 7 * MINUTE);
        assert_eq!(
            t.operators_call("anna", t0 + 7 * MINUTE + LATE_FORM_WINDOW + MINUTE),
            None
        );
    }

    #[test]
    fn calls_past_the_window_are_forgotten_so_memory_stays_bounded() {
        let t0 = crate::clock::test_epoch();
        let mut t = CallTies::new();
        for id in 0..1000 {
            t.started(id, &format!("{id}@pbx"));
            t.bridged(id, "anna");
            t.ended(id, t0 + Duration::from_millis(id));
        }
        assert_eq!(t.len(), 1000, "all within the window");
        t.started(5000, "live@pbx");
        t.ended(
            4000,
            t0 + Duration::from_millis(999) + LATE_FORM_WINDOW + Duration::from_millis(1),
        );
        assert_eq!(t.len(), 1, "only the live call is left");
        assert_eq!(t.operators.len(), 0);
        assert!(t.call(5000, t0).is_some());
    }
}
