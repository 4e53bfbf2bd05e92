//! The `outbox` table: every mail the bot sends, fully rendered, queued in the same
//! transaction as the decision that caused it. Only the sender in `outbound::outbox` talks
//! SMTP; it marks a row `sending` before it connects and `sent` after the server took it.
//!
//! A row is *claimed* before it is sent ([`claim`]): a conditional update that only one
//! process can win, which sets `status = 'sending'`, `claimed_by` and a lease in
//! `next_attempt_at`. While the lease runs no other process sees the row as due; a claim
//! left by a process that died is released at once by the next sender ([`release_dead_claims`]),
//! and otherwise when its lease ends, and our Bcc copy then decides whether it went out.

use crate::store::types::Audience;
use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// A mail to send.
#[derive(Debug, Clone)]
pub struct NewMail {
    /// Our Message-ID (without brackets); stable across retries.
    pub message_id: String,
    /// The request it belongs to.
    pub request_id: Option<String>,
    /// acknowledgement | escalation | verification | ...
    pub purpose: String,
    /// Consumer or staff.
    pub audience: Audience,
    /// Envelope recipient.
    pub recipient: String,
    /// The whole RFC 5322 message.
    pub raw: Vec<u8>,
}

/// A queued row.
#[derive(Debug, Clone)]
pub struct Queued {
    /// Row ID.
    pub id: i64,
    /// Our Message-ID.
    pub message_id: String,
    /// Envelope recipient.
    pub recipient: String,
    /// What it is for.
    pub purpose: String,
    /// The request.
    pub request_id: Option<String>,
    /// The message.
    pub raw: Vec<u8>,
    /// `queued` or `sending` (sending = a previous attempt's outcome is unknown).
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it is due (for `sending` rows: when its claim's lease ends, or when to look
    /// for its copy); part of the claim's condition.
    pub next_attempt_at: String,
}

/// Queues a mail.
pub fn enqueue(conn: &Connection, m: &NewMail, now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO outbox (message_id, request_id, purpose, audience, recipient, recipient_key, raw, status, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?8)",
        params![
            m.message_id,
            m.request_id,
            m.purpose,
            m.audience,
            m.recipient,
            crate::address::base_address(&m.recipient),
            m.raw,
            now
        ],
    )?;
    Ok(())
}

/// Rows ready to go (queued or unconfirmed, next attempt due), oldest first.
pub fn due(conn: &Connection, now: &str, limit: usize) -> Result<Vec<Queued>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, message_id, recipient, purpose, request_id, raw, status, attempts, next_attempt_at FROM outbox
         WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit as i64], |r| {
        Ok(Queued {
            id: r.get(0)?,
            message_id: r.get(1)?,
            recipient: r.get(2)?,
            purpose: r.get(3)?,
            request_id: r.get(4)?,
            raw: r.get(5)?,
            status: r.get(6)?,
            attempts: r.get(7)?,
            next_attempt_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Claims a row for sending, as `claimer`, until `lease_until`: true when this process
/// won it. The update only applies while the row is as `row` read it (status, due time,
/// attempts), so of two processes that read the same due row exactly one wins; the other
/// leaves it alone. From now until `sent`, the row's fate is unknown after a crash.
pub fn claim(conn: &Connection, row: &Queued, claimer: &str, lease_until: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = ?2, claimed_by = ?3
         WHERE id = ?1 AND status = ?4 AND next_attempt_at = ?5 AND attempts = ?6",
        params![
            row.id,
            lease_until,
            claimer,
            row.status,
            row.next_attempt_at,
            row.attempts
        ],
    )?;
    Ok(n == 1)
}

/// Makes the rows claimed by processes that are gone due now (`alive` says which claimers
/// still run), instead of when their lease ends: a daemon killed mid-send must not delay
/// its restart's recovery by the whole lease. Returns how many rows were released.
pub fn release_dead_claims(
    conn: &Connection,
    now: &str,
    alive: impl Fn(&str) -> bool,
) -> Result<usize> {
    let claimers: Vec<String> = {
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT claimed_by FROM outbox
             WHERE status = 'sending' AND next_attempt_at > ?1 AND claimed_by <> ''",
        )?;
        let rows = stmt.query_map(params![now], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut released = 0;
    for c in claimers.iter().filter(|c| !alive(c)) {
        released += conn.execute(
            "UPDATE outbox SET next_attempt_at = ?1
             WHERE status = 'sending' AND claimed_by = ?2 AND next_attempt_at > ?1",
            params![now, c],
        )?;
    }
    Ok(released)
}

/// The server took it (or its copy was seen in our mailbox). A bounce already recorded for it
/// stands: our copy can come back after the report.
pub fn mark_sent(conn: &Connection, id: i64, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?2, last_error = '' WHERE id = ?1 AND status NOT IN ('sent', 'bounced')",
        params![id, now],
    )?;
    Ok(())
}

/// Marks sent by Message-ID (our copy came back over IMAP). Returns true if it was ours.
pub fn confirm_by_message_id(conn: &Connection, message_id: &str, now: &str) -> Result<bool> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM outbox WHERE message_id = ?1",
            params![message_id],
            |r| r.get(0),
        )
        .optional()?;
    match id {
        Some(id) => {
            mark_sent(conn, id, now)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The server took it, but refused our Bcc copy (so it was sent again without one): sent,
/// with why in `last_error`.
pub fn mark_sent_without_copy(conn: &Connection, id: i64, now: &str, note: &str) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?2, last_error = ?3 WHERE id = ?1 AND status NOT IN ('sent', 'bounced')",
        params![id, now, note],
    )?;
    Ok(())
}

/// A transient failure: try again at `next`.
pub fn retry_later(conn: &Connection, id: i64, next: &str, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET status = 'queued', next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
        params![id, next, error],
    )?;
    Ok(())
}

