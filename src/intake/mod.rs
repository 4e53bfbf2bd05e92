//! Intake: what each fetched mail is, recorded in one transaction per batch together with the
//! requests it opens and the replies it queues.
//!
//! Per mail, three steps: load what is known about it ([`known::load`]: seen before? our own
//! copy? which request does it continue? is the sender staff? what do our server's
//! `Authentication-Results` say? what does the classifier read?), decide what it means
//! ([`decide::decide`], pure, a [`Disposition`]), then carry the decision out: record it,
//! open a request ([`open`]), act on a reply ([`reply`]), escalate ([`crate::staff::escalate`]).

pub mod decide;
pub mod known;
pub mod open;
pub mod reply;

pub use decide::{decide, Disposition, Known, ReplyStep};

use crate::clock;
use crate::ctx::Ctx;
use crate::mail::{keys, parse_isolated, Fetched, Inbound};
use crate::outbound::facts::{clean_line, team_name};
use crate::store::inbox::{self, Cursor, InboxRow};
use crate::store::types::Filed;
use crate::store::Store;
use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

/// Counts of one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    /// Requests opened.
    pub requests: usize,
    /// Mails on existing threads.
    pub replies: usize,
    /// Machine-made or otherwise ignored.
    pub ignored: usize,
    /// Sent to staff.
    pub escalated: usize,
    /// Quarantined.
    pub quarantined: usize,
    /// Seen before.
    pub duplicates: usize,
    /// Our own copies coming back.
    pub own_copies: usize,
}

impl BatchStats {
    /// Adds another batch's counts to these.
    pub fn add(&mut self, o: BatchStats) {
        self.requests += o.requests;
        self.replies += o.replies;
        self.ignored += o.ignored;
        self.escalated += o.escalated;
        self.quarantined += o.quarantined;
        self.duplicates += o.duplicates;
        self.own_copies += o.own_copies;
    }
}

/// Records a batch of fetched mails and advances the cursor, in one transaction.
pub fn record_batch(
    ctx: &Ctx,
    store: &mut Store,
    mailbox: &str,
    uidvalidity: u32,
    batch: &[Fetched],
) -> Result<BatchStats> {
    let mut stats = BatchStats::default();
    let tx = store.begin()?;
    let mut last_uid = inbox::cursor(&tx, mailbox)?
        .filter(|c| c.uidvalidity == uidvalidity)
        .map(|c| c.last_uid)
        .unwrap_or(0);
    for f in batch {
        // One mail's failure is that mail's alone: its writes are rolled back to this
        // savepoint, it is set aside (quarantined, staff told) and the batch goes on.
        let sp = crate::store::Savepoint::open(&tx, "one_mail")?;
        let mut one = BatchStats::default();
        let row = match record_one(ctx, &tx, mailbox, uidvalidity, f, &mut one) {
            Ok(row) => {
                sp.release()?;
                stats.add(one);
                row
            }
            Err(e) => {
                sp.roll_back()?;
                tracing::error!(
                    uid = f.uid,
                    mailbox,
                    error = %format!("{e:#}"),
                    "Cannot process one mail: it is quarantined and staff are told"
                );
                stats.quarantined += 1;
                set_aside(ctx, &tx, mailbox, uidvalidity, f, &e)?
            }
        };
        inbox::insert(&tx, &row)?;
        last_uid = last_uid.max(f.uid);
    }
    inbox::set_cursor(
        &tx,
        mailbox,
        Cursor {
            uidvalidity,
            last_uid,
        },
    )?;
    tx.commit()?;
    Ok(stats)
}

/// The record of a mail that could not be processed: quarantined with the reason, and staff
/// told when the notice itself can be queued.
fn set_aside(
    ctx: &Ctx,
    tx: &Connection,
    mailbox: &str,
    uidvalidity: u32,
    f: &Fetched,
    e: &anyhow::Error,
) -> Result<InboxRow> {
    let mut row = base_row(ctx, mailbox, uidvalidity, f);
    if let Ok(mail) = parse_isolated(&f.raw) {
        describe(&mut row, &mail);
    }
    row.message_key = keys::message_key(row.message_id.as_deref(), &f.raw);
    quarantine(ctx, &mut row, format!("Processing failed: {e:#}"));
    let sp = crate::store::Savepoint::open(tx, "notice")?;
    match notify_quarantine(ctx, tx, &row, &f.raw) {
        Ok(()) => sp.release()?,
        Err(n) => {
            sp.roll_back()?;
            tracing::error!(uid = f.uid, error = %format!("{n:#}"), "Cannot queue the quarantine notice");
        }
    }
    Ok(row)
}

