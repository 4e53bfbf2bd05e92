//! Retention, in two steps. Mail bodies go after `store.mail-retention-days`; the records stay
//! (requests, the audit log, who wrote when about what), as CCPA §7101 asks for 24 months.
//! Once `store.record-retention-months` (≥ 24) have passed since a closed request's last
//! activity, the whole record goes: request, audit log, mail rows, notices. Open requests are
//! never deleted, whatever their age.

use anyhow::Result;
use rusqlite::{params, Connection};

/// What a purge dropped (or would drop).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Bodies of received mails.
    pub received: u64,
    /// Bodies of sent mails.
    pub sent: u64,
    /// Bytes freed.
    pub bytes: u64,
    /// Access packages made before the cutoff with no link still usable: marked deleted;
    /// the caller removes these files.
    pub package_files: Vec<String>,
}

/// A body may go once it is older than the cutoff and its request (if any) is closed: open
/// requests keep their mails, staff may need them.
const CLOSED_OR_NONE: &str = "(request_id IS NULL OR request_id IN
    (SELECT id FROM requests WHERE status IN ('completed', 'denied', 'closed_unverifiable', 'not_a_request')))";

/// Drops the bodies of mails recorded before `cutoff` (UTC RFC 3339) and the access packages
/// made before it that no usable link (at `now`) points to, or only counts them with
/// `dry_run`.
pub fn purge(conn: &Connection, cutoff: &str, now: &str, dry_run: bool) -> Result<Purged> {
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
    // A package is a copy of a person's data: it goes like a mail body, once no link to it
    // can still be used (an active link that has not expired keeps it).
    let package_where = "deleted_at IS NULL AND created_at < ?1 AND NOT EXISTS
        (SELECT 1 FROM links l WHERE l.package_id = packages.id AND l.state = 'active'
           AND l.expires_at > ?2)";
    let mut stmt = conn.prepare(&format!("SELECT path FROM packages WHERE {package_where}"))?;
    let package_files = stmt
        .query_map(params![cutoff, now], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !dry_run {
        conn.execute(
            &format!("UPDATE packages SET deleted_at = ?2 WHERE {package_where}"),
            params![cutoff, now],
        )?;
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
        package_files,
    })
}

/// What a record purge deleted (or would delete).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgedRecords {
    /// Closed requests past their retention.
    pub requests: u64,
    /// Their audit-log events.
    pub events: u64,
    /// Rows of received mail: of those requests, and of mail that opened none.
    pub received: u64,
    /// Rows of sent mail: of those requests, and staff mail about none (digests).
    pub sent: u64,
    /// The access packages of those requests: their rows are gone, and the caller removes
    /// these files (encrypted exports of a person's data).
    pub package_files: Vec<String>,
}

/// Closed requests whose last activity (last change, response or audit event) is before ?1.
const EXPIRED: &str = "SELECT id FROM requests
    WHERE status IN ('completed', 'denied', 'closed_unverifiable', 'not_a_request')
      AND MAX(updated_at, COALESCE(responded_at, ''),
              COALESCE((SELECT MAX(at) FROM events e WHERE e.request_id = requests.id), '')) < ?1";
/// Received mail that opened no request, recorded before ?1, and already moved out of the
/// watched mailbox (a pending move still needs its row).
const LOOSE_INBOX: &str = "request_id IS NULL AND fetched_at < ?1 AND (moved = 1 OR move_to = '')";
/// Sent mail about no request (digests, quarantine notices), finished before ?1.
const LOOSE_OUTBOX: &str =
    "request_id IS NULL AND created_at < ?1 AND status NOT IN ('queued', 'sending')";

