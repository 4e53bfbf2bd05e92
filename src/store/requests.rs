//! The `requests` table: one row per privacy request, with its clocks and flags.

use crate::kind::Kind;
use crate::request::deadlines::Jurisdiction;
use crate::request::lifecycle::Status;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// A privacy request as stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Request {
    /// `PRIV-2026-00001`
    pub id: String,
    /// Lifecycle status (`received`, `acknowledged`, `awaiting_verification`, ...).
    pub status: Status,
    /// The kinds asked for (empty for an escalated non-request mail).
    pub kinds: Vec<Kind>,
    /// The requester's address (From of the opening mail).
    pub requester: String,
    /// Display name from the opening mail.
    pub requester_name: String,
    /// Detected language (`en`, `es`, ...).
    pub language: String,
    /// `ccpa` or `gdpr`: the law whose clocks the request runs on.
    pub jurisdiction: Jurisdiction,
    /// Why that law, in words for staff ("cites Art. 15 DSGVO", "cites no law: the configured
    /// default (CCPA)", "set by staff").
    pub law_reason: String,
    /// The server's INTERNALDATE of the opening mail (UTC RFC 3339): clocks run from here.
    pub received_at: String,
    /// Receipt must be confirmed by (know/delete/correct), if that clock applies.
    pub confirm_by: Option<String>,
    /// The substantive response is due by.
    pub due_at: String,
    /// The due date after the one allowed extension.
    pub extended_due_at: Option<String>,
    /// Whether the extension was taken.
    pub extended: bool,
    /// A human must look at it.
    pub escalated: bool,
    /// Why it was escalated.
    pub escalation_reason: String,
    /// Identity verified.
    pub verified: bool,
    /// Sent by an authorized agent for someone else.
    pub agent: bool,
    /// Subject of the opening mail.
    pub subject: String,
    /// Message-ID of the opening mail.
    pub origin_message_id: Option<String>,
    /// Staff member it is assigned to.
    pub assignee: String,
    /// Basis of a denial: `unverifiable`, `not_a_consumer`, `exempt` or `other`.
    pub denial_basis: Option<String>,
    /// Staff's explanation of a denial, as told to the consumer.
    pub denial_detail: String,
    /// Why the deadline was extended, as told to the consumer.
    pub extension_reason: String,
    /// When the substantive response was given.
    pub responded_at: Option<String>,
    /// Created (UTC RFC 3339).
    pub created_at: String,
    /// Last changed (UTC RFC 3339).
    pub updated_at: String,
}

const COLUMNS: &str = "id, status, kinds, requester, requester_name, language, jurisdiction, received_at,
    confirm_by, due_at, extended_due_at, extended, escalated, escalation_reason, verified, agent, subject,
    origin_message_id, assignee, denial_basis, responded_at, created_at, updated_at, denial_detail,
    extension_reason, law_reason";

fn from_row(r: &Row) -> rusqlite::Result<Request> {
    let kinds: String = r.get(2)?;
    Ok(Request {
        id: r.get(0)?,
        status: r.get(1)?,
        kinds: parse_kinds(&kinds),
        requester: r.get(3)?,
        requester_name: r.get(4)?,
        language: r.get(5)?,
        jurisdiction: r.get(6)?,
        received_at: r.get(7)?,
        confirm_by: r.get(8)?,
        due_at: r.get(9)?,
        extended_due_at: r.get(10)?,
        extended: r.get::<_, i64>(11)? != 0,
        escalated: r.get::<_, i64>(12)? != 0,
        escalation_reason: r.get(13)?,
        verified: r.get::<_, i64>(14)? != 0,
        agent: r.get::<_, i64>(15)? != 0,
        subject: r.get(16)?,
        origin_message_id: r.get(17)?,
        assignee: r.get(18)?,
        denial_basis: r.get(19)?,
        responded_at: r.get(20)?,
        created_at: r.get(21)?,
        updated_at: r.get(22)?,
        denial_detail: r.get(23)?,
        extension_reason: r.get(24)?,
        law_reason: r.get(25)?,
    })
}

