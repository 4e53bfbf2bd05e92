//! Carries out what a mail on a request's thread means ([`ReplyStep`]): a staff command, a
//! verification, a disavowal, or something for a person.

use super::decide::{Known, ReplyStep};
use crate::ctx::Ctx;
use crate::mail::Inbound;
use crate::outbound::facts::clean_line;
use crate::outbound::queue::Job;
use crate::request::lifecycle::Transition;
use crate::staff::escalate::{escalate, Escalation};
use crate::store::requests::{self, Request};
use crate::store::{add_event, transitions};
use anyhow::Result;
use rusqlite::Connection;

/// Carries out `step` for `mail` on request `request_id`; returns what was done, in words.
pub fn apply(
    ctx: &Ctx,
    tx: &Connection,
    mail: &Inbound,
    raw: &[u8],
    request_id: &str,
    step: ReplyStep,
    known: &Known,
) -> Result<String> {
    let sender = mail.from.as_deref().unwrap_or_default();
    let request = known.thread.as_ref().and_then(|t| t.request.clone());
    let Some(mut r) = request else {
        return Ok("Reply to an unknown request".into());
    };
    // The staff sender's mail is not classified; a refused command still shows staff what
    // the classifier reads in it.
    let classified = match &known.classification {
        Some(c) => c.clone(),
        None => ctx.classifier.classify(mail),
    };
    let to_staff = |r: &Request, reason: &str| {
        escalate(
            ctx,
            tx,
            r,
            &Escalation {
                reason,
                classification: Some(&classified),
                text: &mail.new_text,
                raw: Some(raw),
            },
        )
    };
    Ok(match step {
        ReplyStep::UnknownRequest => "Reply to an unknown request".into(),
        ReplyStep::Staff => crate::staff::actions::staff_mail(ctx, tx, mail, request_id, sender)?,
        ReplyStep::StaffUnproven(why) => why,
        ReplyStep::CommandRefused { why, detail } => {
            add_event(
                tx,
                request_id,
                &ctx.now_s(),
                "staff_command_refused",
                sender,
                &detail,
            )?;
            to_staff(&r, &why)?;
            why
        }
        ReplyStep::Disavowed(phrase) => {
            // The code is void, no reminder will carry a new one, and staff are told it
            // may be fraud.
            let now_s = ctx.now_s();
            requests::set_token_hash(tx, &r.id, None)?;
            crate::store::note_once(tx, &r.id, "verify_reminder", &now_s)?;
            let phrase = clean_line(&phrase, 80);
            add_event(
                tx,
                &r.id,
                &now_s,
                "disavowed",
                &r.requester,
                &format!(
                    "The requester's reply says they did not make this request (\"{phrase}\")"
                ),
            )?;
            let why = format!(
                "Possible fraud: the requester says they did not make this request (\"{phrase}\"); \
                 not verified, its code is void"
            );
            to_staff(&r, &why)?;
            why
        }
        ReplyStep::NotVerified(problem) => {
            to_staff(&r, &problem)?;
            format!("Not verified: {problem}")
        }
        ReplyStep::MachineEcho(why) => {
            add_event(
                tx,
                request_id,
                &ctx.now_s(),
                "verification_ignored",
                sender,
                &why,
            )?;
            why
        }
        ReplyStep::Verified { question } => {
            transitions::apply(
                tx,
                &mut r,
                &Transition::Verify,
                sender,
                "Verified by email: reply from the requester's address with the token",
                ctx.now(),
            )?;
            // Single use: the token is gone once it has served.
            requests::set_token_hash(tx, request_id, None)?;
            crate::fulfil::flow::on_verified(ctx, tx, &r)?;
            let facts = ctx.facts(&r);
            let refs = mail.reply_references();
            ctx.mailer.queue(
                tx,
                &Job {
                    in_reply_to: mail.message_id.as_deref(),
                    references: &refs,
                    ..Job::to_consumer("verified", &r, &facts)
                },
            )?;
            if question {
                // The question is in the reply: staff see the reply.
                to_staff(&r, "Verified; the consumer also asks a question")?;
            } else if crate::fulfil::flow::looks_up(ctx, &r) {
                // The bot looks the request up in the data sources now: staff hear from
                // fulfilment (what was found, the plan, the package), not twice.
            } else {
                // Staff act on the request, not on the one-line reply that verified it:
                // the notice shows the original mail, its kinds and why it was read so.
                let original = crate::staff::escalate::original(tx, &r)?;
                let read = original.as_ref().map(|o| crate::classify::Classification {
                    confidence: o.confidence,
                    reasons: o.reasons.clone(),
                    kinds: r.kinds.clone(),
                    ..Default::default()
                });
                escalate(
                    ctx,
                    tx,
                    &r,
                    &Escalation {
                        reason: "Verified: ready to action",
                        classification: read.as_ref().or(Some(&classified)),
                        text: original.as_ref().map_or(&mail.new_text, |o| &o.text),
                        raw: Some(original.as_ref().map_or(raw, |o| o.raw.as_slice())),
                    },
                )?;
            }
            "Verified".into()
        }
        ReplyStep::Resend { proven } => {
            use crate::fulfil::flow::{self, Asker};
            let asker = if proven {
                Asker::Consumer
            } else {
                Asker::Unproven
            };
            match flow::resend(ctx, tx, &r, sender, asker)? {
                Ok(done) => format!("The consumer asked for a new link: {done}"),
                Err(why) => {
                    // No link; the address on file (never the From:) is told what the
                    // request waits for.
                    add_event(tx, &r.id, &ctx.now_s(), "resend_refused", sender, &why)?;
                    flow::resend_refused_mail(ctx, tx, &r)?;
                    format!("The consumer asks for a new download link: {why}")
                }
            }
        }
        ReplyStep::Escalate(why) => {
            to_staff(&r, &why)?;
            format!("Sent to staff: {why}")
        }
        ReplyStep::Recorded => "Reply recorded on the request".into(),
    })
}
