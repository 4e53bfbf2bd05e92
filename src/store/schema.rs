//! Numbered migrations, each applied in its own transaction; `PRAGMA user_version` records
//! how many have run. Never edit a shipped migration: add the next one.

use anyhow::{Context, Result};
use rusqlite::Connection;

/// The migrations, in order. Index + 1 is the schema version after applying it.
pub const MIGRATIONS: &[&str] = &[
    // 1: the intake path.
    r#"
CREATE TABLE cursors (
    mailbox      TEXT PRIMARY KEY,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL
) STRICT;

CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY,
    message_key     TEXT NOT NULL,
    message_id      TEXT,
    mailbox         TEXT NOT NULL,
    uidvalidity     INTEGER NOT NULL,
    uid             INTEGER NOT NULL,
    internal_date   TEXT NOT NULL,
    fetched_at      TEXT NOT NULL,
    sender          TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '',
    size            INTEGER NOT NULL DEFAULT 0,
    raw             BLOB,
    disposition     TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    request_id      TEXT,
    classification  TEXT NOT NULL DEFAULT '',
    move_to         TEXT NOT NULL DEFAULT '',
    moved           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (mailbox, uidvalidity, uid)
) STRICT;
CREATE INDEX inbox_message_key ON inbox (message_key);
CREATE INDEX inbox_message_id ON inbox (message_id);
CREATE INDEX inbox_pending_moves ON inbox (mailbox, moved) WHERE moved = 0;

CREATE TABLE counters (
    year  INTEGER PRIMARY KEY,
    last  INTEGER NOT NULL
) STRICT;

