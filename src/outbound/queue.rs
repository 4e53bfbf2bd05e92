//! Queues templated mails in the outbox, inside the caller's transaction: renders the
//! template, composes the message with threading headers and a stable Message-ID, and
//! applies the anti-reflection limits to consumer mail.

use crate::clock;
use crate::outbound::compose::{AutoKind, Composer, Outgoing};
use crate::outbound::templates::Templates;
use crate::request::staff_token;
use crate::store::outbox::{self as q, NewMail};
use crate::store::requests::Request;
use crate::store::types::Audience;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;

/// Staff mails never held by the budget: the daily digest and the summary of held mail.
pub const UNBUDGETED: &[&str] = &["digest", "staff_summary"];

/// Everything needed to queue mail.
pub struct Mailer<'a> {
    /// Compiled templates.
    pub templates: &'a Templates,
    /// Message builder.
    pub composer: &'a Composer,
    /// Replies to one consumer address per 24 hours, at most.
    pub per_recipient_per_day: u32,
    /// Consumer replies per hour, at most, overall.
    pub global_per_hour: u32,
    /// Staff mails per hour to one staff address, at most (`staff.max-mails-per-hour`);
    /// above it they are held for the sweeper's summary ([`Mailer::queue_staff`]).
    pub staff_per_hour: u32,
    /// Now.
    pub now: DateTime<Utc>,
}

/// One mail to queue.
pub struct Job<'a, T: Serialize> {
    /// Template name (`acknowledgement`, `escalation`, ...).
    pub template: &'a str,
    /// Preferred language.
    pub lang: &'a str,
    /// Template variables.
    pub data: &'a T,
    /// Recipient.
    pub to: &'a str,
    /// Consumer or staff.
    pub audience: Audience,
    /// Request ID (tag in the subject), if any.
    pub request_id: Option<&'a str>,
    /// Message being answered.
    pub in_reply_to: Option<&'a str>,
    /// Thread references.
    pub references: &'a [String],
    /// Original mail to attach as message/rfc822.
    pub attach: Option<&'a [u8]>,
    /// Reply-To header, when replies should go to a special address.
    pub reply_to: Option<&'a str>,
}

impl<'a, T: Serialize> Job<'a, T> {
    /// A mail to the requester of `r`, in their language, tagged with the request and
    /// answering its opening mail; set `references`, `in_reply_to` or `reply_to` after.
    pub fn to_consumer(template: &'a str, r: &'a Request, data: &'a T) -> Job<'a, T> {
        Job {
            template,
            lang: &r.language,
            data,
            to: &r.requester,
            audience: Audience::Consumer,
            request_id: Some(&r.id),
            in_reply_to: r.origin_message_id.as_deref(),
            references: &[],
            attach: None,
            reply_to: None,
        }
    }
}

/// What happened to a queue attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// Queued with this Message-ID.
    Yes(String),
    /// Not queued: the recipient (or everyone) got too many replies lately.
    RateLimited(String),
}

