//! Callback jobs: residents the line calls back through the trunk, as a sans-IO core.
//!
//! A job is a number to call, not a call: however often a resident asked (a key in the
//! queue, a hang-up while waiting, a message without words, an operator in the console),
//! there is one open job per number, and it keeps how many times they asked. The store
//! makes that so (a unique index over open jobs' numbers) and hands every new or merged job
//! in with [`Callbacks::handle_request`]; this core decides *when* each job is tried and
//! what an attempt's outcome does to it:
//!
//! ```text
//!   request ──► waiting ── due, operator free ──► offered ── operator answers ──► calling
//!                  ▲  ▲                              │                              │
//!                  │  └──── withdrawn (no operator, ─┘                              │
//!                  │        longest wait, line closed)                              │
//!                  │                                          resident answers      ▼
//!                  └── retry_interval later ◄── no answer, busy, failed ──┬── reached
//!                                                 (attempts left)         │
//!                                                                          └── gave_up
//! ```
//!
//! Only an attempt at the resident's phone counts: an operator who does not pick up the
//! callback ring costs the job nothing (the queue offers it to the next operator, as it
//! would a caller). Which operator takes a job and when, next to callers waiting on the
//! line, is the switchboard's business ([`Priority`] says how jobs rank among callers);
//! this core only says which jobs are due, in order.
//!
//! Times: jobs are durable, so their times are wall-clock Unix milliseconds; the core is
//! driven like every other with `now: Instant` and converts through the pair of clocks it
//! was created with (`epoch`, `epoch_ms`), so tests run in virtual time. Every change a
//! store must keep comes out of [`Callbacks::poll_save`], in order.
//!
//! Restarts: [`Callbacks::restore`] takes the store's open jobs. A job stored as `calling`
//! was interrupted in the middle of an attempt (a crash, or a stop): that attempt counts as
//! `failed` and the job waits its back-off like after any failure, so a resident is never
//! called twice in a row because the daemon restarted.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A job's id: its row in the store.
pub type JobId = u64;

/// How callback jobs rank among callers waiting for an operator (`callbacks.priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// A job waits until no caller on the line is waiting: whoever is on hold pays for
    /// every minute, a resident waiting for a callback does not.
    #[default]
    CallersFirst,
    /// Jobs and callers in one line, by when the job became due and the caller arrived.
    InOrder,
    /// Every due job before any caller on the line.
    CallbacksFirst,
}

impl Priority {
    /// The rank class of a job; callers on the line are class 1 (lower goes first).
    pub fn class(self) -> u8 {
        match self {
            Priority::CallbacksFirst => 0,
            Priority::InOrder => 1,
            Priority::CallersFirst => 2,
        }
    }
}

/// The core's settings (`[callbacks]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Attempts at the resident's phone before the job is given up (at least 1).
    pub attempts: u32,
    /// Wait after an unsuccessful attempt before the next one.
    pub retry_interval: Duration,
}

/// How an attempt at the resident's phone ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The resident answered and was put through to the operator.
    Reached,
    /// It rang out (our ring timeout, 408, 480), or the operator gave up first.
    NoAnswer,
    /// Busy or declined (486, 600, 603).
    Busy,
    /// Anything else: the number does not exist, the trunk refused or was down, the
    /// daemon stopped in the middle.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reached => "reached",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome a final SIP status to the INVITE to the resident means.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Reached,
            408 | 480 | 487 => Outcome::NoAnswer,
            486 | 600 | 603 => Outcome::Busy,
            _ => Outcome::Failed,
        }
    }
}

