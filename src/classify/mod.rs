//! Classification: a parsed [`Inbound`] → [`Classification`] (what the mail asks for, and
//! whether the bot may handle it alone). Pure: no I/O after [`Classifier::load`].
//!
//! Steps: triage (machine-made → `ignore`), fold the subject and new text to lower-case
//! ASCII ([`normalize`]), detect the language by stop words ([`lang`]) while noting possible
//! typos of the request vocabulary, correct those ([`typo`]), split into sentences, run the
//! rules ([`rules`], data in `rules/*.toml`) sentence by sentence with negation and
//! earlier-request handling ([`analyze`]); when the stop words leave the language in doubt
//! and a request was found, ask `whatlang` whether the mail is in a language no rule file
//! covers (then it is escalated); then decide ([`Classifier::classify`]).

pub mod account;
pub mod analyze;
mod cli;
pub mod eval;
pub mod lang;
pub mod normalize;
pub mod rules;
pub mod typo;
pub mod wordset;

pub use cli::{eval_cli, run_cli};

use crate::kind::Kind;
use crate::mail::{parse::is_forward_subject, parse::is_reply_subject, triage, Inbound};
use rules::{RuleSet, Signal};
use serde::Serialize;
use std::path::Path;

/// A mail is handled alone only while fewer than one in this many of its sentences are
/// unexplained (a short mail: none at all).
pub const UNEXPLAINED_SHARE: usize = 12;

/// The most sentence readings a classification keeps (the decision reads them all).
pub const MAX_READINGS: usize = 200;

/// Default confidence needed for `handle`.
pub const DEFAULT_HANDLE_THRESHOLD: f64 = 0.6;

/// What the bot does with a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A clear request the bot may acknowledge by itself.
    Handle,
    /// A human must read it (the default: nothing read yet).
    #[default]
    Escalate,
    /// Machine-made: never answered.
    Ignore,
}

impl Action {
    /// Wire name: `handle`, `escalate`, `ignore`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Handle => "handle",
            Action::Escalate => "escalate",
            Action::Ignore => "ignore",
        }
    }
}

/// The classifier's verdict on one mail.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Classification {
    /// What to do with the mail.
    pub action: Action,
    /// The request kinds found in the new text, in canonical order (empty if none).
    pub kinds: Vec<Kind>,
    /// Detected language code (`en`, `es`, `de`, `fr`, or another rule file's language).
    pub language: String,
    /// Someone acting for another person (authorized agent, lawyer, agency, relative).
    pub agent: bool,
    /// Machine-made mail (auto-reply, bounce, list mail…); then `action` is `ignore`.
    pub automated: bool,
    /// For `ignore`: how sure the mail is machine-made. Otherwise: the evidence for the
    /// weakest kind found (0 when none). `handle` needs at least the configured threshold.
    pub confidence: f64,
    /// Why: the rules that fired and on which words, what was negated or set aside, and
    /// why the mail is escalated.
    pub reasons: Vec<String>,
    /// The new text asks something a human must answer.
    pub question: bool,
    /// Signals that fired (`agent`, `reminder`, `complaint`, `legal`, `phishing`, `question`).
    pub signals: Vec<String>,
    /// Kinds that were mentioned but did not count (negated, earlier request, phishing).
    pub set_aside: Vec<Kind>,
    /// The new text carries a forwarded mail.
    pub forwarded: bool,
    /// How each sentence of the subject and new text was read: the rule that placed it, or
    /// `unexplained` (see [`analyze::Reading`]). Empty for machine-made mail.
    pub sentences: Vec<analyze::Reading>,
    /// The sentences the bot could not place (a need no request covers, or unexplained):
    /// any one of them makes a person read the mail.
    pub unplaced: Vec<String>,
}

/// The rules plus options; build once, classify many.
#[derive(Debug)]
pub struct Classifier {
    rules: RuleSet,
    stopwords: lang::StopIndex,
    /// Typo tolerance per language, in the order of `rules.languages`.
    typos: Vec<typo::Typos>,
    /// Every language's typo variants, for the language detector's pass.
    typo_filter: wordset::KeyFilter,
    /// Confidence needed for `handle` (0–1); below it the mail is escalated.
    pub handle_threshold: f64,
}

impl Classifier {
    /// The shipped rules with the default threshold.
    pub fn builtin() -> anyhow::Result<Classifier> {
        Classifier::load(None, DEFAULT_HANDLE_THRESHOLD)
    }

