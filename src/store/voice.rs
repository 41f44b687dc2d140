//! Voice messages: the recordings callers leave, listed for the office until handled.
//!
//! A voice message is written together with the email that tells the office about it and
//! with its entry in the worklist (see [`super::worklist`]), in one transaction: the office
//! never hears of a message the list does not show, nor the other way round.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, WorkKind};

/// A voice message (or, when silent, a callback request) left by a caller.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceMessage {
    pub id: u64,
    pub key: String,
    /// E.164 when the caller ID could be normalised.
    pub caller: Option<String>,
    pub created_ms: i64,
    pub menu_path: String,
    /// The WAV file.
    pub file: String,
    pub seconds: f64,
    /// The email to the office, when one was queued.
    pub outbox_id: Option<u64>,
    pub done_ms: Option<i64>,
}

/// The email that tells the office about a voice message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Store {
    /// Records a voice message, adds it to the caller's worklist entry and, when `mail` is
    /// given, queues the email to the office with the WAV attached, in one transaction. The
    /// same key again changes nothing and returns the first message's id.
    pub fn add_voice_message(
        &mut self,
        msg: &VoiceMessage,
        mail: Option<&OfficeMail>,
    ) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM voice_messages WHERE key = ?1",
                [&msg.key],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            return Ok(id as u64);
        }
        let outbox_id = match mail {
            None => None,
            Some(m) => {
                tx.execute(
                    "INSERT INTO outbox (key, channel, recipient, subject, body, state, due_ms, \
                     created_ms, updated_ms, attachment) \
                     VALUES (?1, 'email', ?2, ?3, ?4, 'queued', ?5, ?5, ?5, ?6)",
                    params![
                        format!("{}/mail", msg.key),
                        m.to,
                        m.subject,
                        m.body,
                        msg.created_ms,
                        msg.file
                    ],
                )?;
                Some(tx.last_insert_rowid())
            }
        };
        tx.execute(
            "INSERT INTO voice_messages (key, caller, created_ms, menu_path, file, seconds, \
             outbox_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                msg.key,
                msg.caller,
                msg.created_ms,
                msg.menu_path,
                msg.file,
                msg.seconds,
                outbox_id
            ],
        )?;
        let id = tx.last_insert_rowid();
        super::worklist::add(
            &tx,
            msg.caller.as_deref().unwrap_or(""),
            WorkKind::VoiceMessage,
            msg.created_ms,
            &msg.menu_path,
            Some(id as u64),
        )?;
        tx.commit()?;
        Ok(id as u64)
    }

    /// Voice messages, oldest first; only those not yet marked done unless `all`.
    pub fn voice_messages(&self, all: bool) -> Result<Vec<VoiceMessage>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, key, caller, created_ms, menu_path, file, seconds, outbox_id, done_ms \
             FROM voice_messages WHERE ?1 OR done_ms IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([all], |r| {
            Ok(VoiceMessage {
                id: r.get::<_, i64>(0)? as u64,
                key: r.get(1)?,
                caller: r.get(2)?,
                created_ms: r.get(3)?,
                menu_path: r.get(4)?,
                file: r.get(5)?,
                seconds: r.get(6)?,
                outbox_id: r.get::<_, Option<i64>>(7)?.map(|i| i as u64),
                done_ms: r.get(8)?,
            })
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Marks a voice message handled. `None` for an unknown id; `Some(false)` when it was
    /// already done.
    pub fn voice_message_done(&mut self, id: u64, now_ms: i64) -> Result<Option<bool>, StoreError> {
        let n = self.conn.execute(
            "UPDATE voice_messages SET done_ms = ?1 WHERE id = ?2 AND done_ms IS NULL",
            params![now_ms, id as i64],
        )?;
        if n == 1 {
            return Ok(Some(true));
        }
        let known: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM voice_messages WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(known.map(|_| false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::outbox::State;
    use crate::store::Channel;
    use crate::store::testdb::TempDb;

    #[test]
    fn a_voice_message_and_its_office_mail_are_one_write_and_listed_until_done() {
        let db = TempDb::new("voice");
        let mut s = Store::open(&db.path()).expect("open");
        let msg = VoiceMessage {
            id: 0,
            key: "call-1/record".into(),
            caller: Some("+36301234567".into()),
            created_ms: 5,
            menu_path: "welcome>record".into(),
            file: "/var/lib/ugyelet/messages/a.wav".into(),
            seconds: 3.5,
            outbox_id: None,
            done_ms: None,
        };
        let mail = OfficeMail {
            to: "office@example.hu".into(),
            subject: "Hangüzenet".into(),
            body: "b".into(),
        };
        let id = s.add_voice_message(&msg, Some(&mail)).expect("add");
        assert_eq!(s.add_voice_message(&msg, Some(&mail)).expect("again"), id);
        let work = s.worklist(false).expect("worklist");
        assert_eq!(work.len(), 1, "the message is on the worklist once");
        assert_eq!((work[0].count, &work[0].voice_messages[..]), (1, &[id][..]));
        let listed = s.voice_messages(false).expect("list");
        assert_eq!(listed.len(), 1);
        let row = s
            .get(listed[0].outbox_id.expect("mail queued"))
            .expect("get")
            .expect("row");
        assert_eq!(
            row.attachment.as_deref(),
            Some("/var/lib/ugyelet/messages/a.wav")
        );
        assert_eq!((row.channel, row.state), (Channel::Email, State::Queued));
        assert_eq!(
            s.pending(0).expect("pending").len(),
            1,
            "one email, not two"
        );
        assert_eq!(s.voice_message_done(id, 9).expect("done"), Some(true));
        assert_eq!(s.voice_message_done(id, 9).expect("done"), Some(false));
        assert_eq!(s.voice_message_done(id + 1, 9).expect("done"), None);
        assert!(s.voice_messages(false).expect("list").is_empty());
        assert_eq!(s.voice_messages(true).expect("list")[0].done_ms, Some(9));
    }
}
