//! Rules as data: one TOML file per language (`rules/en.toml`, …), shipped inside the binary
//! and extendable from an admin's directory. Loaded and validated once; every problem is
//! reported together, each naming its file and line. See `rules/README.md` for the format.

use crate::kind::Kind;
use anyhow::anyhow;
// Byte regexes without Unicode classes: the text is folded to ASCII first (see
// `normalize`), and ASCII-only automata are several times faster.
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use toml::Spanned;

/// The shipped rule files, embedded as the defaults.
pub const BUILTIN: &[(&str, &str)] = &[
    ("rules/en.toml", include_str!("../../rules/en.toml")),
    ("rules/es.toml", include_str!("../../rules/es.toml")),
    ("rules/de.toml", include_str!("../../rules/de.toml")),
    ("rules/fr.toml", include_str!("../../rules/fr.toml")),
];

/// Non-kind evidence a rule can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// An authorized agent, lawyer or agency acting for someone else.
    Agent,
    /// Refers to an earlier request (follow-up, reminder, "no answer yet"): request words in
    /// the same sentence do not count as a new request.
    Reminder,
    /// A complaint (to us or to a regulator).
    Complaint,
    /// A legal notice: litigation hold, subpoena, lawsuit.
    Legal,
    /// Phishing / scam wording: never a delete request.
    Phishing,
    /// Asks something a human must answer, even without a question mark.
    Question,
    /// Asks how to do something themself ("Can I delete my account in the app?"): a
    /// question; request words in the same sentence do not count as a request.
    HowTo,
    /// Asks to close or cancel an account: not a deletion request by itself, so the mail is
    /// escalated (staff ask whether the data should be erased too) unless it also asks for
    /// deletion. The sentence counts as a request, not a question.
    CloseAccount,
    /// A need other than a privacy request (a refund, billing, a locked account, a
    /// complaint, a threat, an employment dispute): the sentence is not accounted for, so a
    /// person reads the mail, the request's kinds pre-filled.
    Need,
    /// A system's acknowledgement of a request or ticket ("we have received your request",
    /// "ticket #4711 was created", "do not reply to this message"): machine mail that never
    /// says so in its headers; ignored when nothing else in it needs a person.
    Receipt,
}

impl Signal {
    fn parse(s: &str) -> Option<Signal> {
        Some(match s {
            "agent" => Signal::Agent,
            "reminder" => Signal::Reminder,
            "complaint" => Signal::Complaint,
            "legal" => Signal::Legal,
            "phishing" => Signal::Phishing,
            "question" => Signal::Question,
            "how_to" => Signal::HowTo,
            "close_account" => Signal::CloseAccount,
            "need" => Signal::Need,
            "receipt" => Signal::Receipt,
            _ => return None,
        })
    }

    /// Wire name, as written in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Agent => "agent",
            Signal::Reminder => "reminder",
            Signal::Complaint => "complaint",
            Signal::Legal => "legal",
            Signal::Phishing => "phishing",
            Signal::Question => "question",
            Signal::HowTo => "how_to",
            Signal::CloseAccount => "close_account",
            Signal::Need => "need",
            Signal::Receipt => "receipt",
        }
    }
}

/// What a rule reports when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Kind(Kind),
    Signal(Signal),
}

/// One rule file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleFile {
    language: String,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    negations: Vec<Spanned<String>>,
    #[serde(default)]
    negation_exceptions: Vec<Spanned<String>>,
    #[serde(default)]
    post_negations: Vec<Spanned<String>>,
    #[serde(default)]
    clause_breaks: Vec<Spanned<String>>,
    #[serde(default)]
    typo_words: Vec<String>,
    #[serde(default)]
    not_typos: Vec<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    id: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    signal: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    negatable: Option<bool>,
    #[serde(default)]
    unless: Option<String>,
    #[serde(default)]
    unless_after: Option<String>,
    #[serde(default)]
    context: Option<String>,
    /// In an override file: removes the shipped rule with this id.
    #[serde(default)]
    disabled: bool,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// `<language>.<id>`, unique across all files.
    pub id: String,
    pub target: Target,
    pub weight: f64,
    pub negatable: bool,
    pub regex: Regex,
    pub unless: Option<Regex>,
    /// A match does not count when the rest of its clause matches this (anchor it with `^`):
    /// "remove my address| from the promo emails" is an unsubscribe, not a deletion.
    pub unless_after: Option<Regex>,
    /// The rule fires only when the whole mail (subject and new text) matches this: for
    /// pronouns ("opt me out of that" is about selling when the mail speaks of selling).
    pub context: Option<Regex>,
    /// The pattern uses `^`/`$` (sentence start/end), so it is run per sentence.
    pub anchored: bool,
}