    /// The shipped rules plus an admin's rule directory (`*.toml`, same format; a rule with
    /// a shipped rule's id replaces it). Every invalid rule is reported with file and line.
    pub fn load(
        extra_rules_dir: Option<&Path>,
        handle_threshold: f64,
    ) -> anyhow::Result<Classifier> {
        if !(0.0..=1.0).contains(&handle_threshold) {
            anyhow::bail!("Handle threshold must be between 0 and 1, got {handle_threshold}");
        }
        let rules = rules::load(extra_rules_dir)?;
        let typos = rules
            .languages
            .iter()
            .map(|l| {
                typo::Typos::new(
                    l.typo_words.iter().map(String::as_str),
                    l.known_words.iter().chain(&l.stopwords).map(String::as_str),
                )
            })
            .collect::<Vec<typo::Typos>>();
        let mut typo_filter = wordset::KeyFilter::default();
        for t in &typos {
            typo_filter.union_with(t.filter());
        }
        Ok(Classifier {
            typos,
            typo_filter,
            stopwords: lang::index(&rules.languages),
            rules,
            handle_threshold,
        })
    }

    /// Classifies one mail. Never fails: a mail it cannot read is escalated.
    pub fn classify(&self, mail: &Inbound) -> Classification {
        // The rules read the folded subject (when it is the sender's own, not "Re:" to an
        // older mail), a blank line, then the folded new text: folded once, into one buffer.
        let subject = subject_for_rules(&mail.subject);
        let new_text = text_clip(&mail.new_text);
        let mut folded = Vec::with_capacity(subject.len() + new_text.len() + 32);
        normalize::fold_into(subject, &mut folded);
        folded.extend_from_slice(b"\n\n");
        let body_at = folded.len();
        normalize::fold_into(new_text, &mut folded);
        let mut text = normalize::ascii_string(folded);
        // One pass over the body's words counts stop words and notes possible typos.
        let mut typo_spans = Vec::new();
        let (language, stop_hits, words) = lang::detect_scan(
            text.get(body_at..).unwrap_or(""),
            &self.rules.languages,
            &self.stopwords,
            Some(&self.typo_filter),
            &mut typo_spans,
        );
        let mut c = Classification {
            action: Action::Escalate,
            kinds: Vec::new(),
            language: language.to_string(),
            agent: false,
            automated: false,
            confidence: 0.0,
            reasons: Vec::new(),
            question: false,
            signals: Vec::new(),
            set_aside: Vec::new(),
            forwarded: mail.forwarded,
            sentences: Vec::new(),
            unplaced: Vec::new(),
        };
        if let Some(why) = triage::automated(mail) {
            c.action = Action::Ignore;
            c.automated = true;
            c.confidence = if why.contains("subject") { 0.9 } else { 0.99 };
            c.reasons.push(format!("automated: {why}"));
            return c;
        }
        if stop_hits == 0 {
            c.reasons.push(format!(
                "language: no stop words found, assuming {language}"
            ));
        }
        if let Some(typos) = self
            .rules
            .languages
            .iter()
            .position(|l| l.code == c.language)
            .and_then(|i| self.typos.get(i))
        {
            // The subject's words, then the body's that the detector noted (its first 200
            // words: the opening says enough, and a longer text costs no more).
            if let Some((fixed, pairs)) = typos.correct_spans(
                &text,
                typo::words(text.get(..body_at).unwrap_or(""))
                    .into_iter()
                    .chain(typo_spans.iter().map(|&(s, l)| (s + body_at, l))),
            ) {
                text = fixed;
                for (typo, word) in pairs {
                    c.reasons
                        .push(format!("typo: \"{typo}\" read as \"{word}\""));
                }
            }
        }
        // German typed without umlauts ("loeschen", "moechte"): read as the folded umlaut,
        // as the rules are written ("loschen"); "ä/ö/ü" were folded to "a/o/u" already.
        if c.language == "de" {
            if let Some(folded) = normalize::fold_digraphs(&text) {
                text = folded;
            }
        }
        // A form's empty checkboxes are what the person did not ask for.
        if let Some(checked) = normalize::drop_unchecked(&text) {
            text = checked;
            c.reasons
                .push("form: lines with an empty checkbox (and the form's prompt) not read".into());
        }
        // Where the new text starts, after the typo and spelling fixes moved it.
        let body_at = text.find("\n\n").map_or(0, |p| p + 2);
        let sentences = normalize::sentences(&text);
        // Line breaks only steer sentence splitting; the rules see them as spaces.
        let mut flat = text.into_bytes();
        for b in flat.iter_mut().filter(|b| **b == b'\n') {
            *b = b' ';
        }
        let flat = normalize::ascii_string(flat);
        let ev = analyze::analyze(&self.rules, &flat, &sentences, body_at);

        // The stop words place most mail. Text they leave in doubt is shown to `whatlang`,
        // which can tell that it is in a language no rule file covers: never handled, its
        // kinds not trusted (a cognate is not a request). Asked only when a request was
        // found or no stop word at all: otherwise the mail is escalated anyway.
        if lang::in_doubt(stop_hits, words) {
            let original = if mail.new_text.trim().is_empty() {
                mail.subject.as_str()
            } else {
                new_text
            };
            let foreign = (!ev.kinds.is_empty() || stop_hits == 0)
                .then(|| lang::foreign(original, &self.rules.languages))
                .flatten();
            if let Some(found) = foreign {
                c.language = found.code.to_string();
                c.reasons.push(format!(
                    "language: {} ({}), confidence {:.2}: no rules for it",
                    found.name, found.code, found.confidence
                ));
                c.set_aside = ev.kinds.keys().copied().collect();
                if !c.set_aside.is_empty() {
                    let names: Vec<&str> = c.set_aside.iter().map(|k| k.as_str()).collect();
                    c.reasons.push(format!(
                        "{} set aside: read in a language the rules do not cover",
                        names.join(", ")
                    ));
                }
                c.reasons.push(format!(
                    "escalate: written in {} ({}), which the rules do not cover",
                    found.name, found.code
                ));
                return c;
            }
            if stop_hits > 0 && ev.kinds.is_empty() {
                c.reasons.push(format!(
                    "language: only {stop_hits} of {words} words are {language} stop words; it may be another language"
                ));
            }
        }

        // A system's acknowledgement of a ticket or request (a helpdesk, another company's
        // privacy office) that does not say so in its headers: never answered.
        if ev.has(Signal::Receipt)
            && !ev.has(Signal::Reminder)
            && !ev.has(Signal::Complaint)
            && !ev.has(Signal::Agent)
        {
            c.action = Action::Ignore;
            c.automated = true;
            c.confidence = 0.9;
            c.kinds.clear();
            c.set_aside = ev.kinds.keys().copied().collect();
            let rule = ev
                .signals
                .iter()
                .find(|(s, _, _)| *s == Signal::Receipt)
                .map(|(_, id, _)| id.as_str())
                .unwrap_or("");
            c.reasons.push(format!(
                "automated: a system's acknowledgement of a ticket or request ({rule})"
            ));
            c.reasons.extend(ev.reasons);
            return c;
        }
        let mut escalate: Vec<String> = Vec::new();
        let mut kinds = ev.kinds.clone();
        for (sig, _, _) in &ev.signals {
            let name = sig.as_str().to_string();
            if !c.signals.contains(&name) {
                c.signals.push(name);
            }
        }
        if ev.strength(Signal::Phishing) >= 0.8 {
            if kinds.remove(&Kind::Delete).is_some() {
                c.reasons
                    .push("delete set aside: the mail reads like phishing or spam".into());
                c.set_aside.push(Kind::Delete);
            }
            escalate.push("looks like phishing or spam".into());
        }
        c.agent = ev.has(Signal::Agent);
        if c.agent {
            escalate.push("sent by someone acting for another person".into());
        }
        if let Some(orig) = mail.forwarded_from.as_deref() {
            if mail.from.as_deref() != Some(orig) {
                c.reasons.push(format!("forwarded mail from {orig}"));
                if !internal_forward(mail) {
                    c.agent = true;
                }
                escalate.push("forwarded on behalf of another sender".into());
            } else {
                c.reasons
                    .push("the sender forwarded their own earlier mail".into());
            }
        } else if mail.forwarded {
            c.reasons
                .push("forwarded mail: its text was read as the request".into());
        }
        if let Some(other) = body_requester(mail) {
            c.reasons.push(format!(
                "the requester named in the body ({}) is not the sender: a form relay or a forward",
                crate::address::mask(&other)
            ));
            escalate.push("the requester named in the body is not the sender".into());
        }
        if ev.has(Signal::CloseAccount) && !kinds.contains_key(&Kind::Delete) {
            escalate.push(
                "asks to close an account, not to erase data: ask whether they want that too"
                    .into(),
            );
        }
        for (sig, why) in [
            (Signal::Reminder, "refers to an earlier request"),
            (Signal::Complaint, "complaint"),
            (Signal::Legal, "legal notice"),
        ] {
            if ev.has(sig) {
                escalate.push(why.into());
            }
        }
        c.question = !ev.questions.is_empty();
        for q in ev.questions.iter().take(3) {
            c.reasons.push(format!("question: \"{q}\""));
        }
        if c.question {
            escalate.push("asks a question".into());
        }
        c.kinds = kinds.keys().copied().collect();
        c.confidence = kinds.values().map(|k| k.score).fold(f64::NAN, f64::min);
        if c.confidence.is_nan() {
            c.confidence = 0.0;
        }
        c.confidence = (c.confidence.min(0.99) * 100.0).round() / 100.0;
        for (k, why) in &ev.set_aside {
            if !kinds.contains_key(k) && !c.set_aside.contains(k) {
                c.set_aside.push(*k);
                c.reasons.push(format!("{k} set aside: {why}"));
            }
        }
        c.reasons.extend(ev.reasons);
        c.unplaced = ev
            .readings
            .iter()
            .filter(|r| r.unplaced())
            .map(|r| r.text.clone())
            .collect();
        for r in ev.readings.iter().filter(|r| r.unplaced()).take(10) {
            c.reasons
                .push(format!("{}: \"{}\"", r.reading, analyze::quote(&r.text)));
        }
        // A need no request covers always goes to a person. Sentences nothing placed do too,
        // unless the mail is a long letter in which they are a small share (formal
        // templates carry a line or two of their own prose among thirty placed ones).
        let needs = ev
            .readings
            .iter()
            .filter(|r| r.reading.starts_with("need:"))
            .count();
        let unexplained = c.unplaced.len() - needs;
        let body = ev
            .readings
            .iter()
            .filter(|r| r.reading != "subject")
            .count();
        if !c.kinds.is_empty() && (needs > 0 || unexplained * UNEXPLAINED_SHARE > body) {
            escalate.push(format!(
                "{} sentence(s) it cannot place as a request, courtesy, signature or identifying data",
                c.unplaced.len()
            ));
        } else if unexplained > 0 && !c.kinds.is_empty() {
            c.reasons.push(format!(
                "{unexplained} of {body} sentences unexplained: a small share of a long letter"
            ));
        }
        // Kept with the mail's record: bounded however long the mail.
        c.unplaced.truncate(MAX_READINGS / 4);
        c.sentences = ev.readings;
        c.sentences.truncate(MAX_READINGS);
        if c.kinds.is_empty() {
            escalate.push("no privacy request found".into());
        } else if c.confidence < self.handle_threshold {
            escalate.push(format!(
                "low confidence {:.2} < {:.2}",
                c.confidence, self.handle_threshold
            ));
        }
        if escalate.is_empty() {
            c.action = Action::Handle;
        } else {
            c.action = Action::Escalate;
            c.reasons.push(format!("escalate: {}", escalate.join("; ")));
        }
        c
    }
}

