//! The outbox worker: the send loop over the store, the outbox core and the adapters, and
//! the thread it runs on.
//!
//! It lives in the driver because it does I/O on every step (SQLite reads and commits,
//! gateway and SMTP calls, the form file for attachments) and owns a clock; the decisions
//! it makes are the outbox core's ([`crate::notify::outbox`]), which stays pure. Keeping it
//! here also keeps `notify` below `store`: the store uses the outbox's types, and nothing in
//! `notify` uses the store.
//!
//! [`spawn`] starts the loop on a thread of its own (with its own current-thread runtime,
//! where the pooled SMTP connections live), so a slow fsync or a slow gateway delays only
//! other messages, never the async threads that pace RTP:
//!
//! ```text
//!   loop {
//!       worker.run_due(&store, &transports, &clock).await?;   // send what is due
//!       sleep until worker.poll_timeout(), or until woken by a new enqueue
//!   }
//! ```
//!
//! Ordering that makes "never lost, never twice where the gateway can tell" hold:
//! 1. the caller's row is committed before the caller is told "elküldtük";
//! 2. `queued → sending` is committed before the adapter is called, so after a crash the
//!    row is found in `sending` and retried with its idempotency key (at least once);
//! 3. the outcome is committed right after the adapter answers.
//!
//! Rows carry Unix milliseconds (they outlive the process); the outbox core runs on
//! `Instant`s. Both come from the caller's clock, read once per step, and are converted
//! here: `due_instant = now + max(0, due_ms − now_ms)`. [`Worker::run_due`] takes that
//! clock as an argument, so tests run it in virtual time.
//!
//! Shutdown: the thread is not joined. Whatever it was doing when the process exits is
//! exactly the crash case the store is built for: a row left `sending` is sent again with
//! its idempotency key after the next start.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn};

use crate::notify::Channel;
use crate::notify::catalog::LiveCatalog;
use crate::notify::email::{EmailAttachment, EmailSender, SmtpConfig};
use crate::notify::outbox::{Event, Message, Outbox, Outcome, RetryPolicy, State};
use crate::notify::sms::{Sms, SmsSender};
use crate::store::{Row, Store, StoreError};

/// Sends one stored message.
pub trait Deliver {
    fn deliver(&self, row: &Row) -> impl Future<Output = Outcome> + Send;
}

/// The real adapters.
pub struct Transports {
    pub sms: Option<SmsSender>,
    pub email: Option<EmailSender>,
    pub catalog: LiveCatalog,
    /// Forms up to this size are attached (the same limit the body was written for).
    pub attach_limit_bytes: usize,
}

impl Transports {
    fn attachment(&self, row: &Row) -> Option<EmailAttachment> {
        if let Some(path) = &row.attachment {
            let path = std::path::Path::new(path);
            return Some(EmailAttachment {
                filename: path
                    .file_name()
                    .map_or_else(|| "uzenet.wav".into(), |n| n.to_string_lossy().into_owned()),
                content_type: "audio/wav".into(),
                bytes: std::fs::read(path).ok()?,
            });
        }
        let catalog = self.catalog.get();
        let file = catalog.get(row.form_id.as_deref()?)?.file.as_ref()?;
        let bytes = std::fs::read(file).ok()?;
        (bytes.len() <= self.attach_limit_bytes).then(|| EmailAttachment {
            filename: file.file_name().map_or_else(
                || "nyomtatvany.pdf".into(),
                |n| n.to_string_lossy().into_owned(),
            ),
            content_type: "application/pdf".into(),
            bytes,
        })
    }
}

impl Deliver for Transports {
    fn deliver(&self, row: &Row) -> impl Future<Output = Outcome> + Send {
        let sms = Sms {
            to: row.recipient.clone(),
            text: row.body.clone(),
            key: row.key.clone(),
        };
        let email = crate::notify::email::Email {
            to: row.recipient.clone(),
            subject: row.subject.clone().unwrap_or_default(),
            body: row.body.clone(),
            attachment: match row.channel {
                Channel::Email => self.attachment(row),
                Channel::Sms => None,
            },
            key: row.key.clone(),
        };
        let channel = row.channel;
        async move {
            match (channel, &self.sms, &self.email) {
                (Channel::Sms, Some(s), _) => s.send(&sms).await,
                (Channel::Email, _, Some(e)) => e.send(&email).await,
                (c, _, _) => Outcome::Transient {
                    reason: format!("no {} transport configured", c.as_str()),
                    retry_after: Some(Duration::from_secs(300)),
                },
            }
        }
    }
}

