//! The outbox table: every SMS and email, from queued to delivered or failed.
//!
//! Each state change is one transaction that checks the state it moves from
//! (`UPDATE … WHERE id = ? AND state = ?`), so two writers cannot both move a message and
//! delivery reports cannot move one backwards. After a crash, rows left in `sending` are
//! handed back by [`Store::pending`]; the outbox core queues them again with the same
//! idempotency key.

use rusqlite::{OptionalExtension, params};

use super::{Channel, Store, StoreError};
use crate::notify::outbox::{Event, Outbox, Report, State};

const COLUMNS: &str = "id, key, channel, recipient, form_id, subject, body, state, attempts, \
                       due_ms, last_error, provider_id, created_ms, updated_ms, downloads, \
                       attachment";

/// A message to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Idempotency key: enqueueing the same key twice yields the first row.
    pub key: String,
    pub channel: Channel,
    /// E.164 number or email address.
    pub recipient: String,
    pub form_id: Option<String>,
    /// Email subject (unused for SMS).
    pub subject: Option<String>,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: u64,
    pub key: String,
    pub channel: Channel,
    pub recipient: String,
    pub form_id: Option<String>,
    pub subject: Option<String>,
    /// SMS text or email body.
    pub body: String,
    pub state: State,
    pub attempts: u32,
    pub due_ms: Option<i64>,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub downloads: u64,
    /// A file to attach instead of the form's (a voice message's WAV).
    pub attachment: Option<String>,
}

/// What [`Store::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: u64,
    /// False when a row with the same key already existed (nothing was written).
    pub created: bool,
}

fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Row, StoreError>> {
    let id: i64 = r.get(0)?;
    let channel: String = r.get(2)?;
    let state: String = r.get(7)?;
    let attempts: i64 = r.get(8)?;
    let downloads: i64 = r.get(14)?;
    let Some(channel) = Channel::parse(&channel) else {
        return Ok(Err(StoreError::Corrupt {
            table: "outbox",
            id,
            column: "channel",
            found: channel,
        }));
    };
    let Some(state) = State::parse(&state) else {
        return Ok(Err(StoreError::Corrupt {
            table: "outbox",
            id,
            column: "state",
            found: state,
        }));
    };
    Ok(Ok(Row {
        id: id as u64,
        key: r.get(1)?,
        channel,
        recipient: r.get(3)?,
        form_id: r.get(4)?,
        subject: r.get(5)?,
        body: r.get(6)?,
        state,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        due_ms: r.get(9)?,
        last_error: r.get(10)?,
        provider_id: r.get(11)?,
        created_ms: r.get(12)?,
        updated_ms: r.get(13)?,
        downloads: u64::try_from(downloads).unwrap_or(0),
        attachment: r.get(15)?,
    }))
}

impl Store {
    /// Writes a queued message, due now, and commits it durably. `body` makes the text
    /// from the new row's id (an SMS link names its message); it is not called when the
    /// key already exists, and then the existing row's id comes back.
    pub fn enqueue(
        &mut self,
        new: &NewMessage,
        now_ms: i64,
        body: impl FnOnce(u64) -> String,
    ) -> Result<Enqueued, StoreError> {
        let tx = self.conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row("SELECT id FROM outbox WHERE key = ?1", [&new.key], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(id) = existing {
            return Ok(Enqueued {
                id: id as u64,
                created: false,
            });
        }
        tx.execute(
            "INSERT INTO outbox (key, channel, recipient, form_id, subject, body, state, \
             due_ms, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, '', 'queued', ?6, ?6, ?6)",
            params![
                new.key,
                new.channel.as_str(),
                new.recipient,
                new.form_id,
                new.subject,
                now_ms
            ],
        )?;
        let id = tx.last_insert_rowid();
        let text = body(id as u64);
        tx.execute(
            "UPDATE outbox SET body = ?1 WHERE id = ?2",
            params![text, id],
        )?;
        tx.commit()?;
        Ok(Enqueued {
            id: id as u64,
            created: true,
        })
    }

    pub fn get(&self, id: u64) -> Result<Option<Row>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1");
        match self
            .conn
            .query_row(&sql, [id as i64], row_from)
            .optional()?
        {
            Some(r) => r.map(Some),
            None => Ok(None),
        }
    }