fn text_clip(s: &str) -> &str {
    crate::mail::text::clip(s, normalize::MAX_CLASSIFY)
}

/// The subject as rule input: empty for replies and our own tagged threads; forward
/// prefixes removed.
fn subject_for_rules(subject: &str) -> &str {
    if is_reply_subject(subject) || subject.to_ascii_lowercase().contains("[priv-") {
        return "";
    }
    let mut s = subject.trim();
    while is_forward_subject(s) {
        s = s
            .split_once([':', ' '])
            .map(|(_, r)| r.trim())
            .unwrap_or("");
    }
    crate::mail::text::clip(s, 500)
}

/// A labelled e-mail field in the new text ("Email: …", "Correo: …", "E-Mail-Adresse: …").
static EMAIL_FIELD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?im)^[ \t*>-]*(?:your |sender'?s? |requester'?s? |contact )?(?:e-?mail(?: address)?|e-mail-adresse|correo(?: electr[oó]nico)?|courriel|adresse (?:e-?mail|[ée]lectronique))\s*:\s*<?(?:mailto:)?([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})",
    )
    .expect("built-in e-mail field regex compiles")
});

/// Sender local parts of website forms and relays.
const RELAY_LOCALPARTS: &[&str] = &[
    "wordpress",
    "www-data",
    "apache",
    "nginx",
    "webform",
    "webforms",
    "form",
    "forms",
    "website",
    "web",
    "webmaster",
    "contact-form",
    "contactform",
    "formmail",
    "typeform",
    "jotform",
    "wufoo",
    "formstack",
];

