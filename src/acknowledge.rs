//! The bot's acknowledgement of a request: with a single-use verification code where a kind
//! needs one, without for opt-outs. Sent by intake for a clear request, and by staff's
//! `/handle` for one a person read first.

use crate::ctx::Ctx;
use crate::outbound::queue::{Job, Queued};
use crate::request::lifecycle::{Status, Transition};
use crate::request::token;
use crate::store::{add_event, requests, transitions};
use anyhow::Result;
use rusqlite::Connection;

/// Where a mail to the consumer goes in their thread.
pub struct Thread<'a> {
    /// The mail it answers.
    pub in_reply_to: Option<&'a str>,
    /// The thread's references.
    pub references: &'a [String],
}

/// Sends `r`'s acknowledgement: with a single-use verification code when a kind needs one
/// (then the request awaits verification), without for opt-outs. `limited`: the
/// anti-reflection limits apply (an incoming mail triggered it); `Ok(Err(why))` when they
/// held it back (nothing changed but the `reply_suppressed` event).
pub fn acknowledge(
    ctx: &Ctx,
    tx: &Connection,
    r: &mut requests::Request,
    thread: &Thread,
    limited: bool,
) -> Result<std::result::Result<(), String>> {
    let now = ctx.now();
    let needs_verification = r.kinds.iter().any(|k| !k.is_opt_out());
    let token = needs_verification.then(token::new_token);
    let mut facts = ctx.facts(r);
    facts.verify_tag = token.as_deref().map(token::tagged).unwrap_or_default();
    facts.ask_account = needs_verification && ctx.account_on_file(&r.requester).is_some();
    let reply_to = token
        .as_deref()
        .and_then(|t| token::plus_address(&ctx.settings.smtp.from_address, t));
    let job = Job {
        in_reply_to: thread.in_reply_to,
        references: thread.references,
        reply_to: reply_to.as_deref(),
        ..Job::to_consumer("acknowledgement", r, &facts)
    };
    let mid = if limited {
        match ctx.mailer.queue(tx, &job)? {
            Queued::Yes(mid) => mid,
            Queued::RateLimited(why) => {
                add_event(tx, &r.id, &ctx.now_s(), "reply_suppressed", "bot", &why)?;
                return Ok(Err(why));
            }
        }
    } else {
        ctx.mailer.queue_notice(tx, &job)?
    };
    if r.status == Status::Received {
        transitions::apply(
            tx,
            r,
            &Transition::Acknowledge,
            "bot",
            &format!("Acknowledgement queued as <{mid}>"),
            now,
        )?;
    }
    if let Some(t) = &token {
        requests::set_token_hash(tx, &r.id, Some(&token::hash_token(t)))?;
    }
    if needs_verification {
        transitions::apply(
            tx,
            r,
            &Transition::RequestVerification,
            "bot",
            "Token sent with the acknowledgement",
            now,
        )?;
    }
    // Opt-outs are carried out at once in every data source (no verification, §7060(b)).
    crate::fulfil::flow::on_opt_out(ctx, tx, r)?;
    Ok(Ok(()))
}
