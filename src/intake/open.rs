//! A new request: stored with its clocks, then acknowledged (with a verification code where
//! the law allows asking for one) or handed to staff; and a mail that repeats an open
//! request, linked to it as a follow-up.

use crate::acknowledge::{acknowledge, Thread};
use crate::classify::Classification;
use crate::clock;
use crate::ctx::Ctx;
use crate::intake::decide::{SPOOFING, UNREPLYABLE};
use crate::kind::Kind;
use crate::mail::Inbound;
use crate::outbound::facts::clean_line;
use crate::outbound::queue::{Job, Queued};
use crate::request::deadlines::compute_deadlines;
use crate::request::law;
use crate::request::lifecycle::Status;
use crate::staff::escalate::{escalate, Escalation};
use crate::store::{add_event, requests};
use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

/// Opens a request for `mail` (received at `received`): acknowledged, or escalated with
/// reason `escalated`. Returns its ID.
pub fn open_request(
    ctx: &Ctx,
    tx: &Connection,
    mail: &Inbound,
    received: DateTime<Utc>,
    c: &Classification,
    escalated: Option<&str>,
    raw: &[u8],
) -> Result<String> {
    let sender = mail.from.as_deref().unwrap_or_default();
    let now = ctx.now();
    let now_s = clock::fmt(now);
    let year = chrono::Datelike::year(&received.with_timezone(&ctx.settings.clock.timezone));
    let id = requests::next_id(tx, year)?;
    // A mail without a recognised kind is held to the longest ordinary clock until staff
    // decide what it is.
    let clock_kinds: Vec<Kind> = if c.kinds.is_empty() {
        vec![Kind::Access]
    } else {
        c.kinds.clone()
    };
    // The law the mail cites sets the clock; nothing cited, the configured default.
    let (jurisdiction, law_reason) = law::choose(
        &law::cited(&format!("{}\n{}", mail.subject, mail.new_text)),
        ctx.settings.clock.jurisdiction,
        &clock_kinds,
        received,
        ctx.calendar,
    );
    let d = compute_deadlines(&clock_kinds, received, jurisdiction, ctx.calendar)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let req = requests::Request {
        id: id.clone(),
        status: Status::Received,
        kinds: c.kinds.clone(),
        requester: sender.to_string(),
        requester_name: clean_line(mail.from_name.as_deref().unwrap_or(""), 100),
        language: c.language.clone(),
        jurisdiction,
        received_at: clock::fmt(received),
        confirm_by: d.confirm_by.map(clock::fmt),
        due_at: clock::fmt(d.respond_by),
        extended_due_at: d.extended_respond_by.map(clock::fmt),
        extended: false,
        escalated: escalated.is_some(),
        escalation_reason: escalated.unwrap_or_default().to_string(),
        verified: false,
        agent: c.agent,
        subject: clean_line(&mail.subject, 500),
        origin_message_id: mail.message_id.clone(),
        assignee: String::new(),
        denial_basis: None,
        denial_detail: String::new(),
        extension_reason: String::new(),
        law_reason,
        responded_at: None,
        created_at: now_s.clone(),
        updated_at: now_s.clone(),
    };
    requests::insert(tx, &req)?;
    add_event(
        tx,
        &id,
        &now_s,
        "received",
        sender,
        &serde_json::json!({
            "kinds": c.kinds,
            "confidence": c.confidence,
            "reasons": c.reasons,
            "message_id": mail.message_id,
        })
        .to_string(),
    )?;
    let to_staff = |reason: &str, r: &requests::Request| {
        escalate(
            ctx,
            tx,
            r,
            &Escalation {
                reason,
                classification: Some(c),
                text: &mail.new_text,
                raw: Some(raw),
            },
        )
    };
    let refs = mail.reply_references();
    let mut r = req.clone();
    let thread = Thread {
        in_reply_to: mail.message_id.as_deref(),
        references: &refs,
    };
    if let Some(reason) = escalated {
        // The law's receipt clock runs for escalated requests too: the consumer gets a
        // receipt now, and a person follows up. Not for suspected spoofing or phishing
        // (a reply would reach the forged address) nor for mail that is no privacy request
        // (staff decide what it is), nor past the reply limits.
        if receipt_due(c) {
            if let Err(why) = receipt(ctx, tx, &mut r, &thread)? {
                let reason = format!("{reason} (no receipt sent: reply limit reached: {why})");
                to_staff(&reason, &r)?;
                return Ok(id);
            }
        }
        to_staff(reason, &r)?;
        return Ok(id);
    }
    if let Err(why) = acknowledge(ctx, tx, &mut r, &thread, true)? {
        // The request still stands and its clock runs: a person decides whether and how
        // to answer (staff mail is itself capped per sender).
        to_staff(&format!("Not acknowledged, reply limit reached: {why}"), &r)?;
    } else if !r.kinds.iter().any(|k| !k.is_opt_out())
        && !crate::fulfil::flow::opt_out_automatic(ctx)
    {
        // Opt-outs never need verification (CCPA §7060(b)): straight to staff (unless the
        // bot carries them out in the data sources itself).
        to_staff("Ready to action: an opt-out, no verification needed", &r)?;
    }
    Ok(id)
}

