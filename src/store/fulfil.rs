//! Fulfilment's tables: what each source said per request (`fulfil_results`), the encrypted
//! access packages (`packages`), the download links (`links`, tokens stored as SHA-256 only)
//! and the portal's audit log (`portal_audit`: every page view and download, with the time
//! and the client's address).
//!
//! [`MIGRATION`] is migration 9 of [`crate::store::schema::MIGRATIONS`].

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// The schema of this module, as one migration.
pub const MIGRATION: &str = r#"
CREATE TABLE fulfil_results (
    id          INTEGER PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    source      TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('lookup', 'export', 'erase', 'opt-out')),
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'unavailable', 'failed')),
    count       INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
    detail      TEXT NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX fulfil_results_request ON fulfil_results (request_id, source, action);

CREATE TABLE packages (
    id          INTEGER PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    path        TEXT NOT NULL,
    bytes       INTEGER NOT NULL CHECK (bytes >= 0),
    rows        INTEGER NOT NULL CHECK (rows >= 0),
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
) STRICT;
CREATE INDEX packages_request ON packages (request_id);

CREATE TABLE links (
    token_hash  TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
    request_id  TEXT NOT NULL REFERENCES requests (id),
    package_id  INTEGER NOT NULL REFERENCES packages (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'used', 'voided')),
    used_at     TEXT
) STRICT;
CREATE INDEX links_request ON links (request_id, state);

CREATE TABLE portal_audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    event       TEXT NOT NULL CHECK (event IN ('view', 'download', 'refused')),
    request_id  TEXT REFERENCES requests (id),
    token_hint  TEXT NOT NULL DEFAULT '',
    client      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX portal_audit_request ON portal_audit (request_id);

CREATE TABLE fulfil_jobs (
    id           INTEGER PRIMARY KEY,
    request_id   TEXT NOT NULL REFERENCES requests (id),
    action       TEXT NOT NULL CHECK (action IN ('lookup', 'export', 'erase', 'opt-out')),
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at      TEXT NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX fulfil_jobs_pending ON fulfil_jobs (request_id, action) WHERE state = 'pending';
CREATE INDEX fulfil_jobs_due ON fulfil_jobs (state, next_at);
"#;

/// Migration 10: `fulfil_jobs.sources`, the sources a job runs on (comma-separated source
/// names; empty: every source with the action).
pub const MIGRATION_JOB_SOURCES: &str =
    "ALTER TABLE fulfil_jobs ADD COLUMN sources TEXT NOT NULL DEFAULT '';";

/// One piece of fulfilment work waiting for the daemon: run `action` on every source for
/// `request_id` (queued in the transaction that decided it, run outside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Row ID.
    pub id: i64,
    /// The request.
    pub request_id: String,
    /// `lookup`, `export`, `erase` or `opt-out`.
    pub action: String,
    /// Tries so far.
    pub attempts: i64,
    /// The sources it runs on (empty: every source with the action).
    pub sources: Vec<String>,
}

fn split_sources(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Queues `action` for exactly `sources` (empty: all), once; false when one is pending.
pub fn enqueue_job_for(
    conn: &Connection,
    request_id: &str,
    action: &str,
    sources: &[String],
    now: &str,
) -> Result<bool> {
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO fulfil_jobs (request_id, action, next_at, created_at, sources)
             VALUES (?1, ?2, ?3, ?3, ?4)",
            params![request_id, action, now, sources.join(",")],
        )
        .context("Cannot queue a fulfilment job")?;
    Ok(n == 1)
}

/// Queues `action` for a request (once: a pending one is not queued twice).
pub fn enqueue_job(conn: &Connection, request_id: &str, action: &str, now: &str) -> Result<bool> {
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO fulfil_jobs (request_id, action, next_at, created_at)
             VALUES (?1, ?2, ?3, ?3)",
            params![request_id, action, now],
        )
        .context("Cannot queue a fulfilment job")?;
    Ok(n == 1)
}

