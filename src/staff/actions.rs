//! Staff actions on a request, from a reply in the escalation thread or from the CLI: each is
//! checked by the lifecycle, recorded in the audit log, and tells the consumer with the right
//! template where the law expects it (verified, completed, denied, extension notice).

use super::command::{self, Command, Parsed};
use crate::clock;
use crate::ctx::Ctx;
use crate::kind::Kind;
use crate::mail::Inbound;
use crate::outbound::catalog::{CompletedData, DeniedData, ExtensionData, StaffReplyData};
use crate::outbound::facts::excerpt;
use crate::outbound::queue::Job;
use crate::request::deadlines::compute_deadlines;
use crate::request::lifecycle::Transition;
use crate::store::labels::{self, StaffAction};
use crate::store::types::Audience;
use crate::store::{add_event, requests, transitions};
use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

/// What became of a staff command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Carried out (true) or refused (false).
    pub accepted: bool,
    /// What was done, or why it was refused, in words for staff.
    pub message: String,
    /// The request's status afterwards ("" when there is no such request).
    pub status: String,
    /// The due date in force afterwards, as a date ("" when there is no such request).
    pub due_date: String,
}

/// Carries out `cmd` on request `id` for `actor`, in the caller's transaction. A refusal
/// is an [`Outcome`] with `accepted: false`; `Err` means the store failed.
pub fn staff_command(
    ctx: &Ctx,
    tx: &Connection,
    id: &str,
    actor: &str,
    cmd: &Command,
) -> Result<Outcome> {
    let now = ctx.mailer.now;
    let Some(mut r) = requests::get(tx, id)? else {
        return Ok(Outcome {
            accepted: false,
            message: format!("There is no request {id}"),
            status: String::new(),
            due_date: String::new(),
        });
    };
    let refuse = |r: &requests::Request, why: String| -> Result<Outcome> {
        add_event(
            tx,
            &r.id,
            &clock::fmt(now),
            "staff_command_refused",
            actor,
            &format!("{}: {why}", cmd.word()),
        )?;
        Ok(Outcome {
            accepted: false,
            message: why,
            status: r.status.to_string(),
            due_date: ctx.show_date(r.due_in_force()),
        })
    };
    let t = cmd.transition();
    if let Err(e) = transitions::check(&r, &t)? {
        return refuse(&r, capitalized(&e.to_string()));
    }
    if let Command::Approve | Command::Resend | Command::Retry = cmd {
        // The fulfilment state decides: each refusal says the state and what it waits for.
        let done = match cmd {
            Command::Approve => crate::fulfil::flow::approve(ctx, tx, &mut r, actor, false)?,
            Command::Retry => crate::fulfil::flow::approve(ctx, tx, &mut r, actor, true)?,
            _ => {
                crate::fulfil::flow::resend(ctx, tx, &r, actor, crate::fulfil::flow::Asker::Staff)?
                    .map(|m| format!("{}: {m}", r.id))
            }
        };
        return match done {
            Ok(message) => Ok(Outcome {
                accepted: true,
                message: capitalized(&message),
                status: r.status.to_string(),
                due_date: ctx.show_date(r.due_in_force()),
            }),
            Err(why) => refuse(&r, why),
        };
    }
    if let Command::Handle { kinds } = cmd {
        return match handle(ctx, tx, &mut r, actor, kinds)? {
            Ok(message) => {
                label(ctx, tx, &r, actor, StaffAction::Handle)?;
                Ok(Outcome {
                    accepted: true,
                    message,
                    status: r.status.to_string(),
                    due_date: ctx.show_date(r.due_in_force()),
                })
            }
            Err(why) => refuse(&r, why),
        };
    }
    if let Command::Extend { .. } = cmd {
        let jurisdiction = r.jurisdiction;
        let received = clock::parse(&r.received_at)?;
        let d = compute_deadlines(&r.kinds, received, jurisdiction, ctx.calendar).ok();
        match d {
            Some(d) if d.can_extend(now) => {
                r.extended_due_at = d.extended_respond_by.map(clock::fmt);
            }
            Some(d) => {
                let by = d
                    .extension_notice_by
                    .map(|t| ctx.show_date(&clock::fmt(t)))
                    .unwrap_or_default();
                return refuse(
                    &r,
                    format!(
                        "Too late to extend: the consumer had to be told before the first period ended ({by})"
                    ),
                );
            }
            None => return refuse(&r, "This request's deadline cannot be extended".into()),
        }
    }
    if let Command::Law { law } = cmd {
        let was = r.jurisdiction;
        if was == *law {
            return refuse(
                &r,
                format!(
                    "{} already runs under the {}",
                    r.id,
                    law.as_str().to_uppercase()
                ),
            );
        }
        let kinds = if r.kinds.is_empty() {
            vec![crate::kind::Kind::Access]
        } else {
            r.kinds.clone()
        };
        let received = clock::parse(&r.received_at)?;
        let d = compute_deadlines(&kinds, received, *law, ctx.calendar)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        r.jurisdiction = *law;
        r.law_reason = format!(
            "set by staff (was {}; {})",
            was.as_str().to_uppercase(),
            r.law_reason
        );
        r.confirm_by = d.confirm_by.map(clock::fmt);
        r.due_at = clock::fmt(d.respond_by);
        r.extended_due_at = d.extended_respond_by.map(clock::fmt);
    }
    let detail = match cmd {
        Command::Verify => "Identity verified by staff".to_string(),
        Command::Complete { note } if note.is_empty() => "Completed".to_string(),
        Command::Complete { note } => format!("Completed: {note}"),
        Command::Deny { basis, text } => {
            r.denial_detail = text.clone();
            format!("Denied ({}): {text}", transitions::basis_category(basis))
        }
        Command::Extend { reason } => {
            r.extension_reason = reason.clone();
            format!("Extended: {reason}")
        }
        Command::Note { text } => text.clone(),
        Command::Assign { to } => format!("Assigned to {to}"),
        Command::Law { law } => format!(
            "Law set to the {}: due {}",
            law.as_str().to_uppercase(),
            ctx.show_date(r.due_in_force())
        ),
        Command::NotARequest { note } if note.is_empty() => "Not a privacy request".to_string(),
        Command::NotARequest { note } => format!("Not a privacy request: {note}"),
        Command::Handle { .. } | Command::Approve | Command::Resend | Command::Retry => {
            String::new()
        }
    };
    transitions::apply(tx, &mut r, &t, actor, &detail, now)?;
    if let Command::Verify = cmd {
        requests::set_token_hash(tx, &r.id, None)?;
        crate::fulfil::flow::on_verified(ctx, tx, &r)?;
    }
    if let Command::NotARequest { .. } = cmd {
        label(ctx, tx, &r, actor, StaffAction::NotARequest)?;
    }
    if let Command::Deny { .. } = cmd {
        // No download link works after a denial.
        let n = crate::store::fulfil::void_links(tx, &r.id)?;
        if n > 0 {
            add_event(
                tx,
                &r.id,
                &clock::fmt(now),
                "links_voided",
                actor,
                &format!("{n} unused download link(s) voided by the denial"),
            )?;
        }
    }
    let told = tell_consumer(ctx, tx, &r, cmd)?;
    let due_date = ctx.show_date(r.due_in_force());
    let mut message = match cmd {
        Command::Verify => format!("{} is verified", r.id),
        Command::Complete { .. } => format!("{} is completed", r.id),
        Command::Deny { basis, .. } => format!(
            "{} is denied (basis: {})",
            r.id,
            transitions::basis_category(basis)
        ),
        Command::Extend { .. } => format!("{} is extended; now due {due_date}", r.id),
        Command::Note { .. } => format!("Note added to {}", r.id),
        Command::Assign { to } => format!("{} is assigned to {to}", r.id),
        Command::Law { law } => format!(
            "{} now runs under the {}; due {due_date}",
            r.id,
            law.as_str().to_uppercase()
        ),
        Command::NotARequest { .. } => format!(
            "{} is closed as not a privacy request; the consumer gets no mail from the bot",
            r.id
        ),
        Command::Handle { .. } | Command::Approve | Command::Resend | Command::Retry => {
            String::new()
        }
    };
    if let Some(template) = told {
        message.push_str(&format!(
            "; the consumer is told (\"{template}\" mail queued)"
        ));
    }
    Ok(Outcome {
        accepted: true,
        message,
        status: r.status.to_string(),
        due_date,
    })
}