    /// The message a provider knows by `provider_id` (for delivery reports).
    pub fn by_provider_id(&self, provider_id: &str) -> Result<Option<Row>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE provider_id = ?1");
        match self
            .conn
            .query_row(&sql, [provider_id], row_from)
            .optional()?
        {
            Some(r) => r.map(Some),
            None => Ok(None),
        }
    }

    fn select(&self, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Row>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE {filter} ORDER BY id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(args, row_from)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Messages not yet sent (queued, or left `sending` by a crash) with id above
    /// `after_id`: what the worker loads at start (0) and picks up as new rows later.
    pub fn pending(&self, after_id: u64) -> Result<Vec<Row>, StoreError> {
        self.select(
            "state IN ('queued', 'sending') AND id > ?1",
            &[&(after_id as i64)],
        )
    }

    /// Queued messages due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> Result<Vec<Row>, StoreError> {
        self.select(
            "state = 'queued' AND (due_ms IS NULL OR due_ms <= ?1)",
            &[&now_ms],
        )
    }

    /// Messages in `state` (e.g. failed ones for the admin API).
    pub fn in_state(&self, state: State) -> Result<Vec<Row>, StoreError> {
        self.select("state = ?1", &[&state.as_str()])
    }

    /// Persists one outbox event in a transaction; `due_ms` is the event's due time in
    /// Unix ms. Returns false (and writes nothing) when the row is no longer in
    /// `event.from`.
    pub fn apply(
        &mut self,
        event: &Event,
        due_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE outbox SET state = ?1, attempts = ?2, due_ms = ?3, \
             last_error = COALESCE(?4, last_error), provider_id = COALESCE(?5, provider_id), \
             updated_ms = ?6 WHERE id = ?7 AND state = ?8",
            params![
                event.to.as_str(),
                event.attempts,
                due_ms,
                event.reason,
                event.provider_id,
                now_ms,
                event.id as i64,
                event.from.as_str()
            ],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// The id of the message with idempotency key `key`, if there is one.
    pub fn id_for_key(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let id: Option<i64> = self
            .conn
            .query_row("SELECT id FROM outbox WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        Ok(id.map(|i| i as u64))
    }

    /// When SMS to `recipient` were enqueued since `since_ms` (failed ones excluded: they
    /// never reached the number). Feeds [`crate::notify::limit::SmsLimits::check`].
    pub fn sms_times_since(&self, recipient: &str, since_ms: i64) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT created_ms FROM outbox WHERE channel = 'sms' AND recipient = ?1 \
             AND created_ms > ?2 AND state != 'failed'",
        )?;
        let rows = stmt.query_map(params![recipient, since_ms], |r| r.get(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Messages per channel and state, for metrics.
    pub fn counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// The newest `limit` messages, in `state` when given, oldest first.
    pub fn list(&self, state: Option<State>, limit: u32) -> Result<Vec<Row>, StoreError> {
        let sql = format!(
            "SELECT * FROM (SELECT {COLUMNS} FROM outbox WHERE ?1 IS NULL OR state = ?1 \
             ORDER BY id DESC LIMIT ?2) ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![state.map(State::as_str), limit], row_from)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Applies a delivery report to message `id`, only forward. Returns the new state,
    /// or `None` when the report changed nothing (unknown id, or not forward).
    pub fn report(
        &mut self,
        id: u64,
        report: &Report,
        now_ms: i64,
    ) -> Result<Option<State>, StoreError> {
        let tx = self.conn.transaction()?;
        let current: Option<String> = tx
            .query_row("SELECT state FROM outbox WHERE id = ?1", [id as i64], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(current) = current else {
            return Ok(None);
        };
        let from = State::parse(&current).ok_or(StoreError::Corrupt {
            table: "outbox",
            id: id as i64,
            column: "state",
            found: current.clone(),
        })?;
        let Some(to) = Outbox::report_transition(from, report) else {
            return Ok(None);
        };
        let reason = match report {
            Report::Undelivered { reason } => Some(reason.as_str()),
            _ => None,
        };
        tx.execute(
            "UPDATE outbox SET state = ?1, due_ms = NULL, \
             last_error = COALESCE(?2, last_error), updated_ms = ?3 WHERE id = ?4 AND state = ?5",
            params![to.as_str(), reason, now_ms, id as i64, from.as_str()],
        )?;
        tx.commit()?;
        Ok(Some(to))
    }

    /// Counts one download of the form sent in message `id`; returns the new count
    /// (`None` for an unknown id).
    pub fn count_download(&mut self, id: u64) -> Result<Option<u64>, StoreError> {
        let n: Option<i64> = self
            .conn
            .query_row(
                "UPDATE outbox SET downloads = downloads + 1 WHERE id = ?1 RETURNING downloads",
                [id as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.map(|n| n as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testdb::{TempDb, ev, sms};

    #[test]
    fn an_enqueued_row_survives_reopening_and_the_database_is_wal() {
        let db = TempDb::new("reopen");
        let id = {
            let mut s = Store::open(&db.path()).expect("open");
            assert_eq!(s.journal_mode().expect("pragma"), "wal");
            let e = s
                .enqueue(&sms("k1"), 1_000, |id| format!("link for {id}"))
                .expect("enqueue");
            assert!(e.created);
            e.id
        };
        let s = Store::open(&db.path()).expect("reopen");
        let row = s.get(id).expect("read").expect("row exists");
        assert_eq!(row.body, format!("link for {id}"));
        assert_eq!(row.state, State::Queued);
        assert_eq!(row.due_ms, Some(1_000));
        assert_eq!(row.recipient, "+36301234567");
        assert_eq!(s.pending(0).expect("pending").len(), 1);
    }

    #[test]
    fn the_same_idempotency_key_yields_the_same_row_once() {
        let db = TempDb::new("idem");
        let mut s = Store::open(&db.path()).expect("open");
        let a = s.enqueue(&sms("same"), 1, |_| "a".into()).expect("first");
        let b = s
            .enqueue(&sms("same"), 2, |_| panic!("body not rendered twice"))
            .expect("second");
        assert_eq!(
            b,
            Enqueued {
                id: a.id,
                created: false
            }
        );
        assert_eq!(s.pending(0).expect("pending").len(), 1);
    }

    #[test]
    fn transitions_check_the_state_they_leave() {
        let db = TempDb::new("trans");
        let mut s = Store::open(&db.path()).expect("open");
        let id = s.enqueue(&sms("k"), 0, |_| "t".into()).expect("enqueue").id;
        assert!(
            s.apply(&ev(id, State::Queued, State::Sending, 1), None, 5)
                .expect("apply")
        );
        assert!(
            !s.apply(&ev(id, State::Queued, State::Sending, 2), None, 6)
                .expect("apply"),
            "already sending"
        );
        let mut sent = ev(id, State::Sending, State::Sent, 1);
        sent.provider_id = Some("SM123".into());
        assert!(s.apply(&sent, None, 7).expect("apply"));
        let row = s.by_provider_id("SM123").expect("read").expect("found");
        assert_eq!((row.id, row.state, row.attempts), (id, State::Sent, 1));
        assert!(s.due(i64::MAX).expect("due").is_empty());
    }

    #[test]
    fn delivery_reports_move_rows_only_forward() {
        let db = TempDb::new("report");
        let mut s = Store::open(&db.path()).expect("open");
        let id = s.enqueue(&sms("k"), 0, |_| "t".into()).expect("enqueue").id;
        s.apply(&ev(id, State::Queued, State::Sending, 1), None, 1)
            .expect("apply");
        s.apply(&ev(id, State::Sending, State::Sent, 1), None, 2)
            .expect("apply");
        assert_eq!(
            s.report(id, &Report::Delivered, 3).expect("report"),
            Some(State::Delivered)
        );
        let late = Report::Undelivered {
            reason: "expired".into(),
        };
        assert_eq!(s.report(id, &late, 4).expect("report"), None);
        assert_eq!(s.report(id, &Report::Sent, 5).expect("report"), None);
        assert_eq!(
            s.get(id).expect("get").expect("row").state,
            State::Delivered
        );
        assert_eq!(s.report(999, &Report::Delivered, 5).expect("report"), None);
    }

    #[test]
    fn rows_left_sending_by_a_crash_come_back_with_their_key() {
        let db = TempDb::new("crash");
        let id = {
            let mut s = Store::open(&db.path()).expect("open");
            let id = s
                .enqueue(&sms("crash-key"), 0, |_| "t".into())
                .expect("enqueue")
                .id;
            s.apply(&ev(id, State::Queued, State::Sending, 1), None, 1)
                .expect("apply");
            id
            // Dropped without finishing: the process "crashed" mid-send.
        };
        let s = Store::open(&db.path()).expect("reopen");
        let pending = s.pending(0).expect("pending");
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].id, pending[0].state, pending[0].key.as_str()),
            (id, State::Sending, "crash-key")
        );
    }

    #[test]
    fn sms_times_keys_and_listing_by_state() {
        let db = TempDb::new("list");
        let mut s = Store::open(&db.path()).expect("open");
        let a = s.enqueue(&sms("a"), 10, |_| "t".into()).expect("a").id;
        let b = s.enqueue(&sms("b"), 20, |_| "t".into()).expect("b").id;
        s.apply(&ev(b, State::Queued, State::Sending, 1), None, 21)
            .expect("apply");
        s.apply(&ev(b, State::Sending, State::Failed, 1), None, 22)
            .expect("apply");
        assert_eq!(
            s.sms_times_since("+36301234567", 0).expect("times"),
            [10],
            "a failed SMS never reached the number"
        );
        assert!(
            s.sms_times_since("+36301234567", 10)
                .expect("times")
                .is_empty()
        );
        assert_eq!(s.id_for_key("a").expect("key"), Some(a));
        assert_eq!(s.id_for_key("zz").expect("key"), None);
        let failed = s.list(Some(State::Failed), 10).expect("list");
        assert_eq!(failed.iter().map(|r| r.id).collect::<Vec<_>>(), [b]);
        let all = s.list(None, 10).expect("list");
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [a, b]);
        assert_eq!(s.list(None, 1).expect("list")[0].id, b, "newest first kept");
    }

    #[test]
    fn downloads_are_counted_per_message() {
        let db = TempDb::new("dl");
        let mut s = Store::open(&db.path()).expect("open");
        let id = s.enqueue(&sms("k"), 0, |_| "t".into()).expect("enqueue").id;
        assert_eq!(s.count_download(id).expect("count"), Some(1));
        assert_eq!(s.count_download(id).expect("count"), Some(2));
        assert_eq!(s.count_download(id + 1).expect("count"), None);
        assert_eq!(s.get(id).expect("get").expect("row").downloads, 2);
    }
}