/// Pending jobs due at `now`, oldest first.
pub fn due_jobs(conn: &Connection, now: &str, limit: usize) -> Result<Vec<Job>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, request_id, action, attempts, sources FROM fulfil_jobs
         WHERE state = 'pending' AND next_at <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit as i64], |r| {
        Ok(Job {
            id: r.get(0)?,
            request_id: r.get(1)?,
            action: r.get(2)?,
            attempts: r.get(3)?,
            sources: split_sources(&r.get::<_, String>(4)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Ends a job: `done`, or `failed` with why; or, with `retry_at`, tries it again then.
pub fn finish_job(
    conn: &Connection,
    id: i64,
    state: &str,
    error: &str,
    retry_at: Option<&str>,
) -> Result<()> {
    match retry_at {
        Some(at) => conn.execute(
            "UPDATE fulfil_jobs SET attempts = attempts + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, at, error],
        )?,
        None => conn.execute(
            "UPDATE fulfil_jobs SET attempts = attempts + 1, state = ?2, last_error = ?3 WHERE id = ?1",
            params![id, state, error],
        )?,
    };
    Ok(())
}

/// Narrows a job being retried to `sources` (those that failed).
pub fn set_job_sources(conn: &Connection, id: i64, sources: &[String]) -> Result<()> {
    conn.execute(
        "UPDATE fulfil_jobs SET sources = ?2 WHERE id = ?1",
        params![id, sources.join(",")],
    )?;
    Ok(())
}

/// Voids every active link of a request (a denial: no link works after it); returns how many.
pub fn void_links(conn: &Connection, request_id: &str) -> Result<usize> {
    conn.execute(
        "UPDATE links SET state = 'voided' WHERE request_id = ?1 AND state = 'active'",
        params![request_id],
    )
    .context("Cannot void the links")
}

/// True when the request has an active, unexpired, unused link at `now`.
pub fn active_link(conn: &Connection, request_id: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM links WHERE request_id = ?1 AND state = 'active'
                        AND expires_at > ?2)",
        params![request_id, crate::clock::fmt(now)],
        |r| r.get(0),
    )?)
}

/// True when a job of `action` for the request is pending or done.
pub fn job_exists(conn: &Connection, request_id: &str, action: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM fulfil_jobs WHERE request_id = ?1 AND action = ?2 AND state <> 'failed')",
        params![request_id, action],
        |r| r.get(0),
    )?)
}

/// Detail prefix of an erase result whose re-check still found rows.
pub const PARTIAL: &str = "partial:";

/// What the store knows about a request's fulfilment, for [`crate::request::fulfilment::state`].
pub fn facts(
    conn: &Connection,
    r: &super::requests::Request,
    configured: bool,
) -> Result<crate::request::fulfilment::Facts> {
    use crate::request::fulfilment::{Facts, Failure, Step};
    let mut stmt = conn.prepare_cached(
        "SELECT action, state, attempts FROM fulfil_jobs WHERE request_id = ?1 ORDER BY id",
    )?;
    let jobs: Vec<(String, String, i64)> = stmt
        .query_map(params![r.id], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let results = results(conn, &r.id)?;
    // Per (action, source): the newest result.
    let latest = |action: &str| {
        let mut by: Vec<&SourceResult> = Vec::new();
        for x in results.iter().filter(|x| x.action == action) {
            by.retain(|y| y.source != x.source);
            by.push(x);
        }
        by
    };
    let newest = |action: &str| jobs.iter().rev().find(|j| j.0 == action);
    let pending: Vec<Step> = jobs
        .iter()
        .filter(|j| j.1 == "pending")
        .filter_map(|j| Step::parse(&j.0))
        .collect();
    let mut failed = None;
    let mut partial = Vec::new();
    for step in [Step::Lookup, Step::Export, Step::Erase, Step::OptOut] {
        let Some((_, state, attempts)) = newest(step.as_str()) else {
            continue;
        };
        if state != "failed" {
            continue;
        }
        let bad: Vec<&SourceResult> = latest(step.as_str())
            .into_iter()
            .filter(|x| x.outcome != "ok")
            .collect();
        if step == Step::Erase
            && !bad.is_empty()
            && bad.iter().all(|x| x.detail.starts_with(PARTIAL))
        {
            partial = bad.iter().map(|x| x.source.clone()).collect();
            continue;
        }
        if failed.is_none() {
            failed = Some(Failure {
                step,
                sources: bad.iter().map(|x| x.source.clone()).collect(),
                tries: u32::try_from(*attempts).unwrap_or(u32::MAX),
            });
        }
    }
    let found = match newest("lookup") {
        Some((_, state, _)) if state == "done" => Some(
            latest("lookup")
                .iter()
                .filter(|x| x.outcome == "ok")
                .map(|x| x.count)
                .sum(),
        ),
        _ => None,
    };
    Ok(Facts {
        status: r.status,
        kinds: r.kinds.clone(),
        configured,
        pending,
        failed,
        found,
        package: latest_package(conn, &r.id)?.is_some(),
        link: link_issued(conn, &r.id)?,
        erase_queued: jobs.iter().any(|j| j.0 == "erase"),
        erased: newest("erase").is_some_and(|j| j.1 == "done"),
        partial,
        nothing_found_sent: super::outbox::consumer_purposes(conn, &r.id)?
            .iter()
            .any(|p| p == "nothing_found"),
        opted_out: newest("opt-out").is_some_and(|j| j.1 == "done"),
    })
}

/// Failed steps of open requests: (request, action, last error), for the sweep.
pub fn failed_open(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT j.request_id, j.action, j.last_error FROM fulfil_jobs j
         JOIN requests q ON q.id = j.request_id
         WHERE j.state = 'failed'
           AND q.status IN ('received', 'acknowledged', 'awaiting_verification', 'verified')
           AND NOT EXISTS (SELECT 1 FROM fulfil_jobs k WHERE k.request_id = j.request_id
                           AND k.action = j.action AND k.id > j.id)
         ORDER BY j.id",
    )?;
    let rows = stmt.query_map([], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The newest package of a request: (id, path, rows).
pub fn latest_package(conn: &Connection, request_id: &str) -> Result<Option<(i64, String, u64)>> {
    Ok(conn
        .query_row(
            "SELECT id, path, rows FROM packages WHERE request_id = ?1 AND deleted_at IS NULL
             ORDER BY id DESC LIMIT 1",
            params![request_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64)),
        )
        .optional()?)
}

/// True when a download link was ever issued for the request.
pub fn link_issued(conn: &Connection, request_id: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM links WHERE request_id = ?1)",
        params![request_id],
        |r| r.get(0),
    )?)
}

