//! What the console asks of the call records: searches, one caller's recent contacts, and
//! the wallboard's counts.
//!
//! Times are stored as RFC 3339 text in UTC (`2026-12-01T16:05:00.123Z`), so a range is a
//! text comparison on `start`, which the `calls_start` index serves. Bounds are written to
//! the second without the `Z` (`2026-12-01T16:05:00`): a stored time in that second is
//! longer with the same beginning, so it sorts after the bound, and `start >= bound` keeps
//! it whether or not it has fractional seconds (with the `Z`, `…:00.5Z` would sort before
//! `…:00Z`, since `.` comes before `Z`).
//!
//! A number is searched the way callers are stored: normalised to E.164 when it is a whole
//! number (`06 30 123 4567` finds `+36301234567`), otherwise as a run of digits anywhere in
//! the caller (`4567`), with a trunk prefix read as the country code (`0630123` finds it
//! too). Pseudonymised rows hold `anon-…` instead of a number, so they never match: they
//! are older than anything the console looks for.

use std::io::Write;

use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::{CSV_COLUMNS, CallRecord, Records, csv_row, write_csv};
use crate::outcome::Outcome;
use crate::{clock, phone};

/// Rows a search returns when its `limit` is 0.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most rows one search returns.
pub const MAX_LIMIT: u32 = 10_000;
/// The most calls [`Contacts::calls`] lists (the counts cover them all).
pub const CONTACTS_LISTED: usize = 100;

/// Which records to find. Every filter given must match; none given finds every call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    /// Calls that started on this day in Budapest.
    pub day: Option<Date>,
    /// The caller's number in any common form, or some of its digits (`4567`).
    pub number: Option<String>,
    /// Exactly this outcome.
    pub outcome: Option<Outcome>,
    /// At most this many rows, newest first: 0 means [`DEFAULT_LIMIT`], more than
    /// [`MAX_LIMIT`] means [`MAX_LIMIT`].
    pub limit: u32,
}

/// One stored call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The row's id in the database (stable: a link to the call can use it).
    pub id: i64,
    /// The caller's number was replaced by a pseudonym (old calls).
    pub pseudonymized: bool,
    pub record: CallRecord,
}

/// A caller's calls since a moment, for "has this person called before?".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contacts {
    /// The number as searched (E.164 when it is one).
    pub number: String,
    /// The calls, newest first; at most [`CONTACTS_LISTED`].
    pub calls: Vec<Contact>,
    /// How many calls there were in all.
    pub total: u64,
    /// Calls that left a voice message (outcome `voicemail`).
    pub voice_messages: u64,
    /// Calls that asked to be called back (outcome `callback`).
    pub callbacks: u64,
    /// Forms sent during those calls.
    pub forms: u64,
    /// Calls per outcome, most frequent first.
    pub by_outcome: Vec<(Outcome, u64)>,
}

/// One earlier call of a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: i64,
    pub start: Timestamp,
    pub outcome: Outcome,
    /// The menu path as recorded (node names joined by `>`).
    pub path: String,
    /// Forms sent during the call.
    pub forms: Vec<String>,
    /// The operator who took it, if any.
    pub operator: Option<String>,
    /// Seconds in the operator queue, if it was queued.
    pub queue_wait_s: Option<u64>,
}

/// How quickly queued callers reached an operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceLevel {
    /// Calls that waited in an operator queue.
    pub queued: u64,
    /// Of those, calls an operator answered.
    pub answered: u64,
    /// Of those, calls answered within the limit asked for.
    pub answered_within: u64,
}

impl ServiceLevel {
    /// The share of queued calls answered within the limit (0.0–1.0); `None` when no call
    /// was queued (nothing to measure is not 0 %).
    pub fn share(&self) -> Option<f64> {
        (self.queued > 0).then(|| self.answered_within as f64 / self.queued as f64)
    }
}

/// The columns [`record_row`] reads.
const ROW_COLUMNS: &str = "id, call_id, caller, called, start, answer, end, path, queue_wait_s, \
                           operator, outcome, forms, pseudonymized, rating";

