//! Sentence-level evidence: which rules fire where, which of them are negated ("do NOT
//! delete my account") or only mention an earlier request, which signals fire, and which
//! sentences ask a question. One `RegexSet` pass per sentence finds the candidate rules;
//! only those are then run to locate the words.

use super::rules::{Rule, RuleSet, Signal, Target};
use crate::kind::Kind;
use serde::Serialize;
use std::collections::BTreeMap;

/// How far back (bytes of folded text) a negation cue may stand before a request.
const NEGATION_REACH: usize = 60;
/// How far after a request a trailing negation cue is looked for (German "… nicht").
const POST_NEGATION_REACH: usize = 30;
/// The most words quoted from the mail in one reason.
const QUOTE_MAX: usize = 70;
/// The most bytes of one sentence shown in its reading.
const READING_MAX: usize = 240;

/// How one sentence of the subject and new text was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// The sentence (folded: lower case, accents removed), cut to 240 bytes.
    pub text: String,
    /// What placed it: `request: <rule ids>`, `signal: <signal> (<rule id>)`, `negated
    /// request`, `question`, `subject`, `courtesy`, `identifying data`, `signature`,
    /// `request context`, `legal recourse as a condition`; or `need: <rule id>` and
    /// `unexplained` for sentences it could not place (then a person reads the mail).
    pub reading: String,
}

impl Reading {
    /// A sentence the bot could not place.
    pub fn unplaced(&self) -> bool {
        self.reading == "unexplained" || self.reading.starts_with("need:")
    }
}

/// Evidence for one kind.
#[derive(Debug, Default, Clone)]
pub struct KindEvidence {
    /// Combined score, `1 - Π(1 - weight)` over the distinct rules that fired.
    pub score: f64,
    /// The rule ids that counted.
    pub rules: Vec<String>,
}

/// Everything the sentence pass found.
#[derive(Debug, Default)]
pub struct Evidence {
    pub kinds: BTreeMap<Kind, KindEvidence>,
    /// Kinds that were only negated or only mentioned in a reminder.
    pub set_aside: BTreeMap<Kind, String>,
    /// Signals that fired: (signal, rule id, rule weight).
    pub signals: Vec<(Signal, String, f64)>,
    /// Sentences that ask something a human must answer.
    pub questions: Vec<String>,
    pub reasons: Vec<String>,
    /// Every sentence's reading, in order.
    pub readings: Vec<Reading>,
}

impl Evidence {
    pub fn has(&self, signal: Signal) -> bool {
        self.signals.iter().any(|(s, _, _)| *s == signal)
    }

    /// Combined strength of one signal, `1 - Π(1 - weight)` over distinct rules.
    pub fn strength(&self, signal: Signal) -> f64 {
        1.0 - self
            .signals
            .iter()
            .filter(|(s, _, _)| *s == signal)
            .fold(1.0, |acc, (_, _, w)| acc * (1.0 - w))
    }
}

