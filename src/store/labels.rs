//! The `staff_labels` table: what staff said a mail was (`/handle [kinds]` or
//! `/not-a-request`), beside what the classifier said about it at the time. `classify eval`
//! ([`crate::classify::eval`]) scores the current rules against these labels.
//!
//! A label points at the inbox row of the mail (`inbox.raw` keeps its bytes until
//! `store.mail-retention-days` purges them; a label whose mail was purged is reported as
//! skipped, never guessed), and goes with that row when the row is deleted.
//!
//! The table is [`MIGRATION`], migration 8 of [`crate::store::schema::MIGRATIONS`].

use crate::classify::Action;
use crate::kind::Kind;
use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// The `staff_labels` table. One label per mail (a second label of the same mail replaces
/// the first); kinds are `+`-separated wire names, as in the corpus' `labels.tsv`.
pub const MIGRATION: &str = r#"
CREATE TABLE staff_labels (
    id                 INTEGER PRIMARY KEY,
    request_id         TEXT NOT NULL CHECK (request_id <> ''),
    inbox_id           INTEGER NOT NULL UNIQUE REFERENCES inbox (id) ON DELETE CASCADE,
    message_key        TEXT NOT NULL,
    action             TEXT NOT NULL CHECK (action IN ('handle', 'not_a_request')),
    kinds              TEXT NOT NULL DEFAULT '' CHECK (kinds NOT GLOB '*[^a-z_+]*'),
    classifier_action  TEXT NOT NULL CHECK (classifier_action IN ('handle', 'escalate', 'ignore')),
    classifier_kinds   TEXT NOT NULL DEFAULT '' CHECK (classifier_kinds NOT GLOB '*[^a-z_+]*'),
    rules_version      TEXT NOT NULL,
    labelled_by        TEXT NOT NULL CHECK (labelled_by <> ''),
    labelled_at        TEXT NOT NULL CHECK (labelled_at <> ''),
    CHECK ((action = 'handle') = (kinds <> ''))
) STRICT;
CREATE INDEX staff_labels_request ON staff_labels (request_id);
"#;

/// What staff said a mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAction {
    /// A privacy request the bot should have handled itself (`/handle`), with these kinds.
    Handle,
    /// Not a privacy request at all (`/not-a-request`).
    NotARequest,
}

impl StaffAction {
    /// `handle` or `not_a_request`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffAction::Handle => "handle",
            StaffAction::NotARequest => "not_a_request",
        }
    }

    fn parse(s: &str) -> Result<StaffAction> {
        match s {
            "handle" => Ok(StaffAction::Handle),
            "not_a_request" => Ok(StaffAction::NotARequest),
            other => bail!("Unknown staff label action `{other}`"),
        }
    }
}

/// One staff label.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The request the mail opened.
    pub request_id: String,
    /// The mail's `inbox` row (its raw bytes live there).
    pub inbox_id: i64,
    /// The mail's dedupe key (Message-ID or `sha256:` of the bytes), to find it again.
    pub message_key: String,
    /// What staff said.
    pub action: StaffAction,
    /// The kinds staff gave (empty for `not_a_request`).
    pub kinds: Vec<Kind>,
    /// What the classifier said at the time.
    pub classifier_action: Action,
    /// The kinds the classifier found at the time.
    pub classifier_kinds: Vec<Kind>,
    /// Which rules said it ([`crate::classify::eval::rules_version`]).
    pub rules_version: String,
    /// Who labelled it (a staff address, or `cli:<login>`).
    pub by: String,
    /// When (RFC 3339 UTC).
    pub at: String,
}

