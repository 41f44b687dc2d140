//! Callback jobs: the residents the line calls back (see [`crate::callback`]).
//!
//! One row per job. There is at most ONE open job (waiting or calling) per number: a
//! partial unique index says so, and [`Store::callback_request`] merges a request for a
//! number that has one into it (counting it, unless the same call already asked), so a
//! resident who rings three times after hours is called back once. A finished job (reached,
//! given up, cancelled) stays for the record; the next request opens a new one.
//!
//! The core decides state, due time and attempts; [`Store::callback_save`] writes them and
//! nothing else, so a request merged in between (which only the store counts) is never
//! lost to an older copy of the job. Attempts are a JSON array in the row: they are only
//! ever read and written with their job.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Store, StoreError};
use crate::callback::{Attempt, Job, JobId, JobState};

/// Migration to schema version 4: the callback jobs.
pub(super) fn migrate_v4(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
CREATE TABLE callback_jobs (
    id          INTEGER PRIMARY KEY,
    -- E.164.
    number      TEXT    NOT NULL,
    -- What first asked: callback, abandoned_queue, no_operator, left_queue, silent_message, console.
    reason      TEXT    NOT NULL,
    requests    INTEGER NOT NULL,
    -- The SIP Call-ID of the latest call that asked (a call is counted once).
    last_call   TEXT,
    state       TEXT    NOT NULL
                CHECK (state IN ('waiting', 'calling', 'reached', 'gave_up', 'cancelled')),
    due_ms      INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    -- JSON array of {at_ms, operator, outcome, status}, oldest first.
    attempts    TEXT    NOT NULL DEFAULT '[]'
);
CREATE UNIQUE INDEX callback_jobs_open_number ON callback_jobs (number)
    WHERE state IN ('waiting', 'calling');
CREATE INDEX callback_jobs_updated ON callback_jobs (updated_ms);
",
    )
}

const COLUMNS: &str =
    "id, number, reason, requests, state, due_ms, created_ms, updated_ms, attempts";

fn job_from(r: &Row<'_>) -> rusqlite::Result<(Job, String, String)> {
    let id: i64 = r.get(0)?;
    Ok((
        Job {
            id: id as JobId,
            number: r.get(1)?,
            reason: r.get(2)?,
            requests: r.get(3)?,
            state: JobState::Waiting,
            due_ms: r.get(5)?,
            created_ms: r.get(6)?,
            updated_ms: r.get(7)?,
            attempts: Vec::new(),
        },
        r.get(4)?,
        r.get(8)?,
    ))
}

/// A row as the core sees it; a state or attempts list this version cannot read is an
/// error naming the row.
fn decode((mut job, state, attempts): (Job, String, String)) -> Result<Job, StoreError> {
    let corrupt = |column, found: &str| StoreError::Corrupt {
        table: "callback_jobs",
        id: job.id as i64,
        column,
        found: found.to_owned(),
    };
    job.state = JobState::parse(&state).ok_or_else(|| corrupt("state", &state))?;
    job.attempts = serde_json::from_str::<Vec<Attempt>>(&attempts)
        .map_err(|_| corrupt("attempts", &attempts))?;
    Ok(job)
}

