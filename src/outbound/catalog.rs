//! The single source of truth for the messages the bot sends: every template name, who gets
//! it and when, and every variable it is rendered with (type, meaning, sample values).
//!
//! `templates check` ([`crate::outbound::template_check`]) renders each template in each
//! language with [`Entry::data`] (a typical sample, an alternative that takes the other side
//! of every `{{#if}}`, and a hostile one for HTML escaping); `templates preview` uses the
//! same samples; `templates/README.md` documents the same list (a unit test keeps them in
//! step). The `*Data` structs below are what the code renders the newer messages with.

pub use crate::outbound::facts::RequestFacts;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

pub use crate::store::types::Audience;

/// One template variable.
#[derive(Debug, Clone)]
pub struct Var {
    /// Its name in the template (`{{request_id}}`).
    pub name: &'static str,
    /// `string`, `bool`, `integer`, `list of strings` or `list of objects`.
    pub ty: &'static str,
    /// What it holds, in one line.
    pub doc: &'static str,
    /// A typical value.
    pub sample: Value,
    /// Another valid value, chosen to take the other branch of `{{#if}}`/`{{#each}}`.
    pub alt: Value,
    /// Free text from outside (the consumer, a sender, staff): the check verifies HTML
    /// bodies escape it.
    pub untrusted: bool,
}

/// One message the bot sends.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Template name: files are `<name>.subject.hbs`, `<name>.txt.hbs`, `<name>.html.hbs`.
    pub name: &'static str,
    /// Who gets it.
    pub audience: Audience,
    /// When it is sent.
    pub when: &'static str,
    /// Its variables.
    pub vars: Vec<Var>,
}

/// Which sample data set to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// Typical values.
    Typical,
    /// Other valid values: flipped booleans, empty optional strings and lists.
    Alternative,
    /// Typical values, with markup and line breaks in every untrusted string.
    Hostile,
}

/// The marker a hostile value of `var` carries; seeing it unescaped in HTML is a problem.
pub fn hostile_marker(var: &str) -> String {
    format!("<x-{var}>")
}

impl Entry {
    /// The variables as a JSON object of sample values.
    pub fn data(&self, which: Sample) -> Value {
        let mut m = Map::new();
        for v in &self.vars {
            let value = match which {
                Sample::Typical => v.sample.clone(),
                Sample::Alternative => v.alt.clone(),
                Sample::Hostile if v.untrusted => Value::String(format!(
                    "{} \"quoted\" 'single' & ampersand\r\nBcc: evil@example.test",
                    hostile_marker(v.name)
                )),
                Sample::Hostile => v.sample.clone(),
            };
            m.insert(v.name.to_string(), value);
        }
        Value::Object(m)
    }

    /// Variable names, comma-separated.
    pub fn var_names(&self) -> String {
        self.vars
            .iter()
            .map(|v| v.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether `name` is one of its variables.
    pub fn has_var(&self, name: &str) -> bool {
        self.vars.iter().any(|v| v.name == name)
    }
}

/// Every message, in the order the README lists them.
pub fn catalog() -> &'static [Entry] {
    static CATALOG: OnceLock<Vec<Entry>> = OnceLock::new();
    CATALOG.get_or_init(build)
}

/// The entry for a template name.
pub fn entry(name: &str) -> Option<&'static Entry> {
    catalog().iter().find(|e| e.name == name)
}

