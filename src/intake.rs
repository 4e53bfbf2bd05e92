//! Intake: decides what each fetched mail is and records the decision, in one transaction
//! per batch together with the requests it opens and the replies it queues.
//!
//! Per mail: duplicate? → our own copy coming back? → parseable? → machine-made? →
//! part of an existing request's thread? → classify → open a request and queue the
//! acknowledgement (handle) or the staff escalation (escalate), or record it (ignore).

use crate::classify::{Action, Classification, Classifier};
use crate::clock;
use crate::config::Settings;
use crate::imap::Fetched;
use crate::kind::Kind;
use crate::mail::auth::AuthVerdict;
use crate::mail::confirm::{self, ReplyIntent};
use crate::mail::keys;
use crate::mail::{self, Inbound};
use crate::outbound::queue::{Job, Mailer, Queued};
use crate::request::calendar::BusinessCalendar;
use crate::request::deadlines::{compute_deadlines, Jurisdiction};
use crate::request::lifecycle::Transition;
use crate::request::{law, staff_token, token};
use crate::staff::command::{self, Parsed};
use crate::store::inbox::{self, Cursor, InboxRow};
use crate::store::{add_event, requests, transitions, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

pub use crate::mail::keys::{message_key, subject_tag};

/// What intake needs besides the store.
pub struct Intake<'a> {
    /// Settings.
    pub settings: &'a Settings,
    /// The classifier.
    pub classifier: &'a Classifier,
    /// Outbox access.
    pub mailer: Mailer<'a>,
    /// The business calendar.
    pub calendar: &'a BusinessCalendar,
    /// The account directory, when one is configured.
    pub accounts: Option<&'a crate::accounts::Directory>,
}

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

/// Escalation mails to staff about one sender's requests in 24 hours, at most: a flood of
/// ambiguous mail from one address must not bury staff's inbox (the requests are still
/// recorded, flagged and listed in the daily digest).
pub const STAFF_ALERTS_PER_SENDER_PER_DAY: i64 = 10;

/// Parses a mail with a panic guard: a bug in a dependency must not take the daemon down.
pub fn parse_isolated(raw: &[u8]) -> Result<Inbound> {
    match std::panic::catch_unwind(|| mail::parse(raw)) {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("The mail parser panicked on this message")),
    }
}