impl Store {
    /// Asks for a callback of `number` (E.164) at `at_ms`: the open job of that number with
    /// this request counted (not again when `call`, a SIP Call-ID, already asked), or a new
    /// job, due at once. Returns the job as stored.
    pub fn callback_request(
        &mut self,
        number: &str,
        reason: &str,
        call: Option<&str>,
        at_ms: i64,
    ) -> Result<Job, StoreError> {
        let tx = self.conn.transaction()?;
        let open: Option<(i64, Option<String>)> = tx
            .query_row(
                "SELECT id, last_call FROM callback_jobs \
                 WHERE number = ?1 AND state IN ('waiting', 'calling')",
                [number],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let id = match open {
            Some((id, last)) => {
                if call.is_none() || call != last.as_deref() {
                    tx.execute(
                        "UPDATE callback_jobs SET requests = requests + 1, \
                         last_call = coalesce(?2, last_call), updated_ms = ?3 WHERE id = ?1",
                        params![id, call, at_ms],
                    )?;
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO callback_jobs (number, reason, requests, last_call, state, \
                     due_ms, created_ms, updated_ms) VALUES (?1, ?2, 1, ?3, 'waiting', ?4, ?4, ?4)",
                    params![number, reason, call, at_ms],
                )?;
                tx.last_insert_rowid()
            }
        };
        let row = tx.query_row(
            &format!("SELECT {COLUMNS} FROM callback_jobs WHERE id = ?1"),
            [id],
            job_from,
        )?;
        tx.commit()?;
        decode(row)
    }

    /// Writes what the core decided about a job: state, due time, attempts. The request
    /// count stays the store's. `false` for an unknown id.
    pub fn callback_save(&mut self, job: &Job) -> Result<bool, StoreError> {
        let attempts = serde_json::to_string(&job.attempts).unwrap_or_else(|_| "[]".to_owned());
        let n = self.conn.execute(
            "UPDATE callback_jobs SET state = ?2, due_ms = ?3, updated_ms = ?4, attempts = ?5 \
             WHERE id = ?1",
            params![
                job.id as i64,
                job.state.as_str(),
                job.due_ms,
                job.updated_ms,
                attempts
            ],
        )?;
        Ok(n == 1)
    }

    /// Withdraws a waiting job where no callback core holds it (callbacks off, or no
    /// trunk). `false` when it is not waiting.
    pub fn callback_cancel(&mut self, id: JobId, at_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE callback_jobs SET state = 'cancelled', updated_ms = ?2 \
             WHERE id = ?1 AND state = 'waiting'",
            params![id as i64, at_ms],
        )?;
        Ok(n == 1)
    }

