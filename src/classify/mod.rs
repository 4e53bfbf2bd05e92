//! A first classifier: phrase patterns per kind (English and Spanish, common German and
//! French), negation-aware, reading only the new text of a mail. It returns an action
//! (handle | escalate | ignore), the kinds, and the reasons that fired.

use crate::kind::Kind;
use crate::mail::{triage, Inbound};
use anyhow::Result;
use regex::{Regex, RegexSet};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// What the bot should do with a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A clear request the bot may acknowledge by itself.
    Handle,
    /// A person must read it.
    Escalate,
    /// Machine-made: never answered.
    Ignore,
}

impl Action {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Handle => "handle",
            Action::Escalate => "escalate",
            Action::Ignore => "ignore",
        }
    }
}

/// The classifier's decision about one mail.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    /// handle | escalate | ignore
    pub action: Action,
    /// Kinds asked for.
    pub kinds: Vec<Kind>,
    /// Detected language.
    pub language: String,
    /// Sent by someone acting for another person.
    pub agent: bool,
    /// Machine-made.
    pub automated: bool,
    /// Asks a question a person must answer.
    pub question: bool,
    /// 0–1.
    pub confidence: f64,
    /// Which rules fired, on which words.
    pub reasons: Vec<String>,
}

struct KindRule {
    kind: Kind,
    re: Regex,
}

/// The compiled rules.
pub struct Classifier {
    kinds: Vec<KindRule>,
    set: RegexSet,
    negation: Regex,
    agent: Regex,
    question: Regex,
    phishing: Regex,
    threshold: f64,
}

const KIND_PATTERNS: &[(Kind, &str)] = &[
    (
        Kind::Delete,
        r"(?i)\b(delete|erase|remove|wipe|destroy|purge)\b[^.!?\n]{0,60}\b(my|all|any)\b[^.!?\n]{0,40}\b(data|information|info|account|details|records|profile|personal)|\b(deletion|erasure)\b[^.!?\n]{0,40}\b(data|information|account|request)|right to (be forgotten|erasure|delete)|\bclose (and delete )?my account|\b(borr(en|ar|ado|e)|elimin(en|ar|ación|e)|supri(man|mir|sión))\b[^.!?\n]{0,60}\b(mis|mi|todos|toda|datos|informaci[oó]n|cuenta)|\b(l[öo]sch(en|ung)|löschen)\b|\b(supprim(er|ez|ez toutes)|effacement|effacer)\b",
    ),
    (
        Kind::Access,
        r"(?i)\b(copy|access|export|download|disclos\w+|portab\w+|categories)\b[^.!?\n]{0,60}\b(my|all|the)?\b[^.!?\n]{0,40}\b(data|information|info|records)\b|\bwhat (personal )?(data|information|info)\b[^.!?\n]{0,40}\b(you|do you)|right to (know|access)|subject access request|\bDSAR\b|\bacceso\b[^.!?\n]{0,40}\b(datos|informaci[oó]n)|\bcopia\b[^.!?\n]{0,40}\b(datos|informaci[oó]n)|qu[eé] (datos|informaci[oó]n)\b|\bauskunft\b|\bdroit d'acc[eè]s|\bcopie de (mes|toutes)",
    ),
    (
        Kind::Correct,
        r"(?i)\b(correct|rectif\w+|update|fix|amend)\b[^.!?\n]{0,60}\b(my|the)\b[^.!?\n]{0,40}\b(data|information|address|name|email|details|record)|\bis (wrong|incorrect|inaccurate|out of date)|\b(corrij\w+|rectifi\w+|corregir)\b|\bberichtig\w+|\brectification\b",
    ),
    (
        Kind::OptOutSale,
        r"(?i)do not (sell|share)|don'?t (sell|share)|\bopt(-| )?out\b[^.!?\n]{0,40}\b(sale|selling|sharing|share)|stop (selling|sharing)|\bsale of my\b|global privacy control|\bGPC\b|no (vendan|compartan)|\bno vender\b|\bexclusi[oó]n\b[^.!?\n]{0,40}\bventa|nicht verkaufen|ne (vendez|partagez) pas",
    ),
    (
        Kind::OptOutMarketing,
        r"(?i)\bunsubscribe\b|stop (sending|emailing|the) (me )?(emails|e-mails|marketing|newsletters?|promotions?|offers)|stop (the )?(marketing|promotional|newsletter)|remove me from (your|the) (mailing|email|marketing)|\bno more (emails|marketing|newsletters)|direct marketing|\bdarme de baja\b|\bdar(se)? de baja\b|\bno (me )?(env[ií]en|manden) (m[aá]s )?(correos|publicidad|promociones)|\bwerbung\b|\bwiderspruch\b|\bd[ée]sinscri\w+|\bprospection\b",
    ),
    (
        Kind::LimitSensitive,
        r"(?i)\blimit\b[^.!?\n]{0,60}\bsensitive|\bsensitive (personal )?(data|information)\b[^.!?\n]{0,60}\b(limit|restrict|stop|use)|\blimitar\b[^.!?\n]{0,60}\bsensibles|\bdatos (personales )?sensibles\b",
    ),
];

impl Classifier {
    /// The shipped rules with the default threshold.
    pub fn builtin() -> Result<Classifier> {
        Self::load(None, 0.6)
    }