CREATE TABLE requests (
    id                 TEXT PRIMARY KEY,
    requester          TEXT NOT NULL,
    requester_name     TEXT NOT NULL DEFAULT '',
    kinds              TEXT NOT NULL DEFAULT '',
    language           TEXT NOT NULL DEFAULT 'en',
    status             TEXT NOT NULL,
    jurisdiction       TEXT NOT NULL,
    received_at        TEXT NOT NULL,
    confirm_by         TEXT,
    due_at             TEXT NOT NULL,
    extended_due_at    TEXT,
    extended           INTEGER NOT NULL DEFAULT 0,
    escalated          INTEGER NOT NULL DEFAULT 0,
    escalation_reason  TEXT NOT NULL DEFAULT '',
    verified           INTEGER NOT NULL DEFAULT 0,
    token_hash         TEXT,
    agent              INTEGER NOT NULL DEFAULT 0,
    subject            TEXT NOT NULL DEFAULT '',
    origin_message_id  TEXT,
    assignee           TEXT NOT NULL DEFAULT '',
    denial_basis       TEXT,
    responded_at       TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;
CREATE INDEX requests_status ON requests (status, due_at);
CREATE INDEX requests_requester ON requests (requester);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX events_request ON events (request_id, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    message_id       TEXT NOT NULL UNIQUE,
    request_id       TEXT,
    purpose          TEXT NOT NULL,
    audience         TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    raw              BLOB NOT NULL,
    status           TEXT NOT NULL DEFAULT 'queued',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    sent_at          TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
CREATE INDEX outbox_request ON outbox (request_id);

CREATE TABLE notices (
    request_id  TEXT NOT NULL,
    notice      TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (request_id, notice)
) STRICT;
"#,
    // 2: staff actions and the records they need (CCPA §7101).
    r#"
ALTER TABLE requests ADD COLUMN denial_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN extension_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX inbox_request ON inbox (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX requests_received ON requests (received_at);
"#,
    // 3: the global consumer-reply limit (`count_consumer_since`, run for every reply queued)
    // counts recent rows in a small covering index instead of scanning the outbox and its
    // mail blobs (profiled: most of a 2,000-mail backlog's intake time). Partial, so the
    // per-recipient count keeps using `outbox_recipient`.
    r#"
CREATE INDEX outbox_consumer_created ON outbox (created_at, audience) WHERE audience = 'consumer';
"#,
    // 4: records are deleted once their retention ends (`store.record-retention-months`). The
    // audit log stays append-only for everything else: a delete passes the trigger only while
    // `purge` holds the retention window open in its transaction, and only for closed requests.
    r#"
CREATE TABLE retention_window (opened_at TEXT NOT NULL) STRICT;
DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    WHEN NOT EXISTS (SELECT 1 FROM retention_window)
      OR COALESCE((SELECT status FROM requests WHERE id = OLD.request_id), '')
         NOT IN ('completed', 'denied', 'closed_unverifiable')
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    // 5: trust, and the law per request. A Message-ID alone no longer makes a mail a
    // duplicate: `fingerprint` (sender, subject and body, hashed) must match too, so a reused
    // Message-ID cannot silence another sender's mail. `law_reason` says why a request runs
    // on its law's clock (the law its mail cites). `secrets` keeps keys the bot makes for
    // itself (the staff-token key).
    r#"
ALTER TABLE inbox ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN law_reason TEXT NOT NULL DEFAULT '';
CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) STRICT;
"#,
    // 6 (issue 18, outbound): outbox claims, per-mailbox reply counting, held staff
    // mail. `claimed_by` names the process whose claim (`status = 'sending'` with a lease
    // in `next_attempt_at`) owns a row, so a second process on the store never sends it too.
    // `recipient_key` is the recipient's mailbox (lower case, `+detail` removed) that the
    // per-recipient reply cap counts. `staff_held` keeps the staff mails held back above
    // `staff.max-mails-per-hour`, until the sweeper mails them as one summary.
    r#"
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN recipient_key TEXT NOT NULL DEFAULT '';
UPDATE outbox SET recipient_key = CASE
    WHEN instr(substr(recipient, 1, instr(recipient, '@') - 1), '+') > 0
    THEN lower(substr(recipient, 1, instr(recipient, '+') - 1) || substr(recipient, instr(recipient, '@')))
    ELSE lower(recipient) END;
CREATE INDEX outbox_recipient_key ON outbox (recipient_key, created_at);
CREATE TABLE staff_held (
    id             INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    request_id     TEXT,
    purpose        TEXT NOT NULL,
    line           TEXT NOT NULL,
    summarized_at  TEXT
) STRICT;
CREATE INDEX staff_held_pending ON staff_held (id) WHERE summarized_at IS NULL;
"#,
    // 7 (issue 12): the store refuses values the code does not know. SQLite adds CHECK
    // constraints only by rebuilding a table: each is copied into a new one with the checks,
    // the old one dropped, the new one renamed, its indexes (and the audit log's delete
    // trigger, which reads `requests`) made again. A row with an unknown value fails the
    // migration, naming the constraint, instead of being read as a default. `not_a_request`
    // is the status of mail staff close as not a privacy request.
    r#"
DROP TRIGGER events_no_delete;

CREATE TABLE requests_new (
    id                 TEXT PRIMARY KEY,
    requester          TEXT NOT NULL,
    requester_name     TEXT NOT NULL DEFAULT '',
    kinds              TEXT NOT NULL DEFAULT '',
    language           TEXT NOT NULL DEFAULT 'en',
    status             TEXT NOT NULL CHECK (status IN ('received', 'acknowledged',
                           'awaiting_verification', 'verified', 'completed', 'denied',
                           'closed_unverifiable', 'not_a_request')),
    jurisdiction       TEXT NOT NULL CHECK (jurisdiction IN ('ccpa', 'gdpr')),
    received_at        TEXT NOT NULL,
    confirm_by         TEXT,
    due_at             TEXT NOT NULL,
    extended_due_at    TEXT,
    extended           INTEGER NOT NULL DEFAULT 0 CHECK (extended IN (0, 1)),
    escalated          INTEGER NOT NULL DEFAULT 0 CHECK (escalated IN (0, 1)),
    escalation_reason  TEXT NOT NULL DEFAULT '',
    verified           INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    token_hash         TEXT,
    agent              INTEGER NOT NULL DEFAULT 0 CHECK (agent IN (0, 1)),
    subject            TEXT NOT NULL DEFAULT '',
    origin_message_id  TEXT,
    assignee           TEXT NOT NULL DEFAULT '',
    denial_basis       TEXT CHECK (denial_basis IS NULL OR denial_basis IN
                           ('unverifiable', 'not_a_consumer', 'exempt', 'other')),
    responded_at       TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    denial_detail      TEXT NOT NULL DEFAULT '',
    extension_reason   TEXT NOT NULL DEFAULT '',
    law_reason         TEXT NOT NULL DEFAULT ''
) STRICT;
INSERT INTO requests_new (id, requester, requester_name, kinds, language, status, jurisdiction,
    received_at, confirm_by, due_at, extended_due_at, extended, escalated, escalation_reason,
    verified, token_hash, agent, subject, origin_message_id, assignee, denial_basis,
    responded_at, created_at, updated_at, denial_detail, extension_reason, law_reason)
SELECT id, requester, requester_name, kinds, language, status, jurisdiction,
    received_at, confirm_by, due_at, extended_due_at, extended, escalated, escalation_reason,
    verified, token_hash, agent, subject, origin_message_id, assignee, denial_basis,
    responded_at, created_at, updated_at, denial_detail, extension_reason, law_reason
FROM requests;
DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_status ON requests (status, due_at);
CREATE INDEX requests_requester ON requests (requester);
CREATE INDEX requests_received ON requests (received_at);

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    WHEN NOT EXISTS (SELECT 1 FROM retention_window)
      OR COALESCE((SELECT status FROM requests WHERE id = OLD.request_id), '')
         NOT IN ('completed', 'denied', 'closed_unverifiable', 'not_a_request')
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE outbox_new (
    id               INTEGER PRIMARY KEY,
    message_id       TEXT NOT NULL UNIQUE,
    request_id       TEXT,
    purpose          TEXT NOT NULL,
    audience         TEXT NOT NULL CHECK (audience IN ('consumer', 'staff')),
    recipient        TEXT NOT NULL,
    raw              BLOB NOT NULL,
    status           TEXT NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'bounced')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    sent_at          TEXT,
    claimed_by       TEXT NOT NULL DEFAULT '',
    recipient_key    TEXT NOT NULL DEFAULT ''
) STRICT;
INSERT INTO outbox_new (id, message_id, request_id, purpose, audience, recipient, raw, status,
    attempts, next_attempt_at, last_error, created_at, sent_at, claimed_by, recipient_key)
SELECT id, message_id, request_id, purpose, audience, recipient, raw, status,
    attempts, next_attempt_at, last_error, created_at, sent_at, claimed_by, recipient_key
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
CREATE INDEX outbox_request ON outbox (request_id);
CREATE INDEX outbox_consumer_created ON outbox (created_at, audience) WHERE audience = 'consumer';
CREATE INDEX outbox_recipient_key ON outbox (recipient_key, created_at);

CREATE TABLE inbox_new (
    id              INTEGER PRIMARY KEY,
    message_key     TEXT NOT NULL,
    message_id      TEXT,
    mailbox         TEXT NOT NULL,
    uidvalidity     INTEGER NOT NULL,
    uid             INTEGER NOT NULL,
    internal_date   TEXT NOT NULL,
    fetched_at      TEXT NOT NULL,
    sender          TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '',
    size            INTEGER NOT NULL DEFAULT 0,
    raw             BLOB,
    disposition     TEXT NOT NULL CHECK (disposition IN ('request', 'escalated', 'reply',
                        'follow_up', 'staff', 'ignored', 'bounce', 'duplicate', 'own_copy',
                        'foreign_copy', 'quarantined')),
    reason          TEXT NOT NULL DEFAULT '',
    request_id      TEXT,
    classification  TEXT NOT NULL DEFAULT '',
    move_to         TEXT NOT NULL DEFAULT '',
    moved           INTEGER NOT NULL DEFAULT 0 CHECK (moved IN (0, 1)),
    fingerprint     TEXT NOT NULL DEFAULT '',
    UNIQUE (mailbox, uidvalidity, uid)
) STRICT;
INSERT INTO inbox_new (id, message_key, message_id, mailbox, uidvalidity, uid, internal_date,
    fetched_at, sender, subject, size, raw, disposition, reason, request_id, classification,
    move_to, moved, fingerprint)
SELECT id, message_key, message_id, mailbox, uidvalidity, uid, internal_date,
    fetched_at, sender, subject, size, raw, disposition, reason, request_id, classification,
    move_to, moved, fingerprint
FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_new RENAME TO inbox;
CREATE INDEX inbox_message_key ON inbox (message_key);
CREATE INDEX inbox_message_id ON inbox (message_id);
CREATE INDEX inbox_pending_moves ON inbox (mailbox, moved) WHERE moved = 0;
CREATE INDEX inbox_request ON inbox (request_id) WHERE request_id IS NOT NULL;
"#,
    // 8 (issue 13): what staff said each mail was (`/handle`, `/not-a-request`), beside
    // what the classifier said: `classify eval` scores the rules against it.
    super::labels::MIGRATION,
    // 9 (issue 15): fulfilment: what each data source said per request, the encrypted
    // access packages, their download links (hashed tokens) and the portal's audit log.
    super::fulfil::MIGRATION,
    // 10 (issue 24): a fulfilment job may run for some sources only (a failed step run
    // again for exactly the sources that failed).
    super::fulfil::MIGRATION_JOB_SOURCES,
];

