//! The `cursors` and `inbox` tables: where intake stands in each mailbox, and one row per
//! fetched mail with what was decided about it.

use super::types::Filed;
use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// Where intake stands in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The mailbox's UIDVALIDITY when the cursor was written.
    pub uidvalidity: u32,
    /// The highest UID fully recorded.
    pub last_uid: u32,
}

/// Reads the cursor of a mailbox.
pub fn cursor(conn: &Connection, mailbox: &str) -> Result<Option<Cursor>> {
    Ok(conn
        .query_row(
            "SELECT uidvalidity, last_uid FROM cursors WHERE mailbox = ?1",
            params![mailbox],
            |r| {
                Ok(Cursor {
                    uidvalidity: r.get::<_, i64>(0)? as u32,
                    last_uid: r.get::<_, i64>(1)? as u32,
                })
            },
        )
        .optional()?)
}

/// Writes the cursor of a mailbox.
pub fn set_cursor(conn: &Connection, mailbox: &str, c: Cursor) -> Result<()> {
    conn.execute(
        "INSERT INTO cursors (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
         ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
        params![mailbox, i64::from(c.uidvalidity), i64::from(c.last_uid)],
    )?;
    Ok(())
}

/// A fetched mail and what was decided about it.
#[derive(Debug, Clone, Default)]
pub struct InboxRow {
    /// Message-ID, or `sha256:<hex>` of the raw bytes when it has none.
    pub message_key: String,
    /// Hash of the sender, subject and body ([`crate::mail::keys::fingerprint`]): a mail is a
    /// duplicate only when its key *and* its fingerprint were seen ("" for rows recorded
    /// before fingerprints, and for mails that could not be parsed).
    pub fingerprint: String,
    /// The Message-ID header, without brackets.
    pub message_id: Option<String>,
    /// Mailbox it was fetched from.
    pub mailbox: String,
    /// UIDVALIDITY at fetch time.
    pub uidvalidity: u32,
    /// UID at fetch time.
    pub uid: u32,
    /// The server's INTERNALDATE (RFC 3339 UTC).
    pub internal_date: String,
    /// When we fetched it.
    pub fetched_at: String,
    /// From address.
    pub sender: String,
    /// Subject.
    pub subject: String,
    /// RFC822.SIZE.
    pub size: u64,
    /// The raw mail (None when not downloaded).
    pub raw: Option<Vec<u8>>,
    /// request | reply | ignored | escalated | quarantined | own_copy | duplicate | staff
    pub disposition: Filed,
    /// Why, in words.
    pub reason: String,
    /// The request it belongs to.
    pub request_id: Option<String>,
    /// The classifier's JSON output.
    pub classification: String,
    /// Mailbox to move it to after the transaction commits ("" = leave it).
    pub move_to: String,
}

/// True when a mail with this key and this fingerprint was already recorded (a duplicate
/// delivery). A row recorded before fingerprints existed matches on its key alone.
pub fn seen(conn: &Connection, key: &str, fingerprint: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM inbox WHERE message_key = ?1 AND disposition <> 'duplicate'
               AND (fingerprint = ?2 OR fingerprint = '') LIMIT 1",
            params![key, fingerprint],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Records a fetched mail. Returns false when this (mailbox, UIDVALIDITY, UID) is recorded already.
pub fn insert(conn: &Connection, row: &InboxRow) -> Result<bool> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO inbox (message_key, message_id, mailbox, uidvalidity, uid, internal_date,
            fetched_at, sender, subject, size, raw, disposition, reason, request_id, classification, move_to, moved,
            fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            row.message_key,
            row.message_id,
            row.mailbox,
            i64::from(row.uidvalidity),
            i64::from(row.uid),
            row.internal_date,
            row.fetched_at,
            row.sender,
            row.subject,
            row.size as i64,
            row.raw,
            row.disposition,
            row.reason,
            row.request_id,
            row.classification,
            row.move_to,
            i64::from(row.move_to.is_empty()),
            row.fingerprint,
        ],
    )?;
    Ok(n == 1)
}

