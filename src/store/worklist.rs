//! The worklist: the callbacks and voice messages someone in the office must deal with.
//!
//! An entry is a caller, not a call. Whoever rings three times after hours and then leaves
//! a message is one entry with a count of four, the time of the first and of the last
//! attempt, the menu path of the last one and the ids of the voice messages; operators do
//! not ring the same person back three times. So there is at most ONE open entry per caller
//! number (a unique index says so), and a call or message from a number with an open entry
//! adds to it. A caller whose number is hidden cannot be told apart from another, so each
//! such call is an entry of its own.
//!
//! Numbers are matched in E.164 ([`crate::phone::normalize`]): `06301234567` and
//! `+36301234567` are the same caller. A number with no digit in it (empty, `anonymous`,
//! `unknown`) is hidden.
//!
//! Each entry is owned while someone works on it:
//!
//! ```text
//!   work_add ──► open ─── work_claim(anna) ──► owned by anna ─── work_done(anna) ──► done
//!                 ▲                              │    │
//!                 └──── work_release(anna) ──────┘    └── work_reassign(bela) ──► owned by bela
//!
//!   open ── work_done ──► done          owned by anna ── work_claim(bela) ──► unchanged,
//!                                                         AlreadyOwnedBy("anna")
//! ```
//!
//! Who may do what (may an operator close an entry someone else claimed, may an admin take
//! one over) is the console's decision; the store records who did it. Marking an entry done
//! also marks its voice messages done in the voice-message list, in the same transaction.
//! A call or message after that opens a new entry.
//!
//! Entries come from two places: [`Store::add_voice_message`] adds a
//! [`WorkKind::VoiceMessage`] in the transaction that stores the message, and the driver's
//! call-record writer adds a [`WorkKind::Callback`] for every finished call whose outcome
//! asks for one ([`crate::outcome::Outcome::needs_callback`]).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Store, StoreError};

/// Migration to schema version 1: the worklist tables, and an entry for every voice message
/// not yet done, so an upgrade shows the messages already waiting.
pub(super) fn migrate_v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
CREATE TABLE work (
    id          INTEGER PRIMARY KEY,
    -- E.164 when the caller ID could be normalised, else as received.
    number      TEXT    NOT NULL,
    -- 1: no number to match on (each call is its own entry).
    hidden      INTEGER NOT NULL,
    first_ms    INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    -- Menu path of the latest call or message.
    path        TEXT    NOT NULL,
    owner       TEXT,
    claimed_ms  INTEGER,
    note        TEXT    NOT NULL DEFAULT '',
    note_by     TEXT,
    note_ms     INTEGER,
    done_ms     INTEGER,
    done_by     TEXT
);
CREATE UNIQUE INDEX work_open_number ON work (number) WHERE done_ms IS NULL AND hidden = 0;
-- One row per call or message that fed an entry (deleted with it by apply_retention).
CREATE TABLE work_events (
    id            INTEGER PRIMARY KEY,
    work_id       INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('callback', 'voice_message')),
    at_ms         INTEGER NOT NULL,
    path          TEXT    NOT NULL,
    voice_message INTEGER
);
CREATE INDEX work_events_work ON work_events (work_id);
",
    )?;
    let waiting: Vec<(i64, Option<String>, i64, String)> = {
        let mut stmt = tx.prepare(
            "SELECT id, caller, created_ms, menu_path FROM voice_messages \
             WHERE done_ms IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, caller, at_ms, path) in waiting {
        add(
            tx,
            caller.as_deref().unwrap_or(""),
            WorkKind::VoiceMessage,
            at_ms,
            &path,
            Some(id as u64),
        )?;
    }
    Ok(())
}

/// Why an entry is on the list; stored as its [`WorkKind::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkKind {
    /// A call that needs returning: the caller hung up in the queue, nobody was there to
    /// answer, or they asked to be called back.
    Callback,
    /// The caller left a voice message.
    VoiceMessage,
}

impl WorkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::VoiceMessage => "voice_message",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "callback" => Some(Self::Callback),
            "voice_message" => Some(Self::VoiceMessage),
            _ => None,
        }
    }
}