impl Records {
    /// Calls matching `q`, newest first.
    pub fn search(&self, q: &RecordQuery) -> Result<Vec<RecordRow>, String> {
        let f = Filter::of(q)?;
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM calls WHERE {} ORDER BY start DESC, id DESC LIMIT {}",
                f.sql(),
                limit(q.limit)
            ))
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params_from_iter(f.params.iter()), record_row)
            .map_err(|e| e.to_string())?;
        rows.map(|r| r.map_err(|e| e.to_string()).and_then(|r| r))
            .collect()
    }

    /// The calls [`Records::search`] finds, written as the CSV of
    /// [`Records::export_csv`] (same header and columns), newest first; returns how many
    /// rows.
    pub fn search_csv(&self, q: &RecordQuery, out: &mut impl Write) -> Result<usize, String> {
        let f = Filter::of(q)?;
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {CSV_COLUMNS} FROM calls WHERE {} ORDER BY start DESC, id DESC LIMIT {}",
                f.sql(),
                limit(q.limit)
            ))
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params_from_iter(f.params.iter()), csv_row)
            .map_err(|e| e.to_string())?;
        write_csv(rows, out)
    }

    /// The calls from `number` (any common form) that started at or after `since`, with
    /// counts. No caller ID (empty, `anonymous`) is nobody in particular: no contacts.
    pub fn contacts(&self, number: &str, since: Timestamp) -> Result<Contacts, String> {
        let trimmed = number.trim();
        let number = phone::normalize(trimmed).unwrap_or_else(|| trimmed.to_owned());
        if number.is_empty() || number.eq_ignore_ascii_case("anonymous") {
            return Ok(Contacts {
                number,
                ..Contacts::default()
            });
        }
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM calls
                 WHERE caller = ?1 AND pseudonymized = 0 AND start >= ?2
                 ORDER BY start DESC, id DESC"
            ))
            .map_err(|e| e.to_string())?;
        let rows: Vec<RecordRow> = stmt
            .query_map(rusqlite::params![number, bound(since)], record_row)
            .map_err(|e| e.to_string())?
            .map(|r| r.map_err(|e| e.to_string()).and_then(|r| r))
            .collect::<Result<_, _>>()?;
        let count = |outcome: Outcome| rows.iter().filter(|r| r.record.outcome == outcome).count();
        let mut by_outcome: Vec<(Outcome, u64)> = Vec::new();
        for r in &rows {
            match by_outcome.iter_mut().find(|(o, _)| *o == r.record.outcome) {
                Some((_, n)) => *n += 1,
                None => by_outcome.push((r.record.outcome, 1)),
            }
        }
        by_outcome.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.as_str().cmp(b.0.as_str())));
        Ok(Contacts {
            total: rows.len() as u64,
            voice_messages: count(Outcome::Voicemail) as u64,
            callbacks: count(Outcome::Callback) as u64,
            forms: rows.iter().map(|r| r.record.forms.len() as u64).sum(),
            by_outcome,
            calls: rows
                .into_iter()
                .take(CONTACTS_LISTED)
                .map(|r| Contact {
                    id: r.id,
                    start: r.record.start,
                    outcome: r.record.outcome,
                    path: r.record.path,
                    forms: r.record.forms,
                    operator: r.record.operator,
                    queue_wait_s: r.record.queue_wait_s,
                })
                .collect(),
            number,
        })
    }

    /// Calls per outcome that started at or after `since`, most frequent first (the
    /// wallboard's "today by outcome").
    pub fn outcomes_since(&self, since: Timestamp) -> Result<Vec<(Outcome, u64)>, String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT outcome, COUNT(*) FROM calls WHERE start >= ?1
                 GROUP BY outcome ORDER BY COUNT(*) DESC, outcome",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([bound(since)], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(|e| e.to_string())?;
        rows.map(|r| {
            let (o, n) = r.map_err(|e| e.to_string())?;
            let o = Outcome::parse(&o).map_err(|e| format!("call records: outcome: {e}"))?;
            Ok((o, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
    }

    /// Of the calls since `since` that waited in an operator queue, how many an operator
    /// answered, and how many within `within_s` seconds of waiting.
    pub fn answered_within(&self, since: Timestamp, within_s: u64) -> Result<ServiceLevel, String> {
        let within = i64::try_from(within_s).unwrap_or(i64::MAX);
        self.conn
            .query_row(
                "SELECT COUNT(*),
                        COUNT(operator),
                        COUNT(CASE WHEN operator IS NOT NULL AND queue_wait_s <= ?2 THEN 1 END)
                 FROM calls WHERE start >= ?1 AND queue_wait_s IS NOT NULL",
                rusqlite::params![bound(since), within],
                |row| {
                    let n = |i| row.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                    Ok(ServiceLevel {
                        queued: n(0)?,
                        answered: n(1)?,
                        answered_within: n(2)?,
                    })
                },
            )
            .map_err(|e| e.to_string())
    }
}

/// A query's `WHERE` clause and its parameters.
struct Filter {
    clauses: Vec<&'static str>,
    params: Vec<Value>,
}

impl Filter {
    fn of(q: &RecordQuery) -> Result<Filter, String> {
        let mut f = Filter {
            clauses: Vec::new(),
            params: Vec::new(),
        };
        if let Some(day) = q.day {
            let (from, to) = day_bounds(day)?;
            f.clauses.push("start >= ? AND start < ?");
            f.params.push(Value::Text(from));
            f.params.push(Value::Text(to));
        }
        let digits = match q.number.as_deref() {
            Some(n) => number_digits(n)?,
            None => Vec::new(),
        };
        match digits.as_slice() {
            [] => {}
            [one] => {
                f.clauses.push("caller LIKE ?");
                f.params.push(Value::Text(format!("%{one}%")));
            }
            [one, other, ..] => {
                f.clauses.push("(caller LIKE ? OR caller LIKE ?)");
                f.params.push(Value::Text(format!("%{one}%")));
                f.params.push(Value::Text(format!("%{other}%")));
            }
        }
        if let Some(outcome) = q.outcome {
            f.clauses.push("outcome = ?");
            f.params.push(Value::Text(outcome.as_str().to_owned()));
        }
        Ok(f)
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

fn limit(asked: u32) -> u32 {
    match asked {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// A time as a range bound on `start` (see the module docs): to the second, without `Z`.
fn bound(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The first and the first-after-last moment of a day in Budapest, as bounds. The day is
/// 23 or 25 hours long on the nights the clocks change.
fn day_bounds(day: Date) -> Result<(String, String), String> {
    let start = |d: Date| {
        d.to_zoned_datetime(clock::tz())
            .and_then(|z| z.start_of_day())
            .map(|z| bound(z.timestamp()))
    };
    let next = day.tomorrow().map_err(|e| format!("day {day}: {e}"))?;
    Ok((
        start(day).map_err(|e| format!("day {day}: {e}"))?,
        start(next).map_err(|e| format!("day {next}: {e}"))?,
    ))
}

/// The digit runs a number filter looks for in `caller`: the E.164 digits when the input
/// is a whole number, and the digits as typed with a trunk prefix read as the country code
/// (`06…` → `36…`, `00…` → `…`). None for a blank filter; one or two runs otherwise.
fn number_digits(raw: &str) -> Result<Vec<String>, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let typed: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let only_number_chars = trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '/' | '(' | ')' | '.'));
    if !only_number_chars || typed.is_empty() {
        return Err(format!(
            "number: expected digits of a phone number (e.g. 06 30 123 4567 or 4567), found \"{trimmed}\""
        ));
    }
    let mut out = Vec::new();
    if let Some(e164) = phone::normalize(trimmed) {
        out.push(e164.trim_start_matches('+').to_owned());
    }
    let typed = if let Some(rest) = typed.strip_prefix("06") {
        format!("36{rest}")
    } else if let Some(rest) = typed.strip_prefix("00") {
        rest.to_owned()
    } else {
        typed
    };
    if !out.contains(&typed) {
        out.push(typed);
    }
    Ok(out)
}

/// One row selected with [`ROW_COLUMNS`]; the inner error is a stored value that does not
/// read back (a time that is not a timestamp, a word that is not an [`Outcome`]).
fn record_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RecordRow, String>> {
    let id: i64 = row.get(0)?;
    let time = |i: usize, what: &str| -> rusqlite::Result<Result<Timestamp, String>> {
        let text: String = row.get(i)?;
        Ok(text.parse().map_err(|_| {
            format!("call record {id}: {what}: expected a timestamp, found \"{text}\"")
        }))
    };
    let start = time(4, "start")?;
    let end = time(6, "end")?;
    let answer = match row.get::<_, Option<String>>(5)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            format!("call record {id}: answer: expected a timestamp, found \"{text}\"")
        }),
    };
    let outcome = Outcome::parse(&row.get::<_, String>(10)?)
        .map_err(|e| format!("call record {id}: outcome: {e}"));
    let (start, answer, end, outcome) = match (start, answer, end, outcome) {
        (Ok(s), Ok(a), Ok(e), Ok(o)) => (s, a, e, o),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            return Ok(Err(e));
        }
    };
    Ok(Ok(RecordRow {
        id,
        pseudonymized: row.get::<_, i64>(12)? != 0,
        record: CallRecord {
            call_id: row.get(1)?,
            caller: row.get(2)?,
            called: row.get(3)?,
            start,
            answer,
            end,
            path: row.get(7)?,
            queue_wait_s: row
                .get::<_, Option<i64>>(8)?
                .map(|v| u64::try_from(v).unwrap_or(0)),
            operator: row.get(9)?,
            outcome,
            forms: row
                .get::<_, String>(11)?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            rating: row
                .get::<_, Option<i64>>(13)?
                .and_then(|v| u8::try_from(v).ok()),
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn call(caller: &str, start: &str, outcome: &str) -> CallRecord {
        let start = ts(start);
        CallRecord {
            call_id: format!("c-{start}-{caller}"),
            caller: caller.into(),
            called: "ugyelet".into(),
            start,
            answer: Some(start),
            end: start,
            path: "welcome>check_open>main_menu>operator>operator_queue".into(),
            queue_wait_s: None,
            operator: None,
            outcome: outcome.parse().expect("an outcome"),
            forms: vec![],
            rating: None,
        }
    }

    fn queued(caller: &str, start: &str, wait_s: u64, operator: Option<&str>) -> CallRecord {
        CallRecord {
            queue_wait_s: Some(wait_s),
            operator: operator.map(str::to_owned),
            ..call(
                caller,
                start,
                if operator.is_some() {
                    "operator"
                } else {
                    "abandoned_queue"
                },
            )
        }
    }

    /// A fresh database in a directory of its own, with `calls` stored.
    fn db(name: &str, calls: &[CallRecord]) -> Records {
        let d: PathBuf =
            std::env::temp_dir().join(format!("ugyelet-cdr-q-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let r = Records::open(&d).expect("open");
        for c in calls {
            r.insert(c).expect("insert");
        }
        r
    }

    fn starts(rows: &[RecordRow]) -> Vec<String> {
        rows.iter().map(|r| r.record.start.to_string()).collect()
    }

    fn query() -> RecordQuery {
        RecordQuery::default()
    }

    #[test]
    fn a_day_is_a_budapest_day_newest_first_even_within_its_first_second() {
        let r = db(
            "day",
            &[
                // 1 December in Budapest (UTC+1) is 30 Nov 23:00 – 1 Dec 23:00 UTC.
                call("+36301234567", "2026-11-30T22:59:59.9Z", "completed"),
                call("+36301234567", "2026-11-30T23:00:00.25Z", "completed"),
                call("+36301234567", "2026-12-01T12:00:00Z", "completed"),
                call("+36301234567", "2026-12-01T22:59:59Z", "completed"),
                call("+36301234567", "2026-12-01T23:00:00Z", "completed"),
                // 1 July (summer time, UTC+2) is 30 Jun 22:00 – 1 Jul 22:00 UTC.
                call("+36301234567", "2026-06-30T21:59:59Z", "completed"),
                call("+36301234567", "2026-06-30T22:00:00Z", "completed"),
            ],
        );
        let day = |d: &str| RecordQuery {
            day: Some(d.parse().expect("date")),
            ..query()
        };
        let rows = r.search(&day("2026-12-01")).expect("search");
        assert_eq!(
            starts(&rows),
            [
                "2026-12-01T22:59:59Z",
                "2026-12-01T12:00:00Z",
                "2026-11-30T23:00:00.25Z"
            ]
        );
        let rows = r.search(&day("2026-07-01")).expect("search");
        assert_eq!(starts(&rows), ["2026-06-30T22:00:00Z"]);
    }

    #[test]
    fn a_row_reads_back_as_the_record_stored() {
        let stored = CallRecord {
            forms: vec!["tajekoztato".into(), "lakcim".into()],
            rating: Some(4),
            ..queued("+36301234567", "2026-12-01T16:05:00.123Z", 42, Some("anna"))
        };
        let r = db("roundtrip", std::slice::from_ref(&stored));
        let rows = r.search(&query()).expect("search");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].record, stored);
        assert!(!rows[0].pseudonymized);
        assert!(rows[0].id > 0);
    }

    #[test]
    fn a_number_is_found_in_any_common_form_or_by_some_of_its_digits() {
        let r = db(
            "number",
            &[
                call("+36301234567", "2026-12-01T10:00:00Z", "completed"),
                call("+3623444555", "2026-12-01T11:00:00Z", "completed"),
                call("+4312345678", "2026-12-01T12:00:00Z", "completed"),
                call("", "2026-12-01T13:00:00Z", "completed"),
            ],
        );
        let callers = |number: &str| -> Vec<String> {
            r.search(&RecordQuery {
                number: Some(number.into()),
                ..query()
            })
            .expect("search")
            .into_iter()
            .map(|row| row.record.caller)
            .collect()
        };
        assert_eq!(callers("06 30 123 4567"), ["+36301234567"]);
        assert_eq!(callers("+36301234567"), ["+36301234567"]);
        assert_eq!(callers("30/123-4567"), ["+36301234567"]);
        assert_eq!(
            callers("0630123"),
            ["+36301234567"],
            "a start typed with 06"
        );
        assert_eq!(callers("4567"), ["+4312345678", "+36301234567"]);
        assert_eq!(callers("444 555"), ["+3623444555"]);
        assert_eq!(callers("0043 1 2345678"), ["+4312345678"]);
        assert_eq!(callers("  ").len(), 4, "a blank number filters nothing");
        assert_eq!(
            r.search(&RecordQuery {
                number: Some("anna".into()),
                ..query()
            }),
            Err(
                "number: expected digits of a phone number (e.g. 06 30 123 4567 or 4567), found \"anna\""
                    .to_owned()
            )
        );
    }

    #[test]
    fn outcome_and_limit_narrow_the_search_newest_first() {
        let r = db(
            "outcome",
            &[
                call("+36301234567", "2026-12-01T10:00:00Z", "callback"),
                call("+36301234568", "2026-12-01T11:00:00Z", "completed"),
                call("+36301234569", "2026-12-01T12:00:00Z", "callback"),
                call("+36301234560", "2026-12-01T13:00:00Z", "callback"),
            ],
        );
        let rows = r
            .search(&RecordQuery {
                outcome: Some(Outcome::Callback),
                limit: 2,
                ..query()
            })
            .expect("search");
        assert_eq!(
            starts(&rows),
            ["2026-12-01T13:00:00Z", "2026-12-01T12:00:00Z"]
        );
        assert_eq!(r.search(&query()).expect("search").len(), 4, "limit 0");
        assert_eq!(limit(0), DEFAULT_LIMIT);
        assert_eq!(limit(u32::MAX), MAX_LIMIT);
    }

    #[test]
    fn search_csv_is_the_export_format_for_the_rows_found() {
        let r = db(
            "csv",
            &[
                CallRecord {
                    path: "welcome>main_menu,x".into(),
                    ..queued("+36301234567", "2026-12-01T10:00:00Z", 12, Some("anna"))
                },
                call("+3623444555", "2026-12-01T11:00:00Z", "completed"),
                call("+36301234567", "2026-12-01T12:00:00Z", "voicemail"),
            ],
        );
        let mut export = Vec::new();
        r.export_csv(
            ts("2026-12-01T00:00:00Z"),
            ts("2026-12-02T00:00:00Z"),
            &mut export,
        )
        .expect("export");
        let export = String::from_utf8(export).expect("utf-8");
        let export: Vec<&str> = export.lines().collect();

        let mut found = Vec::new();
        let n = r
            .search_csv(
                &RecordQuery {
                    number: Some("06301234567".into()),
                    ..query()
                },
                &mut found,
            )
            .expect("search");
        let found = String::from_utf8(found).expect("utf-8");
        assert_eq!(n, 2);
        // The same header and the same lines, newest first.
        assert_eq!(
            found.lines().collect::<Vec<_>>(),
            [export[0], export[3], export[1]]
        );
        assert!(
            export[1].contains(",\"welcome>main_menu,x\",12,anna,"),
            "{}",
            export[1]
        );
    }

    #[test]
    fn contacts_are_one_callers_calls_since_then_with_counts_and_no_pseudonymised_rows() {
        let r = db(
            "contacts",
            &[
                call("+36301234567", "2026-10-20T10:00:00Z", "callback"),
                call("+36301234567", "2026-11-15T10:00:00Z", "voicemail"),
                call("+36301234567", "2026-11-20T10:00:00Z", "voicemail"),
                CallRecord {
                    forms: vec!["tajekoztato".into()],
                    ..call("+36301234567", "2026-11-25T10:00:00Z", "callback")
                },
                CallRecord {
                    forms: vec!["lakcim".into(), "tajekoztato".into()],
                    ..queued("+36301234567", "2026-11-30T10:00:00Z", 20, Some("anna"))
                },
                call("+3623444555", "2026-11-30T11:00:00Z", "voicemail"),
            ],
        );
        // The 15 November call is pseudonymised (as if it were old): it no longer matches.
        r.apply_retention(ts("2026-11-16T00:00:00Z"), ts("2000-01-01T00:00:00Z"), "s")
            .expect("retention");
        let c = r
            .contacts("06 30 123 4567", ts("2026-11-01T00:00:00Z"))
            .expect("contacts");
        assert_eq!(c.number, "+36301234567");
        assert_eq!(
            (c.total, c.voice_messages, c.callbacks, c.forms),
            (3, 1, 1, 3)
        );
        assert_eq!(
            c.by_outcome,
            [
                (Outcome::Callback, 1),
                (Outcome::Operator, 1),
                (Outcome::Voicemail, 1)
            ]
        );
        let listed: Vec<(String, &str, usize)> = c
            .calls
            .iter()
            .map(|k| (k.start.to_string(), k.outcome.as_str(), k.forms.len()))
            .collect();
        assert_eq!(
            listed,
            [
                ("2026-11-30T10:00:00Z".to_owned(), "operator", 2),
                ("2026-11-25T10:00:00Z".to_owned(), "callback", 1),
                ("2026-11-20T10:00:00Z".to_owned(), "voicemail", 0),
            ]
        );
        assert_eq!(c.calls[0].operator.as_deref(), Some("anna"));
        assert_eq!(c.calls[0].queue_wait_s, Some(20));
        assert_eq!(
            c.calls[0].path,
            "welcome>check_open>main_menu>operator>operator_queue"
        );

        let nobody = r
            .contacts("", ts("2026-11-01T00:00:00Z"))
            .expect("contacts");
        assert_eq!(nobody.total, 0);
        assert!(nobody.calls.is_empty());
    }

    #[test]
    fn wallboard_counts_outcomes_and_calls_answered_within_a_minute() {
        let r = db(
            "wallboard",
            &[
                queued("+36301234561", "2026-11-30T22:00:00Z", 10, Some("anna")),
                queued("+36301234562", "2026-12-01T07:00:00Z", 30, Some("anna")),
                queued("+36301234563", "2026-12-01T07:10:00Z", 60, Some("bela")),
                queued("+36301234564", "2026-12-01T07:20:00Z", 61, Some("anna")),
                queued("+36301234565", "2026-12-01T07:30:00Z", 90, None),
                call("+36301234566", "2026-12-01T07:40:00Z", "completed"),
            ],
        );
        // Since midnight in Budapest.
        let today = ts("2026-11-30T23:00:00Z");
        assert_eq!(
            r.outcomes_since(today).expect("outcomes"),
            [
                (Outcome::Operator, 3),
                (Outcome::AbandonedQueue, 1),
                (Outcome::Completed, 1)
            ]
        );
        let level = r.answered_within(today, 60).expect("service level");
        assert_eq!(
            level,
            ServiceLevel {
                queued: 4,
                answered: 3,
                answered_within: 2
            }
        );
        assert_eq!(level.share(), Some(0.5));
        assert_eq!(
            r.answered_within(ts("2027-01-01T00:00:00Z"), 60)
                .expect("none")
                .share(),
            None
        );
    }
}