/// The outbox core plus what it has loaded.
#[derive(Debug)]
pub struct Worker {
    outbox: Outbox,
    loaded_up_to: u64,
}

fn instant_for(due_ms: Option<i64>, now: Instant, now_ms: i64) -> Option<Instant> {
    due_ms.map(|d| now + Duration::from_millis(d.saturating_sub(now_ms).max(0) as u64))
}

fn ms_for(due: Option<Instant>, now: Instant, now_ms: i64) -> Option<i64> {
    due.map(|d| {
        let ahead = d.saturating_duration_since(now).as_millis();
        now_ms.saturating_add(i64::try_from(ahead).unwrap_or(i64::MAX))
    })
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    // A panic while holding the lock leaves the connection usable (every write is its
    // own transaction), so a poisoned lock is taken over rather than propagated.
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Worker {
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        Self {
            outbox: Outbox::new(policy, seed),
            loaded_up_to: 0,
        }
    }

    /// When the next loaded message is due (new rows need a wake-up from the enqueuer).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outbox.poll_timeout()
    }

    fn persist(
        &mut self,
        store: &Mutex<Store>,
        now: Instant,
        now_ms: i64,
        out: &mut Vec<Event>,
    ) -> Result<(), StoreError> {
        let mut s = lock(store);
        while let Some(ev) = self.outbox.poll_event() {
            s.apply(&ev, ms_for(ev.due, now, now_ms), now_ms)?;
            out.push(ev);
        }
        Ok(())
    }

    /// Loads rows added since the last call (all pending rows the first time, including
    /// those a crash left in `sending`).
    pub fn load(
        &mut self,
        store: &Mutex<Store>,
        now: Instant,
        now_ms: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = lock(store).pending(self.loaded_up_to)?;
        for row in rows {
            self.loaded_up_to = self.loaded_up_to.max(row.id);
            self.outbox.insert(
                now,
                Message {
                    id: row.id,
                    key: row.key,
                    state: row.state,
                    attempts: row.attempts,
                    due: instant_for(row.due_ms, now, now_ms),
                    last_error: row.last_error,
                    provider_id: row.provider_id,
                },
            );
        }
        let mut events = Vec::new();
        self.persist(store, now, now_ms, &mut events)?;
        Ok(events)
    }

    /// Loads new rows and sends every message due, one after another. `clock` gives the
    /// current `(Instant, Unix ms)` and is read before each step. Returns every state
    /// change it persisted (for logs and metrics).
    pub async fn run_due(
        &mut self,
        store: &Mutex<Store>,
        transports: &impl Deliver,
        clock: &impl Fn() -> (Instant, i64),
    ) -> Result<Vec<Event>, StoreError> {
        let (now, now_ms) = clock();
        let mut events = self.load(store, now, now_ms)?;
        self.outbox.handle_timeout(now);
        self.persist(store, now, now_ms, &mut events)?;
        while let Some(attempt) = self.outbox.poll_transmit() {
            let row = lock(store).get(attempt.id)?;
            let outcome = match row {
                Some(row) => transports.deliver(&row).await,
                None => Outcome::Permanent {
                    reason: "row vanished from the store".into(),
                },
            };
            let (now, now_ms) = clock();
            // A report that beat the answer already moved the message on; the late
            // outcome changes nothing.
            let _ = self.outbox.handle_outcome(now, attempt.id, outcome);
            self.persist(store, now, now_ms, &mut events)?;
        }
        Ok(events)
    }
}

fn log_event(ev: &Event) {
    // Reasons can quote the recipient (gateway and SMTP errors do): debug only; the admin
    // API shows them as `last_error`.
    debug!(id = ev.id, reason = ?ev.reason, "outbox {} → {}", ev.from, ev.to);
    match ev.to {
        State::Sent => info!(id = ev.id, attempts = ev.attempts, "message sent"),
        State::Failed => warn!(
            id = ev.id,
            attempts = ev.attempts,
            reason = %crate::pii::scrub(ev.reason.as_deref().unwrap_or("")),
            "message failed for good (see GET /api/outbox?state=failed)"
        ),
        // The reason, with addresses and numbers masked: "Connection refused" is what an
        // admin needs to see without opening the API.
        State::Queued if ev.from == State::Sending => warn!(
            id = ev.id,
            attempts = ev.attempts,
            reason = %crate::pii::scrub(ev.reason.as_deref().unwrap_or("")),
            "send attempt failed, will retry"
        ),
        _ => {}
    }
}

