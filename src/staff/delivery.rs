//! Mail of ours that will not arrive: refused for good by our SMTP server (found by the
//! outbox sender) or bounced later by the recipient's server (a delivery report in our
//! mailbox, found by intake). Either way the request is flagged for staff, the failure goes
//! into its audit log, and staff get the `delivery_failed` notice in the request's thread.
//!
//! Failures of mail *to staff* are only logged: mailing staff that mail to staff fails would
//! loop. Mail that went out without our Bcc copy (the copy address refused it) is recorded
//! here too ([`copy_refused`]).

use crate::address::redact;
use crate::config::Settings;
use crate::ctx::Ctx;
use crate::mail::dsn::{self, Verdict};
use crate::outbound::catalog::CopyRefusedData;
use crate::outbound::facts::team_name;
use crate::outbound::outbox::OutboxFailure;
use crate::store::{add_event, note_once, outbox, requests, Store};
use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

/// One failed mail.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    /// The request it belonged to.
    pub request_id: Option<&'a str>,
    /// Its recipient.
    pub recipient: &'a str,
    /// What it was (`acknowledgement`, `completed`, …).
    pub purpose: &'a str,
    /// The server's words.
    pub error: &'a str,
    /// Audit event kind: `send_failed` (refused at SMTP) or `bounced` (a report came back).
    pub event: &'a str,
}

/// Variables of the `delivery_failed` staff notice.
#[derive(Serialize)]
struct DeliveryFailed<'a> {
    request_id: &'a str,
    recipient: &'a str,
    purpose: &'a str,
    error: &'a str,
    team: String,
}

/// True when `recipient` is one of the staff addresses.
pub fn to_staff(settings: &Settings, recipient: &str) -> bool {
    settings
        .staff
        .escalation_to
        .iter()
        .any(|s| s.eq_ignore_ascii_case(recipient))
}

/// Flags the request, records the event and queues the staff notice (with `attach`, e.g. the
/// bounce report, when given), in the caller's transaction. Staff are mailed about the first
/// failed mail of a request only: the reminder and closing notice to an address that bounced
/// bounce too, and each is in the audit log.
pub fn escalate(ctx: &Ctx, tx: &Connection, f: &Failure<'_>, attach: Option<&[u8]>) -> Result<()> {
    let told_before = match f.request_id {
        Some(id) => requests::delivery_failed_before(tx, id)?,
        None => false,
    };
    if let Some(id) = f.request_id {
        if let Some(mut r) = requests::get(tx, id)? {
            let how = if f.event == "bounced" {
                "bounced"
            } else {
                "failed permanently"
            };
            super::escalate::flag(
                ctx,
                tx,
                &mut r,
                &format!("Our {} mail could not be delivered", f.purpose),
                f.event,
                &format!("{} to {} {how}: {}", f.purpose, f.recipient, f.error),
            )?;
        }
    }
    if told_before {
        return Ok(());
    }
    let data = DeliveryFailed {
        request_id: f.request_id.unwrap_or_default(),
        recipient: f.recipient,
        purpose: f.purpose,
        error: f.error,
        team: ctx.team(),
    };
    ctx.mailer.queue_staff(
        tx,
        &ctx.settings.staff.escalation_to,
        "delivery_failed",
        &data,
        f.request_id,
        attach,
    )
}

/// What a delivery report in our mailbox turned out to be about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceOutcome {
    /// The request of the mail that bounced, if any.
    pub request_id: Option<String>,
    /// One line for the inbox record.
    pub reason: String,
}