/// Every template name, comma-separated.
pub fn names() -> String {
    catalog()
        .iter()
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn var(name: &'static str, ty: &'static str, doc: &'static str, sample: Value) -> Var {
    Var {
        name,
        ty,
        doc,
        alt: sample.clone(),
        sample,
        untrusted: false,
    }
}

impl Var {
    fn alt(mut self, alt: Value) -> Var {
        self.alt = alt;
        self
    }
    fn untrusted(mut self) -> Var {
        self.untrusted = true;
        self
    }
}

/// The [`RequestFacts`] variables every request mail gets.
pub fn request_facts() -> Vec<Var> {
    vec![
        var("request_id", "string", "The request's reference, e.g. `PRIV-2026-00042`.", json!("PRIV-2026-00042")),
        var("requester", "string", "The requester's email address.", json!("maria@example.test")).untrusted(),
        var("requester_name", "string", "The requester's display name; \"\" when unknown.", json!("María López"))
            .alt(json!(""))
            .untrusted(),
        var("kinds", "list of strings", "The request kinds, wire names (`access`, `delete`, `correct`, `opt_out_sale`, `opt_out_marketing`, `limit_sensitive`).", json!(["access", "delete"]))
            .alt(json!([])),
        var("kind_labels", "list of strings", "The request kinds as readers see them, from the language's `labels.toml`.", json!(["access to (a copy of) your personal information", "deletion of your personal information"]))
            .alt(json!([])),
        var("received_date", "string", "When the request arrived, as a date in the business time zone.", json!("March 3, 2026")),
        var("due_date", "string", "When the answer is due (the extended date after an extension).", json!("April 17, 2026")),
        var("status", "string", "The request's status (`acknowledged`, `awaiting_verification`, `verified`, `completed`, `denied`, `closed_unverifiable`, ...).", json!("awaiting_verification"))
            .alt(json!("acknowledged")),
        var("status_text", "string", "The status in words, for staff mail (\"waiting for the consumer to confirm\").", json!("waiting for the consumer to confirm"))
            .alt(json!("acknowledged")),
        var("original_subject", "string", "The subject of the consumer's first mail.", json!("Please delete my data")).untrusted(),
        var("team", "string", "Our team's name (the display name of `smtp.from`).", json!("Acme Privacy Team")),
        var("needs_verification", "bool", "The request includes a kind that needs identity verification (access, delete, correct).", json!(true))
            .alt(json!(false)),
        var("verify_tag", "string", "`VERIFY-<code>` the consumer keeps in the subject of their reply; \"\" when no verification is asked.", json!("VERIFY-3f2a9c41d07e5b8a6c1d2e3f4a5b6c7d8e9f0a1b"))
            .alt(json!("")),
        var("ask_account", "bool", "The consumer is also asked for their account number (second data point).", json!(true))
            .alt(json!(false)),
        var("agent", "bool", "The request was sent by an authorized agent for someone else.", json!(false))
            .alt(json!(true)),
        var("law", "string", "The law whose clock the request runs on: `ccpa` or `gdpr` (the law the mail cites, else `clock.jurisdiction`). Test it with `{{#if (eq law \"gdpr\")}}`.", json!("ccpa"))
            .alt(json!("gdpr")),
    ]
}

fn with_facts(extra: Vec<Var>) -> Vec<Var> {
    let mut v = request_facts();
    v.extend(extra);
    v
}

fn build() -> Vec<Entry> {
    use Audience::{Consumer, Staff};
    vec![
        Entry {
            name: "acknowledgement",
            audience: Consumer,
            when: "A new request is opened and the bot handles it. When the request needs verification it carries the code (in `verify_tag`) and a `privacy+verify-...@` Reply-To.",
            vars: request_facts(),
        },
        Entry {
            name: "received",
            audience: Consumer,
            when: "A new request is escalated to staff instead of handled: a receipt (CCPA §7021(a)) with the reference, the date received, that a person will follow up and the latest response date. One template for both cases: `agent` true adds what the business may require of an authorized agent (CCPA §7063: the consumer's signed permission; the consumer may be asked to verify directly).",
            vars: request_facts(),
        },
        Entry {
            name: "verified",
            audience: Consumer,
            when: "The requester replied from their own address with the verification code.",
            vars: request_facts(),
        },
        Entry {
            name: "follow_up",
            audience: Consumer,
            when: "The same person writes again asking for what an open request of theirs already covers: the mail is linked to that request (no new record, clock or code) and the consumer is told it is in progress.",
            vars: request_facts(),
        },
        Entry {
            name: "verification_reminder",
            audience: Consumer,
            when: "`verification.reminder-days` (7) after the acknowledgement without verification; carries a new code (the old one stops working).",
            vars: request_facts(),
        },
        Entry {
            name: "closed_unverifiable",
            audience: Consumer,
            when: "`verification.expiry-days` (30) without verification: the request is closed without action.",
            vars: request_facts(),
        },
        Entry {
            name: "completed",
            audience: Consumer,
            when: "Staff mark the request completed.",
            vars: with_facts(vec![var("completed_date", "string", "When it was completed, as a date.", json!("April 2, 2026"))]),
        },
        Entry {
            name: "denied",
            audience: Consumer,
            when: "Staff deny the request (in whole), giving a basis and an explanation.",
            vars: with_facts(vec![
                var("basis", "string", "Why, as a code: `unverifiable`, `not_a_consumer`, `exempt` or `other`.", json!("exempt"))
                    .alt(json!("unverifiable")),
                var("basis_text", "string", "Staff's explanation, shown to the consumer as written.", json!("We must keep billing records for seven years under tax law."))
                    .alt(json!(""))
                    .untrusted(),
            ]),
        },
        Entry {
            name: "extension",
            audience: Consumer,
            when: "Staff take the extension the law allows; sent before the first period ends.",
            vars: with_facts(vec![
                var("reason", "string", "Why more time is needed (staff's words, shown to the consumer).", json!("Your request covers several systems that we must search by hand.")).untrusted(),
                var("new_due_date", "string", "The new due date, as a date.", json!("June 1, 2026")),
            ]),
        },
        Entry {
            name: "export_ready",
            audience: Consumer,
            when: "The access package is built and approved (`/approve`, or `[fulfil] access = \"auto\"`), or the consumer or staff asked for a fresh link (`/resend`): the link to the download page (never the data itself).",
            vars: with_facts(vec![
                var("link", "string", "The https URL of the download page (`portal.public-url` and a single-use token); the body shows it once, on a line of its own.", json!("https://privacy.acme.example/download/q3J9xw2LbT0aVf8KpZc1Hg4RmY7sNd6E")),
                var("expires_date", "string", "The last day the link works, as a date.", json!("April 9, 2026")),
                var("link_days", "integer", "How many days the link works (`portal.link-days`).", json!(7))
                    .alt(json!(1)),
                var("waiting", "string", "Empty when a link is sent. Otherwise the consumer's `/resend` got no link, and this says why: `approval` (staff have not approved yet), `verification` (not confirmed yet), `denied`, `closed` (package no longer kept), `unchanged` (the mail was not proven to come from the requester, and their current link still works).", json!(""))
                    .alt(json!("approval")),
            ]),
        },
        Entry {
            name: "nothing_found",
            audience: Consumer,
            when: "The lookup found the requester in no data source: the consumer is told (CCPA) that there is nothing to send or delete, and the request is closed.",
            vars: request_facts(),
        },
        Entry {
            name: "escalation",
            audience: Staff,
            when: "A mail needs a person: ambiguous, a question, an agent, low confidence, a reply from another address, a verified request ready to action...; the original mail is attached.",
            vars: with_facts(vec![
                var("reason", "string", "Why it needs a person.", json!("A privacy request that also asks a question")),
                var("confidence", "string", "The classifier's confidence, e.g. `0.55`.", json!("0.55")),
                var("reasons", "list of strings", "The classifier rules that fired.", json!(["en:delete:delete my data", "en:question:?"]))
                    .alt(json!([])),
                var("excerpt", "string", "The first 1500 characters of what the sender wrote (quotes and signature removed).", json!("Please delete my data. Also, who did you share it with?")).untrusted(),
                var("unplaced", "list of strings", "The sentences of the mail the classifier could not place (a need no request covers, or unexplained), lower-cased and without accents as it read them; [] when it placed them all.", json!(["i want my last payment back."]))
                    .alt(json!([])),
                var("access_requests_12m", "integer", "Access requests from this person (same mailbox) in the last 12 months, this one included; 0 when the request asks for no access.", json!(3))
                    .alt(json!(0)),
                var("consumer_received", "string", "What the consumer has received from the bot about this request so far, in words for staff: `nothing`, `the receipt (...)`, `the acknowledgement with a verification code`, ...", json!("the receipt (a person follows up; no verification code yet)"))
                    .alt(json!("nothing")),
                var("confirm_date", "string", "The date by which receipt must be confirmed to the consumer (CCPA: 10 business days), \"\" when that clock does not apply.", json!("December 11, 2026"))
                    .alt(json!("")),
            ]),
        },
        Entry {
            name: "quarantine",
            audience: Staff,
            when: "A mail could not be processed (unparsable or oversized) and was moved to the quarantine mailbox.",
            vars: vec![
                var("reason", "string", "Why it was quarantined.", json!("The mail parser panicked on this message")),
                var("sender", "string", "The From address, as far as it could be read.", json!("someone@example.test")).untrusted(),
                var("subject", "string", "The subject, as far as it could be read.", json!("Data request")).untrusted(),
                var("size", "integer", "Size in bytes.", json!(31_457_280)),
                var("mailbox", "string", "The quarantine mailbox (`imap.quarantine-mailbox`).", json!("Quarantine")),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
            ],
        },
        Entry {
            name: "other_instance",
            audience: Staff,
            when: "Once: a copy of a mail this bot did not send came back to the mailbox, so another privacy-inbox with a different store runs on the same mailbox.",
            vars: vec![
                var("message_id", "string", "The Message-ID of the copy this store does not know.", json!("PRIV-2026-00001.5d1f@example.test")),
                var("subject", "string", "Its subject.", json!("[PRIV-2026-00001] We received your privacy request")).untrusted(),
                var("store", "string", "This bot's store (`store.path`).", json!("/var/lib/privacy-inbox/privacy-inbox.sqlite3")),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
            ],
        },
        Entry {
            name: "clock",
            audience: Staff,
            when: "Once per threshold when a request is due soon (`clock.due-soon-days`), and once when it is overdue.",
            vars: with_facts(vec![
                var("days_left", "integer", "Business days left (negative when overdue).", json!(3)),
                var("headline", "string", "A few words for the subject, e.g. `Extension window closes on April 17, 2026`.", json!("Extension window closes on April 17, 2026")),
                var("what", "string", "What happened and what staff can do, e.g. `Extension window closes on April 17, 2026: to take the one extension, reply /extend <reason> before then (the consumer is told)`.", json!("Extension window closes on April 17, 2026: to take the one extension, reply /extend <reason> before then (the consumer is told)")),
            ]),
        },
        Entry {
            name: "digest",
            audience: Staff,
            when: "Once a day, when any request is open.",
            vars: vec![
                var("date", "string", "Today, `YYYY-MM-DD` in the business time zone.", json!("2026-04-14")),
                var("count", "integer", "How many requests are open.", json!(2)),
                var("requests", "list of objects", "The open requests, most urgent first; each has `id`, `status` and `kinds` (in words), `due_date`, `days_left` (integer), `escalated` (bool).", json!([
                    {"id": "PRIV-2026-00042", "status": "verified", "kinds": "deletion", "due_date": "April 17, 2026", "days_left": 3, "escalated": true},
                    {"id": "PRIV-2026-00043", "status": "waiting for the consumer to confirm", "kinds": "access, opt-out of sale", "due_date": "May 2, 2026", "days_left": 14, "escalated": false}
                ])).alt(json!([])),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
            ],
        },
        Entry {
            name: "staff_reply",
            audience: Staff,
            when: "In answer to a staff command (`/deny`, `/complete`, `/extend`...) mailed in an escalation thread: what was done, or why it was refused.",
            vars: vec![
                var("request_id", "string", "The request the command was about; \"\" when none could be found.", json!("PRIV-2026-00042")).alt(json!("")),
                var("command", "string", "The command as understood, e.g. `/deny`.", json!("/deny")).untrusted(),
                var("accepted", "bool", "True when the command was carried out, false when refused.", json!(true)).alt(json!(false)),
                var("message", "string", "What was done, or why the command was refused.", json!("Denied; the consumer was told (basis: exempt).")),
                var("actor", "string", "The staff address that sent the command.", json!("staff@example.test")).untrusted(),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
                var("status", "string", "The request's status afterwards; \"\" when none.", json!("denied")).alt(json!("")),
                var("due_date", "string", "The request's due date; \"\" when none.", json!("April 17, 2026")).alt(json!("")),
            ],
        },
        Entry {
            name: "delivery_failed",
            audience: Staff,
            when: "The SMTP server refused one of our mails for good (5xx): the recipient never got it; the request is flagged escalated.",
            vars: vec![
                var("request_id", "string", "The request the mail belonged to; \"\" when none.", json!("PRIV-2026-00042")).alt(json!("")),
                var("recipient", "string", "The address that was refused.", json!("dana@example.com")).untrusted(),
                var("purpose", "string", "Which mail it was (its template name).", json!("acknowledgement")),
                var("error", "string", "The server's answer (addresses masked).", json!("550 5.1.1 <d***@example.com>: Recipient address rejected")).untrusted(),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
            ],
        },
        Entry {
            name: "template_problem",
            audience: Staff,
            when: "The daemon found an edited template set with problems; it keeps the last good set live. Sent once per broken version.",
            vars: vec![
                var("dir", "string", "The templates folder.", json!("/etc/privacy-inbox/templates")),
                var("version", "string", "A short hash of the broken set's files.", json!("3f2a9c41d07e5b8a")),
                var("count", "integer", "How many problems.", json!(2)),
                var("problems", "list of strings", "Each problem as `file:line: what is wrong`, names in double quotes (staff mail has no Markdown backticks).", json!([
                    "templates/es/denied.txt.hbs:3: unknown variable \"basis_txt\"",
                    "templates/en/completed.subject.hbs:2: the subject renders on more than one line"
                ])),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
            ],
        },
        Entry {
            name: "copy_refused",
            audience: Staff,
            when: "Our Bcc copy address (`smtp.copy-to`) refused a mail for good (e.g. its mailbox is full); the mail was sent without the copy. At most once a day while it lasts.",
            vars: vec![
                var("copy_to", "string", "The copy address (`smtp.copy-to`).", json!("privacy+sent@acme.example")),
                var("count", "integer", "How many mails went out without a copy in the pass that noticed.", json!(3)),
                var("error", "string", "The server's answer to the first of them (addresses masked).", json!("552 5.2.2 <pr***@acme.example>: Recipient address rejected: Mailbox full")).untrusted(),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
            ],
        },
        Entry {
            name: "staff_summary",
            audience: Staff,
            when: "Staff mail above `staff.max-mails-per-hour` was held back: one summary of it, at most once an hour (the sweeper).",
            vars: vec![
                var("count", "integer", "How many staff mails were held back.", json!(2)),
                var("limit", "integer", "The budget, `staff.max-mails-per-hour`.", json!(30)),
                var("items", "list of objects", "The held mails, oldest first (at most 500); each has `request_id` (\"\" when none), `purpose` (its template name) and `subject` (the subject it would have had).", json!([
                    {"request_id": "PRIV-2026-00042", "purpose": "escalation", "subject": "Needs a person: A privacy request that also asks a question"},
                    {"request_id": "", "purpose": "quarantine", "subject": "A mail was set aside (quarantined)"}
                ])).alt(json!([])),
                var("more", "integer", "How many more were held than `items` lists.", json!(0)).alt(json!(12)),
                var("team", "string", "Our team's name.", json!("Acme Privacy Team")),
            ],
        },
        Entry {
            name: "fulfilment",
            audience: Staff,
            when: "A fulfilment step needs staff to know or decide: the lookup's result, a deletion plan to approve, an access package ready, a source that failed.",
            vars: with_facts(vec![
                var("what", "string", "One-line headline, e.g. `Deletion plan: approve to erase`.", json!("Lookup done: 16 records in 2 of 3 sources")),
                var("lines", "list of strings", "One line per source, e.g. `crm: customers 2, calls 14`.", json!(["crm: customers 2, calls 14", "billing: invoices 0", "newsletter: failed (connection refused)"]))
                    .alt(json!([]))
                    .untrusted(),
                var("next", "string", "What staff can do now, in words.", json!("Reply /approve to erase these records (one transaction per source), or /deny exempt <explanation> to keep them.")),
                var("commands", "list of strings", "The commands the request's fulfilment state allows now, one line each (`/approve   go ahead ...`); no `/resend` for a deletion.", json!(["/approve   go ahead with what this mail describes", "/note      /note <text>: a note in the record"]))
                    .alt(json!([])),
            ]),
        },
    ]
}

/// `completed`: [`RequestFacts`] plus the completion date.
#[derive(Debug, Clone, Serialize)]
pub struct CompletedData<'a> {
    /// The request's facts.
    #[serde(flatten)]
    pub facts: &'a RequestFacts,
    /// When it was completed, as a date.
    pub completed_date: String,
}

