//! Everything the daemon must not forget: SQLite on disk.
//!
//! One database file (`[notify] db`, by default `<state.dir>/outbox.db`) holds
//!
//! - the outbox (`outbox.rs`): every SMS and email, a row *before* the caller hears
//!   "elküldtük";
//! - voice messages (`voice.rs`) and the office emails about them.
//!
//! (Call records live in a database of their own, see [`crate::cdr`].)
//!
//! Durability: [`Store::enqueue`] and every other write return only after the commit is on
//! disk. The database runs in WAL mode with `synchronous=FULL`; SQLite's documentation
//! (pragma `synchronous`): in WAL mode, FULL syncs the WAL after each transaction commit, so
//! a committed row survives a crash or power loss (NORMAL would only guarantee consistency,
//! not durability).
//!
//! Times are Unix milliseconds passed in by the caller; this module reads no clock.

mod outbox;
mod voice;

use std::path::Path;

use rusqlite::Connection;

/// How a message travels; stored as its [`Channel::as_str`] name.
pub use crate::notify::Channel;
pub use outbox::{Enqueued, NewMessage, Row};
pub use voice::{OfficeMail, VoiceMessage};

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
    /// Opens (creating if needed) the database at `path` in WAL mode with full sync.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        // Databases made before voice messages lack the attachment column.
        let has_attachment: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('outbox') WHERE name = 'attachment'")?
            .exists([])?;
        if !has_attachment {
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN attachment TEXT")?;
        }
        Ok(Self { conn })
    }

    /// The journal mode in force (`"wal"` after [`Store::open`]).
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// Data protection: deletes messages created before `before_ms` that are finished
    /// (sent, delivered or failed: queued ones are promises still to keep), and voice
    /// messages created before it that were marked done. Returns how many of each, and the
    /// recordings' files for the caller to delete.
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
        tx.commit()?;
        Ok((outbox, files))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::outbox::{Event, State};
    use testdb::TempDb;

    fn sms(key: &str) -> NewMessage {
        NewMessage {
            key: key.into(),
            channel: Channel::Sms,
            recipient: "+36301234567".into(),
            form_id: Some("lakcim".into()),
            subject: None,
        }
    }

    fn ev(id: u64, from: State, to: State, attempts: u32) -> Event {
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
}
