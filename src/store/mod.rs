//! Everything the daemon must not forget: SQLite on disk.
//!
//! One database file (`[notify] db`, by default `<state.dir>/outbox.db`) holds
//!
//! - the outbox (`outbox.rs`): every SMS and email, a row *before* the caller hears
//!   "elküldtük";
//! - voice messages (`voice.rs`) and the office emails about them;
//! - the worklist ([`worklist`]): the callbacks and voice messages someone must deal with,
//!   one open entry per caller, claimed, annotated and closed by operators;
//! - console sessions ([`sessions`]), so a restart does not log operators out;
//! - operators' registrations (`bindings.rs`), so a restart does not make them unreachable
//!   until their phones register again.
//! - callback jobs ([`callbacks`]): the residents the line calls back, one open job per
//!   number, with their attempts.
//!
//! (Call records live in a database of their own, see [`crate::cdr`].)
//!
//! Durability: [`Store::enqueue`] and every other write return only after the commit is on
//! disk. The database runs in WAL mode with `synchronous=FULL`; SQLite's documentation
//! (pragma `synchronous`): in WAL mode, FULL syncs the WAL after each transaction commit, so
//! a committed row survives a crash or power loss (NORMAL would only guarantee consistency,
//! not durability).
//!
//! Schema versions: the tables of the first releases are created with `CREATE … IF NOT
//! EXISTS` (and one column added by hand), which is version 0. Every later change is an
//! entry of [`MIGRATIONS`], applied in order in one transaction each, which also sets
//! `PRAGMA user_version` to the number of migrations applied; a database from a newer
//! program (a version above what this one knows) is refused rather than misread.
//!
//! Times are Unix milliseconds passed in by the caller; this module reads no clock.

mod bindings;
pub mod callbacks;
mod outbox;
pub mod sessions;
mod voice;
pub mod worklist;

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

/// How a message travels; stored as its [`Channel::as_str`] name.
pub use crate::notify::Channel;
pub use outbox::{Enqueued, NewMessage, Row};
pub use sessions::SessionRow;
pub use voice::{OfficeMail, VoiceMessage};
pub use worklist::{ClaimResult, ReleaseResult, WorkEvent, WorkItem, WorkKind};

/// Version 0: the outbox and voice messages, as the first releases made them.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    channel     TEXT    NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient   TEXT    NOT NULL,
    form_id     TEXT,
    subject     TEXT,
    body        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_ms      INTEGER,
    last_error  TEXT,
    provider_id TEXT,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    downloads   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_state_due ON outbox (state, due_ms);
CREATE INDEX IF NOT EXISTS outbox_provider ON outbox (provider_id);
CREATE TABLE IF NOT EXISTS voice_messages (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    caller      TEXT,
    created_ms  INTEGER NOT NULL,
    menu_path   TEXT    NOT NULL,
    file        TEXT    NOT NULL,
    seconds     REAL    NOT NULL,
    outbox_id   INTEGER,
    done_ms     INTEGER
);
";

/// One schema change: takes the database from the version before it to the next.
type Migration = fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>;

/// Every schema change after version 0, in order: entry `i` takes `PRAGMA user_version`
/// from `i` to `i + 1`. Append only; a released entry is never edited.
const MIGRATIONS: &[Migration] = &[
    worklist::migrate_v1,
    sessions::migrate_v2,
    bindings::migrate_v3,
    callbacks::migrate_v4,
];

