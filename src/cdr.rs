//! Call records: one row per call in SQLite, exported to CSV, pseudonymised and deleted by
//! age.
//!
//! The database is `<state.dir>/ugyelet.db` (WAL mode, so `ugyelet cdr export` can read it
//! while the daemon writes). Rows are written by one thread of their own, never on a call's
//! path. Personal data: after `records.pseudonymize_after_days` the caller's number is
//! replaced by a salted SHA-256 pseudonym (the same number gives the same pseudonym, so
//! repeat callers can still be counted); after `records.retention_days` the row is deleted.
//!
//! Besides storing and exporting, [`Records`] answers the console's questions (in
//! `cdr/query.rs`): records by day, number and outcome ([`Records::search`]), one caller's
//! recent contacts ([`Records::contacts`]), and the wallboard's counts
//! ([`Records::outcomes_since`], [`Records::answered_within`]).
//!
//! Outcomes are one vocabulary ([`Outcome`], `src/outcome.rs`): the records, the metrics,
//! the logs, the CSV, the API and the console all use its words.
//!
//! Forms an operator sends (admin API or console) belong to a call too: the driver ties
//! each to a call's SIP Call-ID ([`CallTies`], `cdr/ties.rs`) and the record writer adds it
//! to that call's record, whether the record is still to be written or already stored
//! ([`Records::add_form`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

mod query;
mod ties;

use crate::outcome::{CALLBACK_OUTCOMES, Outcome};
pub use query::{
    CONTACTS_LISTED, Contact, Contacts, DEFAULT_LIMIT, MAX_LIMIT, RecordQuery, RecordRow,
    ServiceLevel,
};
pub use ties::{CallTies, LATE_FORM_WINDOW, TiedCall};

/// One call, as the town hall wants to see it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// Caller in E.164 when it could be normalised, else as received (or empty).
    pub caller: String,
    /// The number or user the caller dialled.
    pub called: String,
    pub start: Timestamp,
    pub answer: Option<Timestamp>,
    pub end: Timestamp,
    /// Dial-plan nodes the call went through.
    pub path: String,
    /// Seconds in an operator queue, if it was queued.
    pub queue_wait_s: Option<u64>,
    /// The operator who took it, if any.
    pub operator: Option<String>,
    /// How the call ended.
    pub outcome: Outcome,
    /// Forms sent during the call: by the dial plan, and by the operator (admin API or
    /// console) while on the call or within [`LATE_FORM_WINDOW`] after it.
    pub forms: Vec<String>,
    /// The caller's rating of the help, 1–5, from a `survey` node after the operator hung up.
    pub rating: Option<u8>,
}

/// The call-record database.
pub struct Records {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    start TEXT NOT NULL,
    answer TEXT,
    end TEXT NOT NULL,
    path TEXT NOT NULL,
    queue_wait_s INTEGER,
    operator TEXT,
    outcome TEXT NOT NULL,
    forms TEXT NOT NULL,
    pseudonymized INTEGER NOT NULL DEFAULT 0,
    rating INTEGER
);
CREATE INDEX IF NOT EXISTS calls_start ON calls(start);
";

/// The database file in a state directory.
pub fn db_path(state_dir: &Path) -> PathBuf {
    state_dir.join("ugyelet.db")
}