/// Applies every migration the database has not seen yet.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        anyhow::bail!(
            "The store has schema version {current}, newer than this program knows ({}); upgrade privacy-inbox",
            MIGRATIONS.len()
        );
    }
    if current == MIGRATIONS.len() {
        return Ok(());
    }
    // Rebuilding a table (migration 7) drops the one that `events` refers to: foreign keys
    // are off while migrations run (they cannot change inside a transaction), and checked
    // once after.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let run = (|| -> Result<()> {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)
                .with_context(|| format!("Migration {} failed", i + 1))?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    })();
    conn.pragma_update(None, "foreign_keys", "ON")?;
    run?;
    let broken: i64 = conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        anyhow::bail!("{broken} rows refer to rows that do not exist after the migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store at schema version 6 with one row in each rebuilt table.
    fn version_6() -> Result<Connection> {
        let mut c = Connection::open_in_memory()?;
        c.pragma_update(None, "foreign_keys", "ON")?;
        for sql in &MIGRATIONS[..6] {
            c.execute_batch(sql)?;
        }
        c.pragma_update(None, "user_version", 6)?;
        let tx = c.transaction()?;
        tx.execute_batch(
            "INSERT INTO requests (id, requester, status, jurisdiction, received_at, due_at, created_at, updated_at, law_reason)
               VALUES ('PRIV-2026-00001', 'a@example.test', 'completed', 'gdpr', 't', 't', 't', 't', 'cites Art. 15');
             INSERT INTO events (request_id, at, kind, actor) VALUES ('PRIV-2026-00001', 't', 'received', 'a@example.test');
             INSERT INTO outbox (message_id, purpose, audience, recipient, raw, next_attempt_at, created_at, recipient_key)
               VALUES ('m@x', 'acknowledgement', 'consumer', 'a@example.test', x'00', 't', 't', 'a@example.test');
             INSERT INTO inbox (message_key, mailbox, uidvalidity, uid, internal_date, fetched_at, disposition, fingerprint)
               VALUES ('mid:1', 'INBOX', 1, 1, 't', 't', 'request', 'f');",
        )?;
        tx.commit()?;
        Ok(c)
    }

    #[test]
    fn the_check_migration_keeps_every_row_and_refuses_unknown_values() -> Result<()> {
        let mut c = version_6()?;
        migrate(&mut c)?;
        let kept: (String, String, String) = c.query_row(
            "SELECT status, jurisdiction, law_reason FROM requests",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        assert_eq!(
            kept,
            ("completed".into(), "gdpr".into(), "cites Art. 15".into())
        );
        let counts: (i64, i64, i64) = c.query_row(
            "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM inbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        assert_eq!(counts, (1, 1, 1));
        let fk: bool = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        assert!(fk, "foreign keys are back on");
        for bad in [
            "UPDATE requests SET status = 'waiting'",
            "UPDATE requests SET jurisdiction = 'CCPA'",
            "UPDATE requests SET denial_basis = 'because'",
            "UPDATE outbox SET audience = 'public'",
            "UPDATE outbox SET status = 'lost'",
            "UPDATE inbox SET disposition = 'maybe'",
        ] {
            let e = c.execute(bad, []).expect_err(bad);
            assert!(
                e.to_string().contains("CHECK constraint failed"),
                "{bad}: {e}"
            );
        }
        // The audit log is still append-only (its trigger was made again).
        assert!(c.execute("DELETE FROM events", []).is_err());
        Ok(())
    }

    #[test]
    fn a_row_with_an_unknown_value_stops_the_migration_and_changes_nothing() -> Result<()> {
        let mut c = version_6()?;
        c.execute("UPDATE requests SET status = 'waiting'", [])?;
        let e = migrate(&mut c).expect_err("refused");
        assert!(format!("{e:#}").contains("Migration 7 failed"), "{e:#}");
        let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(v, 6);
        let status: String = c.query_row("SELECT status FROM requests", [], |r| r.get(0))?;
        assert_eq!(status, "waiting");
        Ok(())
    }
}