/// Store errors.
#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    /// A row holds a value this version cannot read (hand-edited or from a newer version).
    Corrupt {
        table: &'static str,
        id: i64,
        column: &'static str,
        found: String,
    },
    /// The database was made by a newer program.
    TooNew {
        found: i64,
        known: usize,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(e) => write!(f, "outbox database: {e}"),
            Self::Corrupt {
                table,
                id,
                column,
                found,
            } => {
                write!(f, "{table} row {id}: unexpected {column} {found:?}")
            }
            Self::TooNew { found, known } => write!(
                f,
                "outbox database: expected schema version {known} or older, found {found} \
                 (written by a newer version of ugyelet)"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// The daemon's database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` in WAL mode with full sync, and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        check_version(&conn)?;
        conn.execute_batch(SCHEMA)?;
        // Databases made before voice messages lack the attachment column.
        let has_attachment: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('outbox') WHERE name = 'attachment'")?
            .exists([])?;
        if !has_attachment {
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN attachment TEXT")?;
        }
        loop {
            // IMMEDIATE takes the write lock before reading the version, so two programs
            // opening the same file cannot both apply one migration.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version = check_version(&tx)?;
            let Some(migrate) = MIGRATIONS.get(version) else {
                break;
            };
            migrate(&tx)?;
            // At most MIGRATIONS.len(), a handful.
            tx.pragma_update(None, "user_version", version as i64 + 1)?;
            tx.commit()?;
        }
        Ok(Self { conn })
    }

    /// The schema version (`PRAGMA user_version`): how many [`MIGRATIONS`] were applied.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        check_version(&self.conn)
    }

    /// The journal mode in force (`"wal"` after [`Store::open`]).
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// Data protection: deletes messages created before `before_ms` that are finished
    /// (sent, delivered or failed: queued ones are promises still to keep), voice messages
    /// created before it that were marked done, done worklist entries whose last call
    /// was before it, and finished callback jobs last changed before it (open entries and
    /// jobs stay, however old). Returns how many outbox messages, and
    /// the recordings' files for the caller to delete.
    pub fn apply_retention(&mut self, before_ms: i64) -> Result<(usize, Vec<String>), StoreError> {
        let tx = self.conn.transaction()?;
        let files: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT file FROM voice_messages WHERE created_ms < ?1 AND done_ms IS NOT NULL",
            )?;
            let rows = stmt.query_map([before_ms], |r| r.get::<_, String>(0))?;
            let mut v = Vec::new();
            for r in rows {
                v.push(r?);
            }
            v
        };
        tx.execute(
            "DELETE FROM voice_messages WHERE created_ms < ?1 AND done_ms IS NOT NULL",
            [before_ms],
        )?;
        let outbox = tx.execute(
            "DELETE FROM outbox WHERE created_ms < ?1 \
             AND state IN ('sent', 'delivered', 'failed') \
             AND id NOT IN (SELECT outbox_id FROM voice_messages WHERE outbox_id IS NOT NULL)",
            [before_ms],
        )?;
        tx.execute(
            "DELETE FROM work_events WHERE work_id IN \
             (SELECT id FROM work WHERE last_ms < ?1 AND done_ms IS NOT NULL)",
            [before_ms],
        )?;
        tx.execute(
            "DELETE FROM work WHERE last_ms < ?1 AND done_ms IS NOT NULL",
            [before_ms],
        )?;
        tx.execute(
            "DELETE FROM callback_jobs WHERE updated_ms < ?1 \
             AND state NOT IN ('waiting', 'calling')",
            [before_ms],
        )?;
        tx.commit()?;
        Ok((outbox, files))
    }
}