/// Stop words of one language, for detection, and its words for typo tolerance.
#[derive(Debug)]
pub struct Language {
    pub code: String,
    pub stopwords: HashSet<String>,
    /// The request vocabulary: a word one edit from one of these is read as it.
    pub typo_words: Vec<String>,
    /// Words never read as typos: every word of the language's rule patterns, and its
    /// `not-typos` (real words one edit from the vocabulary, such as "remote").
    pub known_words: HashSet<String>,
}

/// All rules, compiled.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// One pattern per rule, same order, for the first pass.
    pub set: RegexSet,
    pub negation: Option<Regex>,
    pub negation_exception: Option<Regex>,
    pub post_negation: Option<Regex>,
    pub clause_break: Option<Regex>,
    pub languages: Vec<Language>,
}

/// Shorthands usable in patterns: `{gap}` = up to three words, `{gap6}` = up to six.
fn expand(pattern: &str) -> String {
    let folded = super::normalize::fold(pattern.trim());
    folded
        .replace("{gap}", r"(?:[ ,]+[a-z0-9'/().:-]+){0,3}[ ,]+")
        .replace("{gap6}", r"(?:[ ,]+[a-z0-9'/().:-]+){0,6}[ ,]+")
}

fn build(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&expand(pattern))
        .case_insensitive(true)
        .unicode(false)
        .size_limit(4 << 20)
        .build()
}

/// 1-based line of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset).unwrap_or(src).matches('\n').count() + 1
}

struct Loaded {
    rules: Vec<(String, Rule)>,
    negations: Vec<String>,
    negation_exceptions: Vec<String>,
    post_negations: Vec<String>,
    clause_breaks: Vec<String>,
    languages: Vec<Language>,
}

/// Loads the shipped rules plus every `*.toml` in `extra_dir` (sorted by name). A rule in an
/// extra file whose id matches a shipped rule of the same language replaces it (or removes
/// it, with `disabled = true`); other rules are added.
pub fn load(extra_dir: Option<&Path>) -> anyhow::Result<RuleSet> {
    let mut sources: Vec<(String, String)> = BUILTIN
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    let mut errors: Vec<String> = Vec::new();
    if let Some(dir) = extra_dir {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut paths: Vec<_> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                paths.sort();
                for p in paths {
                    match std::fs::read_to_string(&p) {
                        Ok(s) => sources.push((p.display().to_string(), s)),
                        Err(e) => errors.push(format!("{}: cannot read: {e}", p.display())),
                    }
                }
            }
            Err(e) => errors.push(format!(
                "{}: cannot read rules directory: {e}",
                dir.display()
            )),
        }
    }
    let mut loaded = Loaded {
        rules: Vec::new(),
        negations: Vec::new(),
        negation_exceptions: Vec::new(),
        post_negations: Vec::new(),
        clause_breaks: Vec::new(),
        languages: Vec::new(),
    };
    for (name, src) in &sources {
        load_file(name, src, &mut loaded, &mut errors);
    }
    if !errors.is_empty() {
        return Err(anyhow!(
            "Invalid classifier rules:\n  {}",
            errors.join("\n  ")
        ));
    }
    let rules: Vec<Rule> = loaded.rules.into_iter().map(|(_, r)| r).collect();
    let set = RegexSetBuilder::new(rules.iter().map(|r| r.regex.as_str()))
        .case_insensitive(true)
        .unicode(false)
        .size_limit(64 << 20)
        .dfa_size_limit(32 << 20)
        .build()
        .map_err(|e| anyhow!("Classifier rules do not compile together: {e}"))?;
    Ok(RuleSet {
        rules,
        set,
        negation: alternation(&loaded.negations)?,
        negation_exception: alternation(&loaded.negation_exceptions)?,
        post_negation: alternation(&loaded.post_negations)?,
        clause_break: alternation(&loaded.clause_breaks)?,
        languages: loaded.languages,
    })
}

fn alternation(parts: &[String]) -> anyhow::Result<Option<Regex>> {
    if parts.is_empty() {
        return Ok(None);
    }
    let joined = parts
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|");
    RegexBuilder::new(&joined)
        .case_insensitive(true)
        .unicode(false)
        .build()
        .map(Some)
        .map_err(|e| anyhow!("Classifier cue lists do not compile together: {e}"))
}