/// Deletes the records that have outlived `cutoff` (UTC RFC 3339), or only counts them with
/// `dry_run`. `now` is written in the retention window the audit-log trigger checks.
pub fn purge_records(
    conn: &Connection,
    cutoff: &str,
    now: &str,
    dry_run: bool,
) -> Result<PurgedRecords> {
    let ids: Vec<String> = {
        let mut stmt = conn.prepare(EXPIRED)?;
        let rows = stmt.query_map(params![cutoff], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let count = |sql: &str, p: &dyn rusqlite::ToSql| -> Result<u64> {
        Ok(conn.query_row(sql, [p], |r| r.get::<_, i64>(0))? as u64)
    };
    let mut out = PurgedRecords {
        requests: ids.len() as u64,
        received: count(
            &format!("SELECT COUNT(*) FROM inbox WHERE {LOOSE_INBOX}"),
            &cutoff,
        )?,
        sent: count(
            &format!("SELECT COUNT(*) FROM outbox WHERE {LOOSE_OUTBOX}"),
            &cutoff,
        )?,
        ..PurgedRecords::default()
    };
    for id in &ids {
        let mut stmt = conn.prepare("SELECT path FROM packages WHERE request_id = ?1")?;
        let paths = stmt.query_map(params![id], |r| r.get::<_, String>(0))?;
        for p in paths {
            out.package_files.push(p?);
        }
        out.events += count("SELECT COUNT(*) FROM events WHERE request_id = ?1", id)?;
        out.received += count("SELECT COUNT(*) FROM inbox WHERE request_id = ?1", id)?;
        out.sent += count("SELECT COUNT(*) FROM outbox WHERE request_id = ?1", id)?;
    }
    if dry_run {
        return Ok(out);
    }
    conn.execute(
        "INSERT INTO retention_window (opened_at) VALUES (?1)",
        params![now],
    )?;
    for id in &ids {
        for sql in [
            "DELETE FROM events WHERE request_id = ?1",
            "DELETE FROM inbox WHERE request_id = ?1",
            "DELETE FROM outbox WHERE request_id = ?1",
            "DELETE FROM notices WHERE request_id = ?1",
            "DELETE FROM staff_labels WHERE request_id = ?1",
            "DELETE FROM fulfil_jobs WHERE request_id = ?1",
            "DELETE FROM fulfil_results WHERE request_id = ?1",
            "DELETE FROM portal_audit WHERE request_id = ?1",
            "DELETE FROM links WHERE request_id = ?1",
            "DELETE FROM packages WHERE request_id = ?1",
            "DELETE FROM requests WHERE id = ?1",
        ] {
            conn.execute(sql, params![id])?;
        }
    }
    conn.execute("DELETE FROM retention_window", [])?;
    conn.execute(
        &format!("DELETE FROM inbox WHERE {LOOSE_INBOX}"),
        params![cutoff],
    )?;
    conn.execute(
        &format!("DELETE FROM outbox WHERE {LOOSE_OUTBOX}"),
        params![cutoff],
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{add_event, Store};

    fn request(conn: &Connection, id: &str, status: &str, updated: &str) {
        conn.execute(
            "INSERT INTO requests (id, requester, status, jurisdiction, received_at, due_at, created_at, updated_at)
             VALUES (?1, 'jo@example.org', ?2, 'ccpa', ?3, ?3, ?3, ?3)",
            params![id, status, updated],
        )
        .expect("insert request");
        add_event(conn, id, updated, "received", "bot", "").expect("event");
        conn.execute(
            "INSERT INTO inbox (message_key, mailbox, uidvalidity, uid, internal_date, fetched_at, disposition, request_id, moved)
             VALUES (?1, 'INBOX', 1, (SELECT COUNT(*) + 1 FROM inbox), ?2, ?2, 'request', ?3, 1)",
            params![format!("mid:{id}"), updated, id],
        )
        .expect("insert inbox");
    }

    fn ids(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT id FROM requests ORDER BY id")
            .expect("prepare");
        let rows = stmt.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<rusqlite::Result<_>>().expect("rows")
    }

    #[test]
    fn only_closed_records_past_retention_go_and_the_audit_log_stays_append_only() {
        let mut store = Store::in_memory().expect("store");
        let tx = store.begin().expect("begin");
        request(&tx, "OLD-CLOSED", "completed", "2024-01-10T00:00:00Z");
        request(&tx, "OLD-DENIED", "denied", "2024-02-10T00:00:00Z");
        request(&tx, "OLD-OPEN", "verified", "2024-01-10T00:00:00Z");
        request(&tx, "RECENT", "completed", "2025-06-10T00:00:00Z");
        // Closed long ago, but a note was added recently: its last activity is recent.
        request(&tx, "OLD-NOTED", "completed", "2024-01-10T00:00:00Z");
        add_event(
            &tx,
            "OLD-NOTED",
            "2025-09-01T00:00:00Z",
            "note",
            "staff",
            "x",
        )
        .expect("note");

        // Outside a purge, the audit log cannot be deleted from, even for closed requests.
        let refused = tx.execute("DELETE FROM events WHERE request_id = 'OLD-CLOSED'", []);
        assert!(
            refused.is_err_and(|e| e.to_string().contains("append-only")),
            "the trigger guards the audit log"
        );

        let cutoff = "2024-06-01T00:00:00Z";
        let now = "2026-06-01T00:00:00Z";
        let dry = purge_records(&tx, cutoff, now, true).expect("dry run");
        assert_eq!((dry.requests, dry.events, dry.received), (2, 2, 2));
        assert_eq!(ids(&tx).len(), 5, "a dry run deletes nothing");

        let done = purge_records(&tx, cutoff, now, false).expect("purge");
        assert_eq!(done, dry);
        assert_eq!(ids(&tx), ["OLD-NOTED", "OLD-OPEN", "RECENT"]);
        let events: i64 = tx
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count");
        assert_eq!(events, 4);
        let window: i64 = tx
            .query_row("SELECT COUNT(*) FROM retention_window", [], |r| r.get(0))
            .expect("count");
        assert_eq!(window, 0, "the window is closed again");
        assert!(tx
            .execute("DELETE FROM events WHERE request_id = 'RECENT'", [])
            .is_err());
        let again = purge_records(&tx, cutoff, now, false).expect("again");
        assert_eq!(again, PurgedRecords::default());
    }

    #[test]
    fn a_fulfilled_request_goes_whole_with_its_package_named_for_removal() {
        let mut store = Store::in_memory().expect("store");
        let tx = store.begin().expect("begin");
        request(&tx, "OLD-FULFILLED", "completed", "2024-01-10T00:00:00Z");
        tx.execute_batch(
            "INSERT INTO fulfil_results (request_id, source, action, outcome, at)
               VALUES ('OLD-FULFILLED', 'crm', 'lookup', 'ok', '2024-01-10T00:00:00Z');
             INSERT INTO fulfil_jobs (request_id, action, state, next_at, created_at)
               VALUES ('OLD-FULFILLED', 'export', 'done', '2024-01-10T00:00:00Z', '2024-01-10T00:00:00Z');
             INSERT INTO packages (request_id, path, bytes, rows, created_at)
               VALUES ('OLD-FULFILLED', '/var/lib/pi/packages/p.zip.enc', 10, 2, '2024-01-10T00:00:00Z');
             INSERT INTO links (token_hash, request_id, package_id, created_at, expires_at)
               VALUES (printf('%064d', 1), 'OLD-FULFILLED', last_insert_rowid(), '2024-01-10T00:00:00Z', '2024-01-17T00:00:00Z');
             INSERT INTO portal_audit (at, event, request_id, client)
               VALUES ('2024-01-11T00:00:00Z', 'download', 'OLD-FULFILLED', '127.0.0.1');",
        )
        .expect("fulfilment rows");
        let done = purge_records(&tx, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", false)
            .expect("purged without a foreign key left dangling");
        assert_eq!(done.requests, 1);
        assert_eq!(done.package_files, ["/var/lib/pi/packages/p.zip.enc"]);
        for table in [
            "fulfil_results",
            "fulfil_jobs",
            "packages",
            "links",
            "portal_audit",
        ] {
            let n: i64 = tx
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .expect("count");
            assert_eq!(n, 0, "{table}");
        }
    }

    #[test]
    fn an_old_package_goes_with_the_mail_bodies_unless_a_live_link_points_to_it() {
        let mut store = Store::in_memory().expect("store");
        let tx = store.begin().expect("begin");
        request(&tx, "R1", "completed", "2026-01-10T00:00:00Z");
        tx.execute_batch(
            "INSERT INTO packages (id, request_id, path, bytes, rows, created_at)
               VALUES (1, 'R1', '/p/used.zip.enc', 1, 1, '2026-01-10T00:00:00Z'),
                      (2, 'R1', '/p/live.zip.enc', 1, 1, '2026-01-10T00:00:00Z'),
                      (3, 'R1', '/p/new.zip.enc', 1, 1, '2026-05-30T00:00:00Z');
             INSERT INTO links (token_hash, request_id, package_id, created_at, expires_at, state)
               VALUES (printf('%064d', 1), 'R1', 1, '2026-01-10T00:00:00Z', '2026-01-17T00:00:00Z', 'used'),
                      (printf('%064d', 2), 'R1', 2, '2026-05-30T00:00:00Z', '2026-06-06T00:00:00Z', 'active');",
        )
        .expect("packages");
        let cutoff = "2026-03-01T00:00:00Z";
        let now = "2026-06-01T00:00:00Z";
        let dry = purge(&tx, cutoff, now, true).expect("dry run");
        assert_eq!(dry.package_files, ["/p/used.zip.enc"]);
        let done = purge(&tx, cutoff, now, false).expect("purge");
        assert_eq!(done.package_files, ["/p/used.zip.enc"]);
        let again = purge(&tx, cutoff, now, false).expect("purge again");
        assert!(again.package_files.is_empty(), "marked deleted once");
    }

    #[test]
    fn an_open_request_keeps_its_audit_log_even_inside_the_window() {
        let mut store = Store::in_memory().expect("store");
        let tx = store.begin().expect("begin");
        request(&tx, "OPEN", "acknowledged", "2020-01-01T00:00:00Z");
        tx.execute(
            "INSERT INTO retention_window (opened_at) VALUES ('2026-01-01T00:00:00Z')",
            [],
        )
        .expect("open the window");
        assert!(tx
            .execute("DELETE FROM events WHERE request_id = 'OPEN'", [])
            .is_err());
    }
}