/// `denied`: [`RequestFacts`] plus the basis and staff's explanation.
#[derive(Debug, Clone, Serialize)]
pub struct DeniedData<'a> {
    /// The request's facts.
    #[serde(flatten)]
    pub facts: &'a RequestFacts,
    /// The basis, as a code ([`crate::request::lifecycle::DenialBasis::category`]).
    pub basis: &'static str,
    /// Staff's explanation, shown to the consumer.
    pub basis_text: String,
}

/// `extension`: [`RequestFacts`] plus the reason and the new due date.
#[derive(Debug, Clone, Serialize)]
pub struct ExtensionData<'a> {
    /// The request's facts.
    #[serde(flatten)]
    pub facts: &'a RequestFacts,
    /// Why more time is needed.
    pub reason: String,
    /// The new due date, as a date.
    pub new_due_date: String,
}

/// `export_ready`: [`RequestFacts`] plus the download link and how long it works.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReadyData<'a> {
    /// The request's facts.
    #[serde(flatten)]
    pub facts: &'a RequestFacts,
    /// The https URL of the download page.
    pub link: String,
    /// The last day the link works, as a date in the consumer's language.
    pub expires_date: String,
    /// How many days the link works.
    pub link_days: u32,
    /// Empty with a link; otherwise why a `/resend` got none.
    pub waiting: String,
}