/// Kinds as `access+delete`.
pub fn kinds_field(kinds: &[Kind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// `access+delete` → kinds; "" → none.
pub fn parse_kinds(field: &str) -> Result<Vec<Kind>> {
    field
        .split('+')
        .filter(|k| !k.is_empty())
        .map(|k| {
            k.parse::<Kind>()
                .map_err(|_| anyhow!("Unknown request kind `{k}`"))
        })
        .collect()
}

fn parse_action(s: &str) -> Result<Action> {
    match s {
        "handle" => Ok(Action::Handle),
        "escalate" => Ok(Action::Escalate),
        "ignore" => Ok(Action::Ignore),
        other => bail!("Unknown classifier action `{other}`"),
    }
}

/// Records a label, replacing an earlier label of the same mail. A `handle` label needs
/// kinds and a `not_a_request` label has none (the table refuses anything else).
pub fn record(tx: &Connection, l: &Label) -> Result<()> {
    tx.execute(
        "INSERT INTO staff_labels (request_id, inbox_id, message_key, action, kinds,
            classifier_action, classifier_kinds, rules_version, labelled_by, labelled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (inbox_id) DO UPDATE SET request_id = excluded.request_id,
            message_key = excluded.message_key, action = excluded.action, kinds = excluded.kinds,
            classifier_action = excluded.classifier_action,
            classifier_kinds = excluded.classifier_kinds, rules_version = excluded.rules_version,
            labelled_by = excluded.labelled_by, labelled_at = excluded.labelled_at",
        params![
            l.request_id,
            l.inbox_id,
            l.message_key,
            l.action.as_str(),
            kinds_field(&l.kinds),
            l.classifier_action.as_str(),
            kinds_field(&l.classifier_kinds),
            l.rules_version,
            l.by,
            l.at,
        ],
    )
    .with_context(|| format!("Cannot record the staff label of {}", l.request_id))?;
    Ok(())
}

/// Whether the table exists (it does once its migration ran).
pub fn exists(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'staff_labels'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Every label, oldest first.
pub fn all(conn: &Connection) -> Result<Vec<Label>> {
    let mut st = conn.prepare(
        "SELECT request_id, inbox_id, message_key, action, kinds, classifier_action,
            classifier_kinds, rules_version, labelled_by, labelled_at
         FROM staff_labels ORDER BY labelled_at, id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, String>(9)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (request_id, inbox_id, message_key, action, kinds, c_action, c_kinds, rules, by, at) =
            row?;
        let what = || format!("Staff label of {request_id}");
        out.push(Label {
            action: StaffAction::parse(&action).with_context(what)?,
            kinds: parse_kinds(&kinds).with_context(what)?,
            classifier_action: parse_action(&c_action).with_context(what)?,
            classifier_kinds: parse_kinds(&c_kinds).with_context(what)?,
            request_id,
            inbox_id,
            message_key,
            rules_version: rules,
            by,
            at,
        });
    }
    Ok(out)
}

/// The raw bytes of an inbox row; `None` when the row is gone or its mail was purged.
pub fn raw_mail(conn: &Connection, inbox_id: i64) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT raw FROM inbox WHERE id = ?1",
            params![inbox_id],
            |r| r.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()?
        .flatten())
}

/// The mail that opened a request, as a label needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// Its `inbox` row.
    pub inbox_id: i64,
    /// Its dedupe key.
    pub message_key: String,
    /// What the classifier said when it arrived.
    pub classifier_action: Action,
    /// The kinds it found then.
    pub classifier_kinds: Vec<Kind>,
}