impl Intake<'_> {
    /// Records a batch of fetched mails and advances the cursor, in one transaction.
    pub fn record_batch(
        &self,
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
            tx.execute_batch("SAVEPOINT one_mail")
                .context("Cannot open a savepoint")?;
            let mut one = BatchStats::default();
            let row = match self.decide(&tx, mailbox, uidvalidity, f, &mut one) {
                Ok(row) => {
                    tx.execute_batch("RELEASE one_mail")
                        .context("Cannot release a savepoint")?;
                    stats.add(one);
                    row
                }
                Err(e) => {
                    tx.execute_batch("ROLLBACK TO one_mail; RELEASE one_mail")
                        .context("Cannot roll back one mail")?;
                    tracing::error!(
                        uid = f.uid,
                        mailbox,
                        error = %format!("{e:#}"),
                        "Cannot process one mail: it is quarantined and staff are told"
                    );
                    stats.quarantined += 1;
                    self.set_aside(&tx, mailbox, uidvalidity, f, &e)?
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

    /// The record of a mail that could not be processed: quarantined with the reason, and
    /// staff told when the notice itself can be queued.
    fn set_aside(
        &self,
        tx: &Connection,
        mailbox: &str,
        uidvalidity: u32,
        f: &Fetched,
        e: &anyhow::Error,
    ) -> Result<InboxRow> {
        let mut row = self.base_row(mailbox, uidvalidity, f);
        if let Ok(mail) = parse_isolated(&f.raw) {
            row.message_id = mail.message_id.clone();
            row.sender = clean_line(mail.from.as_deref().unwrap_or(""), 320);
            row.subject = clean_line(&mail.subject, 500);
            row.fingerprint = keys::fingerprint(&mail);
        }
        row.message_key = keys::message_key(row.message_id.as_deref(), &f.raw);
        row.disposition = "quarantined".into();
        row.reason = format!("Processing failed: {e:#}");
        row.move_to = self.settings.imap.quarantine_mailbox.clone();
        tx.execute_batch("SAVEPOINT notice")?;
        match self.notify_quarantine(tx, &row, &f.raw) {
            Ok(()) => tx.execute_batch("RELEASE notice")?,
            Err(n) => {
                tx.execute_batch("ROLLBACK TO notice; RELEASE notice")?;
                tracing::error!(uid = f.uid, error = %format!("{n:#}"), "Cannot queue the quarantine notice");
            }
        }
        Ok(row)
    }

    fn base_row(&self, mailbox: &str, uidvalidity: u32, f: &Fetched) -> InboxRow {
        let now = self.mailer.now;
        InboxRow {
            mailbox: mailbox.to_string(),
            uidvalidity,
            uid: f.uid,
            internal_date: clock::fmt(f.internal_date.unwrap_or(now)),
            fetched_at: clock::fmt(now),
            size: u64::from(f.size),
            raw: Some(f.raw.clone()),
            move_to: self.settings.imap.processed_mailbox.clone(),
            ..InboxRow::default()
        }
    }

    /// True for a copy of our kind of mail (our From, our Message-ID domain, marked
    /// automatic) that this store never sent: a second bot with another store is sending as us.
    fn foreign_copy(&self, tx: &Connection, mail: &Inbound, id: &str) -> Result<bool> {
        let s = &self.settings.smtp;
        Ok(
            keys::looks_like_ours(mail, id, &s.from_address, &s.message_id_domain)
                && crate::store::outbox::by_message_id(tx, id)?.is_none(),
        )
    }

    /// Logs a copy from another instance as an error; staff are told once.
    fn other_instance(&self, tx: &Connection, mail: &Inbound, id: &str) -> Result<()> {
        tracing::error!(
            message_id = %id,
            store = %self.settings.store_path.display(),
            "A copy of a mail this store did not send: another privacy-inbox with a different \
             store answers this mailbox; consumers may get every reply twice"
        );
        if !crate::store::note_once(tx, "", "other_instance", &clock::fmt(self.mailer.now))? {
            return Ok(());
        }
        let data = serde_json::json!({
            "message_id": clean_line(id, 200),
            "subject": clean_line(&mail.subject, 200),
            "store": self.settings.store_path.display().to_string(),
            "team": team_name(&self.settings.smtp.from),
        });
        self.mailer.queue_staff(
            tx,
            &self.settings.staff.escalation_to,
            "other_instance",
            &data,
            None,
            None,
        )
    }

    /// What our own receiving server's `Authentication-Results` say of this mail.
    fn auth(&self, mail: &Inbound) -> AuthVerdict {
        mail::auth::verdict(&mail.headers, self.settings.imap.authserv_id.as_deref())
    }

    fn decide(
        &self,
        tx: &Connection,
        mailbox: &str,
        uidvalidity: u32,
        f: &Fetched,
        stats: &mut BatchStats,
    ) -> Result<InboxRow> {
        let now = self.mailer.now;
        let received = f.internal_date.unwrap_or(now);
        let s = &self.settings.imap;
        let mut row = self.base_row(mailbox, uidvalidity, f);

        if f.header_only {
            row.message_key = message_key(None, &f.raw);
            row.disposition = "quarantined".into();
            row.reason = format!(
                "{} bytes is over the {} byte limit (imap.max-message-bytes); only the header was kept",
                f.size, s.max_message_bytes
            );
            row.move_to = s.quarantine_mailbox.clone();
            self.notify_quarantine(tx, &row, &f.raw)?;
            stats.quarantined += 1;
            return Ok(row);
        }

        let parsed = parse_isolated(&f.raw);
        let mail = match parsed {
            Ok(m) => m,
            Err(e) => {
                row.message_key = message_key(None, &f.raw);
                row.disposition = "quarantined".into();
                row.reason = format!("Cannot parse: {e:#}");
                row.move_to = s.quarantine_mailbox.clone();
                self.notify_quarantine(tx, &row, &f.raw)?;
                stats.quarantined += 1;
                return Ok(row);
            }
        };
        row.message_key = message_key(mail.message_id.as_deref(), &f.raw);
        row.message_id = mail.message_id.clone();
        row.sender = clean_line(mail.from.as_deref().unwrap_or(""), 320);
        row.subject = clean_line(&mail.subject, 500);
        row.fingerprint = keys::fingerprint(&mail);

        // The same Message-ID from another sender or with other content is another mail
        // (web forms and broken mailers reuse IDs; an attacker could send first).
        if inbox::seen(tx, &row.message_key, &row.fingerprint)? {
            row.disposition = "duplicate".into();
            row.reason = "Already recorded: same Message-ID, sender, subject and body".into();
            row.raw = None;
            stats.duplicates += 1;
            return Ok(row);
        }
        if let Some(id) = &mail.message_id {
            if crate::store::outbox::confirm_by_message_id(tx, id, &clock::fmt(now))? {
                row.disposition = "own_copy".into();
                row.reason = "Our own copy of a mail we sent".into();
                row.request_id = inbox::request_for_message_id(tx, id)?;
                stats.own_copies += 1;
                return Ok(row);
            }
        }
        if let Some(id) = &mail.message_id {
            if self.foreign_copy(tx, &mail, id)? {
                row.disposition = "foreign_copy".into();
                row.reason = "A copy of a mail this store did not send: another privacy-inbox \
                     with a different store answers this mailbox"
                    .into();
                self.other_instance(tx, &mail, id)?;
                stats.ignored += 1;
                return Ok(row);
            }
        }
        if let Some(why) = mail::triage::automated(&mail) {
            // Never answered; but a report that one of our mails bounced is recorded on its
            // request and, when delivery failed for good, escalated.
            let bounce = crate::outbound::failure::record_bounce(
                tx,
                &self.mailer,
                self.settings,
                &clock::fmt(now),
                &f.raw,
            )?;
            if let Some(b) = bounce {
                row.disposition = "bounce".into();
                row.reason = b.reason;
                row.request_id = b.request_id;
            } else {
                row.disposition = "ignored".into();
                row.reason = format!("Machine-made: {why}");
            }
            stats.ignored += 1;
            return Ok(row);
        }
        let Some(sender) = mail.from.clone() else {
            row.disposition = "quarantined".into();
            row.reason = "No usable From address".into();
            row.move_to = s.quarantine_mailbox.clone();
            self.notify_quarantine(tx, &row, &f.raw)?;
            stats.quarantined += 1;
            return Ok(row);
        };

        if let Some(request_id) = self.thread_of(tx, &mail)? {
            row.request_id = Some(request_id.clone());
            row.disposition = "reply".into();
            add_event(
                tx,
                &request_id,
                &clock::fmt(now),
                "mail_in",
                &sender,
                &format!("Reply received: {}", row.subject),
            )?;
            row.reason = self.handle_reply(tx, &mail, &request_id, &sender, &f.raw)?;
            stats.replies += 1;
            return Ok(row);
        }

        if self.is_staff(&sender) {
            // Staff write to the bot only in a request's thread; anything else is theirs
            // (a reply to a digest, a test mail), never a consumer request.
            row.disposition = "staff".into();
            row.reason = if self.refuse_unthreaded(tx, &mail, &sender)? {
                "Staff command outside any request thread: refused, no request to act on".into()
            } else {
                "Staff mail outside any request thread (recorded, not a request)".into()
            };
            stats.ignored += 1;
            return Ok(row);
        }

        let mut c = self.classifier.classify(&mail);
        // A first mail whose From failed SPF/DKIM/DMARC is not answered: an acknowledgement
        // (with its verification code) to a forged From would make us a spam reflector.
        if c.action == Action::Handle {
            if let Some(why) = self.auth(&mail).failure {
                c.action = Action::Escalate;
                c.reasons.push(format!("{SPOOFING}: {why}"));
            }
        }
        // An address our mail library cannot write to (`a..b@`, a 70-character local part)
        // gets no acknowledgement: a person decides how to answer.
        if c.action == Action::Handle {
            if let Err(why) = self.mailer.composer.check_recipient(&sender) {
                c.action = Action::Escalate;
                c.reasons.push(format!("{UNREPLYABLE}: {why}"));
            }
        }
        row.classification = serde_json::to_string(&c).unwrap_or_default();
        match c.action {
            Action::Ignore => {
                row.disposition = "ignored".into();
                row.reason = format!("Classifier: {}", c.reasons.join("; "));
                stats.ignored += 1;
            }
            Action::Handle | Action::Escalate => {
                // One request per need: the same person asking again for what an open
                // request of theirs already covers is a follow-up on it, not a new request
                // with its own clock and code. (Not for agents: one agent, many consumers.)
                if let Some(open) = self.covering_request(tx, &sender, &c)? {
                    row.request_id = Some(open.id.clone());
                    row.disposition = "follow_up".into();
                    row.reason = self.follow_up(tx, &open, &mail, &sender, &c, &f.raw)?;
                    stats.replies += 1;
                    return Ok(row);
                }
                let escalate = c.action == Action::Escalate;
                let id = self.open_request(tx, &mail, &sender, received, &c, &f.raw)?;
                row.request_id = Some(id);
                if escalate {
                    row.disposition = "escalated".into();
                    row.reason = format!("Sent to staff: {}", escalation_reason(&c));
                    stats.escalated += 1;
                } else {
                    row.disposition = "request".into();
                    row.reason = "Request opened and acknowledged".into();
                    stats.requests += 1;
                }
            }
        }
        Ok(row)
    }

    /// How many access requests the requester of `r` made in the 12 months before now, `r`
    /// included; 0 when `r` asks for no access. (CCPA: a business may decline more than two
    /// in 12 months; GDPR: manifestly excessive repeats may be refused or charged. Staff
    /// decide; the bot informs.)
    fn access_requests_12m(&self, tx: &Connection, r: &requests::Request) -> Result<usize> {
        if !r.kinds.contains(&Kind::Access) {
            return Ok(0);
        }
        let since = clock::fmt(self.mailer.now - chrono::Duration::days(365));
        Ok(
            requests::of_person(tx, &crate::address::base_address(&r.requester), false)?
                .iter()
                .filter(|o| o.kinds.contains(&Kind::Access) && o.received_at >= since)
                .count(),
        )
    }

    /// An open request of the sender's (same mailbox) whose kinds cover every kind `c` asks
    /// for, when there is one.
    fn covering_request(
        &self,
        tx: &Connection,
        sender: &str,
        c: &Classification,
    ) -> Result<Option<requests::Request>> {
        if c.kinds.is_empty() || c.agent {
            return Ok(None);
        }
        let base = crate::address::base_address(sender);
        Ok(requests::of_person(tx, &base, true)?
            .into_iter()
            .find(|r| c.kinds.iter().all(|k| r.kinds.contains(k))))
    }

    /// Links a new mail to the open request it repeats: an event in its timeline, a short
    /// note to the consumer in the request's thread, and staff told when it needs a person.
    fn follow_up(
        &self,
        tx: &Connection,
        r: &requests::Request,
        mail: &Inbound,
        sender: &str,
        c: &Classification,
        raw: &[u8],
    ) -> Result<String> {
        let now_s = clock::fmt(self.mailer.now);
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
        let facts = self.facts(r);
        let mut refs: Vec<String> = r.origin_message_id.iter().cloned().collect();
        refs.extend(mail.reply_references());
        let queued = self.mailer.queue(
            tx,
            &Job {
                template: "follow_up",
                lang: &r.language,
                data: &facts,
                to: sender,
                audience: "consumer",
                request_id: Some(&r.id),
                in_reply_to: mail.message_id.as_deref(),
                references: &refs,
                attach: None,
                reply_to: None,
            },
        )?;
        if let Queued::RateLimited(why) = queued {
            add_event(tx, &r.id, &now_s, "reply_suppressed", "bot", &why)?;
        }
        if c.action == Action::Escalate || c.question {
            let why = format!(
                "The consumer writes again about this open request: {}",
                escalation_reason(c)
            );
            self.escalate(tx, r, &why, c, &mail.new_text, raw)?;
            return Ok(format!("Follow-up on {}: {why}", r.id));
        }
        Ok(format!(
            "Follow-up on open request {} (same person, kinds already covered): linked, the consumer told",
            r.id
        ))
    }

    /// The request an incoming mail continues, by its references or its subject tag (the tag
    /// counts only when the sender is the requester or staff: anyone can type a tag).
    fn thread_of(&self, tx: &Connection, mail: &Inbound) -> Result<Option<String>> {
        for id in mail.in_reply_to.iter().chain(mail.references.iter()) {
            if let Some(r) = inbox::request_for_message_id(tx, id)? {
                return Ok(Some(r));
            }
        }
        if let Some(tag) = subject_tag(&mail.subject) {
            if let Some(r) = requests::get(tx, &tag)? {
                let from = mail.from.as_deref().map(crate::address::base_address);
                if from.as_deref() == Some(crate::address::base_address(&r.requester).as_str())
                    || mail.from.as_deref().is_some_and(|f| self.is_staff(f))
                {
                    return Ok(Some(r.id));
                }
            }
        }
        Ok(None)
    }

    fn open_request(
        &self,
        tx: &Connection,
        mail: &Inbound,
        sender: &str,
        received: DateTime<Utc>,
        c: &Classification,
        raw: &[u8],
    ) -> Result<String> {
        let now = self.mailer.now;
        let now_s = clock::fmt(now);
        let year = chrono::Datelike::year(&received.with_timezone(&self.settings.clock.timezone));
        let id = requests::next_id(tx, year)?;
        let default: Jurisdiction = self
            .settings
            .clock
            .jurisdiction
            .parse()
            .unwrap_or(Jurisdiction::Ccpa);
        // A mail without a recognised kind is held to the longest ordinary clock until
        // staff decide what it is.
        let clock_kinds: Vec<Kind> = if c.kinds.is_empty() {
            vec![Kind::Access]
        } else {
            c.kinds.clone()
        };
        // The law the mail cites sets the clock; nothing cited, the configured default.
        let (jurisdiction, law_reason) = law::choose(
            &law::cited(&format!("{}\n{}", mail.subject, mail.new_text)),
            default,
            &clock_kinds,
            received,
            self.calendar,
        );
        let d = compute_deadlines(&clock_kinds, received, jurisdiction, self.calendar)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let escalate = c.action == Action::Escalate;
        let req = requests::Request {
            id: id.clone(),
            status: "received".into(),
            kinds: c.kinds.clone(),
            requester: sender.to_string(),
            requester_name: clean_line(mail.from_name.as_deref().unwrap_or(""), 100),
            language: c.language.clone(),
            jurisdiction: jurisdiction.as_str().to_string(),
            received_at: clock::fmt(received),
            confirm_by: d.confirm_by.map(clock::fmt),
            due_at: clock::fmt(d.respond_by),
            extended_due_at: d.extended_respond_by.map(clock::fmt),
            extended: false,
            escalated: escalate,
            escalation_reason: if escalate {
                escalation_reason(c)
            } else {
                String::new()
            },
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
        let refs = mail.reply_references();
        if escalate {
            self.escalate(tx, &req, &escalation_reason(c), c, &mail.new_text, raw)?;
        } else {
            let needs_verification = req.kinds.iter().any(|k| !k.is_opt_out());
            let token = needs_verification.then(token::new_token);
            let mut facts = self.facts(&req);
            facts.verify_tag = token.as_deref().map(token::tagged).unwrap_or_default();
            facts.ask_account = needs_verification && self.account_on_file(sender).is_some();
            let reply_to = token
                .as_deref()
                .and_then(|t| token::plus_address(&self.settings.smtp.from_address, t));
            let queued = self.mailer.queue(
                tx,
                &Job {
                    template: "acknowledgement",
                    lang: &c.language,
                    data: &facts,
                    to: sender,
                    audience: "consumer",
                    request_id: Some(&id),
                    in_reply_to: mail.message_id.as_deref(),
                    references: &refs,
                    attach: None,
                    reply_to: reply_to.as_deref(),
                },
            )?;
            match queued {
                Queued::Yes(mid) => {
                    let mut r = req.clone();
                    transitions::apply(
                        tx,
                        &mut r,
                        &Transition::Acknowledge,
                        "bot",
                        &format!("Acknowledgement queued as <{mid}>"),
                        now,
                    )?;
                    if let Some(t) = &token {
                        requests::set_token_hash(tx, &id, Some(&token::hash_token(t)))?;
                    }
                    if needs_verification {
                        transitions::apply(
                            tx,
                            &mut r,
                            &Transition::RequestVerification,
                            "bot",
                            "Token sent with the acknowledgement",
                            now,
                        )?;
                    } else {
                        // Opt-outs never need verification (CCPA §7060(b)): straight to staff.
                        self.escalate(
                            tx,
                            &r,
                            "Ready to action: an opt-out, no verification needed",
                            c,
                            &mail.new_text,
                            raw,
                        )?;
                    }
                }
                Queued::RateLimited(why) => {
                    add_event(tx, &id, &now_s, "reply_suppressed", "bot", &why)?;
                    // The request still stands and its clock runs: a person decides whether
                    // and how to answer (staff mail is itself capped per sender).
                    self.escalate(
                        tx,
                        &req,
                        &format!("Not acknowledged, reply limit reached: {why}"),
                        c,
                        &mail.new_text,
                        raw,
                    )?;
                }
            }
        }
        Ok(id)
    }

    /// Flags a request as escalated and mails staff, with the mail that caused it attached.
    fn escalate(
        &self,
        tx: &Connection,
        req: &requests::Request,
        reason: &str,
        c: &Classification,
        new_text: &str,
        raw: &[u8],
    ) -> Result<()> {
        let now_s = clock::fmt(self.mailer.now);
        let mut r = requests::get(tx, &req.id)?.unwrap_or_else(|| req.clone());
        r.escalated = true;
        r.escalation_reason = reason.to_string();
        r.updated_at = now_s.clone();
        requests::update(tx, &r)?;
        let facts = self.staff_facts(&r);
        let data = EscalationData {
            facts: &facts,
            reason: reason.to_string(),
            confidence: format!("{:.2}", c.confidence),
            reasons: c.reasons.clone(),
            excerpt: excerpt(new_text, 1500),
            access_requests_12m: self.access_requests_12m(tx, &r)?,
        };
        // One sender cannot flood staff either: past the cap, the request is still flagged
        // and listed in the daily digest, but no mail goes out for it.
        let day_ago = clock::fmt(self.mailer.now - chrono::Duration::hours(24));
        let recent = requests::escalations_of_person_since(
            tx,
            &crate::address::base_address(&r.requester),
            &day_ago,
        )?;
        if recent >= STAFF_ALERTS_PER_SENDER_PER_DAY {
            add_event(
                tx,
                &r.id,
                &now_s,
                "escalated",
                "bot",
                &format!(
                    "{reason} (no mail to staff: {recent} escalations from this sender in 24 hours; \
                     it is in the daily digest)"
                ),
            )?;
            return Ok(());
        }
        let attach = (raw.len() <= 5 * 1024 * 1024).then_some(raw);
        self.mailer.queue_staff(
            tx,
            &self.settings.staff.escalation_to,
            "escalation",
            &data,
            Some(&r.id),
            attach,
        )?;
        add_event(tx, &r.id, &now_s, "escalated", "bot", reason)?;
        Ok(())
    }

    /// A mail on an existing request's thread: verification, or something for staff.
    /// Returns what was done, in words.
    fn handle_reply(
        &self,
        tx: &Connection,
        mail: &Inbound,
        request_id: &str,
        sender: &str,
        raw: &[u8],
    ) -> Result<String> {
        let Some(mut r) = requests::get(tx, request_id)? else {
            return Ok("Reply to an unknown request".into());
        };
        let c = self.classifier.classify(mail);
        if self.is_staff(sender) {
            // A staff address in From proves nothing by itself: a command must also carry
            // this request's staff token and not be failed by our own server.
            if let Err(why) = self.staff_proof(tx, mail, request_id)? {
                if matches!(
                    command::parse(command::first_line(&mail.new_text)),
                    Parsed::NotACommand
                ) {
                    return Ok(format!(
                        "Mail from a staff address, not proven ({why}): recorded only"
                    ));
                }
                let why =
                    format!("A staff command that does not prove who sent it: refused. {why}");
                add_event(
                    tx,
                    request_id,
                    &clock::fmt(self.mailer.now),
                    "staff_command_refused",
                    sender,
                    &format!(
                        "{}: {why}",
                        clean_line(command::first_line(&mail.new_text), 200)
                    ),
                )?;
                self.escalate(tx, &r, &why, &c, &mail.new_text, raw)?;
                return Ok(why);
            }
            return self.staff_mail(tx, mail, request_id, sender);
        }
        let attempt = command::parse(command::first_line(&mail.new_text));
        if matches!(attempt, Parsed::Ok(_) | Parsed::Invalid { .. }) {
            let why = format!(
                "A staff command from a non-staff address ({}): refused",
                crate::address::mask(sender)
            );
            add_event(
                tx,
                request_id,
                &clock::fmt(self.mailer.now),
                "staff_command_refused",
                sender,
                command::first_line(&mail.new_text),
            )?;
            self.escalate(tx, &r, &why, &c, &mail.new_text, raw)?;
            return Ok(why);
        }
        let same_sender =
            crate::address::base_address(sender) == crate::address::base_address(&r.requester);
        let auth_failure = self.auth(mail).failure;
        // "I did not send this" from the requester's own address, whatever else the reply
        // carries (the code, a kind): nothing more happens automatically.
        if same_sender && auth_failure.is_none() {
            if let ReplyIntent::Disavows(phrase) = confirm::reply_intent(&mail.new_text) {
                return self.disavowed(tx, &r, &phrase, &c, mail, raw);
            }
        }
        if r.status == "awaiting_verification" {
            let haystack = format!(
                "{}\n{}\n{}\n{}",
                mail.subject,
                mail.to.join(" "),
                mail.new_text,
                mail.quoted_text
            );
            let presented = token::find_token(&haystack);
            let stored = requests::token_hash(tx, request_id)?;
            let valid =
                matches!((&presented, &stored), (Some(p), Some(h)) if token::verify_token(p, h));
            let account_ok = match self.account_on_file(&r.requester) {
                Some(expected) => crate::accounts::Directory::matches(expected, &mail.new_text),
                None => true,
            };
            let problem = if !same_sender {
                Some(format!(
                    "Verification reply from another address ({})",
                    crate::address::mask(sender)
                ))
            } else if let Some(why) = auth_failure {
                Some(format!("Suspected spoofing: {why}"))
            } else if !valid {
                Some("Reply without a valid verification token".to_string())
            } else if !account_ok {
                Some(
                    "The account number in the reply does not match the account directory"
                        .to_string(),
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                self.escalate(tx, &r, &problem, &c, &mail.new_text, raw)?;
                return Ok(format!("Not verified: {problem}"));
            }
            // An auto-responder that echoes our subject (and so the code) confirms nothing.
            if let ReplyIntent::Machine(phrase) = confirm::reply_intent(&mail.new_text) {
                let why = format!(
                    "Not verified: an automatic reply (\"{}\"), not a confirmation; the code stays valid",
                    clean_line(&phrase, 80)
                );
                add_event(
                    tx,
                    request_id,
                    &clock::fmt(self.mailer.now),
                    "verification_ignored",
                    sender,
                    &why,
                )?;
                return Ok(why);
            }
            transitions::apply(
                tx,
                &mut r,
                &Transition::Verify,
                sender,
                "Verified by email: reply from the requester's address with the token",
                self.mailer.now,
            )?;
            // Single use: the token is gone once it has served.
            requests::set_token_hash(tx, request_id, None)?;
            let facts = self.facts(&r);
            let refs = mail.reply_references();
            self.mailer.queue(
                tx,
                &Job {
                    template: "verified",
                    lang: &r.language,
                    data: &facts,
                    to: &r.requester,
                    audience: "consumer",
                    request_id: Some(request_id),
                    in_reply_to: mail.message_id.as_deref(),
                    references: &refs,
                    attach: None,
                    reply_to: None,
                },
            )?;
            if c.question {
                self.escalate(
                    tx,
                    &r,
                    "Verified; the consumer also asks a question",
                    &c,
                    &mail.new_text,
                    raw,
                )?;
            } else {
                self.escalate(tx, &r, "Verified: ready to action", &c, &mail.new_text, raw)?;
            }
            return Ok("Verified".into());
        }
        let closed = requests::CLOSED_STATUSES.contains(&r.status.as_str());
        if !same_sender || auth_failure.is_some() || c.question || !c.kinds.is_empty() || closed {
            let why = if !same_sender {
                "Mail on the thread from another address".to_string()
            } else if let Some(a) = auth_failure {
                format!("Suspected spoofing: {a}")
            } else if closed {
                format!(
                    "The consumer writes again about this {} request: a follow-up for a person",
                    r.status.replace('_', " ")
                )
            } else if c.question {
                "The consumer asks a question in the thread".to_string()
            } else {
                "The consumer writes again about the request".to_string()
            };
            self.escalate(tx, &r, &why, &c, &mail.new_text, raw)?;
            return Ok(format!("Sent to staff: {why}"));
        }
        Ok("Reply recorded on the request".into())
    }

    /// The requester says they did not make the request: the code is void, no reminder will
    /// carry a new one, and staff are told it may be fraud.
    fn disavowed(
        &self,
        tx: &Connection,
        r: &requests::Request,
        phrase: &str,
        c: &Classification,
        mail: &Inbound,
        raw: &[u8],
    ) -> Result<String> {
        let now_s = clock::fmt(self.mailer.now);
        requests::set_token_hash(tx, &r.id, None)?;
        crate::store::note_once(tx, &r.id, "verify_reminder", &now_s)?;
        let phrase = clean_line(phrase, 80);
        add_event(
            tx,
            &r.id,
            &now_s,
            "disavowed",
            &r.requester,
            &format!("The requester's reply says they did not make this request (\"{phrase}\")"),
        )?;
        let why = format!(
            "Possible fraud: the requester says they did not make this request (\"{phrase}\"); \
             not verified, its code is void"
        );
        self.escalate(tx, r, &why, c, &mail.new_text, raw)?;
        Ok(why)
    }

    /// `Ok(Err(why))` unless a mail from a staff address proves it comes from staff: it carries
    /// the request's staff token (in a recipient address or the subject, where replying to
    /// our staff mail puts it) and our own server did not fail its authentication (nor, with
    /// an authserv-id configured, leave it without a verdict).
    fn staff_proof(
        &self,
        tx: &Connection,
        mail: &Inbound,
        request_id: &str,
    ) -> Result<std::result::Result<(), String>> {
        let auth = self.auth(mail);
        if let Some(why) = auth.failure {
            return Ok(Err(format!("Suspected spoofing of a staff address: {why}")));
        }
        if let Some(id) = &self.settings.imap.authserv_id {
            if !auth.from_our_server {
                return Ok(Err(format!(
                    "No Authentication-Results from our server ({id}) on the mail"
                )));
            }
        }
        let key = crate::store::secrets::staff_key(tx)?;
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
        if !staff_token::carried_in(&key, request_id, &carried) {
            return Ok(Err(format!(
                "The mail does not carry the staff token of {request_id}: reply to the bot's \
                 staff mail about it, keeping its subject and recipient, or use \
                 `privacy-inbox requests ...` on the server"
            )));
        }
        Ok(Ok(()))
    }

    /// The account number on file for an address, when a directory is configured.
    pub fn account_on_file(&self, address: &str) -> Option<&str> {
        self.accounts.and_then(|d| d.account_of(address))
    }

    /// The template variables every request mail shares, in the consumer's language.
    pub fn facts(&self, r: &requests::Request) -> RequestFacts {
        self.facts_in(r, &r.language)
    }

    /// The same facts for staff mail (escalation, clock, digest): staff mail is English,
    /// its dates ("November 27, 2026") and kind labels included, whatever the consumer wrote.
    pub fn staff_facts(&self, r: &requests::Request) -> RequestFacts {
        self.facts_in(r, "en")
    }

    /// The facts with dates and kind labels written in `lang`.
    fn facts_in(&self, r: &requests::Request, lang: &str) -> RequestFacts {
        let tz = self.settings.clock.timezone;
        let date = |s: &str| {
            clock::parse(s)
                .map(|t| clock::long_date(t, tz, lang))
                .unwrap_or_else(|_| s.to_string())
        };
        let labels: Vec<String> = r
            .kinds
            .iter()
            .map(|k| self.mailer.templates.kind_label(lang, *k))
            .collect();
        RequestFacts {
            request_id: r.id.clone(),
            requester: r.requester.clone(),
            requester_name: r.requester_name.clone(),
            kinds: r.kinds.iter().map(|k| k.as_str().to_string()).collect(),
            kind_labels: labels,
            received_date: date(&r.received_at),
            due_date: date(
                r.extended_due_at
                    .as_deref()
                    .filter(|_| r.extended)
                    .unwrap_or(&r.due_at),
            ),
            status: r.status.clone(),
            original_subject: r.subject.clone(),
            team: team_name(&self.settings.smtp.from),
            needs_verification: r.kinds.iter().any(|k| !k.is_opt_out()),
            verify_tag: String::new(),
            ask_account: false,
            agent: r.agent,
            law: r.jurisdiction.clone(),
        }
    }

    fn notify_quarantine(&self, tx: &Connection, row: &InboxRow, raw: &[u8]) -> Result<()> {
        let data = QuarantineData {
            reason: row.reason.clone(),
            sender: row.sender.clone(),
            subject: row.subject.clone(),
            size: row.size,
            mailbox: self.settings.imap.quarantine_mailbox.clone(),
            team: team_name(&self.settings.smtp.from),
        };
        // The attachment is capped: a quarantined mail may be huge or hostile.
        let attach = (raw.len() <= 1024 * 1024).then_some(raw);
        self.mailer.queue_staff(
            tx,
            &self.settings.staff.escalation_to,
            "quarantine",
            &data,
            None,
            attach,
        )?;
        Ok(())
    }
}

/// Template variables shared by every request mail.
#[derive(Debug, Clone, Serialize)]
pub struct RequestFacts {
    /// `PRIV-2026-00001`
    pub request_id: String,
    /// The requester's address.
    pub requester: String,
    /// The requester's display name ("" when unknown).
    pub requester_name: String,
    /// Kinds, wire names.
    pub kinds: Vec<String>,
    /// Kinds, in the mail's language.
    pub kind_labels: Vec<String>,
    /// Received, as a date in the business time zone.
    pub received_date: String,
    /// Due, as a date in the business time zone.
    pub due_date: String,
    /// Current status.
    pub status: String,
    /// Subject of the consumer's mail.
    pub original_subject: String,
    /// Our team's name (display name of smtp.from).
    pub team: String,
    /// The request includes a kind that requires identity verification.
    pub needs_verification: bool,
    /// `VERIFY-<token>` to keep in the reply's subject ("" when no verification is asked).
    pub verify_tag: String,
    /// The consumer is asked for their account number too (second data point).
    pub ask_account: bool,
    /// Sent by an authorized agent.
    pub agent: bool,
    /// The law whose clock the request runs on (`ccpa`, `gdpr`).
    pub law: String,
}

#[derive(Serialize)]
struct EscalationData<'a> {
    #[serde(flatten)]
    facts: &'a RequestFacts,
    reason: String,
    confidence: String,
    reasons: Vec<String>,
    excerpt: String,
    /// Access requests from this person in the last 12 months, this one included (0 when
    /// this request is not an access request).
    access_requests_12m: usize,
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

/// Prefix of the classification reason added when a first mail fails authentication.
const SPOOFING: &str = "Suspected spoofing, not answered";

/// Prefix of the classification reason added when the sender's address cannot be written to.
const UNREPLYABLE: &str = "Not answered: the sender's address cannot be replied to";

fn escalation_reason(c: &Classification) -> String {
    if let Some(r) = c
        .reasons
        .iter()
        .find(|r| r.starts_with(SPOOFING) || r.starts_with(UNREPLYABLE))
    {
        r.clone()
    } else if c.agent {
        "Sent by an authorized agent or on someone else's behalf".into()
    } else if c.kinds.is_empty() {
        "Not a recognisable privacy request (question, complaint or other mail)".into()
    } else if c.question {
        "A privacy request that also asks a question".into()
    } else {
        format!("Low confidence ({:.2})", c.confidence)
    }
}

/// The display name of a From header, or the whole value.
pub fn team_name(from: &str) -> String {
    match from.split_once('<') {
        Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"').to_string(),
        _ => from.trim().to_string(),
    }
}

/// The first `max` characters of a text, on a char boundary.
pub fn excerpt(text: &str, max: usize) -> String {
    let t: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        format!("{t}…")
    } else {
        t
    }
}

/// One line of mail text as it may be shown or stored: control characters (CR and LF
/// included) removed, whitespace runs folded to one space, at most `max` characters.
pub fn clean_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut space = false;
    let mut n = 0;
    for c in text.chars() {
        if n >= max {
            break;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_invisible(c) {
            continue;
        }
        if space {
            out.push(' ');
            n += 1;
            space = false;
        }
        out.push(c);
        n += 1;
    }
    out
}

/// Characters that change how text is shown without showing themselves: bidi overrides and
/// isolates, zero-width marks.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned() {
        assert_eq!(clean_line("a\r\nSubject: x", 100), "a Subject: x");
        assert_eq!(clean_line("  a \t b  ", 100), "a b");
        assert_eq!(clean_line("abcdef", 3), "abc");
        assert_eq!(clean_line("x\u{202e}y\u{7}z", 10), "xyz");
    }
}