/// One call or message that fed an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkEvent {
    pub kind: WorkKind,
    pub at_ms: i64,
    /// The dial-plan path of that call.
    pub path: String,
    pub voice_message: Option<u64>,
}

/// One worklist entry: a caller someone must deal with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub id: u64,
    /// E.164 when the caller ID could be normalised, else as received (possibly empty).
    pub number: String,
    /// No number to call back (each such call is an entry of its own).
    pub hidden: bool,
    /// Why it is on the list, each kind once, in the order they first came.
    pub kinds: Vec<WorkKind>,
    /// The first and the latest call or message.
    pub first_ms: i64,
    pub last_ms: i64,
    /// Calls and messages so far.
    pub count: u32,
    /// Menu path of the latest call or message.
    pub path: String,
    /// The voice messages' ids (see [`Store::voice_messages`]), oldest first.
    pub voice_messages: Vec<u64>,
    /// Every call and message, oldest first.
    pub events: Vec<WorkEvent>,
    /// Who is working on it.
    pub owner: Option<String>,
    pub claimed_ms: Option<i64>,
    pub note: String,
    pub note_by: Option<String>,
    pub note_ms: Option<i64>,
    pub done: bool,
    pub done_by: Option<String>,
    pub done_ms: Option<i64>,
}

/// What [`Store::work_claim`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// The entry is now (or already was) the claimant's.
    Claimed,
    /// Someone else works on it; nothing changed.
    AlreadyOwnedBy(String),
    NotFound,
    /// The entry is closed; nothing changed.
    Done,
}

/// What [`Store::work_release`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseResult {
    /// Nobody owns it now.
    Released,
    /// Nobody owned it; nothing changed.
    NotClaimed,
    /// Someone else owns it; nothing changed.
    OwnedBy(String),
    NotFound,
    /// The entry is closed (its owner stays on record); nothing changed.
    Done,
}

/// The number an entry is matched on, and whether it is hidden.
fn matching_number(number: &str) -> (String, bool) {
    let key = crate::phone::normalize(number).unwrap_or_else(|| number.trim().to_owned());
    let hidden = !key.bytes().any(|b| b.is_ascii_digit());
    (key, hidden)
}

/// Adds one call or message to the caller's open entry, or opens one; inside the caller's
/// transaction (a voice message and its entry are one write). Returns the entry's id.
pub(super) fn add(
    conn: &Connection,
    number: &str,
    kind: WorkKind,
    at_ms: i64,
    path: &str,
    voice_message: Option<u64>,
) -> rusqlite::Result<u64> {
    let (number, hidden) = matching_number(number);
    let open: Option<i64> = if hidden {
        None
    } else {
        conn.query_row(
            "SELECT id FROM work WHERE number = ?1 AND hidden = 0 AND done_ms IS NULL",
            [&number],
            |r| r.get(0),
        )
        .optional()?
    };
    let id = match open {
        Some(id) => {
            // SET expressions read the row as it was, so `last_ms` below is the old one:
            // a late-arriving older call does not replace the latest path.
            conn.execute(
                "UPDATE work SET count = count + 1, first_ms = MIN(first_ms, ?1), \
                 last_ms = MAX(last_ms, ?1), \
                 path = CASE WHEN ?1 >= last_ms THEN ?2 ELSE path END WHERE id = ?3",
                params![at_ms, path, id],
            )?;
            id
        }
        None => {
            conn.execute(
                "INSERT INTO work (number, hidden, first_ms, last_ms, count, path) \
                 VALUES (?1, ?2, ?3, ?3, 1, ?4)",
                params![number, hidden, at_ms, path],
            )?;
            conn.last_insert_rowid()
        }
    };
    conn.execute(
        "INSERT INTO work_events (work_id, kind, at_ms, path, voice_message) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            kind.as_str(),
            at_ms,
            path,
            voice_message.map(|v| v as i64)
        ],
    )?;
    Ok(id as u64)
}