/// If `raw` (already triaged as machine-made) is a delivery report about a mail we sent,
/// records it: a failure of consumer mail is escalated once per mail; a delay warning only
/// goes into the request's audit log. Returns `None` for reports about anyone else's mail.
pub fn record_bounce(ctx: &Ctx, tx: &Connection, raw: &[u8]) -> Result<Option<BounceOutcome>> {
    let now = &ctx.now_s();
    let settings = ctx.settings;
    let report = std::panic::catch_unwind(|| dsn::bounce(raw)).ok().flatten();
    let Some(report) = report.filter(|r| r.verdict != Verdict::Other) else {
        return Ok(None);
    };
    let mut ours = None;
    for id in &report.original_ids {
        if let Some(sent) = outbox::by_message_id(tx, id)? {
            ours = Some(sent);
            break;
        }
    }
    let Some(sent) = ours else {
        return Ok(None);
    };
    let request = sent.request_id.clone();
    let tag = request.as_deref().unwrap_or("no request");
    if report.verdict == Verdict::Delayed {
        if let Some(id) = &request {
            add_event(
                tx,
                id,
                now,
                "delivery_delayed",
                "bot",
                &format!("{} to {}: {}", sent.purpose, sent.recipient, report.detail),
            )?;
        }
        return Ok(Some(BounceOutcome {
            request_id: request.clone(),
            reason: format!(
                "Delay warning for our {} ({tag}): {}",
                sent.purpose, report.detail
            ),
        }));
    }
    let first = outbox::mark_bounced(tx, sent.id, &report.detail)?;
    let staff_mail = sent.audience == crate::outbound::catalog::Audience::Staff
        || to_staff(settings, &sent.recipient);
    let new_failure = first && !staff_mail;
    if new_failure {
        escalate(
            ctx,
            tx,
            &Failure {
                request_id: request.as_deref(),
                recipient: &sent.recipient,
                purpose: &sent.purpose,
                error: &report.detail,
                event: "bounced",
            },
            (raw.len() <= 1024 * 1024).then_some(raw),
        )?;
    }
    tracing::warn!(
        request = %tag,
        purpose = %sent.purpose,
        recipient = %redact(&sent.recipient),
        new_failure,
        detail = %redact(&report.detail),
        "Our mail bounced"
    );
    Ok(Some(BounceOutcome {
        request_id: request.clone(),
        reason: format!(
            "Bounce of our {} ({tag}): {}{}",
            sent.purpose,
            report.detail,
            if first { "" } else { " (already recorded)" }
        ),
    }))
}

/// Permanent delivery failures of mail to consumers, escalated to staff ([`escalate`]);
/// failures of mail to staff are only logged. Returns how many were escalated.
pub fn escalate_failures(ctx: &Ctx, store: &mut Store, failed: &[OutboxFailure]) -> Result<usize> {
    let todo: Vec<&OutboxFailure> = failed
        .iter()
        .filter(|f| !to_staff(ctx.settings, &f.recipient))
        .collect();
    if todo.is_empty() {
        return Ok(0);
    }
    let tx = store.begin()?;
    for f in &todo {
        escalate(
            ctx,
            &tx,
            &Failure {
                request_id: f.request_id.as_deref(),
                recipient: &f.recipient,
                purpose: &f.purpose,
                error: &f.error,
                event: "send_failed",
            },
            None,
        )?;
    }
    tx.commit()?;
    tracing::warn!(
        count = todo.len(),
        "Permanent delivery failures escalated to staff"
    );
    Ok(todo.len())
}

/// Mails that went out without our Bcc copy, because the copy address refused it: each
/// goes into its request's audit log, and staff get one `copy_refused` notice a day while
/// it lasts (their notice goes out without the copy too). Returns how many staff notices
/// were queued.
pub fn copy_refused(ctx: &Ctx, store: &mut Store, refused: &[OutboxFailure]) -> Result<usize> {
    let Some(first_failure) = refused.first() else {
        return Ok(0);
    };
    let now_s = ctx.now_s();
    let today = ctx
        .now()
        .with_timezone(&ctx.settings.clock.timezone)
        .format("%Y-%m-%d")
        .to_string();
    let tx = store.begin()?;
    for f in refused {
        if let Some(id) = &f.request_id {
            if requests::get(&tx, id)?.is_some() {
                add_event(
                    &tx,
                    id,
                    &now_s,
                    "copy_refused",
                    "bot",
                    &format!(
                        "{} sent without our Bcc copy, which was refused: {}",
                        f.purpose, f.error
                    ),
                )?;
            }
        }
    }
    let first = note_once(&tx, "*", &format!("copy_refused:{today}"), &now_s)?;
    if first {
        let data = CopyRefusedData {
            copy_to: ctx.settings.smtp.copy_to.clone().unwrap_or_default(),
            count: refused.len(),
            error: first_failure.error.clone(),
            team: team_name(&ctx.settings.smtp.from),
        };
        ctx.mailer.queue_staff(
            &tx,
            &ctx.settings.staff.escalation_to,
            "copy_refused",
            &data,
            None,
            None,
        )?;
    }
    tx.commit()?;
    Ok(usize::from(first))
}
