//! The one way a request is handed to staff: the flag goes through
//! [`crate::store::transitions`] (checked, stored, in the audit log) and staff get the
//! `escalation` mail with what the sender wrote and the original attached. Intake, replies,
//! bounces and refused commands all come here.

use crate::classify::Classification;
use crate::ctx::Ctx;
use crate::outbound::facts::{excerpt, RequestFacts};
use crate::request::lifecycle::Transition;
use crate::store::requests::{self, Request};
use crate::store::transitions;
use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

/// Escalation mails to staff about one sender's requests in 24 hours, at most: a flood of
/// ambiguous mail from one address must not bury staff's inbox (the requests are still
/// recorded, flagged and listed in the daily digest).
pub const STAFF_ALERTS_PER_SENDER_PER_DAY: i64 = 10;

/// Attachments above this size are left off the escalation mail (the original stays in the
/// store and the mailbox).
pub const MAX_ATTACHMENT: usize = 5 * 1024 * 1024;

/// Why and with what a request goes to staff.
pub struct Escalation<'a> {
    /// Why, in one line for staff (the subject says it too).
    pub reason: &'a str,
    /// The classifier's reading of the mail that caused it, when there is one.
    pub classification: Option<&'a Classification>,
    /// What the sender wrote (new text, quotes removed).
    pub text: &'a str,
    /// The mail that caused it, attached when not too big.
    pub raw: Option<&'a [u8]>,
}

#[derive(Serialize)]
struct EscalationData<'a> {
    #[serde(flatten)]
    facts: &'a RequestFacts,
    reason: String,
    confidence: String,
    reasons: Vec<String>,
    /// The sentences the classifier could not place (issue 28), cleaned for one line each.
    unplaced: Vec<String>,
    excerpt: String,
    /// Access requests from this person in the last 12 months, this one included (0 when
    /// this request is not an access request).
    access_requests_12m: usize,
    /// What the consumer has received from the bot so far, in words.
    consumer_received: String,
    /// Confirm receipt by (CCPA 10 business days), "" when that clock does not apply.
    confirm_date: String,
}

/// Flags `req` as escalated (through the lifecycle, recorded as an `escalated` event) and
/// mails staff, in the caller's transaction. Past [`STAFF_ALERTS_PER_SENDER_PER_DAY`] for
/// the sender, the request is flagged and logged but no mail goes out.
pub fn escalate(ctx: &Ctx, tx: &Connection, req: &Request, e: &Escalation) -> Result<()> {
    let now = ctx.now();
    let mut r = requests::get(tx, &req.id)?.unwrap_or_else(|| req.clone());
    r.escalation_reason = e.reason.to_string();
    // One sender cannot flood staff either: past the cap, the request is still flagged
    // and listed in the daily digest, but no mail goes out for it.
    let day_ago = crate::clock::fmt(now - chrono::Duration::hours(24));
    let recent = requests::escalations_of_person_since(
        tx,
        &crate::address::base_address(&r.requester),
        &day_ago,
    )?;
    if recent >= STAFF_ALERTS_PER_SENDER_PER_DAY {
        let detail = format!(
            "{} (no mail to staff: {recent} escalations from this sender in 24 hours; \
             it is in the daily digest)",
            e.reason
        );
        return record(tx, &mut r, "escalated", &detail, now);
    }
    let facts = ctx.staff_facts(&r);
    let data = EscalationData {
        facts: &facts,
        reason: e.reason.to_string(),
        confidence: format!("{:.2}", e.classification.map_or(0.0, |c| c.confidence)),
        reasons: e
            .classification
            .map(|c| c.reasons.clone())
            .unwrap_or_default(),
        unplaced: e
            .classification
            .map(|c| {
                c.unplaced
                    .iter()
                    .take(10)
                    .map(|u| crate::outbound::facts::clean_line(u, 240))
                    .collect()
            })
            .unwrap_or_default(),
        excerpt: excerpt(e.text, 1500),
        access_requests_12m: access_requests_12m(ctx, tx, &r)?,
        consumer_received: consumer_received(tx, &r)?,
        confirm_date: r
            .confirm_by
            .as_deref()
            .map(|c| ctx.show_date(c))
            .unwrap_or_default(),
    };
    let attach = e.raw.filter(|raw| raw.len() <= MAX_ATTACHMENT);
    ctx.mailer.queue_staff(
        tx,
        &ctx.settings.staff.escalation_to,
        "escalation",
        &data,
        Some(&r.id),
        attach,
    )?;
    record(tx, &mut r, "escalated", e.reason, now)
}

