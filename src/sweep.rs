//! The sweeper: the clocks' side of the lifecycle. Runs once in every `run --once` and on
//! every daemon pass; each notice is sent once per threshold (recorded in `notices` in the
//! same transaction that queues it), so re-runs and restarts never repeat one.
//!
//! - staff: due soon (each `clock.due-soon-days` threshold), overdue (both naming a failed
//!   fulfilment step, which is open work until staff `/retry` or `/complete`), the extension window,
//!   receipt not yet confirmed (an escalated request near or past `confirm_by`), and a daily
//!   digest;
//! - consumers: a verification reminder after `verification.reminder-days` (7), and after `verification.expiry-days` (30)
//!   without verification the request is closed as unverifiable with a notice.

use crate::clock;
use crate::ctx::Ctx;
use crate::outbound::catalog::{HeldLine, StaffSummaryData};
use crate::outbound::facts::RequestFacts;
use crate::outbound::queue::Job;
use crate::request::deadlines::{days_left, due_status};
use crate::request::lifecycle::{Status, Transition};
use crate::request::token;
use crate::store::{add_event, note_once, outbox, requests, transitions, Store};
use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

/// Calendar days before the confirm-receipt deadline (`confirm_by`) at which staff are told
/// that an escalated request has had no confirmation of receipt yet.
pub const CONFIRM_WARNING_DAYS: i64 = 3;

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    /// Staff notices queued (due soon, overdue).
    pub staff_notices: usize,
    /// Verification reminders queued.
    pub reminders: usize,
    /// Requests closed as unverifiable.
    pub expired: usize,
    /// Digests queued.
    pub digests: usize,
    /// Summaries of held staff mail queued (`staff.max-mails-per-hour`).
    pub summaries: usize,
}

#[derive(Serialize)]
struct ClockNotice<'a> {
    #[serde(flatten)]
    facts: &'a RequestFacts,
    days_left: i64,
    /// The subject's few words (under 78 characters with the tag and "Deadline: ").
    headline: String,
    /// The whole sentence: what happened and what staff can do.
    what: String,
}

#[derive(Serialize)]
struct Digest {
    date: String,
    count: usize,
    requests: Vec<DigestLine>,
    team: String,
}

#[derive(Serialize)]
struct DigestLine {
    id: String,
    status: String,
    kinds: String,
    due_date: String,
    days_left: i64,
    escalated: bool,
}