/// Kinds as stored: comma-separated wire names.
pub fn kinds_text(kinds: &[Kind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_kinds(s: &str) -> Vec<Kind> {
    s.split(',').filter_map(|k| k.trim().parse().ok()).collect()
}

/// Allocates the next request ID of a year: `PRIV-<year>-<5-digit sequence>`.
pub fn next_id(conn: &Connection, year: i32) -> Result<String> {
    let last: i64 = conn
        .query_row(
            "INSERT INTO counters (year, last) VALUES (?1, 1)
             ON CONFLICT (year) DO UPDATE SET last = last + 1 RETURNING last",
            params![year],
            |r| r.get(0),
        )
        .context("Cannot allocate a request ID")?;
    Ok(format!("PRIV-{year}-{last:05}"))
}

/// Inserts a new request.
pub fn insert(conn: &Connection, r: &Request) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO requests ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"),
        params![
            r.id,
            r.status,
            kinds_text(&r.kinds),
            r.requester,
            r.requester_name,
            r.language,
            r.jurisdiction,
            r.received_at,
            r.confirm_by,
            r.due_at,
            r.extended_due_at,
            r.extended as i64,
            r.escalated as i64,
            r.escalation_reason,
            r.verified as i64,
            r.agent as i64,
            r.subject,
            r.origin_message_id,
            r.assignee,
            r.denial_basis,
            r.responded_at,
            r.created_at,
            r.updated_at,
            r.denial_detail,
            r.extension_reason,
            r.law_reason,
        ],
    )
    .with_context(|| format!("Cannot store request {}", r.id))?;
    Ok(())
}

/// Writes back every mutable field of a request.
pub fn update(conn: &Connection, r: &Request) -> Result<()> {
    conn.execute(
        "UPDATE requests SET status = ?2, kinds = ?3, language = ?4, confirm_by = ?5, due_at = ?6,
            extended_due_at = ?7, extended = ?8, escalated = ?9, escalation_reason = ?10, verified = ?11,
            agent = ?12, assignee = ?13, denial_basis = ?14, responded_at = ?15, updated_at = ?16,
            denial_detail = ?17, extension_reason = ?18, jurisdiction = ?19, law_reason = ?20
         WHERE id = ?1",
        params![
            r.id,
            r.status,
            kinds_text(&r.kinds),
            r.language,
            r.confirm_by,
            r.due_at,
            r.extended_due_at,
            r.extended as i64,
            r.escalated as i64,
            r.escalation_reason,
            r.verified as i64,
            r.agent as i64,
            r.assignee,
            r.denial_basis,
            r.responded_at,
            r.updated_at,
            r.denial_detail,
            r.extension_reason,
            r.jurisdiction,
            r.law_reason,
        ],
    )
    .with_context(|| format!("Cannot update request {}", r.id))?;
    Ok(())
}

/// Reads one request.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Request>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM requests WHERE id = ?1"),
            params![id],
            from_row,
        )
        .optional()?)
}

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this status.
    pub status: Option<String>,
    /// Only requests due before this time (UTC RFC 3339).
    pub due_before: Option<String>,
    /// Only open requests.
    pub open_only: bool,
}

/// The requests of one person: `base` is their mailbox as
/// [`crate::address::base_address`] gives it (lower case, `+detail` removed); every address
/// of that mailbox counts (`Jo@…`, `jo+shop@…`). Oldest first.
pub fn of_person(conn: &Connection, base: &str, open_only: bool) -> Result<Vec<Request>> {
    if !base.contains('@') {
        return Ok(Vec::new());
    }
    let (_, like) = person_patterns(base);
    let mut sql = format!(
        "SELECT {COLUMNS} FROM requests
         WHERE (lower(requester) = ?1 OR lower(requester) LIKE ?2 ESCAPE '\\')"
    );
    if open_only {
        sql.push_str(
            " AND status NOT IN ('completed', 'denied', 'closed_unverifiable', 'not_a_request')",
        );
    }
    sql.push_str(" ORDER BY received_at, id");
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(params![base, like], from_row)?;
    let mut out = Vec::new();
    for r in rows {
        let r = r?;
        if crate::address::base_address(&r.requester) == base {
            out.push(r);
        }
    }
    Ok(out)
}