/// The flag and the `escalated` event. A closed request keeps its final state (the
/// lifecycle accepts nothing but a note there): the event alone records that a person was
/// asked to look.
fn record(
    tx: &Connection,
    r: &mut Request,
    event: &str,
    detail: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let t = if r.status.is_terminal() {
        Transition::Note {
            text: detail.to_string(),
        }
    } else {
        Transition::Escalate
    };
    transitions::apply_as(tx, r, &t, event, "bot", detail, now)
}

/// Flags `req` as escalated with `reason`, recording the flag under the caller's own event
/// (`bounced`, `send_failed`: the event says what happened) instead of `escalated`; the
/// caller mails staff.
pub fn flag(
    ctx: &Ctx,
    tx: &Connection,
    req: &mut Request,
    reason: &str,
    event: &str,
    detail: &str,
) -> Result<()> {
    req.escalation_reason = reason.to_string();
    record(tx, req, event, detail, ctx.now())
}

/// How many access requests the requester of `r` made in the 12 months before now, `r`
/// included; 0 when `r` asks for no access. (CCPA: a business may decline more than two
/// in 12 months; GDPR: manifestly excessive repeats may be refused or charged. Staff
/// decide; the bot informs.)
fn access_requests_12m(ctx: &Ctx, tx: &Connection, r: &Request) -> Result<usize> {
    use crate::kind::Kind;
    if !r.kinds.contains(&Kind::Access) {
        return Ok(0);
    }
    let since = crate::clock::fmt(ctx.now() - chrono::Duration::days(365));
    Ok(
        requests::of_person(tx, &crate::address::base_address(&r.requester), false)?
            .iter()
            .filter(|o| o.kinds.contains(&Kind::Access) && o.received_at >= since)
            .count(),
    )
}

/// What the consumer has received from the bot about `r` so far, in words for staff (from
/// the outbox: what was queued to them, in this transaction too).
fn consumer_received(tx: &Connection, r: &Request) -> Result<String> {
    let sent = crate::store::outbox::consumer_purposes(tx, &r.id)?;
    let has = |p: &str| sent.iter().any(|s| s == p);
    Ok(if has("acknowledgement") {
        let needs_verification = r.kinds.iter().any(|k| !k.is_opt_out());
        match (needs_verification, has("verified")) {
            (true, true) => "the acknowledgement, and the notice that their identity is verified",
            (true, false) => "the acknowledgement with a verification code",
            (false, _) => "the acknowledgement (an opt-out: no verification is asked)",
        }
        .to_string()
    } else if has("received") {
        "the receipt (a person follows up; no verification code yet)".to_string()
    } else {
        "nothing".to_string()
    })
}

/// The mail that opened a request, as the store kept it.
pub struct Original {
    /// Its raw bytes.
    pub raw: Vec<u8>,
    /// What the sender wrote (new text).
    pub text: String,
    /// The classifier's confidence and reasons when it was read.
    pub confidence: f64,
    /// The rules that fired.
    pub reasons: Vec<String>,
}

/// The opening mail of `r` (its raw bytes, new text and classification), when the store
/// still has it (mail bodies are purged after `store.mail-retention-days`).
pub fn original(tx: &Connection, r: &Request) -> Result<Option<Original>> {
    let Some(id) = &r.origin_message_id else {
        return Ok(None);
    };
    let Some((raw, classification)) = crate::store::inbox::original(tx, &r.id, id)? else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_str(&classification).unwrap_or_default();
    let text = crate::mail::parse_isolated(&raw)
        .map(|m| m.new_text)
        .unwrap_or_default();
    Ok(Some(Original {
        raw,
        text,
        confidence: v["confidence"].as_f64().unwrap_or(0.0),
        reasons: v["reasons"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}