/// Analyses the folded text (already split into `sentences`; the new text starts at byte
/// `body_at`, before it is the subject).
pub fn analyze(
    rules: &RuleSet,
    text: &str,
    sentences: &[(usize, usize)],
    body_at: usize,
) -> Evidence {
    let mut ev = Evidence::default();
    ev.readings.reserve(sentences.len());
    let candidates = candidates_by_sentence(rules, text, sentences);
    for (si, &(start, end)) in sentences.iter().enumerate() {
        let Some(s) = text.get(start..end) else {
            continue;
        };
        let asks = s.ends_with('?') || s.contains("? ");
        let matched = candidates.get(si).map(Vec::as_slice).unwrap_or(&[]);
        if matched.is_empty() && !asks {
            let reading = if start < body_at {
                "subject"
            } else {
                super::account::place(s).unwrap_or("unexplained")
            };
            ev.readings.push(Reading {
                text: cut(s),
                reading: reading.to_string(),
            });
            continue;
        }
        let mut kind_hits: Vec<(&Rule, &str)> = Vec::new();
        let mut sentence_signals: Vec<Signal> = Vec::new();
        let mut signal_rules: Vec<(Signal, &str)> = Vec::new();
        let mut negated_here = false;
        for &idx in matched {
            let Some(rule) = rules.rules.get(idx) else {
                continue;
            };
            if rule
                .unless
                .as_ref()
                .is_some_and(|u| u.is_match(s.as_bytes()))
                || rule
                    .context
                    .as_ref()
                    .is_some_and(|c| !c.is_match(text.as_bytes()))
            {
                continue;
            }
            match rule.target {
                Target::Signal(sig) => {
                    if let Some(m) = rule.regex.find(s.as_bytes()) {
                        let words = s.get(m.range()).unwrap_or("");
                        // "I am not writing on behalf of my company": no agent.
                        if sig == Signal::Agent {
                            if let Some(cue) = negation(rules, rule, s, m.start(), m.start()) {
                                ev.reasons.push(format!(
                                    "negated: {} (agent) on \"{}\" by \"{}\"",
                                    rule.id,
                                    quote(words),
                                    cue.trim()
                                ));
                                negated_here = true;
                                continue;
                            }
                        }
                        sentence_signals.push(sig);
                        signal_rules.push((sig, rule.id.as_str()));
                        if ev.signals.iter().any(|(_, id, _)| *id == rule.id) {
                            continue;
                        }
                        ev.reasons.push(format!(
                            "signal {} by {} on \"{}\"",
                            sig.as_str(),
                            rule.id,
                            quote(words)
                        ));
                        ev.signals.push((sig, rule.id.clone(), rule.weight));
                    }
                }
                Target::Kind(kind) => {
                    let mut negated = None;
                    let mut found = None;
                    for m in rule.regex.find_iter(s.as_bytes()).take(4) {
                        let words = s.get(m.range()).unwrap_or("");
                        if let Some(ua) = &rule.unless_after {
                            let rest = clause_rest(rules, s, m.end());
                            if ua.is_match(rest.as_bytes()) {
                                ev.reasons.push(format!(
                                    "not counted: {} ({}) on \"{}\" because of \"{}\"",
                                    rule.id,
                                    kind,
                                    quote(words),
                                    quote(rest)
                                ));
                                continue;
                            }
                        }
                        match negation(rules, rule, s, m.start(), m.end()) {
                            Some(cue) => negated = Some((words, cue)),
                            None => {
                                found = Some(words);
                                break;
                            }
                        }
                    }
                    match (found, negated) {
                        (Some(words), _) => kind_hits.push((rule, words)),
                        (None, Some((words, cue))) => {
                            negated_here = true;
                            ev.reasons.push(format!(
                                "negated: {} ({}) on \"{}\" by \"{}\"",
                                rule.id,
                                kind,
                                quote(words),
                                cue.trim()
                            ));
                            ev.set_aside.entry(kind).or_insert_with(|| "negated".into());
                        }
                        (None, None) => {}
                    }
                }
            }
        }
        let reminder = sentence_signals.contains(&Signal::Reminder);
        let how_to = sentence_signals.contains(&Signal::HowTo);
        // Closing an account is a request (not a question), though of no kind by itself.
        let mut counted = sentence_signals.contains(&Signal::CloseAccount);
        let mut counted_rules: Vec<&str> = Vec::new();
        for (rule, words) in kind_hits {
            let Target::Kind(kind) = rule.target else {
                continue;
            };
            if how_to {
                ev.reasons.push(format!(
                    "asked about, not requested: {} ({kind}) on \"{}\"",
                    rule.id,
                    quote(words)
                ));
                ev.set_aside
                    .entry(kind)
                    .or_insert_with(|| "asked how to do it, not a request".into());
                continue;
            }
            if reminder {
                ev.reasons.push(format!(
                    "earlier request only: {} ({kind}) on \"{}\"",
                    rule.id,
                    quote(words)
                ));
                ev.set_aside
                    .entry(kind)
                    .or_insert_with(|| "mentioned as an earlier request".into());
                continue;
            }
            counted = true;
            counted_rules.push(rule.id.as_str());
            let entry = ev.kinds.entry(kind).or_default();
            if !entry.rules.contains(&rule.id) {
                entry.score = 1.0 - (1.0 - entry.score) * (1.0 - rule.weight);
                entry.rules.push(rule.id.clone());
                ev.reasons.push(format!(
                    "{kind} {:.2} by {} on \"{}\"",
                    rule.weight,
                    rule.id,
                    quote(words)
                ));
            }
        }
        // A question that is itself a request ("Could you delete my data?") is not a question.
        let asks_question = asks || sentence_signals.contains(&Signal::Question);
        if how_to || (asks_question && !counted && !reminder) {
            ev.questions.push(quote(s));
        }
        let need = signal_rules.iter().find(|(sig, _)| *sig == Signal::Need);
        let other = signal_rules
            .iter()
            .find(|(sig, _)| !matches!(sig, Signal::Need | Signal::Question | Signal::HowTo));
        let reading = if let Some((_, id)) = need {
            format!("need: {id}")
        } else if counted {
            if counted_rules.is_empty() {
                "request: close account".to_string()
            } else {
                format!("request: {}", counted_rules.join(", "))
            }
        } else if let Some((sig, id)) = other {
            format!("signal: {} ({id})", sig.as_str())
        } else if negated_here || reminder {
            "negated request".to_string()
        } else if how_to || asks_question {
            "question".to_string()
        } else if start < body_at {
            "subject".to_string()
        } else {
            super::account::place(s)
                .unwrap_or("unexplained")
                .to_string()
        };
        ev.readings.push(Reading {
            text: cut(s),
            reading,
        });
    }
    for k in ev.kinds.keys() {
        ev.set_aside.remove(k);
    }
    ev
}