fn base_row(ctx: &Ctx, mailbox: &str, uidvalidity: u32, f: &Fetched) -> InboxRow {
    let now = ctx.now();
    InboxRow {
        mailbox: mailbox.to_string(),
        uidvalidity,
        uid: f.uid,
        internal_date: clock::fmt(f.internal_date.unwrap_or(now)),
        fetched_at: clock::fmt(now),
        size: u64::from(f.size),
        raw: Some(f.raw.clone()),
        move_to: ctx.settings.imap.processed_mailbox.clone(),
        ..InboxRow::default()
    }
}

/// What the record shows of a parsed mail: its IDs, sender and subject (cleaned).
fn describe(row: &mut InboxRow, mail: &Inbound) {
    row.message_id = mail.message_id.clone();
    row.sender = clean_line(mail.from.as_deref().unwrap_or(""), 320);
    row.subject = clean_line(&mail.subject, 500);
    row.fingerprint = keys::fingerprint(mail);
}

fn quarantine(ctx: &Ctx, row: &mut InboxRow, reason: String) {
    row.disposition = Filed::Quarantined;
    row.reason = reason;
    row.move_to = ctx.settings.imap.quarantine_mailbox.clone();
}

/// Loads, decides and carries out one mail; returns its record.
fn record_one(
    ctx: &Ctx,
    tx: &Connection,
    mailbox: &str,
    uidvalidity: u32,
    f: &Fetched,
    stats: &mut BatchStats,
) -> Result<InboxRow> {
    let mut row = base_row(ctx, mailbox, uidvalidity, f);
    if f.header_only {
        row.message_key = keys::message_key(None, &f.raw);
        quarantine(
            ctx,
            &mut row,
            format!(
                "{} bytes is over the {} byte limit (imap.max-message-bytes); only the header was kept",
                f.size, ctx.settings.imap.max_message_bytes
            ),
        );
        notify_quarantine(ctx, tx, &row, &f.raw)?;
        stats.quarantined += 1;
        return Ok(row);
    }
    let mail = match parse_isolated(&f.raw) {
        Ok(m) => m,
        Err(e) => {
            row.message_key = keys::message_key(None, &f.raw);
            quarantine(ctx, &mut row, format!("Cannot parse: {e:#}"));
            notify_quarantine(ctx, tx, &row, &f.raw)?;
            stats.quarantined += 1;
            return Ok(row);
        }
    };
    row.message_key = keys::message_key(mail.message_id.as_deref(), &f.raw);
    describe(&mut row, &mail);
    let known = known::load(ctx, tx, &mail, &row.message_key, &row.fingerprint)?;
    let d = decide(&mail, &known);
    row.disposition = d.filed();
    apply(
        ctx,
        tx,
        &mail,
        &f.raw,
        f.internal_date,
        d,
        &known,
        &mut row,
        stats,
    )?;
    Ok(row)
}