/// True when an escalated first mail gets a receipt: it asks for something the law
/// covers, from an address a reply can go to, and reads like neither spoofing nor phishing.
pub fn receipt_due(c: &Classification) -> bool {
    !c.kinds.is_empty()
        && !c.signals.iter().any(|s| s == "phishing")
        && !c
            .reasons
            .iter()
            .any(|r| r.starts_with(SPOOFING) || r.starts_with(UNREPLYABLE))
}

/// Sends the receipt of an escalated request (`received`): the reference, the date
/// received, that a person follows up, the latest response date; the request is then
/// acknowledged. `Ok(Err(why))` when the reply limits held it back.
fn receipt(
    ctx: &Ctx,
    tx: &Connection,
    r: &mut requests::Request,
    thread: &Thread,
) -> Result<std::result::Result<(), String>> {
    let facts = ctx.facts(r);
    let queued = ctx.mailer.queue(
        tx,
        &Job {
            in_reply_to: thread.in_reply_to,
            references: thread.references,
            ..Job::to_consumer("received", r, &facts)
        },
    )?;
    match queued {
        Queued::Yes(mid) => {
            crate::store::transitions::apply(
                tx,
                r,
                &crate::request::lifecycle::Transition::Acknowledge,
                "bot",
                &format!("Receipt queued as <{mid}>: a person follows up"),
                ctx.now(),
            )?;
            Ok(Ok(()))
        }
        Queued::RateLimited(why) => {
            add_event(tx, &r.id, &ctx.now_s(), "reply_suppressed", "bot", &why)?;
            Ok(Err(why))
        }
    }
}

/// Links a new mail to the open request it repeats: an event in its timeline, a short note
/// to the consumer in the request's thread, and staff told (`escalated`) when it needs a
/// person. Returns what was done, in words.
pub fn follow_up(
    ctx: &Ctx,
    tx: &Connection,
    request_id: &str,
    mail: &Inbound,
    c: &Classification,
    escalated: Option<&str>,
    raw: &[u8],
) -> Result<String> {
    let Some(r) = requests::get(tx, request_id)? else {
        anyhow::bail!("The open request {request_id} is gone");
    };
    let sender = mail.from.as_deref().unwrap_or_default();
    let now_s = ctx.now_s();
    add_event(
        tx,
        &r.id,
        &now_s,
        "follow_up",
        sender,
        &format!(
            "A new mail asking again for {} (\"{}\"): linked to this request",
            requests::kinds_text(&c.kinds),
            clean_line(&mail.subject, 200)
        ),
    )?;
    let facts = ctx.facts(&r);
    let mut refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
    refs.extend(mail.reply_references());
    let queued = ctx.mailer.queue(
        tx,
        &Job {
            to: sender,
            in_reply_to: mail.message_id.as_deref(),
            references: &refs,
            ..Job::to_consumer("follow_up", &r, &facts)
        },
    )?;
    if let Queued::RateLimited(why) = queued {
        add_event(tx, &r.id, &now_s, "reply_suppressed", "bot", &why)?;
    }
    if let Some(why) = escalated {
        escalate(
            ctx,
            tx,
            &r,
            &Escalation {
                reason: why,
                classification: Some(c),
                text: &mail.new_text,
                raw: Some(raw),
            },
        )?;
        return Ok(format!("Follow-up on {}: {why}", r.id));
    }
    Ok(format!(
        "Follow-up on open request {} (same person, kinds already covered): linked, the consumer told",
        r.id
    ))
}