/// One attempt at the resident's phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When the INVITE to the resident went out (Unix ms).
    pub at_ms: i64,
    /// The operator who was on the line for it.
    pub operator: String,
    /// `None` while the attempt is in progress. Shown as `result`: "outcome" names a
    /// call's outcome (`crate::outcome`) everywhere else.
    #[serde(rename = "result")]
    pub outcome: Option<Outcome>,
    /// The final SIP status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its due time and a free operator (or offered to operators right now).
    Waiting,
    /// An attempt at the resident's phone is in progress.
    Calling,
    /// The resident was reached: done.
    Reached,
    /// Every attempt failed: done, for a person to look at.
    GaveUp,
    /// Withdrawn by an operator: done.
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Calling => "calling",
            JobState::Reached => "reached",
            JobState::GaveUp => "gave_up",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        [
            JobState::Waiting,
            JobState::Calling,
            JobState::Reached,
            JobState::GaveUp,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }

    /// Waiting or calling: the job still has something to do.
    pub fn is_open(self) -> bool {
        matches!(self, JobState::Waiting | JobState::Calling)
    }
}

/// A number to call back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub id: JobId,
    /// E.164.
    pub number: String,
    /// What first asked for it: `callback` (the plan's callback node), `abandoned_queue`,
    /// `no_operator`, `left_queue`, `silent_message`, `console`.
    pub reason: String,
    /// How many times the resident asked (calls and messages merged into this job).
    pub requests: u32,
    pub state: JobState,
    /// Not to be tried before this (Unix ms).
    pub due_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Oldest first.
    pub attempts: Vec<Attempt>,
}

/// The callback jobs of the line.
#[derive(Debug)]
pub struct Callbacks {
    settings: Settings,
    epoch: Instant,
    epoch_ms: i64,
    /// Open jobs only; a finished job is saved and forgotten.
    jobs: BTreeMap<JobId, Job>,
    /// Jobs handed to the switchboard and not yet given back or called.
    offered: HashSet<JobId>,
    saves: VecDeque<Job>,
    /// The latest `now` seen: due times up to it have been looked at.
    seen: Instant,
}

impl Callbacks {
    /// No jobs yet; `epoch` and `epoch_ms` are the same moment on the two clocks.
    pub fn new(settings: Settings, epoch: Instant, epoch_ms: i64) -> Callbacks {
        Callbacks {
            settings: Settings {
                attempts: settings.attempts.max(1),
                retry_interval: settings.retry_interval.min(YEAR),
            },
            epoch,
            epoch_ms,
            jobs: BTreeMap::new(),
            offered: HashSet::new(),
            saves: VecDeque::new(),
            seen: epoch,
        }
    }

    /// Wall-clock milliseconds at `now`.
    pub fn wall_ms(&self, now: Instant) -> i64 {
        if now >= self.epoch {
            let d = now.duration_since(self.epoch).as_millis();
            self.epoch_ms
                .saturating_add(i64::try_from(d).unwrap_or(i64::MAX))
        } else {
            let d = self.epoch.duration_since(now).as_millis();
            self.epoch_ms
                .saturating_sub(i64::try_from(d).unwrap_or(i64::MAX))
        }
    }

    /// The instant of wall-clock `ms` (the epoch for anything earlier than it can show).
    pub fn instant(&self, ms: i64) -> Instant {
        let delta = ms.saturating_sub(self.epoch_ms);
        let d = Duration::from_millis(delta.unsigned_abs()).min(YEAR);
        if delta >= 0 {
            self.epoch + d
        } else {
            self.epoch.checked_sub(d).unwrap_or(self.epoch)
        }
    }

    /// The store's open jobs after a start. A job stored as `calling` was cut off in the
    /// middle of an attempt: that attempt is `failed`, and the back-off applies.
    pub fn restore(&mut self, now: Instant, jobs: Vec<Job>) {
        for job in jobs {
            if !job.state.is_open() {
                continue;
            }
            let id = job.id;
            let interrupted = job.state == JobState::Calling;
            self.jobs.insert(id, job);
            if interrupted {
                self.finish(now, id, Outcome::Failed, None);
            }
        }
    }

    /// A job the store just wrote or merged a request into. A job known here keeps its
    /// state (an attempt may be in progress) and takes the new request count; a finished
    /// one is ignored.
    pub fn handle_request(&mut self, now: Instant, job: Job) {
        self.seen = self.seen.max(now);
        if !job.state.is_open() {
            return;
        }
        match self.jobs.get_mut(&job.id) {
            Some(known) => known.requests = known.requests.max(job.requests),
            None => {
                self.jobs.insert(job.id, job);
            }
        }
    }