/// Carries out decision `d` on `mail`: the writes, the mail it queues, the record's reason.
#[allow(clippy::too_many_arguments)]
fn apply(
    ctx: &Ctx,
    tx: &Connection,
    mail: &Inbound,
    raw: &[u8],
    internal_date: Option<chrono::DateTime<chrono::Utc>>,
    d: Disposition,
    known: &Known,
    row: &mut InboxRow,
    stats: &mut BatchStats,
) -> Result<()> {
    let now_s = ctx.now_s();
    match d {
        Disposition::Duplicate => {
            row.reason = "Already recorded: same Message-ID, sender, subject and body".into();
            row.raw = None;
            stats.duplicates += 1;
        }
        Disposition::OwnCopy => {
            let id = mail.message_id.as_deref().unwrap_or_default();
            crate::store::outbox::confirm_by_message_id(tx, id, &now_s)?;
            row.reason = "Our own copy of a mail we sent".into();
            row.request_id = inbox::request_for_message_id(tx, id)?;
            stats.own_copies += 1;
        }
        Disposition::ForeignCopy => {
            row.reason = "A copy of a mail this store did not send: another privacy-inbox \
                 with a different store answers this mailbox"
                .into();
            other_instance(ctx, tx, mail)?;
            stats.ignored += 1;
        }
        Disposition::Automated(why) => {
            // Never answered; but a report that one of our mails bounced is recorded on its
            // request and, when delivery failed for good, escalated.
            if let Some(b) = crate::staff::delivery::record_bounce(ctx, tx, raw)? {
                row.disposition = Filed::Bounce;
                row.reason = b.reason;
                row.request_id = b.request_id;
            } else {
                row.reason = format!("Machine-made: {why}");
            }
            stats.ignored += 1;
        }
        Disposition::Quarantine(why) => {
            quarantine(ctx, row, why);
            notify_quarantine(ctx, tx, row, raw)?;
            stats.quarantined += 1;
        }
        Disposition::Reply { request_id, step } => {
            let sender = mail.from.as_deref().unwrap_or_default();
            row.request_id = Some(request_id.clone());
            crate::store::add_event(
                tx,
                &request_id,
                &now_s,
                "mail_in",
                sender,
                &format!("Reply received: {}", row.subject),
            )?;
            row.reason = reply::apply(ctx, tx, mail, raw, &request_id, step, known)?;
            stats.replies += 1;
        }
        Disposition::StaffUnthreaded { command } => {
            let sender = mail.from.as_deref().unwrap_or_default();
            row.reason = if command {
                crate::staff::actions::refuse_unthreaded(ctx, tx, mail, sender)?;
                "Staff command outside any request thread: refused, no request to act on".into()
            } else {
                "Staff mail outside any request thread (recorded, not a request)".into()
            };
            stats.ignored += 1;
        }
        Disposition::Ignore(why) => {
            row.classification = classification_json(known.classification.as_ref());
            row.reason = why;
            stats.ignored += 1;
        }
        Disposition::FollowUp {
            request_id,
            escalate,
            classification,
        } => {
            row.classification = classification_json(Some(&classification));
            row.request_id = Some(request_id.clone());
            row.reason = open::follow_up(
                ctx,
                tx,
                &request_id,
                mail,
                &classification,
                escalate.as_deref(),
                raw,
            )?;
            stats.replies += 1;
        }
        Disposition::Open {
            escalate,
            classification,
        } => {
            row.classification = classification_json(Some(&classification));
            let received = internal_date.unwrap_or(ctx.now());
            let id = open::open_request(
                ctx,
                tx,
                mail,
                received,
                &classification,
                escalate.as_deref(),
                raw,
            )?;
            row.request_id = Some(id);
            if let Some(why) = escalate {
                row.reason = format!("Sent to staff: {why}");
                stats.escalated += 1;
            } else {
                row.reason = "Request opened and acknowledged".into();
                stats.requests += 1;
            }
        }
    }
    Ok(())
}

fn classification_json(c: Option<&crate::classify::Classification>) -> String {
    c.and_then(|c| serde_json::to_string(c).ok())
        .unwrap_or_default()
}

/// Logs a copy from another instance as an error; staff are told once.
fn other_instance(ctx: &Ctx, tx: &Connection, mail: &Inbound) -> Result<()> {
    let id = mail.message_id.as_deref().unwrap_or_default();
    tracing::error!(
        message_id = %id,
        store = %ctx.settings.store_path.display(),
        "A copy of a mail this store did not send: another privacy-inbox with a different \
         store answers this mailbox; consumers may get every reply twice"
    );
    if !crate::store::note_once(tx, "", "other_instance", &ctx.now_s())? {
        return Ok(());
    }
    let data = serde_json::json!({
        "message_id": clean_line(id, 200),
        "subject": clean_line(&mail.subject, 200),
        "store": ctx.settings.store_path.display().to_string(),
        "team": ctx.team(),
    });
    ctx.mailer.queue_staff(
        tx,
        &ctx.settings.staff.escalation_to,
        "other_instance",
        &data,
        None,
        None,
    )
}

#[derive(Serialize)]
struct QuarantineData {
    reason: String,
    sender: String,
    subject: String,
    size: u64,
    mailbox: String,
    team: String,
}

fn notify_quarantine(ctx: &Ctx, tx: &Connection, row: &InboxRow, raw: &[u8]) -> Result<()> {
    let data = QuarantineData {
        reason: row.reason.clone(),
        sender: row.sender.clone(),
        subject: row.subject.clone(),
        size: row.size,
        mailbox: ctx.settings.imap.quarantine_mailbox.clone(),
        team: team_name(&ctx.settings.smtp.from),
    };
    // The attachment is capped: a quarantined mail may be huge or hostile.
    let attach = (raw.len() <= 1024 * 1024).then_some(raw);
    ctx.mailer.queue_staff(
        tx,
        &ctx.settings.staff.escalation_to,
        "quarantine",
        &data,
        None,
        attach,
    )?;
    Ok(())
}
