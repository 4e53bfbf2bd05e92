//! Retention: mail bodies go after `store.mail-retention-days`; the records stay (requests,
//! the audit log, who wrote when about what), as CCPA §7101 asks for 24 months.

use anyhow::Result;
use rusqlite::{params, Connection};

/// What a purge dropped (or would drop).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Bodies of received mails.
    pub received: u64,
    /// Bodies of sent mails.
    pub sent: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// A body may go once it is older than the cutoff and its request (if any) is closed: open
/// requests keep their mails, staff may need them.
const CLOSED_OR_NONE: &str = "(request_id IS NULL OR request_id IN
    (SELECT id FROM requests WHERE status IN ('completed', 'denied', 'closed_unverifiable')))";

/// Drops the bodies of mails recorded before `cutoff` (UTC RFC 3339), or only counts them
/// with `dry_run`.
pub fn purge(conn: &Connection, cutoff: &str, dry_run: bool) -> Result<Purged> {
    let inbox_where = format!("raw IS NOT NULL AND fetched_at < ?1 AND {CLOSED_OR_NONE}");
    let outbox_where = format!(
        "length(raw) > 0 AND status IN ('sent', 'failed', 'bounced') AND created_at < ?1 AND {CLOSED_OR_NONE}"
    );
    let count = |table: &str, w: &str| -> Result<(u64, u64)> {
        Ok(conn.query_row(
            &format!("SELECT COUNT(*), COALESCE(SUM(length(raw)), 0) FROM {table} WHERE {w}"),
            params![cutoff],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    };
    let (received, b1) = count("inbox", &inbox_where)?;
    let (sent, b2) = count("outbox", &outbox_where)?;
    if !dry_run {
        conn.execute(
            &format!("UPDATE inbox SET raw = NULL WHERE {inbox_where}"),
            params![cutoff],
        )?;
        conn.execute(
            &format!("UPDATE outbox SET raw = X'' WHERE {outbox_where}"),
            params![cutoff],
        )?;
    }
    Ok(Purged {
        received,
        sent,
        bytes: b1 + b2,
    })
}
