//! Callbacks on the switchboard: the operator first, then the resident.
//!
//! ```text
//!   due job ─► Acd (ranked among callers) ─Ring─► Action::Ring "Visszahívás · +36 30 …"
//!   operator answers ─► Callbacks::calling ─► Action::Dial (INVITE to the resident via the
//!                       trunk; the driver reports dial_started / dial_failed)
//!   resident answers ─► Callbacks::finish(reached) ─► Action::Relay (the two legs' ports)
//!   resident: busy, no answer (ring_timeout ─► Action::Cancel), failure
//!                    ─► Callbacks::finish(…) ─► the operator's leg is hung up, wrap-up
//!   either side hangs up after the answer ─► the other gets BYE, the operator wrap-up
//! ```
//!
//! A job waits in the operator queue under an id no dialog has ([`job_ref`]: dialog ids
//! count up from 1, job ids are stored rows), so ring timeouts, rounds, misses and wrap-up
//! are the queue's own. Ringing the operator first means a resident never answers a call
//! that nobody is there to take. Jobs are offered only while the driver says callbacks may
//! go out ([`Switchboard::set_callbacks_open`]: the schedule is open and the trunk is
//! usable) and someone is signed in for the queue; closing takes back the jobs no phone
//! rings for yet.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{Action, Switchboard, TELEPHONE_EVENT_PT};
use crate::callback::{Callbacks, Job, JobId, Outcome, Priority};
use crate::pii::Pii;
use crate::sdp::offer_answer::{self, Codec, MediaSession, Negotiated};
use crate::sip::endpoint::DialogId;

/// Callback jobs wait in the queue under ids with this bit set.
const JOB_BIT: u64 = 1 << 62;

/// The queue's id for job `id`.
pub fn job_ref(id: JobId) -> DialogId {
    JOB_BIT | id
}

/// The job a queue id stands for, if it is one.
pub fn job_of(call: DialogId) -> Option<JobId> {
    (call & JOB_BIT != 0).then_some(call & !JOB_BIT)
}

/// Call a callback job's resident through the trunk: bind an RTP port, send the INVITE
/// with the offer [`Dial::offer`] makes, report with [`Switchboard::dial_started`] or
/// [`Switchboard::dial_failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub job: JobId,
    /// E.164.
    pub number: String,
    /// The operator's leg, already answered.
    pub operator_leg: DialogId,
    /// The operator leg's codec first, so no transcoding is needed.
    pub codecs: [Codec; 2],
}

impl Dial {
    /// The SDP offer for the resident's leg.
    pub fn offer(&self, media: &MediaSession) -> Vec<u8> {
        media.offer(&self.codecs, TELEPHONE_EVENT_PT)
    }
}

/// The callback settings the switchboard needs besides the job core's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskSettings {
    /// The queue whose operators make callbacks.
    pub queue: String,
    pub priority: Priority,
    /// How long the resident's phone rings.
    pub ring_timeout: Duration,
}

/// The resident's leg of a callback.
struct Resident {
    leg: DialogId,
    media: MediaSession,
    /// When the ringing is given up.
    until: Instant,
    answered: bool,
    /// We cancelled the INVITE: its 487 means this.
    cancelled: Option<Outcome>,
}

/// A callback an operator has answered.
struct Active {
    agent: String,
    number: String,
    operator_leg: DialogId,
    operator: Negotiated,
    /// The operator hung up before the resident answered.
    operator_gone: bool,
    resident: Option<Resident>,
    since: Instant,
}

/// The switchboard's callback state.
pub(super) struct Desk {
    pub(super) core: Callbacks,
    settings: DeskSettings,
    open: bool,
    active: HashMap<JobId, Active>,
    /// Resident legs → their job.
    residents: HashMap<DialogId, JobId>,
}

/// An operator on a callback, for the board.
pub(super) struct OnCallback<'a> {
    pub(super) job: JobId,
    pub(super) agent: &'a str,
    pub(super) number: &'a str,
    pub(super) since: Instant,
}

impl Desk {
    pub(super) fn on_callbacks(&self) -> impl Iterator<Item = OnCallback<'_>> {
        self.active.iter().map(|(&job, a)| OnCallback {
            job,
            agent: &a.agent,
            number: &a.number,
            since: a.since,
        })
    }
}