/// An attempt whose outcome is unknown: look for its copy again at `next` (the row stays
/// `sending`).
pub fn check_later(conn: &Connection, id: i64, next: &str, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND status = 'sending'",
        params![id, next, error],
    )?;
    Ok(())
}

/// A permanent failure: never retried.
pub fn mark_failed(conn: &Connection, id: i64, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET status = 'failed', last_error = ?2 WHERE id = ?1",
        params![id, error],
    )?;
    Ok(())
}

/// One sent mail, as a bounce report finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Row ID.
    pub id: i64,
    /// The request it belongs to.
    pub request_id: Option<String>,
    /// What it was for.
    pub purpose: String,
    /// Consumer or staff.
    pub audience: Audience,
    /// Envelope recipient.
    pub recipient: String,
    /// Its status now.
    pub status: String,
}

/// Our mail with this Message-ID, if it is ours.
pub fn by_message_id(conn: &Connection, message_id: &str) -> Result<Option<Sent>> {
    Ok(conn
        .query_row(
            "SELECT id, request_id, purpose, audience, recipient, status FROM outbox WHERE message_id = ?1",
            params![message_id],
            |r| {
                Ok(Sent {
                    id: r.get(0)?,
                    request_id: r.get(1)?,
                    purpose: r.get(2)?,
                    audience: r.get(3)?,
                    recipient: r.get(4)?,
                    status: r.get(5)?,
                })
            },
        )
        .optional()?)
}

/// A bounce came back for a mail the server had taken: delivery failed after all. Returns
/// false when the row was already marked bounced (the same report, or a second one).
pub fn mark_bounced(conn: &Connection, id: i64, error: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE outbox SET status = 'bounced', last_error = ?2 WHERE id = ?1 AND status <> 'bounced'",
        params![id, error],
    )?;
    Ok(n > 0)
}

/// Consumer mails queued since `since` to the mailbox of `recipient` (lower case, `+detail`
/// removed: `Victim+1@x` and `victim+2@X` are one mailbox), for the per-recipient limit.
pub fn count_to_since(conn: &Connection, recipient: &str, since: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE recipient_key = ?1 AND created_at >= ?2 AND audience = 'consumer'",
        params![crate::address::base_address(recipient), since],
        |r| r.get(0),
    )?)
}

/// Consumer mails queued since `since` (for the global limit).
pub fn count_consumer_since(conn: &Connection, since: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE created_at >= ?1 AND audience = 'consumer'",
        params![since],
        |r| r.get(0),
    )?)
}

/// Staff mails queued since `since` to `recipient` (for the staff-mail budget).
pub fn count_staff_to_since(conn: &Connection, recipient: &str, since: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE recipient_key = ?1 AND created_at >= ?2 AND audience = 'staff'",
        params![crate::address::base_address(recipient), since],
        |r| r.get(0),
    )?)
}