impl Records {
    /// Opens (creating if needed) the database in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Records, String> {
        std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
        let path = db_path(state_dir);
        let conn = Connection::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .and_then(|()| conn.execute_batch(SCHEMA))
            .and_then(|()| add_rating_column(&conn))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Records { conn })
    }

    /// Stores one call.
    pub fn insert(&self, r: &CallRecord) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT INTO calls (call_id, caller, called, start, answer, end, path, queue_wait_s, operator, outcome, forms, rating)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    r.call_id,
                    r.caller,
                    r.called,
                    r.start.to_string(),
                    r.answer.map(|t| t.to_string()),
                    r.end.to_string(),
                    r.path,
                    r.queue_wait_s.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                    r.operator,
                    r.outcome.as_str(),
                    r.forms.join(" "),
                    r.rating,
                ],
            )
            .map(|_| ())
            .map_err(|e| format!("storing a call record: {e}"))
    }

    /// Adds `form` to the stored record of the call with SIP Call-ID `call_id` (the newest
    /// such row). `Ok(false)`: no record of that call yet (it is still going on).
    pub fn add_form(&self, call_id: &str, form: &str) -> Result<bool, String> {
        self.conn
            .execute(
                "UPDATE calls SET forms = CASE WHEN forms = '' THEN ?2 ELSE forms || ' ' || ?2 END
                 WHERE id = (SELECT max(id) FROM calls WHERE call_id = ?1)",
                params![call_id, form],
            )
            .map(|n| n > 0)
            .map_err(|e| format!("adding a form to a call record: {e}"))
    }

    /// Calls since `since` that someone should return ([`Outcome::needs_callback`]),
    /// newest first. (Voice messages have their own list.)
    pub fn to_call_back(&self, since: Timestamp) -> Result<Vec<serde_json::Value>, String> {
        let outcomes: Vec<String> = CALLBACK_OUTCOMES.iter().map(|o| format!("'{o}'")).collect();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT start, caller, outcome, path, queue_wait_s, call_id FROM calls
                 WHERE start >= ?1 AND outcome IN ({})
                 ORDER BY start DESC, id DESC LIMIT 1000",
                outcomes.join(", ")
            ))
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params![since.to_string()], |row| {
                Ok(serde_json::json!({
                    "start": row.get::<_, String>(0)?,
                    "caller": row.get::<_, String>(1)?,
                    "outcome": row.get::<_, String>(2)?,
                    "path": row.get::<_, String>(3)?,
                    "queue_wait_s": row.get::<_, Option<i64>>(4)?,
                    "call_id": row.get::<_, String>(5)?,
                }))
            })
            .map_err(|e| e.to_string())?;
        rows.map(|r| r.map_err(|e| e.to_string())).collect()
    }

    /// Writes the calls that started in `[since, until)` as CSV (RFC 4180, header line
    /// first); returns how many rows.
    pub fn export_csv(
        &self,
        since: Timestamp,
        until: Timestamp,
        out: &mut impl Write,
    ) -> Result<usize, String> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {CSV_COLUMNS} FROM calls WHERE start >= ?1 AND start < ?2 ORDER BY start, id"
            ))
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params![since.to_string(), until.to_string()], csv_row)
            .map_err(|e| e.to_string())?;
        write_csv(rows, out)
    }

    /// Pseudonymises callers of calls older than `pseudonymize_before` and deletes calls
    /// older than `delete_before`. Returns (pseudonymised, deleted).
    pub fn apply_retention(
        &self,
        pseudonymize_before: Timestamp,
        delete_before: Timestamp,
        salt: &str,
    ) -> Result<(usize, usize), String> {
        let deleted = self
            .conn
            .execute(
                "DELETE FROM calls WHERE start < ?1",
                params![delete_before.to_string()],
            )
            .map_err(|e| e.to_string())?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, caller FROM calls WHERE pseudonymized = 0 AND start < ?1")
            .map_err(|e| e.to_string())?;
        let due: Vec<(i64, String)> = stmt
            .query_map(params![pseudonymize_before.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .collect();
        for (id, caller) in &due {
            self.conn
                .execute(
                    "UPDATE calls SET caller = ?1, pseudonymized = 1 WHERE id = ?2",
                    params![pseudonym(caller, salt), id],
                )
                .map_err(|e| e.to_string())?;
        }
        Ok((due.len(), deleted))
    }
}

/// A stable pseudonym for a phone number: `anon-` and 16 hex digits of SHA-256(salt, number).
pub fn pseudonym(number: &str, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(number.as_bytes());
    let digest = h.finalize();
    let mut out = String::from("anon-");
    for b in &digest[..8] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The columns of a CSV export, in the order of [`CSV_HEADER`].
const CSV_COLUMNS: &str = "start, answer, end, caller, called, outcome, path, queue_wait_s, \
                           operator, forms, call_id, rating";

/// The header line of every CSV export.
const CSV_HEADER: &str =
    "start,answer,end,caller,called,outcome,path,queue_wait_s,operator,forms,call_id,rating";

/// One row selected with [`CSV_COLUMNS`], as CSV fields.
fn csv_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<[String; 12]> {
    Ok([
        row.get::<_, String>(0)?,
        row.get::<_, Option<String>>(1)?.unwrap_or_default(),
        row.get::<_, String>(2)?,
        row.get::<_, String>(3)?,
        row.get::<_, String>(4)?,
        row.get::<_, String>(5)?,
        row.get::<_, String>(6)?,
        row.get::<_, Option<i64>>(7)?
            .map(|v| v.to_string())
            .unwrap_or_default(),
        row.get::<_, Option<String>>(8)?.unwrap_or_default(),
        row.get::<_, String>(9)?,
        row.get::<_, String>(10)?,
        row.get::<_, Option<i64>>(11)?
            .map(|v| v.to_string())
            .unwrap_or_default(),
    ])
}

/// Writes the header, then one line per row; returns how many rows.
fn write_csv(
    rows: impl Iterator<Item = rusqlite::Result<[String; 12]>>,
    out: &mut impl Write,
) -> Result<usize, String> {
    let io = |e: std::io::Error| e.to_string();
    writeln!(out, "{CSV_HEADER}").map_err(io)?;
    let mut n = 0;
    for row in rows {
        let row = row.map_err(|e| e.to_string())?;
        let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(",")).map_err(io)?;
        n += 1;
    }
    Ok(n)
}

/// Databases made before calls had a rating get the column (NULL for their calls).
fn add_rating_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('calls') WHERE name = 'rating'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if has {
        Ok(())
    } else {
        conn.execute_batch("ALTER TABLE calls ADD COLUMN rating INTEGER")
    }
}