const WORK_COLUMNS: &str = "id, number, hidden, first_ms, last_ms, count, path, owner, \
                            claimed_ms, note, note_by, note_ms, done_ms, done_by";

fn item_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkItem> {
    let done_ms: Option<i64> = r.get(12)?;
    Ok(WorkItem {
        id: r.get::<_, i64>(0)? as u64,
        number: r.get(1)?,
        hidden: r.get(2)?,
        kinds: Vec::new(),
        first_ms: r.get(3)?,
        last_ms: r.get(4)?,
        count: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
        path: r.get(6)?,
        voice_messages: Vec::new(),
        events: Vec::new(),
        owner: r.get(7)?,
        claimed_ms: r.get(8)?,
        note: r.get(9)?,
        note_by: r.get(10)?,
        note_ms: r.get(11)?,
        done: done_ms.is_some(),
        done_by: r.get(13)?,
        done_ms,
    })
}

/// The owner and whether it is done, of entry `id` (`None`: no such entry).
type OwnerAndDone = Option<(Option<String>, bool)>;

fn owner_and_done(conn: &Connection, id: u64) -> rusqlite::Result<OwnerAndDone> {
    conn.query_row(
        "SELECT owner, done_ms IS NOT NULL FROM work WHERE id = ?1",
        [id as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

impl Store {
    /// Adds a call or message from `number` at `at_ms` (Unix ms) to the caller's open
    /// entry (count, last time, menu path `path`, the voice message's id), or opens a new
    /// entry when there is none or the number is hidden. Returns the entry's id.
    pub fn work_add(
        &mut self,
        number: &str,
        kind: WorkKind,
        at_ms: i64,
        path: &str,
        voice_message: Option<u64>,
    ) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let id = add(&tx, number, kind, at_ms, path, voice_message)?;
        tx.commit()?;
        Ok(id)
    }

    /// The entries, open ones first, each group oldest (by first call) first; the done ones
    /// only when `include_done`.
    pub fn worklist(&self, include_done: bool) -> Result<Vec<WorkItem>, StoreError> {
        let sql = format!(
            "SELECT {WORK_COLUMNS} FROM work WHERE ?1 OR done_ms IS NULL \
             ORDER BY done_ms IS NOT NULL, first_ms, id"
        );
        let mut items = {
            let mut stmt = self.conn.prepare(&sql)?;
            let rows = stmt.query_map([include_done], item_from)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let mut events = self.events(
            "SELECT work_id, kind, at_ms, path, voice_message, id FROM work_events \
             WHERE work_id IN (SELECT id FROM work WHERE ?1 OR done_ms IS NULL) \
             ORDER BY at_ms, id",
            &[&include_done],
        )?;
        for item in &mut items {
            fill(item, events.remove(&item.id).unwrap_or_default());
        }
        Ok(items)
    }

    /// One entry, open or done.
    pub fn work_item(&self, id: u64) -> Result<Option<WorkItem>, StoreError> {
        let sql = format!("SELECT {WORK_COLUMNS} FROM work WHERE id = ?1");
        let Some(mut item) = self
            .conn
            .query_row(&sql, [id as i64], item_from)
            .optional()?
        else {
            return Ok(None);
        };
        let mut events = self.events(
            "SELECT work_id, kind, at_ms, path, voice_message, id FROM work_events \
             WHERE work_id = ?1 ORDER BY at_ms, id",
            &[&(id as i64)],
        )?;
        fill(&mut item, events.remove(&id).unwrap_or_default());
        Ok(Some(item))
    }

    /// Events per entry id, from a query of (work_id, kind, at_ms, path, voice_message, id).
    fn events(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<HashMap<u64, Vec<WorkEvent>>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query(args)?;
        let mut out: HashMap<u64, Vec<WorkEvent>> = HashMap::new();
        while let Some(r) = rows.next()? {
            let kind: String = r.get(1)?;
            let Some(kind) = WorkKind::parse(&kind) else {
                return Err(StoreError::Corrupt {
                    table: "work_events",
                    id: r.get(5)?,
                    column: "kind",
                    found: kind,
                });
            };
            out.entry(r.get::<_, i64>(0)? as u64)
                .or_default()
                .push(WorkEvent {
                    kind,
                    at_ms: r.get(2)?,
                    path: r.get(3)?,
                    voice_message: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                });
        }
        Ok(out)
    }

    /// `owner` takes entry `id`. Claiming one's own again is fine (the first claim's time
    /// stays); someone else's is refused with their name.
    pub fn work_claim(
        &mut self,
        id: u64,
        owner: &str,
        now_ms: i64,
    ) -> Result<ClaimResult, StoreError> {
        let tx = self.conn.transaction()?;
        let out = match owner_and_done(&tx, id)? {
            None => ClaimResult::NotFound,
            Some((_, true)) => ClaimResult::Done,
            Some((Some(current), false)) if current != owner => {
                ClaimResult::AlreadyOwnedBy(current)
            }
            Some((current, false)) => {
                if current.is_none() {
                    tx.execute(
                        "UPDATE work SET owner = ?1, claimed_ms = ?2 WHERE id = ?3",
                        params![owner, now_ms, id as i64],
                    )?;
                }
                ClaimResult::Claimed
            }
        };
        tx.commit()?;
        Ok(out)
    }

    /// Gives entry `id` to `owner` whoever holds it (an admin reassigning the entries of
    /// someone who went home; the caller checks that `by` may). `AlreadyOwnedBy` never
    /// comes back.
    pub fn work_reassign(
        &mut self,
        id: u64,
        owner: &str,
        now_ms: i64,
    ) -> Result<ClaimResult, StoreError> {
        let n = self.conn.execute(
            "UPDATE work SET owner = ?1, claimed_ms = ?2 \
             WHERE id = ?3 AND done_ms IS NULL AND owner IS NOT ?1",
            params![owner, now_ms, id as i64],
        )?;
        if n == 1 {
            return Ok(ClaimResult::Claimed);
        }
        Ok(match owner_and_done(&self.conn, id)? {
            None => ClaimResult::NotFound,
            Some((_, true)) => ClaimResult::Done,
            Some((_, false)) => ClaimResult::Claimed,
        })
    }

    /// `by` gives entry `id` back to the open list; only its owner can.
    pub fn work_release(&mut self, id: u64, by: &str) -> Result<ReleaseResult, StoreError> {
        let tx = self.conn.transaction()?;
        let out = match owner_and_done(&tx, id)? {
            None => ReleaseResult::NotFound,
            Some((_, true)) => ReleaseResult::Done,
            Some((None, false)) => ReleaseResult::NotClaimed,
            Some((Some(current), false)) if current != by => ReleaseResult::OwnedBy(current),
            Some((Some(_), false)) => {
                tx.execute(
                    "UPDATE work SET owner = NULL, claimed_ms = NULL WHERE id = ?1",
                    [id as i64],
                )?;
                ReleaseResult::Released
            }
        };
        tx.commit()?;
        Ok(out)
    }

    /// Replaces entry `id`'s note (what was tried, what was promised), recording who wrote
    /// it and when; done entries take notes too. False for an unknown id.
    pub fn work_note(
        &mut self,
        id: u64,
        note: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE work SET note = ?1, note_by = ?2, note_ms = ?3 WHERE id = ?4",
            params![note, by, now_ms, id as i64],
        )?;
        Ok(n == 1)
    }

    /// Closes entry `id` as handled by `by`, and marks its voice messages done, in one
    /// transaction. `None` for an unknown id; `Some(false)` when it was already done
    /// (nothing changes).
    pub fn work_done(
        &mut self,
        id: u64,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<bool>, StoreError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE work SET done_ms = ?1, done_by = ?2 WHERE id = ?3 AND done_ms IS NULL",
            params![now_ms, by, id as i64],
        )?;
        if n == 0 {
            let known = owner_and_done(&tx, id)?.is_some();
            return Ok(known.then_some(false));
        }
        tx.execute(
            "UPDATE voice_messages SET done_ms = ?1 WHERE done_ms IS NULL AND id IN \
             (SELECT voice_message FROM work_events WHERE work_id = ?2)",
            params![now_ms, id as i64],
        )?;
        tx.commit()?;
        Ok(Some(true))
    }

    /// How many entries are open (for the console's badge and metrics).
    pub fn work_open_count(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM work WHERE done_ms IS NULL", [], |r| {
                    r.get(0)
                })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Sets an entry's events and what is derived from them.
fn fill(item: &mut WorkItem, events: Vec<WorkEvent>) {
    for e in &events {
        if !item.kinds.contains(&e.kind) {
            item.kinds.push(e.kind);
        }
        item.voice_messages.extend(e.voice_message);
    }
    item.events = events;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::VoiceMessage;
    use crate::store::testdb::TempDb;

    const ANNA: &str = "anna";
    const BELA: &str = "bela";

    fn voice(s: &mut Store, key: &str, caller: Option<&str>, at_ms: i64) -> u64 {
        let msg = VoiceMessage {
            id: 0,
            key: key.into(),
            caller: caller.map(str::to_owned),
            created_ms: at_ms,
            menu_path: "welcome>record".into(),
            file: format!("/var/lib/ugyelet/messages/{key}.wav"),
            seconds: 2.0,
            outbox_id: None,
            done_ms: None,
        };
        s.add_voice_message(&msg, None).expect("voice message")
    }

    #[test]
    fn one_open_entry_per_number_however_often_they_call_or_leave_a_message() {
        let db = TempDb::new("work-one");
        let mut s = Store::open(&db.path()).expect("open");
        let a = s
            .work_add(
                "06301234567",
                WorkKind::Callback,
                1_000,
                "welcome>queue",
                None,
            )
            .expect("add");
        let b = s
            .work_add(
                "+36301234567",
                WorkKind::Callback,
                2_000,
                "welcome>menu",
                None,
            )
            .expect("add");
        let vm = voice(&mut s, "call-3/record", Some("+36301234567"), 3_000);
        let other = s
            .work_add(
                "+3623444555",
                WorkKind::Callback,
                1_500,
                "welcome>queue",
                None,
            )
            .expect("add");
        assert_eq!(a, b, "the same caller, written two ways, is one entry");
        assert_ne!(a, other);
        let list = s.worklist(false).expect("list");
        assert_eq!(list.len(), 2);
        let e = &list[0];
        assert_eq!(e.id, a);
        assert_eq!(e.number, "+36301234567");
        assert!(!e.hidden);
        assert_eq!((e.count, e.first_ms, e.last_ms), (3, 1_000, 3_000));
        assert_eq!(e.kinds, [WorkKind::Callback, WorkKind::VoiceMessage]);
        assert_eq!(e.voice_messages, [vm]);
        assert_eq!(e.path, "welcome>record", "the latest call's path");
        assert_eq!(
            e.events.iter().map(|v| v.at_ms).collect::<Vec<_>>(),
            [1_000, 2_000, 3_000]
        );
        assert_eq!((e.owner.as_deref(), e.done), (None, false));
        assert_eq!(list[1].id, other);
        assert_eq!(list[1].kinds, [WorkKind::Callback]);
        assert_eq!(s.work_open_count().expect("count"), 2);
    }

    #[test]
    fn a_late_report_of_an_earlier_call_keeps_the_latest_path() {
        let db = TempDb::new("work-late");
        let mut s = Store::open(&db.path()).expect("open");
        let id = s
            .work_add("+36301234567", WorkKind::Callback, 5_000, "new", None)
            .expect("add");
        s.work_add("+36301234567", WorkKind::Callback, 1_000, "old", None)
            .expect("add");
        let e = s.work_item(id).expect("read").expect("entry");
        assert_eq!(
            (e.first_ms, e.last_ms, e.path.as_str()),
            (1_000, 5_000, "new")
        );
        assert_eq!(e.events[0].path, "old", "events are in time order");
    }

    #[test]
    fn hidden_numbers_get_an_entry_per_call() {
        let db = TempDb::new("work-hidden");
        let mut s = Store::open(&db.path()).expect("open");
        s.work_add("", WorkKind::Callback, 1, "a", None)
            .expect("add");
        s.work_add("anonymous", WorkKind::Callback, 2, "b", None)
            .expect("add");
        s.work_add("anonymous", WorkKind::Callback, 3, "c", None)
            .expect("add");
        voice(&mut s, "hidden/record", None, 4);
        let list = s.worklist(false).expect("list");
        assert_eq!(list.len(), 4);
        assert!(list.iter().all(|e| e.hidden && e.count == 1));
        assert_eq!(list[1].number, "anonymous");
    }

    #[test]
    fn a_second_operator_cannot_claim_an_entry_someone_owns() {
        let db = TempDb::new("work-claim");
        let mut s = Store::open(&db.path()).expect("open");
        let id = s
            .work_add("+36301234567", WorkKind::Callback, 1, "q", None)
            .expect("add");
        assert_eq!(
            s.work_claim(id, ANNA, 10).expect("claim"),
            ClaimResult::Claimed
        );
        assert_eq!(
            s.work_claim(id, BELA, 11).expect("claim"),
            ClaimResult::AlreadyOwnedBy(ANNA.into())
        );
        assert_eq!(
            s.work_claim(id, ANNA, 12).expect("claim"),
            ClaimResult::Claimed,
            "claiming one's own again is fine"
        );
        let e = s.work_item(id).expect("read").expect("entry");
        assert_eq!((e.owner.as_deref(), e.claimed_ms), (Some(ANNA), Some(10)));
        assert_eq!(
            s.work_release(id, BELA).expect("release"),
            ReleaseResult::OwnedBy(ANNA.into())
        );
        assert_eq!(
            s.work_release(id, ANNA).expect("release"),
            ReleaseResult::Released
        );
        assert_eq!(
            s.work_release(id, ANNA).expect("release"),
            ReleaseResult::NotClaimed
        );
        assert_eq!(
            s.work_claim(id, BELA, 13).expect("claim"),
            ClaimResult::Claimed
        );
        assert_eq!(
            s.work_reassign(id, ANNA, 14).expect("reassign"),
            ClaimResult::Claimed
        );
        let e = s.work_item(id).expect("read").expect("entry");
        assert_eq!((e.owner.as_deref(), e.claimed_ms), (Some(ANNA), Some(14)));
        assert_eq!(
            s.work_claim(id + 1, ANNA, 15).expect("claim"),
            ClaimResult::NotFound
        );
        assert_eq!(
            s.work_release(id + 1, ANNA).expect("release"),
            ReleaseResult::NotFound
        );
        assert_eq!(s.work_done(id, ANNA, 16).expect("done"), Some(true));
        assert_eq!(
            s.work_claim(id, BELA, 17).expect("claim"),
            ClaimResult::Done
        );
        assert_eq!(
            s.work_reassign(id, BELA, 17).expect("reassign"),
            ClaimResult::Done
        );
        assert_eq!(
            s.work_release(id, ANNA).expect("release"),
            ReleaseResult::Done
        );
    }

    #[test]
    fn done_closes_the_entry_and_its_voice_messages_and_the_next_call_opens_a_new_one() {
        let db = TempDb::new("work-done");
        let mut s = Store::open(&db.path()).expect("open");
        let first = voice(&mut s, "c1/record", Some("+36301234567"), 1_000);
        let second = voice(&mut s, "c2/record", Some("+36301234567"), 2_000);
        let unrelated = voice(&mut s, "c3/record", Some("+36701234567"), 2_500);
        let id = s.worklist(false).expect("list")[0].id;
        assert_eq!(s.work_done(id, BELA, 3_000).expect("done"), Some(true));
        let open: Vec<u64> = s
            .voice_messages(false)
            .expect("messages")
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(open, [unrelated], "both of the caller's messages are done");
        let all = s.voice_messages(true).expect("messages");
        for m in all.iter().filter(|m| m.id == first || m.id == second) {
            assert_eq!(m.done_ms, Some(3_000));
        }
        assert_eq!(s.work_done(id, BELA, 4_000).expect("again"), Some(false));
        assert_eq!(s.work_done(id + 100, BELA, 4_000).expect("unknown"), None);
        let e = s.work_item(id).expect("read").expect("entry");
        assert_eq!(
            (e.done, e.done_by.as_deref(), e.done_ms),
            (true, Some(BELA), Some(3_000))
        );
        assert_eq!(s.work_open_count().expect("count"), 1);

        let again = s
            .work_add("+36301234567", WorkKind::Callback, 5_000, "q", None)
            .expect("add");
        assert_ne!(again, id, "a call after done is a new entry");
        let open: Vec<u64> = s
            .worklist(false)
            .expect("list")
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(open.len(), 2);
        assert!(!open.contains(&id));
        let all: Vec<u64> = s
            .worklist(true)
            .expect("list")
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(
            all.last(),
            Some(&id),
            "done entries come after the open ones"
        );
    }

    #[test]
    fn notes_record_who_wrote_them_and_when() {
        let db = TempDb::new("work-note");
        let mut s = Store::open(&db.path()).expect("open");
        let id = s
            .work_add("+36301234567", WorkKind::Callback, 1, "q", None)
            .expect("add");
        assert!(
            s.work_note(id, "nem vette fel, 19:00-kor újra", ANNA, 7)
                .expect("note")
        );
        assert!(!s.work_note(id + 1, "x", ANNA, 7).expect("note"));
        let e = s.work_item(id).expect("read").expect("entry");
        assert_eq!(
            (e.note.as_str(), e.note_by.as_deref(), e.note_ms),
            ("nem vette fel, 19:00-kor újra", Some(ANNA), Some(7))
        );
        assert_eq!(s.work_item(id + 1).expect("read"), None);
    }

    #[test]
    fn entries_claims_and_notes_survive_reopening_the_database() {
        let db = TempDb::new("work-reopen");
        let id = {
            let mut s = Store::open(&db.path()).expect("open");
            let id = s
                .work_add("+36301234567", WorkKind::Callback, 1_000, "q", None)
                .expect("add");
            voice(&mut s, "c/record", Some("+36301234567"), 2_000);
            s.work_claim(id, ANNA, 3_000).expect("claim");
            s.work_note(id, "visszahívom", ANNA, 3_001).expect("note");
            id
        };
        let mut s = Store::open(&db.path()).expect("reopen");
        let list = s.worklist(false).expect("list");
        assert_eq!(list.len(), 1);
        let e = &list[0];
        assert_eq!(e.id, id);
        assert_eq!((e.count, e.owner.as_deref()), (2, Some(ANNA)));
        assert_eq!(e.note, "visszahívom");
        assert_eq!(e.voice_messages.len(), 1);
        assert_eq!(
            s.work_claim(id, BELA, 4_000).expect("claim"),
            ClaimResult::AlreadyOwnedBy(ANNA.into()),
            "the claim outlives a restart"
        );
        // The unique index still holds after reopening: the same number adds to the entry.
        let again = s
            .work_add("+36301234567", WorkKind::Callback, 5_000, "q", None)
            .expect("add");
        assert_eq!(again, id);
    }

    #[test]
    fn retention_deletes_old_done_entries_and_keeps_open_ones_however_old() {
        let db = TempDb::new("work-retention");
        let mut s = Store::open(&db.path()).expect("open");
        let old_done = s
            .work_add("+36301234567", WorkKind::Callback, 1_000, "q", None)
            .expect("add");
        s.work_done(old_done, ANNA, 1_500).expect("done");
        let old_open = s
            .work_add("+36701234567", WorkKind::Callback, 1_000, "q", None)
            .expect("add");
        let young_done = s
            .work_add("+3623444555", WorkKind::Callback, 50_000, "q", None)
            .expect("add");
        s.work_done(young_done, ANNA, 50_500).expect("done");
        s.apply_retention(10_000).expect("retention");
        let left: Vec<u64> = s
            .worklist(true)
            .expect("list")
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, [old_open, young_done]);
        assert_eq!(s.work_item(old_done).expect("read"), None);
    }
}
