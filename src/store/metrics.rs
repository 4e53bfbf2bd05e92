//! The gauges `/metrics` reads at each scrape ([`crate::metrics`]), through a read-only
//! connection of their own so a scrape never waits for the mail loop.

use crate::request::lifecycle::Status;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// What the store says at one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Requests by (kind, status); a request asking for two things counts under both kinds,
    /// one with no kind under `none`.
    pub requests: BTreeMap<(String, String), u64>,
    /// Requests not yet completed, denied or closed.
    pub open: i64,
    /// Open requests flagged for staff.
    pub open_escalated: i64,
    /// The earliest legal due date of an open request (the extended one when extended).
    pub oldest_due: Option<DateTime<Utc>>,
    /// Outgoing mails by status.
    pub outbox: Vec<(String, i64)>,
}

/// Reads the gauges from the store file, read-only.
pub fn gauges(store: &Path) -> Result<Gauges> {
    let conn = rusqlite::Connection::open_with_flags(
        store,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("Cannot open the store {} read-only", store.display()))?;
    conn.busy_timeout(Duration::from_secs(2))?;
    let mut g = Gauges::default();
    let mut stmt =
        conn.prepare("SELECT kinds, status, COUNT(*) FROM requests GROUP BY kinds, status")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (kinds, status, n) = row?;
        let mut any = false;
        for k in kinds.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            any = true;
            *g.requests
                .entry((k.to_string(), status.clone()))
                .or_insert(0) += n as u64;
        }
        if !any {
            *g.requests.entry(("none".into(), status)).or_insert(0) += n as u64;
        }
    }
    let open: Vec<&str> = Status::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect();
    let placeholders = vec!["?"; open.len()].join(",");
    let sql = format!(
        "SELECT COUNT(*),
                MIN(CASE WHEN extended = 1 THEN COALESCE(extended_due_at, due_at) ELSE due_at END),
                SUM(escalated)
         FROM requests WHERE status IN ({placeholders})"
    );
    let (n_open, oldest, escalated): (i64, Option<String>, Option<i64>) =
        conn.query_row(&sql, rusqlite::params_from_iter(open.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    g.open = n_open;
    g.open_escalated = escalated.unwrap_or(0);
    g.oldest_due = oldest.as_deref().map(crate::clock::parse).transpose()?;
    g.outbox = super::outbox::counts(&conn)?;
    Ok(g)
}
