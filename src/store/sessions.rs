//! Console sessions, kept on disk so a daemon restart does not log the operators out.
//!
//! Only a HASH of each session token is stored, never the token: whoever reads the database
//! file (a backup, a copied disk) cannot take over a session with what they find there.
//! The caller hashes (e.g. SHA-256 of the cookie's random value, hex) and looks sessions up
//! by that hash; this module never sees a token. The CSRF token is stored as it is, since
//! it is compared with what the page sends back and is worthless without the session
//! cookie.
//!
//! How long a session lives is the console's decision: it passes the two limits to
//! [`Store::expire_sessions`] (idle since, created before) and should check them again on
//! [`Store::session`], since expiry runs only now and then. Each
//! [`Store::touch_session`] is a durable write (one disk sync), so touching once a minute
//! per session, not on every request, is enough for idle limits counted in minutes.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError};

/// Migration to schema version 2: the sessions table.
pub(super) fn migrate_v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,
    account      TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    csrf         TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX sessions_account ON sessions (account);
",
    )
}

/// One logged-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The operator account (`operators.toml` name).
    pub account: String,
    /// The role at login (`"operator"` or `"admin"`).
    pub role: String,
    /// The session's CSRF token.
    pub csrf: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
}

impl Store {
    /// Stores a new session under the hash of its token (see the module doc); it is last
    /// seen at creation. A hash already stored is an error (tokens are random: a repeat
    /// is a bug).
    pub fn create_session(
        &mut self,
        token_hash: &str,
        account: &str,
        role: &str,
        csrf: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sessions (token_hash, account, role, csrf, created_ms, last_seen_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![token_hash, account, role, csrf, now_ms],
        )?;
        Ok(())
    }

    /// The session stored under `token_hash`, whatever its age.
    pub fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT account, role, csrf, created_ms, last_seen_ms FROM sessions \
                 WHERE token_hash = ?1",
                [token_hash],
                |r| {
                    Ok(SessionRow {
                        account: r.get(0)?,
                        role: r.get(1)?,
                        csrf: r.get(2)?,
                        created_ms: r.get(3)?,
                        last_seen_ms: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records that the session was used at `now_ms` (never moves backwards). False when
    /// there is no such session.
    pub fn touch_session(&mut self, token_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE sessions SET last_seen_ms = MAX(last_seen_ms, ?1) WHERE token_hash = ?2",
            params![now_ms, token_hash],
        )?;
        Ok(n == 1)
    }

    /// Logs one session out. False when there was no such session.
    pub fn delete_session(&mut self, token_hash: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(n == 1)
    }

    /// Logs every session of `account` out (after a password reset or a role change);
    /// returns how many.
    pub fn delete_sessions_of(&mut self, account: &str) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM sessions WHERE account = ?1", [account])?)
    }

    /// Deletes the sessions last seen before `idle_before_ms` or created before
    /// `created_before_ms`; returns how many.
    pub fn expire_sessions(
        &mut self,
        idle_before_ms: i64,
        created_before_ms: i64,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM sessions WHERE last_seen_ms < ?1 OR created_ms < ?2",
            params![idle_before_ms, created_before_ms],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testdb::TempDb;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_session_survives_reopening_the_database_and_is_touched_forward_only() {
        let db = TempDb::new("sessions-reopen");
        {
            let mut s = Store::open(&db.path()).expect("open");
            s.create_session(HASH, "anna", "admin", "csrf-1", 1_000)
                .expect("create");
            assert!(s.touch_session(HASH, 5_000).expect("touch"));
            assert!(s.touch_session(HASH, 4_000).expect("touch"));
            assert!(!s.touch_session("other", 5_000).expect("touch"));
        }
        let mut s = Store::open(&db.path()).expect("reopen");
        assert_eq!(
            s.session(HASH).expect("read"),
            Some(SessionRow {
                account: "anna".into(),
                role: "admin".into(),
                csrf: "csrf-1".into(),
                created_ms: 1_000,
                last_seen_ms: 5_000,
            })
        );
        assert_eq!(s.session("other").expect("read"), None);
        assert!(s.delete_session(HASH).expect("logout"));
        assert!(!s.delete_session(HASH).expect("logout"));
        assert_eq!(s.session(HASH).expect("read"), None);
    }

    #[test]
    fn the_same_token_hash_cannot_be_stored_twice() {
        let db = TempDb::new("sessions-dup");
        let mut s = Store::open(&db.path()).expect("open");
        s.create_session(HASH, "anna", "operator", "c", 1)
            .expect("create");
        assert!(s.create_session(HASH, "bela", "admin", "c", 2).is_err());
        assert_eq!(s.session(HASH).expect("read").expect("row").account, "anna");
    }

    #[test]
    fn a_password_reset_logs_out_every_session_of_that_account_only() {
        let db = TempDb::new("sessions-account");
        let mut s = Store::open(&db.path()).expect("open");
        s.create_session("h1", "anna", "operator", "c", 1)
            .expect("create");
        s.create_session("h2", "anna", "operator", "c", 2)
            .expect("create");
        s.create_session("h3", "bela", "operator", "c", 3)
            .expect("create");
        assert_eq!(s.delete_sessions_of("anna").expect("delete"), 2);
        assert_eq!(s.session("h1").expect("read"), None);
        assert_eq!(s.session("h2").expect("read"), None);
        assert!(s.session("h3").expect("read").is_some());
    }

    #[test]
    fn sessions_expire_when_idle_too_long_or_too_old() {
        let db = TempDb::new("sessions-expire");
        let mut s = Store::open(&db.path()).expect("open");
        // Created early, used recently: too old.
        s.create_session("old", "anna", "operator", "c", 1_000)
            .expect("create");
        s.touch_session("old", 90_000).expect("touch");
        // Created recently, not used since: idle.
        s.create_session("idle", "bela", "operator", "c", 50_000)
            .expect("create");
        // Created recently, used recently.
        s.create_session("live", "cecil", "admin", "c", 60_000)
            .expect("create");
        s.touch_session("live", 95_000).expect("touch");
        assert_eq!(s.expire_sessions(80_000, 10_000).expect("expire"), 2);
        assert_eq!(s.session("old").expect("read"), None);
        assert_eq!(s.session("idle").expect("read"), None);
        assert!(s.session("live").expect("read").is_some());
        assert_eq!(s.expire_sessions(80_000, 10_000).expect("expire"), 0);
    }
}