/// `fulfilment`: [`RequestFacts`] plus a fulfilment step's headline, per-source lines and
/// what staff can do next.
#[derive(Debug, Clone, Serialize)]
pub struct FulfilmentData<'a> {
    /// The request's facts.
    #[serde(flatten)]
    pub facts: &'a RequestFacts,
    /// One-line headline.
    pub what: String,
    /// One line per source.
    pub lines: Vec<String>,
    /// What staff can do now.
    pub next: String,
    /// The commands the state allows, one line each.
    pub commands: Vec<String>,
}

/// `staff_reply`: the answer to a staff command.
#[derive(Debug, Clone, Serialize)]
pub struct StaffReplyData {
    /// The request ID, "" when none.
    pub request_id: String,
    /// The command, e.g. `/deny`.
    pub command: String,
    /// Carried out (true) or refused (false).
    pub accepted: bool,
    /// What was done or why it was refused.
    pub message: String,
    /// The staff address.
    pub actor: String,
    /// Our team's name.
    pub team: String,
    /// The request's status afterwards, "" when none.
    pub status: String,
    /// The request's due date, "" when none.
    pub due_date: String,
}

/// `template_problem`: a broken template set the daemon refused to load.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateProblemData {
    /// The templates folder.
    pub dir: String,
    /// Short hash of the broken set.
    pub version: String,
    /// How many problems.
    pub count: usize,
    /// Each problem, `file:line: what is wrong`.
    pub problems: Vec<String>,
    /// Our team's name.
    pub team: String,
}