/// For each sentence, the rules whose pattern matches inside it: one `RegexSet` scan per
/// sentence (the sentence is the haystack, so `^`/`$` anchor at its ends), instead of
/// locating every candidate rule over the whole text and re-checking anchored rules
/// sentence by sentence (profiled: those per-rule scans were most of the classifier's time).
///
/// Order within a sentence (it decides the order of reasons and signals): first the rules
/// that also match the whole text, then the rest (anchored rules that only match at a
/// sentence start or end), each group by rule order.
fn candidates_by_sentence(
    rules: &RuleSet,
    text: &str,
    sentences: &[(usize, usize)],
) -> Vec<Vec<usize>> {
    // Whether an anchored rule matches the whole text (decided once, when needed). A rule
    // without anchors that matches inside a sentence always matches the whole text.
    let mut anchored_in_text: Vec<Option<bool>> = vec![None; rules.rules.len()];
    let mut per: Vec<Vec<usize>> = Vec::with_capacity(sentences.len());
    for &(s, e) in sentences {
        let Some(sentence) = text.get(s..e) else {
            per.push(Vec::new());
            continue;
        };
        // Most sentences match no rule: a plain scan, which may stop early, says so more
        // cheaply than the overlapping scan that names every rule.
        if !rules.set.is_match(sentence.as_bytes()) {
            per.push(Vec::new());
            continue;
        }
        let matched = rules.set.matches(sentence.as_bytes());
        if !matched.matched_any() {
            per.push(Vec::new());
            continue;
        }
        let mut first = Vec::new();
        let mut later = Vec::new();
        for idx in matched.iter() {
            let Some(rule) = rules.rules.get(idx) else {
                continue;
            };
            let in_text = !rule.anchored
                || match anchored_in_text.get_mut(idx) {
                    Some(Some(known)) => *known,
                    Some(slot) => *slot.insert(rule.regex.is_match(text.as_bytes())),
                    None => false,
                };
            if in_text {
                first.push(idx);
            } else {
                later.push(idx);
            }
        }
        first.extend(later);
        per.push(first);
    }
    per
}

/// The negation cue that cancels a request matched at `start..end`, if any: a cue between
/// the start of its clause and the end of the match, or (German word order) a trailing cue
/// before the next clause break.
fn negation(rules: &RuleSet, rule: &Rule, s: &str, start: usize, end: usize) -> Option<String> {
    if !rule.negatable {
        return None;
    }
    let neg = rules.negation.as_ref()?;
    let before = s.get(..start).unwrap_or("");
    let mut clause_start = before
        .rfind([',', ';', ':', '(', ')', '"'])
        .map(|p| p + 1)
        .unwrap_or(0);
    if let Some(br) = &rules.clause_break {
        if let Some(m) = br.find_iter(before.as_bytes()).last() {
            clause_start = clause_start.max(m.end());
        }
    }
    let mut from = clause_start.max(start.saturating_sub(NEGATION_REACH));
    while from < start && !s.is_char_boundary(from) {
        from += 1;
    }
    if let Some(window) = s.get(from..end) {
        let mut bytes = window.as_bytes().to_vec();
        if let Some(ex) = &rules.negation_exception {
            for m in ex.find_iter(window.as_bytes()) {
                if let Some(span) = bytes.get_mut(m.range()) {
                    span.fill(b' ');
                }
            }
        }
        if let Some(m) = neg.find(&bytes) {
            return Some(String::from_utf8_lossy(m.as_bytes()).into_owned());
        }
    }
    let post = rules.post_negation.as_ref()?;
    let after = s.get(end..).unwrap_or("");
    let mut stop = after
        .find([',', ';', ':', '(', '.'])
        .unwrap_or(after.len())
        .min(POST_NEGATION_REACH);
    if let Some(br) = &rules.clause_break {
        if let Some(m) = br.find(after.as_bytes()) {
            stop = stop.min(m.start());
        }
    }
    while stop > 0 && !after.is_char_boundary(stop) {
        stop -= 1;
    }
    after
        .get(..stop)
        .and_then(|w| post.find(w.as_bytes()))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
}

/// The rest of the clause after byte `end` of sentence `s`: up to the next `,;:.()` or
/// clause break ("and", "but", …).
fn clause_rest<'a>(rules: &RuleSet, s: &'a str, end: usize) -> &'a str {
    let after = s.get(end..).unwrap_or("");
    let mut stop = after
        .find([',', ';', ':', '(', ')', '.', '!', '?'])
        .unwrap_or(after.len());
    if let Some(br) = &rules.clause_break {
        if let Some(m) = br.find(after.as_bytes()) {
            stop = stop.min(m.start());
        }
    }
    while stop > 0 && !after.is_char_boundary(stop) {
        stop -= 1;
    }
    after.get(..stop).unwrap_or("")
}

/// A sentence cut to [`READING_MAX`] bytes on a character boundary.
fn cut(s: &str) -> String {
    crate::mail::text::clip(s.trim(), READING_MAX).to_string()
}

/// A short excerpt of mail text for a reason line.
pub fn quote(s: &str) -> String {
    let s = s.trim();
    if s.len() <= QUOTE_MAX {
        return s.replace('"', "'");
    }
    let mut end = QUOTE_MAX;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or("").replace('"', "'"))
}