/// Mails recorded but not yet moved out of `mailbox`, grouped by target: (target, uids).
pub fn pending_moves(
    conn: &Connection,
    mailbox: &str,
    uidvalidity: u32,
) -> Result<Vec<(String, Vec<u32>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT move_to, uid FROM inbox WHERE mailbox = ?1 AND uidvalidity = ?2 AND moved = 0 ORDER BY move_to, uid",
    )?;
    let rows = stmt.query_map(params![mailbox, i64::from(uidvalidity)], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u32))
    })?;
    let mut out: Vec<(String, Vec<u32>)> = Vec::new();
    for row in rows {
        let (target, uid) = row?;
        match out.last_mut() {
            Some((t, uids)) if *t == target => uids.push(uid),
            _ => out.push((target, vec![uid])),
        }
    }
    Ok(out)
}

/// Marks mails as moved (or as no longer movable, e.g. after a UIDVALIDITY change).
pub fn mark_moved(conn: &Connection, mailbox: &str, uidvalidity: u32, uids: &[u32]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE inbox SET moved = 1 WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid = ?3",
    )?;
    for uid in uids {
        stmt.execute(params![mailbox, i64::from(uidvalidity), i64::from(*uid)])?;
    }
    Ok(())
}

/// Forgets pending moves recorded under an old UIDVALIDITY (those UIDs mean nothing now).
pub fn drop_stale_moves(conn: &Connection, mailbox: &str, uidvalidity: u32) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE inbox SET moved = 1 WHERE mailbox = ?1 AND uidvalidity <> ?2 AND moved = 0",
        params![mailbox, i64::from(uidvalidity)],
    )?)
}

/// The request a Message-ID belongs to, looking at mails we received and mails we sent.
pub fn request_for_message_id(conn: &Connection, message_id: &str) -> Result<Option<String>> {
    let sent: Option<Option<String>> = conn
        .query_row(
            "SELECT request_id FROM outbox WHERE message_id = ?1",
            params![message_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(Some(id)) = sent {
        return Ok(Some(id));
    }
    Ok(conn
        .query_row(
            "SELECT request_id FROM inbox WHERE message_id = ?1 AND request_id IS NOT NULL LIMIT 1",
            params![message_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Counts inbox rows by disposition.
pub fn counts(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT disposition, COUNT(*) FROM inbox GROUP BY disposition ORDER BY disposition",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The raw bytes of the mail that opened a request.
pub fn origin_raw(conn: &Connection, request_id: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT raw FROM inbox WHERE request_id = ?1 AND raw IS NOT NULL ORDER BY id LIMIT 1",
            params![request_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// A mail received on a request, for its timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Received {
    /// Message-ID, if it had one.
    pub message_id: Option<String>,
    /// From address.
    pub sender: String,
    /// Subject.
    pub subject: String,
    /// The server's INTERNALDATE.
    pub internal_date: String,
    /// What intake decided.
    pub disposition: Filed,
    /// Why, in words.
    pub reason: String,
    /// Whether the body is still kept (see `purge`).
    pub body_kept: bool,
}

/// The mails received on one request, oldest first.
pub fn for_request(conn: &Connection, request_id: &str) -> Result<Vec<Received>> {
    let mut stmt = conn.prepare(
        "SELECT message_id, sender, subject, internal_date, disposition, reason, raw IS NOT NULL
         FROM inbox WHERE request_id = ?1 AND disposition <> 'own_copy' ORDER BY id",
    )?;
    let rows = stmt.query_map(params![request_id], |r| {
        Ok(Received {
            message_id: r.get(0)?,
            sender: r.get(1)?,
            subject: r.get(2)?,
            internal_date: r.get(3)?,
            disposition: r.get(4)?,
            reason: r.get(5)?,
            body_kept: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The raw bytes and stored classification of the mail with Message-ID `message_id` that
/// opened request `request_id`, when its body is still kept.
pub fn original(
    conn: &Connection,
    request_id: &str,
    message_id: &str,
) -> Result<Option<(Vec<u8>, String)>> {
    Ok(conn
        .query_row(
            "SELECT raw, classification FROM inbox
             WHERE request_id = ?1 AND message_id = ?2 AND raw IS NOT NULL
               AND disposition IN ('request', 'escalated')
             ORDER BY id LIMIT 1",
            params![request_id, message_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