/// Records what staff said the request's opening mail was, beside what the classifier said
/// (`classify eval` learns from it). A request whose mail or classification the store no
/// longer has gets no label (logged): the staff action itself stands.
fn label(
    ctx: &Ctx,
    tx: &Connection,
    r: &requests::Request,
    actor: &str,
    action: StaffAction,
) -> Result<()> {
    let origin = match labels::origin(tx, &r.id) {
        Ok(Some(o)) => o,
        Ok(None) => {
            tracing::warn!(request = %r.id, "No mail on record: staff label not kept");
            return Ok(());
        }
        Err(e) => {
            tracing::warn!(request = %r.id, error = %format!("{e:#}"), "Staff label not kept");
            return Ok(());
        }
    };
    let rules_version =
        crate::classify::eval::rules_version(ctx.settings.classify.rules_dir.as_deref())?;
    labels::record(
        tx,
        &labels::Label {
            request_id: r.id.clone(),
            inbox_id: origin.inbox_id,
            message_key: origin.message_key,
            action,
            kinds: match action {
                StaffAction::Handle => r.kinds.clone(),
                StaffAction::NotARequest => Vec::new(),
            },
            classifier_action: origin.classifier_action,
            classifier_kinds: origin.classifier_kinds,
            rules_version,
            by: actor.to_string(),
            at: ctx.now_s(),
        },
    )
}