/// RFC 4180 field: quoted when it holds a comma, quote or line break.
fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(caller: &str, start: &str, outcome: &str) -> CallRecord {
        let start: Timestamp = start.parse().expect("timestamp");
        CallRecord {
            call_id: format!("c-{start}"),
            caller: caller.into(),
            called: "ugyelet".into(),
            start,
            answer: Some(start),
            end: start,
            path: "welcome>check_open>main_menu,x".into(),
            queue_wait_s: None,
            operator: None,
            outcome: outcome.parse().expect("an outcome"),
            forms: vec![],
            rating: None,
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ugyelet-cdr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_survive_reopening_and_export_as_csv_by_time_range() {
        let d = dir("export");
        {
            let r = Records::open(&d).expect("open");
            r.insert(&record("+36301234567", "2026-11-02T16:05:00Z", "completed"))
                .expect("insert");
            r.insert(&record("+3623444555", "2026-11-03T18:00:00Z", "closed"))
                .expect("insert");
            r.insert(&record("+36701234567", "2026-12-01T07:00:00Z", "cancelled"))
                .expect("insert");
        }
        let r = Records::open(&d).expect("reopen");
        let mut csv = Vec::new();
        let n = r
            .export_csv(
                "2026-11-01T00:00:00Z".parse().expect("ts"),
                "2026-12-01T00:00:00Z".parse().expect("ts"),
                &mut csv,
            )
            .expect("export");
        assert_eq!(n, 2);
        let text = String::from_utf8(csv).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "start,answer,end,caller,called,outcome,path,queue_wait_s,operator,forms,call_id,rating"
        );
        assert!(lines[1].starts_with("2026-11-02T16:05:00Z,2026-11-02T16:05:00Z,2026-11-02T16:05:00Z,+36301234567,ugyelet,completed,\"welcome>check_open>main_menu,x\",,,,"), "{}", lines[1]);
        assert!(lines[2].contains(",closed,"));
    }

    #[test]
    fn old_callers_are_pseudonymised_then_old_rows_deleted() {
        let d = dir("retention");
        let r = Records::open(&d).expect("open");
        r.insert(&record("+36301234567", "2025-01-01T10:00:00Z", "completed"))
            .expect("insert");
        r.insert(&record("+36301234567", "2026-10-01T10:00:00Z", "completed"))
            .expect("insert");
        r.insert(&record("+36701234567", "2026-11-27T10:00:00Z", "completed"))
            .expect("insert");
        let (p, del) = r
            .apply_retention(
                "2026-11-01T00:00:00Z".parse().expect("ts"),
                "2025-11-28T00:00:00Z".parse().expect("ts"),
                "salt",
            )
            .expect("retention");
        assert_eq!((p, del), (1, 1));
        let mut csv = Vec::new();
        r.export_csv(
            "2000-01-01T00:00:00Z".parse().expect("ts"),
            "2100-01-01T00:00:00Z".parse().expect("ts"),
            &mut csv,
        )
        .expect("export");
        let text = String::from_utf8(csv).expect("utf-8");
        assert!(!text.contains("+36301234567"), "{text}");
        assert!(text.contains(&pseudonym("+36301234567", "salt")), "{text}");
        assert!(
            text.contains("+36701234567"),
            "recent calls keep the number"
        );
        assert_eq!(
            pseudonym("+36301234567", "salt"),
            pseudonym("+36301234567", "salt")
        );
        assert_ne!(
            pseudonym("+36301234567", "salt"),
            pseudonym("+36301234567", "other")
        );
    }

    #[test]
    fn calls_to_return_are_the_callback_outcomes_newest_first() {
        let d = dir("callbacks");
        let r = Records::open(&d).expect("open");
        for (caller, start, outcome) in [
            ("+36301111111", "2026-11-02T16:00:00Z", "abandoned_queue"),
            ("+36301111112", "2026-11-02T16:01:00Z", "no_operator"),
            ("+36301111113", "2026-11-02T16:02:00Z", "left_queue"),
            ("+36301111114", "2026-11-02T16:03:00Z", "callback"),
            ("+36301111115", "2026-11-02T16:04:00Z", "completed"),
            ("+36301111116", "2026-11-02T16:05:00Z", "voicemail"),
            ("+36301111117", "2026-11-02T16:06:00Z", "abandoned_menu"),
        ] {
            r.insert(&record(caller, start, outcome)).expect("insert");
        }
        let back = r
            .to_call_back("2026-11-01T00:00:00Z".parse().expect("ts"))
            .expect("list");
        let outcomes: Vec<&str> = back.iter().filter_map(|v| v["outcome"].as_str()).collect();
        assert_eq!(
            outcomes,
            ["callback", "left_queue", "no_operator", "abandoned_queue"]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_form_added_after_the_call_ended_is_listed_in_its_stored_record() {
        let d = dir("late-form");
        let r = Records::open(&d).expect("open");
        let mut call = record("+36301234567", "2026-11-02T16:00:00Z", "operator");
        call.call_id = "abc@pbx".into();
        call.forms = vec!["tajekoztato".into()];
        r.insert(&call).expect("insert");
        let other = record("+3623444555", "2026-11-02T16:01:00Z", "completed");
        r.insert(&other).expect("insert");

        assert_eq!(r.add_form("abc@pbx", "lakcim"), Ok(true));
        assert_eq!(r.add_form("abc@pbx", "cikk:ebresztes"), Ok(true));
        assert_eq!(
            r.add_form("still-going@pbx", "lakcim"),
            Ok(false),
            "no record yet"
        );
        let rows = r.search(&RecordQuery::default()).expect("search");
        let forms = |call_id: &str| {
            rows.iter()
                .find(|row| row.record.call_id == call_id)
                .map(|row| row.record.forms.clone())
                .expect("row")
        };
        assert_eq!(
            forms("abc@pbx"),
            ["tajekoztato", "lakcim", "cikk:ebresztes"]
        );
        assert!(forms(&other.call_id).is_empty(), "other calls untouched");
        let mut csv = Vec::new();
        r.export_csv(
            "2026-11-01T00:00:00Z".parse().expect("ts"),
            "2026-12-01T00:00:00Z".parse().expect("ts"),
            &mut csv,
        )
        .expect("export");
        let text = String::from_utf8(csv).expect("utf-8");
        assert!(
            text.contains(",tajekoztato lakcim cikk:ebresztes,abc@pbx,\n"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_database_from_before_ratings_gets_the_column_and_keeps_its_calls() {
        let d = dir("before-ratings");
        std::fs::create_dir_all(&d).expect("dir");
        {
            let conn = Connection::open(db_path(&d)).expect("open");
            conn.execute_batch(
                "CREATE TABLE calls (id INTEGER PRIMARY KEY, call_id TEXT NOT NULL,
                 caller TEXT NOT NULL, called TEXT NOT NULL, start TEXT NOT NULL, answer TEXT,
                 end TEXT NOT NULL, path TEXT NOT NULL, queue_wait_s INTEGER, operator TEXT,
                 outcome TEXT NOT NULL, forms TEXT NOT NULL,
                 pseudonymized INTEGER NOT NULL DEFAULT 0);
                 INSERT INTO calls (call_id, caller, called, start, end, path, outcome, forms)
                 VALUES ('old@pbx', '+36301234567', 'ugyelet', '2026-11-02T16:00:00Z',
                 '2026-11-02T16:01:00Z', 'welcome', 'completed', '');",
            )
            .expect("an old database");
        }
        let r = Records::open(&d).expect("opens and adds the column");
        let rated = CallRecord {
            rating: Some(5),
            ..record("+3623444555", "2026-11-02T17:00:00Z", "operator")
        };
        r.insert(&rated).expect("insert");
        let mut csv = Vec::new();
        r.export_csv(
            "2026-11-01T00:00:00Z".parse().expect("ts"),
            "2026-12-01T00:00:00Z".parse().expect("ts"),
            &mut csv,
        )
        .expect("export");
        let text = String::from_utf8(csv).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[1].ends_with(",old@pbx,"),
            "the old call, no rating: {text}"
        );
        assert!(lines[2].ends_with(",5"), "{text}");
        drop(r);
        Records::open(&d).expect("opening again changes nothing");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_stored_word_outside_the_vocabulary_is_reported_with_its_row() {
        let d = dir("bad-outcome");
        let r = Records::open(&d).expect("open");
        r.insert(&record("+36301234567", "2026-11-02T16:00:00Z", "completed"))
            .expect("insert");
        r.conn
            .execute("UPDATE calls SET outcome = 'caller_hung_up'", [])
            .expect("edit by hand");
        let e = r.search(&RecordQuery::default()).expect_err("refused");
        assert!(
            e.starts_with("call record 1: outcome: expected an outcome (completed, "),
            "{e}"
        );
        assert!(e.ends_with("found \"caller_hung_up\""), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
