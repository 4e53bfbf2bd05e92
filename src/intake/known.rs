//! Loads what the decision needs to know about a mail ([`Known`]): reads only (the staff
//! token key is made on first use), in the batch's transaction.

use super::decide::{Known, Thread};
use crate::ctx::Ctx;
use crate::mail::{keys, Inbound};
use crate::request::{staff_token, token};
use crate::store::{inbox, outbox, requests, secrets};
use anyhow::Result;
use rusqlite::Connection;

/// What the store and the settings know about `mail` (whose stored key and fingerprint are
/// `key` and `fingerprint`).
pub fn load(
    ctx: &Ctx,
    tx: &Connection,
    mail: &Inbound,
    key: &str,
    fingerprint: &str,
) -> Result<Known> {
    let s = &ctx.settings.smtp;
    let mut k = Known {
        seen: inbox::seen(tx, key, fingerprint)?,
        auth: ctx.auth(mail),
        authserv_id: ctx.settings.imap.authserv_id.clone(),
        sender_is_staff: mail.from.as_deref().is_some_and(|f| ctx.is_staff(f)),
        ..Known::default()
    };
    if k.seen {
        return Ok(k);
    }
    if let Some(id) = &mail.message_id {
        k.ours = outbox::by_message_id(tx, id)?.is_some();
        k.looks_like_ours = keys::looks_like_ours(mail, id, &s.from_address, &s.message_id_domain);
    }
    let Some(sender) = mail.from.as_deref() else {
        return Ok(k);
    };
    if let Some(id) = thread_of(ctx, tx, mail)? {
        k.thread = Some(thread(ctx, tx, mail, id, k.sender_is_staff)?);
    }
    if !k.sender_is_staff {
        let c = ctx.classifier.classify(mail);
        if k.thread.is_none() {
            k.unreplyable = ctx
                .mailer
                .composer
                .check_recipient(sender)
                .err()
                .map(|e| e.to_string());
            k.covering = covering_request(tx, sender, &c)?;
        }
        k.classification = Some(c);
    }
    Ok(k)
}

/// The request an incoming mail continues, by its references or its subject tag (the tag
/// counts only when the sender is the requester or staff: anyone can type a tag).
fn thread_of(ctx: &Ctx, tx: &Connection, mail: &Inbound) -> Result<Option<String>> {
    for id in mail.in_reply_to.iter().chain(mail.references.iter()) {
        if let Some(r) = inbox::request_for_message_id(tx, id)? {
            return Ok(Some(r));
        }
    }
    if let Some(tag) = keys::subject_tag(&mail.subject) {
        if let Some(r) = requests::get(tx, &tag)? {
            let from = mail.from.as_deref().map(crate::address::base_address);
            if from.as_deref() == Some(crate::address::base_address(&r.requester).as_str())
                || mail.from.as_deref().is_some_and(|f| ctx.is_staff(f))
            {
                return Ok(Some(r.id));
            }
        }
    }
    Ok(None)
}

/// What is known about request `id` for a mail on its thread.
fn thread(ctx: &Ctx, tx: &Connection, mail: &Inbound, id: String, staff: bool) -> Result<Thread> {
    let request = requests::get(tx, &id)?;
    let Some(r) = &request else {
        return Ok(Thread {
            id,
            ..Thread::default()
        });
    };
    let staff_token = staff && {
        let key = secrets::staff_key(tx)?;
        let mut carried = mail.subject.clone();
        for (name, value) in &mail.headers {
            if matches!(
                name.as_str(),
                "to" | "cc" | "delivered-to" | "x-original-to" | "envelope-to"
            ) {
                carried.push('\n');
                carried.push_str(value);
            }
        }
        staff_token::carried_in(&key, &id, &carried)
    };
    let haystack = format!(
        "{}\n{}\n{}\n{}",
        mail.subject,
        mail.to.join(" "),
        mail.new_text,
        mail.quoted_text
    );
    let presented = token::find_token(&haystack);
    let stored = requests::token_hash(tx, &id)?;
    let code_valid =
        matches!((&presented, &stored), (Some(p), Some(h)) if token::verify_token(p, h));
    let account_ok = match ctx.account_on_file(&r.requester) {
        Some(expected) => crate::accounts::Directory::matches(expected, &mail.new_text),
        None => true,
    };
    // What we sent the consumer on this request, as text: a reply that pastes it back
    // unquoted is not the consumer's confirmation (read only for a verification reply).
    let ours = if code_valid && !staff {
        outbox::consumer_raws(tx, &id, 8)?
            .iter()
            .filter_map(|raw| crate::mail::parse(raw).ok())
            .map(|m| format!("{}\n{}", m.new_text, m.quoted_text))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Thread {
        id,
        request,
        staff_token,
        code_valid,
        account_ok,
        ours,
    })
}

/// An open request of the sender's (same mailbox) whose kinds cover every kind `c` asks
/// for, when there is one. Not for agents: one agent, many consumers.
fn covering_request(
    tx: &Connection,
    sender: &str,
    c: &crate::classify::Classification,
) -> Result<Option<String>> {
    if c.kinds.is_empty() || c.agent {
        return Ok(None);
    }
    let base = crate::address::base_address(sender);
    Ok(requests::of_person(tx, &base, true)?
        .into_iter()
        .find(|r| c.kinds.iter().all(|k| r.kinds.contains(k)))
        .map(|r| r.id))
}