impl Switchboard {
    /// Makes callbacks: `core` holds the jobs (restored from the store). Closed until
    /// [`Switchboard::set_callbacks_open`].
    pub fn enable_callbacks(&mut self, core: Callbacks, settings: DeskSettings) {
        self.callbacks = Some(Desk {
            core,
            settings,
            open: false,
            active: HashMap::new(),
            residents: HashMap::new(),
        });
    }

    /// The job core, when callbacks are made.
    pub fn callbacks(&self) -> Option<&Callbacks> {
        self.callbacks.as_ref().map(|d| &d.core)
    }

    /// A job the store just wrote (a new request, or one merged into an open job).
    pub fn callback_request(&mut self, now: Instant, job: Job) {
        if let Some(d) = &mut self.callbacks {
            info!(job = job.id, number = %Pii(&job.number), requests = job.requests, reason = %job.reason, "callback requested");
            d.core.handle_request(now, job);
            self.changed = true;
            self.decide(now);
        }
    }

    /// Whether callbacks may go out now (the schedule is open and the trunk usable).
    /// Closing takes back the jobs no operator's phone rings for yet.
    pub fn set_callbacks_open(&mut self, now: Instant, open: bool) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        if d.open == open {
            return;
        }
        d.open = open;
        info!(
            open,
            "callbacks {}",
            if open { "may go out" } else { "paused" }
        );
        if !open {
            let waiting: Vec<JobId> = d
                .core
                .jobs()
                .map(|j| j.id)
                .filter(|&id| self.acd.is_waiting(job_ref(id)) && !self.acd.is_ringing(job_ref(id)))
                .collect();
            for id in waiting {
                self.acd.handle_abandon(now, job_ref(id));
                d.core.withdrawn(id);
            }
        }
        self.decide(now);
    }

    /// An operator withdraws a waiting job (not one being called). `false` if it is not
    /// waiting here.
    pub fn cancel_callback(&mut self, now: Instant, id: JobId) -> bool {
        let Some(d) = &mut self.callbacks else {
            return false;
        };
        let r = job_ref(id);
        if self.acd.is_ringing(r) {
            return false;
        }
        if self.acd.is_waiting(r) {
            self.acd.handle_abandon(now, r);
            d.core.withdrawn(id);
        }
        let done = d.core.cancel(now, id);
        self.decide(now);
        done
    }

    /// The next job change to store.
    #[must_use]
    pub fn poll_callback_save(&mut self) -> Option<Job> {
        self.callbacks.as_mut().and_then(|d| d.core.poll_save())
    }

    /// The driver sent the INVITE for `dial`: `leg` is the resident's dialog.
    pub fn dial_started(&mut self, now: Instant, dial: &Dial, leg: DialogId, media: MediaSession) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        let until = now + d.settings.ring_timeout;
        if let Some(a) = d.active.get_mut(&dial.job) {
            info!(job = dial.job, leg, number = %Pii(&dial.number), "calling the resident back");
            a.resident = Some(Resident {
                leg,
                media,
                until,
                answered: false,
                cancelled: None,
            });
            d.residents.insert(leg, dial.job);
        }
    }

    /// The driver could not call (no trunk address, no RTP port): the attempt failed.
    pub fn dial_failed(&mut self, now: Instant, dial: &Dial, why: &str) {
        warn!(job = dial.job, "cannot call the resident back: {why}");
        self.end_attempt(now, dial.job, Outcome::Failed, None);
    }

    /// Whether `leg` is a callback's resident leg.
    pub(super) fn is_resident(&self, leg: DialogId) -> bool {
        self.callbacks
            .as_ref()
            .is_some_and(|d| d.residents.contains_key(&leg))
    }

    /// Offers the due jobs to the queue while callbacks may go out and someone is signed
    /// in for it.
    pub(super) fn offer_callbacks(&mut self, now: Instant) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        if !d.open || !self.acd.is_staffed(&d.settings.queue) {
            return;
        }
        let class = d.settings.priority.class();
        for id in d.core.due(now) {
            let Some(job) = d.core.get(id) else { continue };
            let since = d.core.instant(job.due_ms);
            d.core.offered(id);
            self.acd
                .handle_enqueue_job(now, job_ref(id), &d.settings.queue, class, since);
            self.changed = true;
        }
    }

    /// The queue gave a job back (nobody signed in, the longest wait passed).
    pub(super) fn callback_withdrawn(&mut self, call: DialogId) {
        if let (Some(d), Some(job)) = (&mut self.callbacks, job_of(call)) {
            d.core.withdrawn(job);
        }
    }

    /// The number and the topic an operator's phone shows for a job's ring.
    pub(super) fn callback_caller(&self, job: JobId) -> Option<(String, String)> {
        let j = self.callbacks.as_ref()?.core.get(job)?;
        Some((j.number.clone(), "Visszahívás".to_owned()))
    }

    /// The operator answered a job's ring (the queue gave it to them): call the resident.
    pub(super) fn callback_operator_answered(
        &mut self,
        now: Instant,
        leg: DialogId,
        job: JobId,
        agent: String,
        negotiated: Negotiated,
    ) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        let Some(number) = d.core.get(job).map(|j| j.number.clone()) else {
            // The job is gone (cannot happen while it was offered): nothing to call.
            self.drop_leg(leg, Action::Hangup { leg });
            self.acd.handle_call_ended(now, &agent);
            return;
        };
        info!(job, leg, operator = %agent, "operator answered a callback");
        d.core.calling(now, job, &agent);
        let other = match negotiated.codec {
            Codec::Pcma => Codec::Pcmu,
            Codec::Pcmu => Codec::Pcma,
        };
        let dial = Dial {
            job,
            number: number.clone(),
            operator_leg: leg,
            codecs: [negotiated.codec, other],
        };
        d.active.insert(
            job,
            Active {
                agent,
                number,
                operator_leg: leg,
                operator: negotiated,
                operator_gone: false,
                resident: None,
                since: now,
            },
        );
        self.changed = true;
        self.actions.push_back(Action::Dial(dial));
    }

    /// The resident answered: the attempt reached them, and the legs are relayed.
    pub(super) fn resident_answered(&mut self, now: Instant, leg: DialogId, sdp: &[u8]) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        let Some(&job) = d.residents.get(&leg) else {
            return;
        };
        let negotiated = match offer_answer::accept_answer(sdp) {
            Ok(n) => n,
            Err(e) => {
                warn!(job, "the resident's answer is unusable: {e}");
                self.actions.push_back(Action::Hangup { leg });
                self.end_attempt(now, job, Outcome::Failed, Some(200));
                return;
            }
        };
        let Some(a) = d.active.get_mut(&job) else {
            return;
        };
        if a.operator_gone {
            // The operator left as the resident answered: nobody to talk to.
            self.actions.push_back(Action::Hangup { leg });
            self.end_attempt(now, job, Outcome::NoAnswer, Some(200));
            return;
        }
        if let Some(r) = &mut a.resident {
            r.answered = true;
        }
        info!(job, leg, operator = %a.agent, "resident reached: bridged");
        self.actions.push_back(Action::Relay {
            job,
            operator_leg: a.operator_leg,
            resident_leg: leg,
            operator: a.operator,
            resident: negotiated,
        });
        d.core.finish(now, job, Outcome::Reached, Some(200));
        self.changed = true;
    }

    /// The resident's INVITE failed (or our CANCEL of it took effect).
    pub(super) fn resident_failed(&mut self, now: Instant, leg: DialogId, status: u16) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        let Some(&job) = d.residents.get(&leg) else {
            return;
        };
        let cancelled = d
            .active
            .get(&job)
            .and_then(|a| a.resident.as_ref())
            .and_then(|r| r.cancelled);
        let outcome = match (status, cancelled) {
            (487, Some(why)) => why,
            _ => Outcome::of_status(status),
        };
        info!(
            job,
            status,
            outcome = outcome.as_str(),
            "the resident was not reached"
        );
        self.end_attempt(now, job, outcome, Some(status));
    }

    /// The resident hung up after answering.
    pub(super) fn resident_ended(&mut self, now: Instant, leg: DialogId) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        let Some(job) = d.residents.remove(&leg) else {
            return;
        };
        info!(job, "the resident hung up");
        self.actions.push_back(Action::Release { leg });
        if let Some(a) = d.active.remove(&job) {
            self.end_operator_leg(now, a.operator_leg, &a.agent);
        }
        self.changed = true;
        self.decide(now);
    }

    /// The operator's leg of `job` ended (the queue already knows): the resident's leg
    /// ends too, and an attempt still ringing counts as unanswered.
    pub(super) fn callback_operator_gone(&mut self, now: Instant, job: JobId) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        let Some(a) = d.active.get_mut(&job) else {
            return;
        };
        a.operator_gone = true;
        match &mut a.resident {
            Some(r) if r.answered => {
                let leg = r.leg;
                d.active.remove(&job);
                d.residents.remove(&leg);
                self.actions.push_back(Action::Hangup { leg });
                self.actions.push_back(Action::Release { leg });
            }
            Some(r) => {
                info!(job, "the operator hung up before the resident answered");
                r.cancelled = Some(Outcome::NoAnswer);
                self.actions.push_back(Action::Cancel { leg: r.leg });
            }
            None => {
                d.active.remove(&job);
                d.core.finish(now, job, Outcome::NoAnswer, None);
            }
        }
        self.changed = true;
    }

    /// A re-INVITE on a callback leg (hold, resume): answered from its own media, and the
    /// relay told.
    pub(super) fn callback_reinvite(&mut self, leg: DialogId, offer: &[u8]) -> bool {
        let Some(d) = &mut self.callbacks else {
            return false;
        };
        let media = match d.residents.get(&leg).and_then(|j| d.active.get_mut(j)) {
            Some(a) => match &mut a.resident {
                Some(r) => &mut r.media,
                None => return false,
            },
            None => match self.legs.get_mut(&leg) {
                Some(l) if job_of(l.call).is_some() => &mut l.media,
                _ => return false,
            },
        };
        match media.answer_again(offer) {
            Ok((negotiated, sdp)) => {
                self.actions.push_back(Action::Answer { leg, sdp });
                self.actions
                    .push_back(Action::RelayMedia { leg, negotiated });
            }
            Err(e) => self.actions.push_back(Action::Reject {
                leg,
                status: e.status(),
            }),
        }
        true
    }

    /// Resident rings that ran out: CANCEL, counted as unanswered when the 487 comes.
    pub(super) fn callback_timeouts(&mut self, now: Instant) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        for a in d.active.values_mut() {
            if let Some(r) = &mut a.resident
                && !r.answered
                && r.cancelled.is_none()
                && r.until <= now
            {
                r.cancelled = Some(Outcome::NoAnswer);
                self.actions.push_back(Action::Cancel { leg: r.leg });
            }
        }
    }

    /// The next job due or resident ring running out.
    pub(super) fn callback_timeout(&self) -> Option<Instant> {
        let d = self.callbacks.as_ref()?;
        let rings = d.active.values().filter_map(|a| {
            a.resident
                .as_ref()
                .filter(|r| !r.answered && r.cancelled.is_none())
                .map(|r| r.until)
        });
        rings.chain(d.core.poll_timeout()).min()
    }

    /// Whether `leg` is an answered operator leg of a callback (it needs BYE, not CANCEL).
    pub(super) fn is_callback_operator(&self, leg: DialogId) -> bool {
        self.callbacks
            .as_ref()
            .is_some_and(|d| d.active.values().any(|a| a.operator_leg == leg))
    }

    /// The daemon stops: resident legs end (CANCEL or BYE). Returns how many.
    pub(super) fn callback_shutdown(&mut self, now: Instant) -> usize {
        let Some(d) = &mut self.callbacks else {
            return 0;
        };
        let mut n = 0;
        for (job, a) in d.active.drain() {
            if let Some(r) = a.resident {
                d.residents.remove(&r.leg);
                n += 1;
                let end = if r.answered {
                    Action::Hangup { leg: r.leg }
                } else {
                    Action::Cancel { leg: r.leg }
                };
                self.actions.push_back(end);
                self.actions.push_back(Action::Release { leg: r.leg });
                if !r.answered {
                    d.core.finish(now, job, Outcome::Failed, None);
                }
            }
        }
        n
    }

    /// Ends an attempt that did not reach the resident: the job takes the outcome, the
    /// resident's leg is released and the operator's hung up (wrap-up follows).
    fn end_attempt(&mut self, now: Instant, job: JobId, outcome: Outcome, status: Option<u16>) {
        let Some(d) = &mut self.callbacks else {
            return;
        };
        d.core.finish(now, job, outcome, status);
        if let Some(a) = d.active.remove(&job) {
            if let Some(r) = a.resident {
                d.residents.remove(&r.leg);
                self.actions.push_back(Action::Release { leg: r.leg });
            }
            self.end_operator_leg(now, a.operator_leg, &a.agent);
        }
        self.changed = true;
        self.decide(now);
    }

    /// Hangs up a job's operator leg if it is still ours, and frees the operator.
    fn end_operator_leg(&mut self, now: Instant, leg: DialogId, agent: &str) {
        if self.legs.remove(&leg).is_some() {
            self.actions.push_back(Action::Hangup { leg });
            self.actions.push_back(Action::Release { leg });
            self.acd.handle_call_ended(now, agent);
        }
    }
}