fn load_file(name: &str, src: &str, out: &mut Loaded, errors: &mut Vec<String>) {
    let file: RuleFile = match toml::from_str(src) {
        Ok(f) => f,
        Err(e) => {
            let line = e.span().map(|s| line_of(src, s.start)).unwrap_or(0);
            errors.push(format!("{name}:{line}: {}", e.message()));
            return;
        }
    };
    let lang = file.language.trim().to_ascii_lowercase();
    if lang.is_empty() || !lang.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        errors.push(format!(
            "{name}:1: language must be a code like \"en\", got {:?}",
            file.language
        ));
        return;
    }
    let fold = |w: &String| super::normalize::fold(w);
    let pattern_words = file.rules.iter().flat_map(|r| {
        let r = r.get_ref();
        [r.pattern.as_deref(), r.unless.as_deref()]
            .into_iter()
            .flatten()
            .flat_map(super::typo::pattern_words)
    });
    let known: Vec<String> = file
        .not_typos
        .iter()
        .map(fold)
        .chain(pattern_words)
        .collect();
    match out.languages.iter_mut().find(|l| l.code == lang) {
        Some(l) => {
            l.stopwords.extend(file.stopwords.iter().map(fold));
            l.typo_words.extend(file.typo_words.iter().map(fold));
            l.known_words.extend(known);
        }
        None => out.languages.push(Language {
            code: lang.clone(),
            stopwords: file.stopwords.iter().map(fold).collect(),
            typo_words: file.typo_words.iter().map(fold).collect(),
            known_words: known.into_iter().collect(),
        }),
    }
    for (list, target) in [
        (&file.negations, &mut out.negations),
        (&file.negation_exceptions, &mut out.negation_exceptions),
        (&file.post_negations, &mut out.post_negations),
        (&file.clause_breaks, &mut out.clause_breaks),
    ] {
        for cue in list {
            match build(cue.get_ref()) {
                Ok(_) => target.push(expand(cue.get_ref())),
                Err(e) => errors.push(format!(
                    "{name}:{}: bad cue pattern {:?}: {}",
                    line_of(src, cue.span().start),
                    cue.get_ref(),
                    first_line(&e.to_string())
                )),
            }
        }
    }
    let mut seen = HashSet::new();
    for spanned in &file.rules {
        let line = line_of(src, spanned.span().start);
        let raw = spanned.get_ref();
        let at = format!("{name}:{line}: rule `{}`", raw.id);
        if raw.id.trim().is_empty() {
            errors.push(format!("{name}:{line}: rule without an id"));
            continue;
        }
        let full_id = format!("{lang}.{}", raw.id.trim());
        if !seen.insert(full_id.clone()) {
            errors.push(format!("{at}: duplicate id in this file"));
            continue;
        }
        let existing = out.rules.iter().position(|(id, _)| *id == full_id);
        if raw.disabled {
            match existing {
                Some(pos) => {
                    out.rules.remove(pos);
                }
                None => errors.push(format!(
                    "{at}: disabled, but there is no such rule to disable"
                )),
            }
            continue;
        }
        let target = match (&raw.kind, &raw.signal) {
            (Some(k), None) => match k.parse::<Kind>() {
                Ok(kind) => Target::Kind(kind),
                Err(e) => {
                    errors.push(format!("{at}: {e}"));
                    continue;
                }
            },
            (None, Some(s)) => match Signal::parse(s) {
                Some(sig) => Target::Signal(sig),
                None => {
                    errors.push(format!("{at}: unknown signal `{s}` (expected one of: agent, reminder, complaint, legal, phishing, question, how_to, close_account)"));
                    continue;
                }
            },
            _ => {
                errors.push(format!("{at}: needs exactly one of `kind` or `signal`"));
                continue;
            }
        };
        let Some(pattern) = raw.pattern.as_deref().filter(|p| !p.trim().is_empty()) else {
            errors.push(format!("{at}: missing `pattern`"));
            continue;
        };
        let weight = raw.weight.unwrap_or(0.8);
        if !(0.0..=1.0).contains(&weight) || weight.is_nan() {
            errors.push(format!(
                "{at}: weight must be between 0 and 1, got {weight}"
            ));
            continue;
        }
        let regex = match build(pattern) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{at}: bad pattern: {}", first_line(&e.to_string())));
                continue;
            }
        };
        if regex.is_match(b"") {
            errors.push(format!("{at}: pattern matches empty text"));
            continue;
        }
        let unless = match raw.unless.as_deref().map(build) {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                errors.push(format!(
                    "{at}: bad `unless` pattern: {}",
                    first_line(&e.to_string())
                ));
                continue;
            }
        };
        let mut optional = [None, None];
        let mut bad = false;
        for (slot, (name, src_pattern)) in optional.iter_mut().zip([
            ("unless-after", raw.unless_after.as_deref()),
            ("context", raw.context.as_deref()),
        ]) {
            match src_pattern.map(build) {
                None => {}
                Some(Ok(r)) => *slot = Some(r),
                Some(Err(e)) => {
                    errors.push(format!(
                        "{at}: bad `{name}` pattern: {}",
                        first_line(&e.to_string())
                    ));
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        let [unless_after, context] = optional;
        let rule = Rule {
            id: full_id.clone(),
            unless_after,
            context,
            target,
            weight,
            negatable: raw.negatable.unwrap_or(true),
            anchored: uses_anchors(pattern),
            regex,
            unless,
        };
        match existing {
            Some(pos) => {
                if let Some(slot) = out.rules.get_mut(pos) {
                    *slot = (full_id, rule);
                }
            }
            None => out.rules.push((full_id, rule)),
        }
    }
}

/// True when a pattern uses `^` or `$` as anchors (sentence start/end). A `^` that negates
/// a class (`[^.;]`), anything inside a class and escaped characters are not anchors: such
/// rules need not be run sentence by sentence.
fn uses_anchors(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => {
                in_class = true;
                // `[^` and `[]` / `[^]`: the next characters belong to the class.
                let rest = chars.as_str();
                let skip = match rest.as_bytes() {
                    [b'^', b']', ..] => 2,
                    [b'^', ..] | [b']', ..] => 1,
                    _ => 0,
                };
                for _ in 0..skip {
                    chars.next();
                }
            }
            '[' => {
                // A nested class (`[[:alpha:]]`, `[a-z&&[^x]]`): not tracked, stay conservative.
                return pattern.contains('^') || pattern.contains('$');
            }
            ']' if in_class => in_class = false,
            '^' | '$' if !in_class => return true,
            _ => {}
        }
    }
    false
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_for(src: &str) -> String {
        let mut loaded = Loaded {
            rules: Vec::new(),
            negations: Vec::new(),
            negation_exceptions: Vec::new(),
            post_negations: Vec::new(),
            clause_breaks: Vec::new(),
            languages: Vec::new(),
        };
        let mut errors = Vec::new();
        load_file("x.toml", src, &mut loaded, &mut errors);
        errors.join("\n")
    }

    #[test]
    fn anchors_are_told_from_negated_classes() {
        for (pattern, want) in [
            ("^can i delete", true),
            ("stop it$", true),
            (r"\bobject\b[^.;]{0,60}\bmarketing", false),
            (r"price \$5|a\^b", false),
            ("[]^x] only", false),
            ("[^]x]+ end$", true),
            ("x|^puedo", true),
            ("plain words", false),
        ] {
            assert_eq!(uses_anchors(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn builtin_rules_load() {
        let set = load(None).expect("shipped rules are valid");
        assert!(set.rules.len() > 50);
        for code in ["en", "es", "de", "fr"] {
            assert!(set.languages.iter().any(|l| l.code == code), "{code}");
        }
    }

    #[test]
    fn bad_rules_name_file_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "language = \"en\"\n\n[[rule]]\nid = \"a\"\nkind = \"erase\"\npattern = \"x\"\n",
                "x.toml:3: rule `a`: unknown request kind `erase`",
            ),
            (
                "language = \"en\"\n[[rule]]\nid = \"a\"\nkind = \"delete\"\npattern = \"(unclosed\"\n",
                "x.toml:2: rule `a`: bad pattern",
            ),
            (
                "language = \"en\"\n[[rule]]\nid = \"a\"\nkind = \"delete\"\npatern = \"x\"\n",
                "x.toml:5: unknown field `patern`",
            ),
            (
                "language = \"en\"\n[[rule]]\nid = \"a\"\nsignal = \"spam\"\npattern = \"x\"\n",
                "x.toml:2: rule `a`: unknown signal `spam`",
            ),
            (
                "language = \"en\"\n[[rule]]\nid = \"a\"\nkind = \"delete\"\nweight = 2.0\npattern = \"x\"\n",
                "weight must be between 0 and 1",
            ),
            (
                "language = \"en\"\n[[rule]]\nid = \"a\"\nkind = \"delete\"\npattern = \"x?\"\n",
                "pattern matches empty text",
            ),
        ];
        for (src, want) in cases {
            let got = errors_for(src);
            assert!(got.contains(want), "want {want:?} in {got:?}");
        }
    }

    #[test]
    fn override_dir_replaces_and_disables() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("en.toml"),
            "language = \"en\"\n[[rule]]\nid = \"acme-wipe\"\nkind = \"delete\"\nweight = 0.9\npattern = 'wipe me out'\n",
        )
        .expect("write");
        let set = load(Some(dir.path())).expect("loads");
        assert!(set.rules.iter().any(|r| r.id == "en.acme-wipe"));
        std::fs::write(
            dir.path().join("bad.toml"),
            "language = \"en\"\n[[rule]]\nid = \"b\"\nkind = \"nope\"\npattern = 'x'\n",
        )
        .expect("write");
        let err = load(Some(dir.path())).expect_err("bad rule fails");
        assert!(
            format!("{err:#}").contains("bad.toml:2: rule `b`"),
            "{err:#}"
        );
    }
}