/// Starts the send loop on a thread of its own: run every due message, then sleep until
/// the next one is due or `wake` says a new row was committed.
pub(super) fn spawn(
    store: Arc<Mutex<Store>>,
    sms: Option<SmsSender>,
    smtp: Option<SmtpConfig>,
    catalog: LiveCatalog,
    attach_limit_bytes: usize,
    policy: RetryPolicy,
    wake: Arc<tokio::sync::Notify>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("outbox runtime: {e}"))?;
    let seed: u64 = rand::random();
    std::thread::Builder::new()
        .name("outbox".to_owned())
        .spawn(move || {
            rt.block_on(async move {
                // The pooled SMTP transport needs a runtime even to be built.
                let email = match smtp.as_ref().map(EmailSender::new).transpose() {
                    Ok(e) => e,
                    Err(e) => {
                        error!("SMTP setup: {e}; email stays queued");
                        None
                    }
                };
                let transports = Transports {
                    sms,
                    email,
                    catalog,
                    attach_limit_bytes,
                };
                let mut worker = Worker::new(policy, seed);
                let clock = || (Instant::now(), crate::clock::unix_ms());
                loop {
                    match worker.run_due(&store, &transports, &clock).await {
                        Ok(events) => events.iter().for_each(log_event),
                        Err(e) => {
                            error!("outbox: {e}");
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                    }
                    let due = worker.poll_timeout();
                    tokio::select! {
                        () = wake.notified() => {}
                        () = super::sleep_until(due) => {}
                    }
                }
            });
        })
        .map_err(|e| format!("cannot start the outbox thread: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::test_epoch;
    use crate::notify::outbox::State;
    use crate::store::NewMessage;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Scripted {
        answers: Mutex<Vec<Outcome>>,
        calls: AtomicUsize,
    }

    impl Deliver for Scripted {
        fn deliver(&self, _row: &Row) -> impl Future<Output = Outcome> + Send {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = lock_vec(&self.answers).remove(0);
            async move { next }
        }
    }

    fn lock_vec(m: &Mutex<Vec<Outcome>>) -> std::sync::MutexGuard<'_, Vec<Outcome>> {
        m.lock().expect("not poisoned")
    }

    /// The scripted deliveries are ready at once, so polling with a no-op waker is a
    /// complete executor here.
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn transient_twice_then_sent_in_virtual_time_sends_three_times_and_persists_sent() {
        let dir = std::env::temp_dir().join(format!("ugyelet-worker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let store = Mutex::new(Store::open(&dir.join("o.sqlite")).expect("open"));
        let new = NewMessage {
            key: "k".into(),
            channel: Channel::Sms,
            recipient: "+36301234567".into(),
            form_id: None,
            subject: None,
        };
        let id = lock(&store)
            .enqueue(&new, 1_000_000, |_| "t".into())
            .expect("enqueue")
            .id;
        let t503 = || Outcome::Transient {
            reason: "HTTP 503".into(),
            retry_after: None,
        };
        let d = Scripted {
            answers: Mutex::new(vec![
                t503(),
                t503(),
                Outcome::Sent {
                    provider_id: Some("P".into()),
                },
            ]),
            calls: AtomicUsize::new(0),
        };
        let t0 = test_epoch();
        let virt = Cell::new(0u64);
        let clock = || {
            (
                t0 + Duration::from_millis(virt.get()),
                1_000_000 + virt.get() as i64,
            )
        };
        let mut w = Worker::new(
            RetryPolicy {
                jitter: 0.0,
                ..RetryPolicy::default()
            },
            7,
        );
        for _ in 0..3 {
            block_on(w.run_due(&store, &d, &clock)).expect("run");
            if let Some(due) = w.poll_timeout() {
                let row = lock(&store).get(id).expect("get").expect("row");
                assert_eq!(row.state, State::Queued);
                assert_eq!(row.due_ms, Some(1_000_000 + (due - t0).as_millis() as i64));
                virt.set((due - t0).as_millis() as u64);
            }
        }
        assert_eq!(d.calls.load(Ordering::SeqCst), 3);
        let row = lock(&store).get(id).expect("get").expect("row");
        assert_eq!((row.state, row.attempts), (State::Sent, 3));
        assert_eq!(row.provider_id.as_deref(), Some("P"));
        assert_eq!(virt.get(), 10_000 + 20_000, "10 s then 20 s backoff");
        assert_eq!(w.poll_timeout(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