    /// Due, waiting jobs not yet offered, earliest due first (then oldest).
    pub fn due(&mut self, now: Instant) -> Vec<JobId> {
        self.seen = self.seen.max(now);
        let now_ms = self.wall_ms(now);
        let mut due: Vec<(i64, JobId)> = self
            .jobs
            .values()
            .filter(|j| {
                j.state == JobState::Waiting && j.due_ms <= now_ms && !self.offered.contains(&j.id)
            })
            .map(|j| (j.due_ms, j.id))
            .collect();
        due.sort_unstable();
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// The switchboard offers the job to operators.
    pub fn offered(&mut self, id: JobId) {
        if self.jobs.contains_key(&id) {
            self.offered.insert(id);
        }
    }

    /// The switchboard gave the job back before anyone called the resident (no operator
    /// took it, the longest wait passed, the line closed): it is due again at once.
    pub fn withdrawn(&mut self, id: JobId) {
        self.offered.remove(&id);
    }

    /// An operator is on the line and the INVITE to the resident goes out now.
    pub fn calling(&mut self, now: Instant, id: JobId, operator: &str) {
        let at_ms = self.wall_ms(now);
        self.offered.remove(&id);
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.state = JobState::Calling;
        job.updated_ms = at_ms;
        job.attempts.push(Attempt {
            at_ms,
            operator: operator.to_owned(),
            outcome: None,
            status: None,
        });
        self.saves.push_back(job.clone());
    }

    /// The attempt in progress ended: reached is done; otherwise the next attempt is due
    /// `retry_interval` from now, or the job is given up when no attempts are left.
    pub fn finish(&mut self, now: Instant, id: JobId, outcome: Outcome, status: Option<u16>) {
        let now_ms = self.wall_ms(now);
        let max = self.settings.attempts as usize;
        let retry = self.settings.retry_interval;
        self.offered.remove(&id);
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        match job.attempts.last_mut() {
            Some(a) if a.outcome.is_none() => {
                a.outcome = Some(outcome);
                a.status = status;
            }
            // Not calling (should not happen): the outcome still counts as an attempt.
            _ => job.attempts.push(Attempt {
                at_ms: now_ms,
                operator: String::new(),
                outcome: Some(outcome),
                status,
            }),
        }
        job.updated_ms = now_ms;
        job.state = if outcome == Outcome::Reached {
            JobState::Reached
        } else if job.attempts.len() >= max {
            JobState::GaveUp
        } else {
            let wait = i64::try_from(retry.as_millis()).unwrap_or(i64::MAX);
            job.due_ms = now_ms.saturating_add(wait);
            JobState::Waiting
        };
        let saved = job.clone();
        if !saved.state.is_open() {
            self.jobs.remove(&id);
        }
        self.saves.push_back(saved);
    }

    /// An operator withdrew the job. `false` when it is not open (or an attempt is in
    /// progress: that one ends first).
    pub fn cancel(&mut self, now: Instant, id: JobId) -> bool {
        let now_ms = self.wall_ms(now);
        match self.jobs.get(&id) {
            Some(j) if j.state == JobState::Waiting && !self.offered.contains(&id) => {}
            _ => return false,
        }
        let Some(mut job) = self.jobs.remove(&id) else {
            return false;
        };
        job.state = JobState::Cancelled;
        job.updated_ms = now_ms;
        self.saves.push_back(job);
        true
    }

    /// When the next waiting job becomes due (jobs already due wait for an operator: the
    /// switchboard looks again whenever an operator's state changes).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let seen_ms = self.wall_ms(self.seen);
        self.jobs
            .values()
            .filter(|j| j.state == JobState::Waiting && j.due_ms > seen_ms)
            .map(|j| self.instant(j.due_ms))
            .min()
    }

    /// The next job change the store must keep, oldest first.
    #[must_use]
    pub fn poll_save(&mut self) -> Option<Job> {
        self.saves.pop_front()
    }

    /// An open job.
    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Open jobs, by id.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Durations are capped, so deadline arithmetic on `Instant` cannot overflow.
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

#[cfg(test)]
mod tests;
