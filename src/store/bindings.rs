//! Operators' registrations, kept so a restart does not make every operator unreachable
//! until their phone registers again (up to an hour).
//!
//! The table holds what [`Registrar::saved_bindings`](crate::registrar::Registrar) hands
//! out: one row per UDP binding with the address the REGISTER came from (the NAT mapping)
//! and absolute expiry times in Unix milliseconds. There are a few dozen rows at most, so
//! every save replaces the whole table in one transaction: what is on disk is always one
//! complete picture, never half of an update.

use rusqlite::{Transaction, params};

use super::{Store, StoreError};
use crate::registrar::SavedBinding;

/// Migration to schema version 3: the bindings table.
pub(super) fn migrate_v3(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
CREATE TABLE bindings (
    aor           TEXT    NOT NULL,
    contact       TEXT    NOT NULL,
    instance      TEXT,
    source        TEXT    NOT NULL,
    call_id       TEXT    NOT NULL,
    cseq          INTEGER NOT NULL,
    registered_ms INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    user_agent    TEXT
);
",
    )
}

impl Store {
    /// Replaces the kept bindings with `bindings`; returns once the commit is on disk.
    pub fn replace_bindings(&mut self, bindings: &[SavedBinding]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM bindings", [])?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO bindings (aor, contact, instance, source, call_id, cseq, \
                 registered_ms, expires_ms, user_agent) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for b in bindings {
                insert.execute(params![
                    b.aor,
                    b.contact,
                    b.instance,
                    b.source.to_string(),
                    b.call_id,
                    b.cseq,
                    b.registered_ms,
                    b.expires_ms,
                    b.user_agent,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The kept bindings, whatever their expiry (the registrar judges that by the clock).
    pub fn bindings(&self) -> Result<Vec<SavedBinding>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT rowid, aor, contact, instance, source, call_id, cseq, registered_ms, \
             expires_ms, user_agent FROM bindings ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(4)?,
                SavedBinding {
                    aor: r.get(1)?,
                    contact: r.get(2)?,
                    instance: r.get(3)?,
                    source: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                    call_id: r.get(5)?,
                    cseq: r.get(6)?,
                    registered_ms: r.get(7)?,
                    expires_ms: r.get(8)?,
                    user_agent: r.get(9)?,
                },
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, source, mut b) = row?;
            b.source = source.parse().map_err(|_| StoreError::Corrupt {
                table: "bindings",
                id,
                column: "source",
                found: source.clone(),
            })?;
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdb::TempDb;
    use super::*;

    fn binding(aor: &str, source: &str) -> SavedBinding {
        SavedBinding {
            aor: aor.to_owned(),
            contact: format!("\"Anna \\\"A\\\"\" <sip:{aor}@192.168.1.20:5060>"),
            instance: Some("<urn:uuid:1>".to_owned()),
            source: source.parse().expect("addr"),
            call_id: "reg-1".to_owned(),
            cseq: 7,
            registered_ms: 1_793_984_400_000,
            expires_ms: 1_793_988_000_000,
            user_agent: Some("baresip v1.0.0 (x86_64/linux)".to_owned()),
        }
    }

    #[test]
    fn bindings_are_kept_on_disk_and_each_save_replaces_the_last() {
        let db = TempDb::new("bindings");
        let first = vec![
            binding("anna", "203.0.113.7:40000"),
            binding("bela", "[2001:db8::7]:5060"),
        ];
        {
            let mut s = Store::open(&db.path()).expect("open");
            assert_eq!(s.bindings().expect("read"), vec![]);
            s.replace_bindings(&first).expect("save");
        }
        // Another process opening the file reads them back exactly.
        let mut s = Store::open(&db.path()).expect("reopen");
        assert_eq!(s.bindings().expect("read"), first);
        s.replace_bindings(&first[1..]).expect("save");
        assert_eq!(s.bindings().expect("read"), first[1..]);
        s.replace_bindings(&[]).expect("save");
        assert_eq!(s.bindings().expect("read"), vec![]);
    }

    #[test]
    fn a_bad_source_address_is_reported_with_its_row() {
        let db = TempDb::new("bindings-bad");
        let mut s = Store::open(&db.path()).expect("open");
        s.replace_bindings(&[binding("anna", "203.0.113.7:40000")])
            .expect("save");
        s.conn
            .execute("UPDATE bindings SET source = 'nowhere'", [])
            .expect("edit by hand");
        let e = s.bindings().expect_err("refused");
        assert_eq!(
            e.to_string(),
            "bindings row 1: unexpected source \"nowhere\""
        );
    }
}