/// `copy_refused`: our Bcc copy address refuses mail.
#[derive(Debug, Clone, Serialize)]
pub struct CopyRefusedData {
    /// The copy address.
    pub copy_to: String,
    /// How many mails went out without a copy.
    pub count: usize,
    /// The server's answer (addresses masked).
    pub error: String,
    /// Our team's name.
    pub team: String,
}

/// One held staff mail in a `staff_summary`.
#[derive(Debug, Clone, Serialize)]
pub struct HeldLine {
    /// Its request, "" when none.
    pub request_id: String,
    /// Its template name.
    pub purpose: String,
    /// The subject it would have had.
    pub subject: String,
}

/// `staff_summary`: staff mail held back above the hourly budget.
#[derive(Debug, Clone, Serialize)]
pub struct StaffSummaryData {
    /// How many were held back.
    pub count: usize,
    /// The budget.
    pub limit: u32,
    /// The held mails (at most 500).
    pub items: Vec<HeldLine>,
    /// How many more than `items`.
    pub more: usize,
    /// Our team's name.
    pub team: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn facts() -> RequestFacts {
        RequestFacts {
            request_id: "PRIV-2026-00001".into(),
            requester: "a@example.test".into(),
            requester_name: String::new(),
            kinds: vec!["delete".into()],
            kind_labels: vec!["deletion".into()],
            received_date: "March 3, 2026".into(),
            due_date: "April 17, 2026".into(),
            status: "verified".into(),
            status_text: "verified".into(),
            original_subject: "Delete".into(),
            team: "Team".into(),
            needs_verification: true,
            verify_tag: String::new(),
            ask_account: false,
            agent: false,
            law: "ccpa".into(),
        }
    }