/// One sweep over every open request, in one transaction.
pub fn sweep(ctx: &Ctx, store: &mut Store) -> Result<SweepStats> {
    let mut stats = SweepStats::default();
    let now = ctx.mailer.now;
    let now_s = clock::fmt(now);
    let tx = store.begin()?;
    let open = requests::list(
        &tx,
        &requests::Filter {
            open_only: true,
            ..Default::default()
        },
    )?;
    let thresholds: Vec<u32> = ctx
        .settings
        .clock
        .due_soon_days
        .iter()
        .filter_map(|d| u32::try_from(*d).ok())
        .collect();
    // Failed fulfilment steps are open work: the clock notices say what failed.
    let mut failed: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (id, step, error) in crate::store::fulfil::failed_open(&tx)? {
        failed.entry(id).or_default().push(format!(
            "the {step} failed ({})",
            crate::outbound::facts::clean_line(&error, 160)
        ));
    }
    let mut digest = Vec::new();
    for r in open {
        let open_work = failed
            .get(&r.id)
            .map(|f| {
                format!(
                    "; open work: {} (fix the source, then /retry)",
                    f.join("; ")
                )
            })
            .unwrap_or_default();
        let due_s = r
            .extended_due_at
            .clone()
            .filter(|_| r.extended)
            .unwrap_or_else(|| r.due_at.clone());
        let due = clock::parse(&due_s)?;
        let st = due_status(due, now, &thresholds, ctx.calendar);
        let facts = ctx.staff_facts(&r);
        digest.push(DigestLine {
            id: r.id.clone(),
            status: crate::outbound::facts::status_words(r.status.as_str()),
            kinds: crate::outbound::facts::kinds_words(&r.kinds),
            due_date: facts.due_date.clone(),
            days_left: st.days_left,
            escalated: r.escalated,
        });
        let mut staff_notice = |headline: String, what: String, key: String| -> Result<()> {
            if note_once(&tx, &r.id, &key, &now_s)? {
                let data = ClockNotice {
                    facts: &facts,
                    days_left: st.days_left,
                    headline,
                    what: what.clone(),
                };
                ctx.mailer.queue_staff(
                    &tx,
                    &ctx.settings.staff.escalation_to,
                    "clock",
                    &data,
                    Some(&r.id),
                    None,
                )?;
                add_event(&tx, &r.id, &now_s, "clock_notice", "bot", &what)?;
                stats.staff_notices += 1;
            }
            Ok(())
        };
        if st.overdue {
            let overdue = format!("OVERDUE since {}", facts.due_date);
            staff_notice(
                overdue.clone(),
                format!("{overdue}{open_work}"),
                format!("overdue:{due_s}"),
            )?;
        } else if let Some(t) = st.crossed.last() {
            // Only the tightest threshold crossed is announced; the wider ones are
            // recorded as done so they are not sent late.
            for wider in &st.crossed {
                if wider != t {
                    note_once(&tx, &r.id, &format!("due_soon:{wider}:{due_s}"), &now_s)?;
                }
            }
            // At most 76 characters with the tag: "[PRIV-2026-00042] Deadline: Due in 10
            // days, September 30, 2026 (threshold 10)"; what failed goes in the body.
            let days = match st.days_left {
                1 => "1 day".to_string(),
                n => format!("{n} days"),
            };
            let due_soon = format!("Due in {days}, {} (threshold {t})", facts.due_date);
            staff_notice(
                due_soon.clone(),
                format!("{due_soon}{open_work}"),
                format!("due_soon:{t}:{due_s}"),
            )?;
        }
        // The one extension must be announced before the first period ends: remind
        // staff once, `extension-warning-days` before that.
        let warn = ctx.settings.clock.extension_warning_days;
        if warn > 0 && !r.extended && r.extended_due_at.is_some() && !r.kinds.is_empty() {
            let first = clock::parse(&r.due_at)?;
            let left = days_left(first, now, ctx.calendar);
            if (0..=warn).contains(&left) {
                let by = ctx.show_date(&r.due_at);
                staff_notice(
                    format!("Extension window closes on {by}"),
                    format!(
                        "Extension window closes on {by}: to take the one extension, reply /extend <reason> before then (the consumer is told)"
                    ),
                    format!("extension_window:{}", r.due_at),
                )?;
            }
        }
        // An escalated request gets no acknowledgement from the bot, but CCPA wants
        // receipt confirmed within 10 business days (`confirm_by`): tell staff once,
        // `CONFIRM_WARNING_DAYS` before, and once more if it passes while still unanswered.
        if let (Some(cb), Status::Received) = (r.confirm_by.as_deref(), r.status) {
            let at = clock::parse(cb)?;
            let by = ctx.show_date(cb);
            if now > at {
                staff_notice(
                    format!("Receipt NOT CONFIRMED, due on {by}"),
                    format!(
                        "Receipt NOT CONFIRMED to the consumer, due on {by}: the bot sent no acknowledgement (escalated); write to them, then /note it"
                    ),
                    format!("confirm_overdue:{cb}"),
                )?;
            } else if days_left(at, now, ctx.calendar) <= CONFIRM_WARNING_DAYS {
                staff_notice(
                    format!("Confirm receipt by {by}"),
                    format!(
                        "Confirm receipt to the consumer by {by}: the bot sent no acknowledgement (escalated); write to them, then /note it"
                    ),
                    format!("confirm_soon:{cb}"),
                )?;
            }
        }
        if r.status == Status::AwaitingVerification {
            let since = clock::parse(&r.created_at).unwrap_or(now);
            let days = (now - since).num_days();
            let v = &ctx.settings.verification;
            if days >= v.expiry_days {
                let mut closed = r.clone();
                transitions::apply(
                    &tx,
                    &mut closed,
                    &Transition::CloseUnverifiable,
                    "bot",
                    &format!("Not verified within {} days", v.expiry_days),
                    now,
                )?;
                let f = ctx.facts(&closed);
                ctx.mailer
                    .queue(&tx, &Job::to_consumer("closed_unverifiable", &r, &f))?;
                stats.expired += 1;
            } else if days >= v.reminder_days && note_once(&tx, &r.id, "verify_reminder", &now_s)? {
                // We keep only the token's hash, so the reminder carries a fresh token
                // and the old one stops working.
                let t = token::new_token();
                requests::set_token_hash(&tx, &r.id, Some(&token::hash_token(&t)))?;
                let mut f = ctx.facts(&r);
                f.verify_tag = token::tagged(&t);
                let reply_to = token::plus_address(&ctx.settings.smtp.from_address, &t);
                ctx.mailer.queue(
                    &tx,
                    &Job {
                        reply_to: reply_to.as_deref(),
                        ..Job::to_consumer("verification_reminder", &r, &f)
                    },
                )?;
                add_event(
                    &tx,
                    &r.id,
                    &now_s,
                    "verification_reminder",
                    "bot",
                    "Reminder sent with a new token",
                )?;
                stats.reminders += 1;
            }
        }
    }
    let today = now
        .with_timezone(&ctx.settings.clock.timezone)
        .format("%Y-%m-%d")
        .to_string();
    if !digest.is_empty() && note_once(&tx, "*", &format!("digest:{today}"), &now_s)? {
        digest.sort_by(|a, b| a.days_left.cmp(&b.days_left).then(a.id.cmp(&b.id)));
        let data = Digest {
            date: today,
            count: digest.len(),
            requests: digest,
            team: ctx.team(),
        };
        ctx.mailer.queue_staff(
            &tx,
            &ctx.settings.staff.escalation_to,
            "digest",
            &data,
            None,
            None,
        )?;
        stats.digests += 1;
    }
    stats.summaries += summarize_held(ctx, &tx, now)?;
    tx.commit()?;
    Ok(stats)
}