/// `/handle [kinds]`: puts an escalated request back on the automatic track with `kinds`
/// (empty: the classifier's), recomputes its clocks for them and sends the acknowledgement
/// the bot would have sent (with a verification code except for opt-outs; opt-outs go on to
/// staff as ready to action). `Ok(Err(why))` when it cannot.
fn handle(
    ctx: &Ctx,
    tx: &Connection,
    r: &mut requests::Request,
    actor: &str,
    kinds: &[Kind],
) -> Result<std::result::Result<String, String>> {
    if crate::store::outbox::consumer_purposes(tx, &r.id)?
        .iter()
        .any(|p| p == "acknowledgement")
    {
        return Ok(Err(format!(
            "{} already had its acknowledgement: it is on the automatic track",
            r.id
        )));
    }
    let kinds: Vec<Kind> = if kinds.is_empty() {
        r.kinds.clone()
    } else {
        kinds.to_vec()
    };
    if kinds.is_empty() {
        return Ok(Err(format!(
            "The classifier found no privacy request in {}: say which, e.g. /handle access delete \
             (or /not-a-request)",
            r.id
        )));
    }
    let classified = r.kinds.clone();
    let received = clock::parse(&r.received_at)?;
    let d = compute_deadlines(&kinds, received, r.jurisdiction, ctx.calendar)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    r.kinds = kinds;
    r.confirm_by = d.confirm_by.map(clock::fmt);
    r.due_at = clock::fmt(d.respond_by);
    r.extended_due_at = d.extended_respond_by.map(clock::fmt);
    let what = requests::kinds_text(&r.kinds);
    let detail = if classified == r.kinds {
        format!("Back on the automatic track as {what} (as classified)")
    } else {
        format!(
            "Back on the automatic track as {what} (classified: {})",
            if classified.is_empty() {
                "none".to_string()
            } else {
                requests::kinds_text(&classified)
            }
        )
    };
    transitions::apply(tx, r, &Transition::Handle, actor, &detail, ctx.now())?;
    let refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
    let origin = r.origin_message_id.clone();
    let thread = crate::acknowledge::Thread {
        in_reply_to: origin.as_deref(),
        references: &refs,
    };
    // A person decided: no anti-reflection limit applies.
    let _ = crate::acknowledge::acknowledge(ctx, tx, r, &thread, false)?;
    let needs_verification = r.kinds.iter().any(|k| !k.is_opt_out());
    if needs_verification {
        return Ok(Ok(format!(
            "{} is back on the automatic track as {what}: the acknowledgement with a \
             verification code is queued; its reply verifies it",
            r.id
        )));
    }
    if crate::fulfil::flow::opt_out_automatic(ctx) {
        return Ok(Ok(format!(
            "{} is back on the automatic track as {what}: the acknowledgement is queued (an \
             opt-out: no verification); the bot carries it out in the data sources",
            r.id
        )));
    }
    let original = super::escalate::original(tx, r)?;
    super::escalate::escalate(
        ctx,
        tx,
        r,
        &super::escalate::Escalation {
            reason: "Ready to action: an opt-out, no verification needed",
            classification: None,
            text: original.as_ref().map_or("", |o| o.text.as_str()),
            raw: original.as_ref().map(|o| o.raw.as_slice()),
        },
    )?;
    Ok(Ok(format!(
        "{} is back on the automatic track as {what}: the acknowledgement is queued (an \
         opt-out: no verification); ready to action",
        r.id
    )))
}