/// The first mail of a request and the classification recorded for it (`inbox.classification`,
/// the classifier's JSON); `None` when the request has no mail row.
pub fn origin(conn: &Connection, request_id: &str) -> Result<Option<Origin>> {
    let row = conn
        .query_row(
            "SELECT id, message_key, classification FROM inbox
             WHERE request_id = ?1 ORDER BY id LIMIT 1",
            params![request_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((inbox_id, message_key, json)) = row else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_str(&json)
        .with_context(|| format!("The classification recorded for {request_id} is not JSON"))?;
    let classifier_action = parse_action(v["action"].as_str().unwrap_or(""))
        .with_context(|| format!("The classification recorded for {request_id}"))?;
    let kinds: Vec<&str> = v["kinds"]
        .as_array()
        .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
        .unwrap_or_default();
    Ok(Some(Origin {
        inbox_id,
        message_key,
        classifier_action,
        classifier_kinds: parse_kinds(&kinds.join("+"))?,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{inbox, Store};

    /// A migrated in-memory store with the `staff_labels` table.
    pub(crate) fn store() -> Store {
        Store::in_memory().expect("store")
    }

    /// Records a mail in `inbox` for `request_id`; returns its row id.
    pub(crate) fn mail(s: &Store, request_id: &str, uid: u32, raw: Option<&[u8]>) -> i64 {
        let row = inbox::InboxRow {
            message_key: format!("m{uid}@example.test"),
            mailbox: "INBOX".into(),
            uidvalidity: 1,
            uid,
            internal_date: "2026-03-03T10:00:00Z".into(),
            fetched_at: "2026-03-03T10:00:00Z".into(),
            raw: raw.map(<[u8]>::to_vec),
            disposition: crate::store::types::Filed::Escalated,
            request_id: Some(request_id.into()),
            classification: r#"{"action":"escalate","kinds":["access"]}"#.into(),
            ..Default::default()
        };
        assert!(inbox::insert(s.reader(), &row).expect("insert"));
        s.conn.last_insert_rowid()
    }

    pub(crate) fn label(
        request_id: &str,
        inbox_id: i64,
        action: StaffAction,
        kinds: &[Kind],
    ) -> Label {
        Label {
            request_id: request_id.into(),
            inbox_id,
            message_key: format!("key-{inbox_id}"),
            action,
            kinds: kinds.to_vec(),
            classifier_action: Action::Escalate,
            classifier_kinds: vec![Kind::Access],
            rules_version: "test".into(),
            by: "staff@example.test".into(),
            at: format!("2026-03-0{inbox_id}T10:00:00Z"),
        }
    }

    #[test]
    fn labels_round_trip_and_a_second_label_replaces_the_first() {
        let s = store();
        let a = mail(&s, "PRIV-2026-00001", 1, Some(b"Subject: a\r\n\r\nx\r\n"));
        let b = mail(&s, "PRIV-2026-00002", 2, None);
        let la = label(
            "PRIV-2026-00001",
            a,
            StaffAction::Handle,
            &[Kind::Access, Kind::Delete],
        );
        let lb = label("PRIV-2026-00002", b, StaffAction::NotARequest, &[]);
        record(s.reader(), &la).expect("record");
        record(s.reader(), &lb).expect("record");
        assert_eq!(all(s.reader()).expect("all"), vec![la.clone(), lb.clone()]);
        let again = Label {
            action: StaffAction::NotARequest,
            kinds: vec![],
            ..la
        };
        record(s.reader(), &again).expect("relabel");
        assert_eq!(all(s.reader()).expect("all"), vec![again, lb]);
        assert_eq!(
            raw_mail(s.reader(), a).expect("raw").as_deref(),
            Some(&b"Subject: a\r\n\r\nx\r\n"[..])
        );
        assert_eq!(raw_mail(s.reader(), b).expect("raw"), None);
    }

    #[test]
    fn the_table_refuses_labels_that_make_no_sense() {
        let s = store();
        let a = mail(&s, "PRIV-2026-00001", 1, None);
        // handle without kinds; not_a_request with kinds; a mail that is not in the inbox.
        for bad in [
            label("PRIV-2026-00001", a, StaffAction::Handle, &[]),
            label(
                "PRIV-2026-00001",
                a,
                StaffAction::NotARequest,
                &[Kind::Access],
            ),
            label("PRIV-2026-00001", a + 100, StaffAction::NotARequest, &[]),
            Label {
                by: String::new(),
                ..label("PRIV-2026-00001", a, StaffAction::NotARequest, &[])
            },
        ] {
            assert!(record(s.reader(), &bad).is_err(), "accepted {bad:?}");
        }
        for sql in [
            "INSERT INTO staff_labels (request_id, inbox_id, message_key, action, kinds, classifier_action, rules_version, labelled_by, labelled_at) VALUES ('P', 1, 'k', 'maybe', '', 'handle', 'v', 's', 't')",
            "INSERT INTO staff_labels (request_id, inbox_id, message_key, action, kinds, classifier_action, rules_version, labelled_by, labelled_at) VALUES ('P', 1, 'k', 'handle', 'access, drop', 'handle', 'v', 's', 't')",
            "INSERT INTO staff_labels (request_id, inbox_id, message_key, action, kinds, classifier_action, rules_version, labelled_by, labelled_at) VALUES ('P', 1, 'k', 'handle', 'access', 'approve', 'v', 's', 't')",
        ] {
            assert!(s.conn.execute(sql, []).is_err(), "accepted {sql}");
        }
        assert!(all(s.reader()).expect("all").is_empty());
    }

    #[test]
    fn origin_is_the_first_mail_with_its_recorded_classification() {
        let s = store();
        assert_eq!(origin(s.reader(), "PRIV-2026-00001").expect("origin"), None);
        let a = mail(&s, "PRIV-2026-00001", 1, None);
        mail(&s, "PRIV-2026-00001", 2, None);
        let o = origin(s.reader(), "PRIV-2026-00001")
            .expect("origin")
            .expect("some");
        assert_eq!(o.inbox_id, a);
        assert_eq!(o.message_key, "m1@example.test");
        assert_eq!(o.classifier_action, Action::Escalate);
        assert_eq!(o.classifier_kinds, vec![Kind::Access]);
        assert!(exists(s.reader()).expect("exists"));
    }
}