/// Hex SHA-256 of a link token: all the store keeps of it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// One result of one action on one source, for a request's timeline and `requests show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceResult {
    /// The source's `name`.
    pub source: String,
    /// `lookup`, `export`, `erase` or `opt-out`.
    pub action: String,
    /// `ok`, `unavailable` (will be retried) or `failed` (staff must look).
    pub outcome: String,
    /// Rows found, exported or changed.
    pub count: u64,
    /// Per-table counts (`customers: 2; calls: 14`) or the error.
    pub detail: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// When, RFC 3339.
    pub at: String,
}

/// Records a source's result.
pub fn record_result(conn: &Connection, request_id: &str, r: &SourceResult) -> Result<()> {
    conn.execute(
        "INSERT INTO fulfil_results (request_id, source, action, outcome, count, detail, attempt, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            request_id,
            r.source,
            r.action,
            r.outcome,
            i64::try_from(r.count).unwrap_or(i64::MAX),
            r.detail,
            r.attempt,
            r.at
        ],
    )
    .context("Cannot record a source result")?;
    Ok(())
}

/// Every result of a request, oldest first.
pub fn results(conn: &Connection, request_id: &str) -> Result<Vec<SourceResult>> {
    let mut stmt = conn.prepare(
        "SELECT source, action, outcome, count, detail, attempt, at FROM fulfil_results
         WHERE request_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![request_id], |r| {
        Ok(SourceResult {
            source: r.get(0)?,
            action: r.get(1)?,
            outcome: r.get(2)?,
            count: r.get::<_, i64>(3)?.max(0) as u64,
            detail: r.get(4)?,
            attempt: r.get(5)?,
            at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records a finished package; returns its id.
pub fn add_package(
    conn: &Connection,
    request_id: &str,
    path: &str,
    bytes: u64,
    rows: u64,
    at: DateTime<Utc>,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO packages (request_id, path, bytes, rows, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            request_id,
            path,
            i64::try_from(bytes).unwrap_or(i64::MAX),
            i64::try_from(rows).unwrap_or(i64::MAX),
            crate::clock::fmt(at)
        ],
    )
    .context("Cannot record a package")?;
    Ok(conn.last_insert_rowid())
}

/// A new link: a token of 256 bits from the OS's CSPRNG (base64url, 43 characters), stored
/// hashed. Voids every earlier active link of the request (`/resend`). Returns the token:
/// the only time it exists in clear.
pub fn issue_link(
    conn: &Connection,
    request_id: &str,
    package_id: i64,
    now: DateTime<Utc>,
    days: u32,
) -> Result<String> {
    use base64::Engine as _;
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .context("The operating system's random generator failed")?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    conn.execute(
        "UPDATE links SET state = 'voided' WHERE request_id = ?1 AND state = 'active'",
        params![request_id],
    )
    .context("Cannot void the earlier links")?;
    conn.execute(
        "INSERT INTO links (token_hash, request_id, package_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            token_hash(&token),
            request_id,
            package_id,
            crate::clock::fmt(now),
            crate::clock::fmt(now + chrono::Duration::days(i64::from(days)))
        ],
    )
    .context("Cannot store a link")?;
    Ok(token)
}

/// What a link token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// No such token (mistyped, or never issued).
    Unknown,
    /// Usable now.
    Active(Link),
    /// Downloaded already.
    Used(Link),
    /// Replaced by a newer link (`/resend`).
    Voided(Link),
    /// Past its expiry.
    Expired(Link),
}

/// A link's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The request.
    pub request_id: String,
    /// The package's id.
    pub package_id: i64,
    /// The encrypted package file.
    pub package_path: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// The request's language (`en`, `es`, ...): the page speaks it.
    pub language: String,
}

/// Looks a token up (by its hash) as of `now`.
pub fn link_state(conn: &Connection, token: &str, now: DateTime<Utc>) -> Result<LinkState> {
    let row = conn
        .query_row(
            "SELECT l.request_id, l.package_id, p.path, l.expires_at, l.state,
                    COALESCE(q.language, 'en')
             FROM links l JOIN packages p ON p.id = l.package_id
             LEFT JOIN requests q ON q.id = l.request_id
             WHERE l.token_hash = ?1",
            params![token_hash(token)],
            |r| {
                Ok((
                    Link {
                        request_id: r.get(0)?,
                        package_id: r.get(1)?,
                        package_path: r.get(2)?,
                        expires_at: r.get(3)?,
                        language: r.get(5)?,
                    },
                    r.get::<_, String>(4)?,
                ))
            },
        )
        .optional()
        .context("Cannot read a link")?;
    let Some((link, state)) = row else {
        return Ok(LinkState::Unknown);
    };
    let expired = crate::clock::parse(&link.expires_at)? <= now;
    Ok(match state.as_str() {
        "used" => LinkState::Used(link),
        "voided" => LinkState::Voided(link),
        _ if expired => LinkState::Expired(link),
        _ => LinkState::Active(link),
    })
}

/// Marks an active, unexpired link used; true when this call used it (exactly one caller
/// wins a race between two downloads).
pub fn use_link(conn: &Connection, token: &str, now: DateTime<Utc>) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE links SET state = 'used', used_at = ?2
             WHERE token_hash = ?1 AND state = 'active' AND expires_at > ?2",
            params![token_hash(token), crate::clock::fmt(now)],
        )
        .context("Cannot mark a link used")?;
    Ok(n == 1)
}