/// The address a web form or relay names as the requester's, when it is not the sender's
/// own and the sender is a relay: the website itself (a local part like `wordpress@`, or our
/// own domain), or the form put the requester in Reply-To. A person's own letter naming
/// another address of theirs is not a relay.
fn body_requester(mail: &Inbound) -> Option<String> {
    let from_full = mail.from.as_deref()?;
    let from = crate::address::base_address(from_full);
    let local = from.split('@').next().unwrap_or("");
    let relay = RELAY_LOCALPARTS.contains(&local)
        || internal_forward(mail)
        || mail
            .reply_to
            .as_deref()
            .is_some_and(|r| crate::address::base_address(r) != from);
    if !relay {
        return None;
    }
    let text = crate::mail::text::clip(&mail.new_text, 16 * 1024);
    EMAIL_FIELD
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| crate::address::base_address(m.as_str()))
        .find(|a| *a != from)
}

/// A forward from a colleague at our own domain (a recipient's domain).
fn internal_forward(mail: &Inbound) -> bool {
    let Some(from_domain) = mail
        .from
        .as_deref()
        .and_then(|f| f.rsplit_once('@'))
        .map(|(_, d)| d)
    else {
        return false;
    };
    mail.to
        .iter()
        .filter_map(|t| t.rsplit_once('@').map(|(_, d)| d))
        .any(|d| d == from_domain)
}