    fn keys(v: &impl Serialize) -> BTreeSet<String> {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default()
    }

    fn catalog_keys(name: &str) -> BTreeSet<String> {
        entry(name)
            .map(|e| e.vars.iter().map(|v| v.name.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_structs_the_code_renders_with_match_the_catalog() {
        let f = facts();
        assert_eq!(keys(&f), catalog_keys("acknowledgement"));
        let completed = CompletedData {
            facts: &f,
            completed_date: "x".into(),
        };
        assert_eq!(keys(&completed), catalog_keys("completed"));
        let denied = DeniedData {
            facts: &f,
            basis: crate::request::lifecycle::DenialBasis::NotAConsumer.category(),
            basis_text: "x".into(),
        };
        assert_eq!(keys(&denied), catalog_keys("denied"));
        assert_eq!(
            serde_json::to_value(&denied)
                .ok()
                .map(|v| v["basis"].clone()),
            Some(json!("not_a_consumer"))
        );
        let ext = ExtensionData {
            facts: &f,
            reason: "x".into(),
            new_due_date: "x".into(),
        };
        assert_eq!(keys(&ext), catalog_keys("extension"));
        let ready = ExportReadyData {
            facts: &f,
            link: "https://x.example/d/t".into(),
            expires_date: "x".into(),
            link_days: 7,
            waiting: String::new(),
        };
        assert_eq!(keys(&ready), catalog_keys("export_ready"));
        assert_eq!(keys(&f), catalog_keys("nothing_found"));
        let step = FulfilmentData {
            facts: &f,
            what: "x".into(),
            lines: vec![],
            next: "x".into(),
            commands: vec![],
        };
        assert_eq!(keys(&step), catalog_keys("fulfilment"));
        let reply = StaffReplyData {
            request_id: String::new(),
            command: "/deny".into(),
            accepted: false,
            message: "x".into(),
            actor: "x".into(),
            team: "x".into(),
            status: String::new(),
            due_date: String::new(),
        };
        assert_eq!(keys(&reply), catalog_keys("staff_reply"));
        let problem = TemplateProblemData {
            dir: "x".into(),
            version: "x".into(),
            count: 0,
            problems: vec![],
            team: "x".into(),
        };
        assert_eq!(keys(&problem), catalog_keys("template_problem"));
        let copy = CopyRefusedData {
            copy_to: "x".into(),
            count: 1,
            error: "x".into(),
            team: "x".into(),
        };
        assert_eq!(keys(&copy), catalog_keys("copy_refused"));
        let summary = StaffSummaryData {
            count: 0,
            limit: 1,
            items: vec![],
            more: 0,
            team: "x".into(),
        };
        assert_eq!(keys(&summary), catalog_keys("staff_summary"));
    }

    #[test]
    fn names_are_unique_and_every_variable_has_a_doc() {
        let mut seen = BTreeSet::new();
        for e in catalog() {
            assert!(seen.insert(e.name), "duplicate template {}", e.name);
            let mut vars = BTreeSet::new();
            for v in &e.vars {
                assert!(
                    vars.insert(v.name),
                    "{}: duplicate variable {}",
                    e.name,
                    v.name
                );
                assert!(!v.doc.is_empty(), "{}.{} has no doc", e.name, v.name);
            }
        }
    }

    #[test]
    fn the_readme_documents_every_template_and_variable() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/README.md");
        let readme = std::fs::read_to_string(path).unwrap_or_default();
        assert!(!readme.is_empty(), "{path} is missing");
        for e in catalog() {
            let heading = format!("### `{}`", e.name);
            let Some(start) = readme.find(&heading) else {
                panic!("templates/README.md has no `{heading}` section");
            };
            let section = &readme[start + heading.len()..];
            let section = &section[..section.find("\n### ").unwrap_or(section.len())];
            let facts = section.contains("request facts");
            for v in &e.vars {
                let documented = section.contains(&format!("`{}`", v.name))
                    || (facts && request_facts().iter().any(|f| f.name == v.name));
                assert!(
                    documented,
                    "templates/README.md: `{}` lacks `{}`",
                    e.name, v.name
                );
            }
        }
        for v in request_facts() {
            assert!(
                readme.contains(&format!("| `{}` |", v.name)),
                "templates/README.md: the request facts table lacks `{}`",
                v.name
            );
        }
    }
}