/// Rows by status.
pub fn counts(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt =
        conn.prepare("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The whole messages queued to the consumer about a request, newest first (at most
/// `limit`): a reply that pastes them back is told apart from the consumer's own words.
pub fn consumer_raws(conn: &Connection, request_id: &str, limit: usize) -> Result<Vec<Vec<u8>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT raw FROM outbox WHERE request_id = ?1 AND audience = 'consumer'
         ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![request_id, limit as i64], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What the mails queued to the consumer about a request were (`acknowledgement`,
/// `received`, ...), oldest first; failed ones left out.
pub fn consumer_purposes(conn: &Connection, request_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT purpose FROM outbox WHERE request_id = ?1 AND audience = 'consumer'
         AND status NOT IN ('failed', 'bounced') ORDER BY id",
    )?;
    let rows = stmt.query_map(params![request_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What it was for, by row ID ("" for a row that is gone).
pub fn purpose(conn: &Connection, id: i64) -> Result<String> {
    Ok(conn
        .query_row(
            "SELECT purpose FROM outbox WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_default())
}

/// Holds a staff mail back (the hourly budget is spent): the summary lists it.
pub fn hold_staff(
    conn: &Connection,
    at: &str,
    request_id: Option<&str>,
    purpose: &str,
    line: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO staff_held (at, request_id, purpose, line) VALUES (?1, ?2, ?3, ?4)",
        params![at, request_id, purpose, line],
    )?;
    Ok(())
}

/// Staff mail held back and not yet summarized: how many, and the first and last row IDs.
pub fn held_unsummarized(conn: &Connection) -> Result<(i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT COUNT(*), COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM staff_held WHERE summarized_at IS NULL",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// True when a staff summary was queued at or after `since`.
pub fn summary_since(conn: &Connection, since: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE purpose = 'staff_summary' AND created_at >= ?1)",
        params![since],
        |r| r.get(0),
    )?)
}

/// One held staff mail: (request ID or "", purpose, subject line).
pub fn held_lines(
    conn: &Connection,
    first: i64,
    last: i64,
    limit: usize,
) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT COALESCE(request_id, ''), purpose, line FROM staff_held
         WHERE summarized_at IS NULL AND id BETWEEN ?1 AND ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![first, last, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Marks held staff mail `first..=last` as summarized at `at`.
pub fn mark_summarized(conn: &Connection, first: i64, last: i64, at: &str) -> Result<()> {
    conn.execute(
        "UPDATE staff_held SET summarized_at = ?1 WHERE summarized_at IS NULL AND id BETWEEN ?2 AND ?3",
        params![at, first, last],
    )?;
    Ok(())
}

/// Summary of one sent or queued mail, for timelines.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Our Message-ID.
    pub message_id: String,
    /// What for.
    pub purpose: String,
    /// To whom.
    pub recipient: String,
    /// queued | sending | sent | failed | bounced
    pub status: String,
    /// Queued at.
    pub created_at: String,
    /// Accepted by the server at.
    pub sent_at: Option<String>,
    /// Last error, if any.
    pub last_error: String,
}

/// The mails of one request, oldest first.
pub fn for_request(conn: &Connection, request_id: &str) -> Result<Vec<Summary>> {
    let mut stmt = conn.prepare(
        "SELECT message_id, purpose, recipient, status, created_at, sent_at, last_error FROM outbox
         WHERE request_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![request_id], |r| {
        Ok(Summary {
            message_id: r.get(0)?,
            purpose: r.get(1)?,
            recipient: r.get(2)?,
            status: r.get(3)?,
            created_at: r.get(4)?,
            sent_at: r.get(5)?,
            last_error: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn queue(conn: &Connection, id: &str, to: &str, audience: &str, now: &str) {
        enqueue(
            conn,
            &NewMail {
                message_id: id.into(),
                request_id: None,
                purpose: "acknowledgement".into(),
                audience: audience.parse().unwrap_or(Audience::Staff),
                recipient: to.into(),
                raw: b"x".to_vec(),
            },
            now,
        )
        .expect("enqueue");
    }

    const NOW: &str = "2026-11-27T10:00:00Z";
    const LEASE: &str = "2026-11-27T10:10:00Z";

    #[test]
    fn of_two_processes_that_read_the_same_due_row_only_one_claims_it() {
        let st = Store::in_memory().expect("store");
        queue(&st.conn, "m1", "a@example.test", "consumer", NOW);
        let mine = due(&st.conn, NOW, 10).expect("due");
        let theirs = due(&st.conn, NOW, 10).expect("due");
        assert!(claim(&st.conn, &mine[0], "1:a", LEASE).expect("claim"));
        assert!(!claim(&st.conn, &theirs[0], "2:b", LEASE).expect("claim"));
        // Claimed: no longer due for anyone until the lease ends.
        assert!(due(&st.conn, NOW, 10).expect("due").is_empty());
        assert_eq!(due(&st.conn, LEASE, 10).expect("due").len(), 1);
    }

    #[test]
    fn claims_of_a_process_that_is_gone_are_released_at_once() {
        let st = Store::in_memory().expect("store");
        queue(&st.conn, "m1", "a@example.test", "consumer", NOW);
        queue(&st.conn, "m2", "b@example.test", "consumer", NOW);
        let rows = due(&st.conn, NOW, 10).expect("due");
        assert!(claim(&st.conn, &rows[0], "1:alive", LEASE).expect("claim"));
        assert!(claim(&st.conn, &rows[1], "2:dead", LEASE).expect("claim"));
        let n = release_dead_claims(&st.conn, NOW, |c| c == "1:alive").expect("release");
        assert_eq!(n, 1);
        let again = due(&st.conn, NOW, 10).expect("due");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].message_id, "m2");
        assert_eq!(
            again[0].status, "sending",
            "its copy decides, not a blind resend"
        );
    }

    #[test]
    fn the_reply_cap_counts_one_mailbox_whatever_the_spelling() {
        let st = Store::in_memory().expect("store");
        for (i, to) in [
            "victim@example.test",
            "Victim+1@Example.TEST",
            "VICTIM+x@example.test",
            "other@example.test",
        ]
        .iter()
        .enumerate()
        {
            queue(&st.conn, &format!("m{i}"), to, "consumer", NOW);
        }
        queue(&st.conn, "s", "victim@example.test", "staff", NOW);
        for spelling in ["victim+99@example.test", "VICTIM@EXAMPLE.TEST"] {
            assert_eq!(count_to_since(&st.conn, spelling, NOW).expect("count"), 3);
        }
    }
}