impl Mailer<'_> {
    /// Renders, composes and queues one mail; consumer mail is subject to the
    /// anti-reflection limits.
    pub fn queue<T: Serialize>(&self, tx: &Connection, job: &Job<T>) -> Result<Queued> {
        self.queue_inner(tx, job, true)
    }

    /// Queues one staff mail to each address of `to` (in their own thread, tagged with the
    /// request when there is one), with the consumer's mail attached when given.
    ///
    /// Staff mail has a budget: when a staff address got [`Mailer::staff_per_hour`] mails
    /// in the last hour, the mail is not queued but held (`staff_held`, with the subject it
    /// would have had), and the sweeper mails everything held as one `staff_summary`, at
    /// most once an hour. Nothing is lost: the request stays recorded and flagged, and the
    /// daily digest lists it. The digest and the summary themselves are never held.
    pub fn queue_staff<T: Serialize>(
        &self,
        tx: &Connection,
        to: &[String],
        template: &str,
        data: &T,
        request_id: Option<&str>,
        attach: Option<&[u8]>,
    ) -> Result<()> {
        if !UNBUDGETED.contains(&template) && self.staff_budget_spent(tx, to)? {
            let rendered = self
                .templates
                .render(template, "en", data)
                .with_context(|| format!("Cannot render template `{template}`"))?;
            // The summary shows the request ID beside it: no tag twice.
            let subject = match request_id {
                Some(id) => rendered
                    .subject
                    .replacen(&format!("[{id}]"), "", 1)
                    .trim()
                    .to_string(),
                None => rendered.subject,
            };
            q::hold_staff(tx, &clock::fmt(self.now), request_id, template, &subject)?;
            tracing::info!(
                request = request_id.unwrap_or(""),
                purpose = template,
                "Staff mail held: the hourly budget is spent (it goes into the summary)"
            );
            return Ok(());
        }
        for staff in to {
            self.queue(
                tx,
                &Job {
                    template,
                    lang: "en",
                    data,
                    to: staff,
                    audience: Audience::Staff,
                    request_id,
                    in_reply_to: None,
                    references: &[],
                    attach,
                    reply_to: None,
                },
            )?;
        }
        Ok(())
    }

    /// True when some address of `to` already got [`Mailer::staff_per_hour`] staff mails
    /// in the last hour.
    fn staff_budget_spent(&self, tx: &Connection, to: &[String]) -> Result<bool> {
        let hour_ago = clock::fmt(self.now - Duration::hours(1));
        for staff in to {
            if q::count_staff_to_since(tx, staff, &hour_ago)? >= i64::from(self.staff_per_hour) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Queues a mail a person decided to send (a staff action's notice to the consumer):
    /// no anti-reflection limit applies, since no incoming mail triggered it.
    pub fn queue_notice<T: Serialize>(&self, tx: &Connection, job: &Job<T>) -> Result<String> {
        match self.queue_inner(tx, job, false)? {
            Queued::Yes(id) => Ok(id),
            Queued::RateLimited(why) => Err(anyhow::anyhow!("Unexpected rate limit: {why}")),
        }
    }

    fn queue_inner<T: Serialize>(
        &self,
        tx: &Connection,
        job: &Job<T>,
        limited: bool,
    ) -> Result<Queued> {
        if limited && job.audience == Audience::Consumer {
            let day_ago = clock::fmt(self.now - Duration::hours(24));
            let to_them = q::count_to_since(tx, job.to, &day_ago)?;
            if to_them >= i64::from(self.per_recipient_per_day) {
                return Ok(Queued::RateLimited(format!(
                    "{to_them} replies to this address in the last 24 hours (limit {})",
                    self.per_recipient_per_day
                )));
            }
            let hour_ago = clock::fmt(self.now - Duration::hours(1));
            let all = q::count_consumer_since(tx, &hour_ago)?;
            if all >= i64::from(self.global_per_hour) {
                return Ok(Queued::RateLimited(format!(
                    "{all} consumer replies in the last hour (global limit {})",
                    self.global_per_hour
                )));
            }
        }
        let mut rendered = self
            .templates
            .render(job.template, job.lang, job.data)
            .with_context(|| format!("Cannot render template `{}`", job.template))?;
        // Staff mail about a request carries its staff token, so that a command given by
        // replying proves it comes from someone who received this mail.
        let mut reply_to = job.reply_to.map(str::to_string);
        if let (true, Some(id)) = (job.audience == Audience::Staff, job.request_id) {
            let t = staff_token::derive(&crate::store::secrets::staff_key(tx)?, id);
            rendered.subject = format!("{} ({})", rendered.subject, staff_token::tagged(&t));
            if reply_to.is_none() {
                reply_to = crate::address::plus_address(
                    &self.composer.from_address(),
                    &format!("{}{t}", staff_token::MARKER),
                );
            }
        }
        let message_id = self
            .composer
            .new_message_id(job.request_id.unwrap_or(job.template));
        let raw = self.composer.build(
            &message_id,
            &Outgoing {
                to: job.to,
                rendered: &rendered,
                tag: job.request_id,
                in_reply_to: job.in_reply_to,
                references: job.references,
                auto: if job.audience == Audience::Consumer {
                    AutoKind::Replied
                } else {
                    AutoKind::Generated
                },
                attach_rfc822: job.attach,
                reply_to: reply_to.as_deref(),
            },
        )?;
        q::enqueue(
            tx,
            &NewMail {
                message_id: message_id.clone(),
                request_id: job.request_id.map(str::to_string),
                purpose: job.template.to_string(),
                audience: job.audience,
                recipient: job.to.to_string(),
                raw,
            },
            &clock::fmt(self.now),
        )?;
        Ok(Queued::Yes(message_id))
    }
}