/// A portal event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalEvent {
    /// The page of a link was shown.
    View,
    /// The package was downloaded.
    Download,
    /// A link that is unknown, used, voided or expired was opened or posted.
    Refused,
}

impl PortalEvent {
    fn as_str(self) -> &'static str {
        match self {
            PortalEvent::View => "view",
            PortalEvent::Download => "download",
            PortalEvent::Refused => "refused",
        }
    }
}

/// Appends to the portal's audit log and, for a known request, to the request's own log.
pub fn audit(
    conn: &Connection,
    at: DateTime<Utc>,
    event: PortalEvent,
    request_id: Option<&str>,
    token: &str,
    client: &str,
    detail: &str,
) -> Result<()> {
    // The first 8 hex digits of the hash: enough to tell links apart, useless to an attacker.
    let hint: String = token_hash(token).chars().take(8).collect();
    let at = crate::clock::fmt(at);
    conn.execute(
        "INSERT INTO portal_audit (at, event, request_id, token_hint, client, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![at, event.as_str(), request_id, hint, client, detail],
    )
    .context("Cannot record a portal event")?;
    if let Some(id) = request_id {
        super::add_event(
            conn,
            id,
            &at,
            &format!("portal_{}", event.as_str()),
            "consumer",
            format!("{client} {detail}").trim(),
        )?;
    }
    Ok(())
}