/// Queues the consumer's notice for a command, if it calls for one; returns its template.
fn tell_consumer(
    ctx: &Ctx,
    tx: &Connection,
    r: &requests::Request,
    cmd: &Command,
) -> Result<Option<&'static str>> {
    // Mail that was never a privacy request (staff answer those themselves) gets no
    // templated notice.
    if r.kinds.is_empty() {
        return Ok(None);
    }
    let facts = ctx.facts(r);
    let template = match cmd {
        Command::Verify => notice(ctx, tx, r, "verified", &facts)?,
        Command::Complete { .. } => notice(
            ctx,
            tx,
            r,
            "completed",
            &CompletedData {
                facts: &facts,
                completed_date: clock::long_date(
                    ctx.mailer.now,
                    ctx.settings.clock.timezone,
                    &r.language,
                ),
            },
        )?,
        Command::Deny { basis, text } => notice(
            ctx,
            tx,
            r,
            "denied",
            &DeniedData {
                facts: &facts,
                basis: basis.category(),
                basis_text: text.clone(),
            },
        )?,
        Command::Extend { reason } => notice(
            ctx,
            tx,
            r,
            "extension",
            &ExtensionData {
                facts: &facts,
                reason: reason.clone(),
                new_due_date: facts.due_date.clone(),
            },
        )?,
        Command::Note { .. }
        | Command::Assign { .. }
        | Command::Law { .. }
        | Command::Handle { .. }
        | Command::NotARequest { .. }
        | Command::Approve
        | Command::Resend
        | Command::Retry => return Ok(None),
    };
    Ok(Some(template))
}

/// Queues a consumer notice in the request's thread; returns the template's name.
fn notice<T: Serialize>(
    ctx: &Ctx,
    tx: &Connection,
    r: &requests::Request,
    template: &'static str,
    data: &T,
) -> Result<&'static str> {
    let refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
    ctx.mailer.queue_notice(
        tx,
        &Job {
            references: &refs,
            ..Job::to_consumer(template, r, data)
        },
    )?;
    Ok(template)
}

/// Queues a confirmation or refusal to each of `to`, in the thread of the staff `mail`.
fn reply_to_staff(
    ctx: &Ctx,
    tx: &Connection,
    mail: &Inbound,
    to: &[&str],
    data: &StaffReplyData,
) -> Result<()> {
    let refs = mail.reply_references();
    let request_id = (!data.request_id.is_empty()).then_some(data.request_id.as_str());
    for recipient in to {
        ctx.mailer.queue(
            tx,
            &Job {
                template: "staff_reply",
                lang: "en",
                data,
                to: recipient,
                audience: Audience::Staff,
                request_id,
                in_reply_to: mail.message_id.as_deref(),
                references: &refs,
                attach: None,
                reply_to: None,
            },
        )?;
    }
    Ok(())
}