/// Staff mail held back by the hourly budget ([`crate::outbound::queue::Mailer::queue_staff`])
/// goes out as one `staff_summary`, unless a summary went out within the last hour (then
/// it waits for the next one). Returns 1 when a summary was queued.
fn summarize_held(ctx: &Ctx, tx: &Connection, now: chrono::DateTime<chrono::Utc>) -> Result<usize> {
    let (count, first_id, last_id) = outbox::held_unsummarized(tx)?;
    if count == 0 {
        return Ok(0);
    }
    let hour_ago = clock::fmt(now - chrono::Duration::hours(1));
    if outbox::summary_since(tx, &hour_ago)? {
        return Ok(0);
    }
    let items: Vec<HeldLine> = outbox::held_lines(tx, first_id, last_id, SUMMARY_LINES)?
        .into_iter()
        .map(|(request_id, purpose, subject)| HeldLine {
            request_id,
            purpose,
            subject,
        })
        .collect();
    let count = usize::try_from(count).unwrap_or(0);
    let data = StaffSummaryData {
        count,
        limit: ctx.mailer.staff_per_hour,
        more: count.saturating_sub(items.len()),
        items,
        team: ctx.team(),
    };
    ctx.mailer.queue_staff(
        tx,
        &ctx.settings.staff.escalation_to,
        "staff_summary",
        &data,
        None,
        None,
    )?;
    outbox::mark_summarized(tx, first_id, last_id, &clock::fmt(now))?;
    tracing::warn!(
        held = count,
        "Staff mail budget reached: held mail sent as one summary"
    );
    Ok(1)
}

/// Most held mails listed one by one in a summary; the rest are counted.
pub const SUMMARY_LINES: usize = 500;