/// One row of the portal's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// When.
    pub at: String,
    /// `view`, `download` or `refused`.
    pub event: String,
    /// The request, when the token was known.
    pub request_id: Option<String>,
    /// The client's address.
    pub client: String,
    /// Why refused, or what was sent.
    pub detail: String,
}

/// The portal's audit log, oldest first.
pub fn audit_log(conn: &Connection) -> Result<Vec<AuditRow>> {
    let mut stmt =
        conn.prepare("SELECT at, event, request_id, client, detail FROM portal_audit ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(AuditRow {
            at: r.get(0)?,
            event: r.get(1)?,
            request_id: r.get(2)?,
            client: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inserts a minimal open request row (tests and benchmarks of fulfilment, which need a
/// request to hang results, packages and links on).
#[doc(hidden)]
pub fn bare_request(conn: &Connection, id: &str, requester: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO requests (id, requester, kinds, status, jurisdiction, received_at, due_at, created_at, updated_at)
         VALUES (?1, ?2, 'access', 'verified', 'ccpa', '2026-01-01T00:00:00Z', '2026-02-15T00:00:00Z',
                 '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        params![id, requester],
    )
    .context("Cannot insert a request")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> crate::store::Store {
        let s = crate::store::Store::in_memory().expect("store");
        bare_request(s.reader(), "PI-1", "a@example.test").expect("request");
        s
    }

    fn t(s: &str) -> DateTime<Utc> {
        crate::clock::parse(s).expect("time")
    }

    #[test]
    fn a_link_is_single_use_expires_and_a_new_one_voids_the_old() {
        let s = store();
        let c = s.reader();
        let pkg = add_package(c, "PI-1", "/x.pkg", 10, 2, t("2026-01-02T00:00:00Z")).expect("pkg");
        let now = t("2026-01-02T00:00:00Z");
        let first = issue_link(c, "PI-1", pkg, now, 7).expect("link");
        assert!(first.len() >= 22, "at least 128 bits: {first}");
        let stored: String = c
            .query_row("SELECT token_hash FROM links", [], |r| r.get(0))
            .expect("row");
        assert_eq!(stored, token_hash(&first));
        assert!(!stored.contains(&first));
        assert!(matches!(
            link_state(c, &first, now).expect("state"),
            LinkState::Active(_)
        ));
        let second = issue_link(c, "PI-1", pkg, now, 7).expect("link");
        assert_ne!(first, second);
        assert!(matches!(
            link_state(c, &first, now).expect("state"),
            LinkState::Voided(_)
        ));
        assert!(!use_link(c, &first, now).expect("use"), "a voided link");
        let late = t("2026-01-09T00:00:01Z");
        assert!(matches!(
            link_state(c, &second, late).expect("state"),
            LinkState::Expired(_)
        ));
        assert!(!use_link(c, &second, late).expect("use"), "an expired link");
        assert!(use_link(c, &second, now).expect("use"));
        assert!(!use_link(c, &second, now).expect("use"), "used twice");
        assert!(matches!(
            link_state(c, &second, now).expect("state"),
            LinkState::Used(_)
        ));
        assert_eq!(
            link_state(c, "nope", now).expect("state"),
            LinkState::Unknown
        );
        let third = issue_link(c, "PI-1", pkg, now, 7).expect("link");
        assert!(active_link(c, "PI-1", now).expect("active"));
        assert_eq!(void_links(c, "PI-1").expect("void"), 1);
        assert!(!active_link(c, "PI-1", now).expect("active"));
        assert!(
            !use_link(c, &third, now).expect("use"),
            "void after a denial"
        );
    }

    #[test]
    fn enum_columns_refuse_unknown_values() {
        let s = store();
        let r = s.conn.execute(
            "INSERT INTO fulfil_results (request_id, source, action, outcome, at) VALUES ('PI-1', 'crm', 'drop', 'ok', 'x')",
            [],
        );
        assert!(r.is_err());
        let r = s.conn.execute(
            "INSERT INTO portal_audit (at, event, client) VALUES ('x', 'hack', '1.2.3.4')",
            [],
        );
        assert!(r.is_err());
    }
}