/// A staff member's mail on a request's thread, proven to come from staff (see
/// `Intake::staff_proof`): a command, or a note for the record. Returns what was done.
pub fn staff_mail(
    ctx: &Ctx,
    tx: &Connection,
    mail: &Inbound,
    request_id: &str,
    sender: &str,
) -> Result<String> {
    let now_s = clock::fmt(ctx.mailer.now);
    let log_refusal = |detail: &str| {
        add_event(
            tx,
            request_id,
            &now_s,
            "staff_command_refused",
            sender,
            detail,
        )
    };
    let parsed = command::parse(command::first_line(&mail.new_text));
    let (word, outcome) = match parsed {
        Parsed::NotACommand => {
            add_event(
                tx,
                request_id,
                &now_s,
                "staff_mail",
                sender,
                &excerpt(&mail.new_text, 500),
            )?;
            return Ok("Staff mail on the thread (recorded)".into());
        }
        Parsed::Unknown(w) => {
            let why = format!(
                "Unknown command {w}; the commands are {}",
                command::WORDS
                    .iter()
                    .map(|w| format!("/{w}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            log_refusal(&why)?;
            (w, refusal(ctx, tx, request_id, why)?)
        }
        Parsed::Invalid { command, why } => {
            let why = capitalized(&why);
            log_refusal(&format!("{command}: {why}"))?;
            (command, refusal(ctx, tx, request_id, why)?)
        }
        Parsed::Ok(cmd) => (
            cmd.word().to_string(),
            staff_command(ctx, tx, request_id, sender, &cmd)?,
        ),
    };
    let data = StaffReplyData {
        request_id: request_id.to_string(),
        command: word.clone(),
        accepted: outcome.accepted,
        message: outcome.message.clone(),
        actor: sender.to_string(),
        team: ctx.team(),
        status: outcome.status.clone(),
        due_date: outcome.due_date.clone(),
    };
    let mut to: Vec<&str> = vec![sender];
    for s in &ctx.settings.staff.escalation_to {
        if !to
            .iter()
            .any(|t| crate::address::base_address(t) == crate::address::base_address(s))
        {
            to.push(s);
        }
    }
    reply_to_staff(ctx, tx, mail, &to, &data)?;
    Ok(if outcome.accepted {
        format!("Staff command {word}: {}", outcome.message)
    } else {
        format!("Staff command {word} refused: {}", outcome.message)
    })
}

/// A staff command in a mail that belongs to no request: answered with a refusal that
/// says how to reach the request. Returns false when the mail holds no command.
pub fn refuse_unthreaded(ctx: &Ctx, tx: &Connection, mail: &Inbound, sender: &str) -> Result<bool> {
    let word = match command::parse(command::first_line(&mail.new_text)) {
        Parsed::NotACommand => return Ok(false),
        Parsed::Unknown(w) => w,
        Parsed::Invalid { command, .. } => command,
        Parsed::Ok(cmd) => cmd.word().to_string(),
    };
    let message = "This mail belongs to no request: reply in the request's thread (keep the \
         [PRIV-…] tag in the subject), or use `privacy-inbox requests ...` on the server";
    let data = StaffReplyData {
        request_id: String::new(),
        command: word,
        accepted: false,
        message: message.to_string(),
        actor: sender.to_string(),
        team: ctx.team(),
        status: String::new(),
        due_date: String::new(),
    };
    reply_to_staff(ctx, tx, mail, &[sender], &data)?;
    Ok(true)
}

fn refusal(ctx: &Ctx, tx: &Connection, request_id: &str, why: String) -> Result<Outcome> {
    let r = requests::get(tx, request_id)?;
    Ok(Outcome {
        accepted: false,
        message: why,
        status: r.as_ref().map(|r| r.status.to_string()).unwrap_or_default(),
        due_date: r
            .as_ref()
            .map(|r| ctx.show_date(r.due_in_force()))
            .unwrap_or_default(),
    })
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