    /// The shipped rules; `extra_rules_dir` is reserved for admin rule files.
    pub fn load(extra_rules_dir: Option<&Path>, handle_threshold: f64) -> Result<Classifier> {
        if let Some(d) = extra_rules_dir {
            if !d.is_dir() {
                anyhow::bail!("Rules folder {} does not exist", d.display());
            }
        }
        let kinds = KIND_PATTERNS
            .iter()
            .map(|(k, p)| {
                Ok(KindRule {
                    kind: *k,
                    re: Regex::new(p)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let set = RegexSet::new(KIND_PATTERNS.iter().map(|(_, p)| *p))?;
        Ok(Classifier {
            kinds,
            set,
            negation: Regex::new(r"(?i)\b(do not|don't|dont|never|no|not)\s+(\w+\s+){0,2}$")?,
            agent: Regex::new(
                r"(?i)\b(on behalf of|authori[sz]ed agent|my client|power of attorney|en nombre de|im auftrag|au nom de)\b",
            )?,
            question: Regex::new(r"\?")?,
            phishing: Regex::new(
                r"(?i)(verify your account|account (will|may) be (deleted|suspended|closed)|click (here|the link)|confirm your (password|identity) (at|via)|https?://)",
            )?,
            threshold: handle_threshold,
        })
    }

    /// Classifies one parsed mail.
    pub fn classify(&self, mail: &Inbound) -> Classification {
        let text: String = format!("{}\n{}", mail.subject, mail.new_text)
            .chars()
            .take(50_000)
            .collect();
        let language = detect_language(&text);
        if let Some(why) = triage::automated(mail) {
            return Classification {
                action: Action::Ignore,
                kinds: vec![],
                language,
                agent: false,
                automated: true,
                question: false,
                confidence: 0.99,
                reasons: vec![format!("automated: {why}")],
            };
        }
        let mut kinds = Vec::new();
        let mut reasons = Vec::new();
        for i in self.set.matches(&text).iter() {
            let Some(rule) = self.kinds.get(i) else {
                continue;
            };
            let mut hit = false;
            for m in rule.re.find_iter(&text) {
                let before = &text[..m.start()];
                let window: String = before
                    .chars()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                if self.negation.is_match(&window) && rule.kind != Kind::OptOutSale {
                    reasons.push(format!("{}: negated \"{}\"", rule.kind, m.as_str()));
                    continue;
                }
                reasons.push(format!("{}: \"{}\"", rule.kind, m.as_str()));
                hit = true;
                break;
            }
            if hit {
                kinds.push(rule.kind);
            }
        }
        kinds.sort();
        kinds.dedup();
        let agent = self.agent.is_match(&text);
        let question = self.question.is_match(&mail.new_text);
        let phishing = self.phishing.is_match(&text);
        if phishing && kinds.contains(&Kind::Delete) {
            kinds.retain(|k| *k != Kind::Delete);
            reasons.push(
                "delete dropped: the mail looks like phishing or a notice (links, account threats)"
                    .into(),
            );
        }
        let mut confidence: f64 = if kinds.is_empty() { 0.2 } else { 0.85 };
        if phishing {
            confidence -= 0.3;
        }
        if mail.new_text.trim().is_empty() {
            confidence -= 0.3;
        }
        let confidence = confidence.clamp(0.0, 1.0);
        let action = if kinds.is_empty() || agent || confidence < self.threshold {
            Action::Escalate
        } else {
            Action::Handle
        };
        if agent {
            reasons.push("agent: writes on someone else's behalf".into());
        }
        Classification {
            action,
            kinds,
            language,
            agent,
            automated: false,
            question,
            confidence,
            reasons,
        }
    }
}

/// Stop-word scoring over en/es/de/fr.
pub fn detect_language(text: &str) -> String {
    const WORDS: &[(&str, &[&str])] = &[
        (
            "en",
            &[
                "the", "and", "my", "you", "please", "your", "data", "of", "to", "i",
            ],
        ),
        (
            "es",
            &[
                "el",
                "la",
                "los",
                "mis",
                "datos",
                "por",
                "favor",
                "que",
                "de",
                "mi",
                "y",
                "información",
            ],
        ),
        (
            "de",
            &[
                "der", "die", "und", "ich", "meine", "sie", "bitte", "daten", "nicht", "mit",
            ],
        ),
        (
            "fr",
            &[
                "le", "les", "et", "je", "mes", "vous", "données", "de", "pas", "mon",
            ],
        ),
    ];
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(2000)
        .collect();
    let mut best = ("en", 0usize);
    for (lang, list) in WORDS {
        let n = words.iter().filter(|w| list.contains(w)).count();
        if n > best.1 {
            best = (lang, n);
        }
    }
    best.0.to_string()
}

/// `classify` CLI: one line per file (JSON with `json`). Returns false if any file failed.
pub fn run_cli(
    classifier: &Classifier,
    files: &[String],
    json: bool,
    out: &mut dyn Write,
) -> Result<bool> {
    let mut ok = true;
    for file in files {
        let raw = if file == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
        } else {
            std::fs::read(file)
        };
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                eprintln!("privacy-inbox: {file}: {e}");
                ok = false;
                continue;
            }
        };
        let mail = match crate::intake::parse_isolated(&raw) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("privacy-inbox: {file}: {e:#}");
                ok = false;
                continue;
            }
        };
        let c = classifier.classify(&mail);
        if json {
            let v = serde_json::json!({
                "file": file,
                "action": c.action,
                "kinds": c.kinds,
                "language": c.language,
                "agent": c.agent,
                "automated": c.automated,
                "confidence": (c.confidence * 100.0).round() / 100.0,
                "reasons": c.reasons,
                "question": c.question,
            });
            writeln!(out, "{v}")?;
        } else {
            let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
            writeln!(
                out,
                "{file}: {} [{}] lang={} confidence={:.2}{}",
                c.action.as_str(),
                kinds.join(","),
                c.language,
                c.confidence,
                if c.agent { " agent" } else { "" }
            )?;
        }
    }
    Ok(ok)
}