    /// One job, open or finished.
    pub fn callback_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM callback_jobs WHERE id = ?1"),
                [id as i64],
                job_from,
            )
            .optional()?;
        row.map(decode).transpose()
    }

    /// The open jobs (what a starting daemon takes up), oldest first.
    pub fn callback_open(&self) -> Result<Vec<Job>, StoreError> {
        self.callback_query(
            "WHERE state IN ('waiting', 'calling') ORDER BY id",
            params![],
        )
    }

    /// Open jobs, and finished ones last changed at or after `since_ms`: open ones first,
    /// each group newest first.
    pub fn callback_jobs(&self, since_ms: i64) -> Result<Vec<Job>, StoreError> {
        self.callback_query(
            "WHERE state IN ('waiting', 'calling') OR updated_ms >= ?1 \
             ORDER BY state NOT IN ('waiting', 'calling'), updated_ms DESC, id DESC",
            params![since_ms],
        )
    }

    fn callback_query(
        &self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Job>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM callback_jobs {tail}"))?;
        let rows = stmt.query_map(args, job_from)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(decode(r?)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdb::TempDb;
    use super::*;
    use crate::callback::Outcome;

    #[test]
    fn one_open_job_per_number_however_often_the_resident_asks() {
        let db = TempDb::new("cb-one-per-number");
        let mut s = Store::open(&db.path()).expect("open");
        let a = s
            .callback_request("+36301234567", "abandoned_queue", Some("c1"), 1_000)
            .expect("request");
        assert_eq!(
            (a.state, a.requests, a.due_ms),
            (JobState::Waiting, 1, 1_000)
        );
        // The same call again (its record after the plan's node): not counted twice.
        let b = s
            .callback_request("+36301234567", "callback", Some("c1"), 1_100)
            .expect("again");
        assert_eq!(
            (b.id, b.requests, b.reason.as_str()),
            (a.id, 1, "abandoned_queue")
        );
        let c = s
            .callback_request("+36301234567", "silent_message", Some("c2"), 2_000)
            .expect("third");
        assert_eq!((c.id, c.requests), (a.id, 2));
        let other = s
            .callback_request("+3623444555", "console", None, 2_500)
            .expect("other number");
        assert_ne!(other.id, a.id);
        assert_eq!(s.callback_open().expect("open jobs").len(), 2);
    }

    #[test]
    fn the_cores_decisions_are_kept_and_a_finished_job_makes_room_for_a_new_one() {
        let db = TempDb::new("cb-save");
        let mut s = Store::open(&db.path()).expect("open");
        let mut job = s
            .callback_request("+36301234567", "callback", Some("c1"), 1_000)
            .expect("request");
        // A request merged while the core held an older copy: the save keeps it.
        s.callback_request("+36301234567", "callback", Some("c2"), 1_500)
            .expect("merged");
        job.state = JobState::Calling;
        job.updated_ms = 2_000;
        job.attempts.push(Attempt {
            at_ms: 2_000,
            operator: "anna".into(),
            outcome: None,
            status: None,
        });
        assert!(s.callback_save(&job).expect("save"));
        let stored = s.callback_job(job.id).expect("read").expect("there");
        assert_eq!((stored.state, stored.requests), (JobState::Calling, 2));
        assert_eq!(stored.attempts, job.attempts);

        job.state = JobState::Reached;
        job.attempts[0].outcome = Some(Outcome::Reached);
        job.attempts[0].status = Some(200);
        job.updated_ms = 3_000;
        assert!(s.callback_save(&job).expect("save"));
        assert!(s.callback_open().expect("open").is_empty());
        let next = s
            .callback_request("+36301234567", "callback", Some("c3"), 4_000)
            .expect("a later request");
        assert_ne!(next.id, job.id, "a finished job is not reopened");
        let listed = s.callback_jobs(0).expect("list");
        assert_eq!(
            listed.iter().map(|j| (j.id, j.state)).collect::<Vec<_>>(),
            [(next.id, JobState::Waiting), (job.id, JobState::Reached)],
            "open first, then finished, newest first"
        );
        assert_eq!(s.callback_jobs(3_500).expect("list").len(), 1);
        assert!(
            !s.callback_save(&Job {
                id: 999,
                ..job.clone()
            })
            .expect("unknown")
        );
        assert!(
            !s.callback_cancel(job.id, 3_600)
                .expect("finished: not cancelled")
        );
        assert!(
            s.callback_cancel(next.id, 3_600)
                .expect("waiting: cancelled")
        );
        assert!(s.callback_open().expect("open").is_empty());
        let next = s
            .callback_request("+36301234567", "callback", Some("c4"), 5_000)
            .expect("and again");
        // Retention takes finished jobs; an open one stays however old.
        s.apply_retention(10_000).expect("retention");
        assert!(s.callback_job(job.id).expect("read").is_none());
        assert!(s.callback_job(next.id).expect("read").is_some());
    }

    #[test]
    fn a_version_3_database_gains_the_job_table_and_keeps_its_rows() {
        let db = TempDb::new("cb-migrate");
        {
            // What the release before callbacks left on disk: version 3 (registrations
            // kept), a worklist entry and a console session.
            let mut conn = rusqlite::Connection::open(db.path()).expect("open");
            conn.execute_batch(super::super::SCHEMA).expect("v0");
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN attachment TEXT")
                .expect("attachment");
            let tx = conn.transaction().expect("tx");
            super::super::worklist::migrate_v1(&tx).expect("v1");
            super::super::sessions::migrate_v2(&tx).expect("v2");
            super::super::bindings::migrate_v3(&tx).expect("v3");
            tx.pragma_update(None, "user_version", 3).expect("version");
            tx.commit().expect("commit");
            conn.execute(
                "INSERT INTO sessions VALUES ('h', 'anna', 'operator', 'csrf', 1, 1)",
                [],
            )
            .expect("session");
        }
        {
            let mut s = Store::open(&db.path()).expect("migrates");
            s.work_add(
                "+36301234567",
                super::super::WorkKind::Callback,
                5,
                "q",
                None,
            )
            .expect("worklist still works");
            assert_eq!(s.schema_version().expect("version"), 4);
            assert!(s.session("h").expect("read").is_some(), "sessions kept");
            s.callback_request("+36301234567", "callback", None, 10)
                .expect("the new table works");
        }
        // Opening again applies nothing twice and finds the job.
        let s = Store::open(&db.path()).expect("reopen");
        assert_eq!(s.callback_open().expect("jobs").len(), 1);
        assert_eq!(s.worklist(false).expect("work").len(), 1);
    }

    #[test]
    fn a_row_this_version_cannot_read_is_named_not_misread() {
        let db = TempDb::new("cb-corrupt");
        let mut s = Store::open(&db.path()).expect("open");
        let job = s
            .callback_request("+36301234567", "callback", None, 1_000)
            .expect("request");
        s.conn
            .execute(
                "UPDATE callback_jobs SET attempts = 'nem json' WHERE id = ?1",
                [job.id as i64],
            )
            .expect("spoil");
        let e = s.callback_open().expect_err("refused");
        assert_eq!(
            e.to_string(),
            format!(
                "callback_jobs row {}: unexpected attempts \"nem json\"",
                job.id
            )
        );
    }
}