/// Escalation events since `since` on the requests of one person (`base` as for
/// [`of_person`]): the per-sender cap on staff mail counts the mailbox, not the spelling.
pub fn escalations_of_person_since(conn: &Connection, base: &str, since: &str) -> Result<i64> {
    let (exact, plus) = person_patterns(base);
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM events e JOIN requests r ON r.id = e.request_id
         WHERE e.kind = 'escalated' AND e.at >= ?3
           AND (lower(r.requester) = ?1 OR lower(r.requester) LIKE ?2 ESCAPE '\\')",
        params![exact, plus, since],
        |r| r.get(0),
    )?)
}

/// `(base, "local+%@domain")`, the LIKE pattern escaped, for the addresses of one mailbox.
fn person_patterns(base: &str) -> (String, String) {
    let esc = |t: &str| {
        t.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    };
    let plus = match base.rsplit_once('@') {
        Some((local, domain)) => format!("{}+%@{}", esc(local), esc(domain)),
        None => String::new(),
    };
    (base.to_string(), plus)
}

/// The due date in force: the extended one only once the extension was taken.
const DUE: &str =
    "(CASE WHEN extended = 1 AND extended_due_at IS NOT NULL THEN extended_due_at ELSE due_at END)";

impl Request {
    /// The due date in force (UTC RFC 3339): the extended one once the extension was taken.
    pub fn due_in_force(&self) -> &str {
        match (&self.extended_due_at, self.extended) {
            (Some(e), true) => e,
            _ => &self.due_at,
        }
    }
}

/// Lists requests, oldest due first.
pub fn list(conn: &Connection, f: &Filter) -> Result<Vec<Request>> {
    let mut sql = format!("SELECT {COLUMNS} FROM requests WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    if let Some(s) = &f.status {
        args.push(s.clone());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some(d) = &f.due_before {
        args.push(d.clone());
        sql.push_str(&format!(" AND {DUE} < ?{}", args.len()));
    }
    if f.open_only {
        sql.push_str(
            " AND status NOT IN ('completed', 'denied', 'closed_unverifiable', 'not_a_request')",
        );
    }
    sql.push_str(&format!(" ORDER BY {DUE}, id"));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One entry of a request's audit log.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// When.
    pub at: String,
    /// What (`received`, `acknowledged`, `escalated`, ...).
    pub kind: String,
    /// Who (`bot`, a staff address, the requester).
    pub actor: String,
    /// Free text or JSON.
    pub detail: String,
}

/// The audit log of a request, oldest first.
pub fn events(conn: &Connection, id: &str) -> Result<Vec<Event>> {
    let mut stmt = conn
        .prepare("SELECT at, kind, actor, detail FROM events WHERE request_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map(params![id], |r| {
        Ok(Event {
            at: r.get(0)?,
            kind: r.get(1)?,
            actor: r.get(2)?,
            detail: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stores (or clears, with `None`) the hash of a request's verification token.
pub fn set_token_hash(conn: &Connection, id: &str, hash: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE requests SET token_hash = ?2 WHERE id = ?1",
        params![id, hash],
    )?;
    Ok(())
}

/// The hash of a request's verification token, if one is outstanding.
pub fn token_hash(conn: &Connection, id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT token_hash FROM requests WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// True when a mail of request `id` already failed for good (`bounced` or `send_failed` in
/// its audit log): staff are mailed about the first failure only.
pub fn delivery_failed_before(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM events WHERE request_id = ?1 AND kind IN ('bounced', 'send_failed'))",
        [id],
        |r| r.get::<_, bool>(0),
    )?)
}