/// The database's schema version, refused when it is newer than this program knows.
fn check_version(conn: &Connection) -> Result<usize, StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match usize::try_from(found) {
        Ok(v) if v <= MIGRATIONS.len() => Ok(v),
        _ => Err(StoreError::TooNew {
            found,
            known: MIGRATIONS.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::outbox::State;
    use testdb::{TempDb, ev, sms};

    #[test]
    fn retention_deletes_old_finished_messages_and_keeps_waiting_ones() {
        let db = TempDb::new("retention");
        let mut s = Store::open(&db.path()).expect("open");
        let sent = s
            .enqueue(&sms("old-sent"), 1_000, |_| "a".into())
            .expect("enqueue")
            .id;
        assert!(
            s.apply(&ev(sent, State::Queued, State::Sending, 1), None, 1_001)
                .expect("apply")
        );
        assert!(
            s.apply(&ev(sent, State::Sending, State::Sent, 1), None, 1_002)
                .expect("apply")
        );
        let waiting = s
            .enqueue(&sms("old-queued"), 1_000, |_| "b".into())
            .expect("enqueue")
            .id;
        let young = s
            .enqueue(&sms("new-sent"), 50_000, |_| "c".into())
            .expect("enqueue")
            .id;
        assert!(
            s.apply(&ev(young, State::Queued, State::Sending, 1), None, 50_001)
                .expect("apply")
        );
        assert!(
            s.apply(&ev(young, State::Sending, State::Sent, 1), None, 50_002)
                .expect("apply")
        );
        let (deleted, files) = s.apply_retention(10_000).expect("retention");
        assert_eq!((deleted, files.len()), (1, 0));
        assert!(
            s.get(sent).expect("read").is_none(),
            "old sent message deleted"
        );
        assert!(
            s.get(waiting).expect("read").is_some(),
            "a queued message is never deleted"
        );
        assert!(
            s.get(young).expect("read").is_some(),
            "a young message is kept"
        );
    }

    #[test]
    fn a_database_from_before_versions_is_migrated_and_its_waiting_messages_join_the_worklist() {
        let db = TempDb::new("migrate");
        {
            // What the first releases left on disk: version 0, one message waiting, one done.
            let conn = Connection::open(db.path()).expect("open");
            conn.execute_batch(SCHEMA).expect("old schema");
            conn.execute_batch(
                "INSERT INTO voice_messages (key, caller, created_ms, menu_path, file, seconds, \
                 done_ms) VALUES ('a', '+36301234567', 10, 'welcome>record', 'a.wav', 1.0, NULL), \
                 ('b', '+36701234567', 20, 'welcome>record', 'b.wav', 1.0, 30)",
            )
            .expect("old rows");
        }
        let s = Store::open(&db.path()).expect("migrates");
        assert_eq!(s.schema_version().expect("version"), MIGRATIONS.len());
        let list = s.worklist(true).expect("list");
        assert_eq!(list.len(), 1, "only the waiting message: {list:?}");
        assert_eq!(list[0].number, "+36301234567");
        assert_eq!((list[0].first_ms, list[0].voice_messages.len()), (10, 1));
        drop(s);
        // Opening again applies nothing twice.
        let s = Store::open(&db.path()).expect("reopen");
        assert_eq!(s.worklist(true).expect("list").len(), 1);
    }

    #[test]
    fn a_version_2_database_gains_the_bindings_table_and_keeps_its_sessions() {
        let db = TempDb::new("migrate-v2");
        {
            // What the release with console sessions left on disk.
            let mut conn = Connection::open(db.path()).expect("open");
            conn.execute_batch(SCHEMA).expect("old schema");
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN attachment TEXT")
                .expect("attachment column");
            let tx = conn.transaction().expect("tx");
            worklist::migrate_v1(&tx).expect("v1");
            sessions::migrate_v2(&tx).expect("v2");
            tx.pragma_update(None, "user_version", 2).expect("version");
            tx.commit().expect("commit");
            conn.execute(
                "INSERT INTO sessions VALUES ('h', 'anna', 'operator', 'c', 10, 20)",
                [],
            )
            .expect("a session");
            assert!(
                conn.prepare("SELECT 1 FROM bindings").is_err(),
                "no bindings table before"
            );
        }
        let mut s = Store::open(&db.path()).expect("migrates");
        assert_eq!(s.schema_version().expect("version"), MIGRATIONS.len());
        assert_eq!(
            s.session("h").expect("read").map(|r| r.account),
            Some("anna".to_owned())
        );
        assert_eq!(s.bindings().expect("empty table"), vec![]);
        let b = crate::registrar::SavedBinding {
            aor: "anna".to_owned(),
            contact: "<sip:anna@127.0.0.1:5070>".to_owned(),
            instance: None,
            source: "127.0.0.1:5070".parse().expect("addr"),
            call_id: "c".to_owned(),
            cseq: 1,
            registered_ms: 1,
            expires_ms: 2,
            user_agent: None,
        };
        s.replace_bindings(std::slice::from_ref(&b)).expect("write");
        assert_eq!(s.bindings().expect("read"), vec![b]);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused_not_misread() {
        let db = TempDb::new("too-new");
        {
            let conn = Connection::open(db.path()).expect("open");
            conn.pragma_update(None, "user_version", 99)
                .expect("version");
        }
        let e = Store::open(&db.path()).expect_err("refused");
        assert_eq!(
            e.to_string(),
            format!(
                "outbox database: expected schema version {} or older, found 99 \
                 (written by a newer version of ugyelet)",
                MIGRATIONS.len()
            )
        );
    }
}

/// A database file in a directory of its own, removed when dropped.
#[cfg(test)]
pub(crate) mod testdb {
    pub(crate) struct TempDb(std::path::PathBuf);

    impl TempDb {
        pub(crate) fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("ugyelet-store-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            Self(dir)
        }
        pub(crate) fn path(&self) -> std::path::PathBuf {
            self.0.join("outbox.sqlite")
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    use super::{Channel, NewMessage};
    use crate::notify::outbox::{Event, State};

    /// An SMS of the address-registration form to a Budapest-area mobile.
    pub(crate) fn sms(key: &str) -> NewMessage {
        NewMessage {
            key: key.into(),
            channel: Channel::Sms,
            recipient: "+36301234567".into(),
            form_id: Some("lakcim".into()),
            subject: None,
        }
    }

    /// A state change of message `id` with nothing else to it.
    pub(crate) fn ev(id: u64, from: State, to: State, attempts: u32) -> Event {
        Event {
            id,
            from,
            to,
            attempts,
            due: None,
            reason: None,
            provider_id: None,
        }
    }
}
