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
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("Migration {} failed", i + 1))?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
