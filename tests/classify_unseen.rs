//! Issue 28's blind set (`fixtures/unseen/<class>/*.eml` against `fixtures/unseen/expected.tsv`):
//! mail written from scratch in the voices of people and systems the rules were not written
//! for, one folder per failure class. Each class's test prints its score — **harmful
//! decisions first** (handled alone where a person was needed, handled on kinds the mail did
//! not ask for, or a machine's mail answered), then action and kind accuracy, and the rows
//! that differ — and fails on any harmful decision, or when a class's action accuracy falls
//! below its floor. Fails when a class has no fixtures.
//!
//! Written blind: labels were set before the rules were changed for issue 28. On that first
//! run (62 mails) the classifier decided 25 mails harmfully (12 machine mails answered, 5 of them handled as requests; 13 handled alone where a person was needed or on kinds not asked); the rules were then fixed
//! against these classes, so the figures now printed are no longer blind.

use privacy_inbox::classify::{Action, Classifier};
use privacy_inbox::kind::Kind;
use std::collections::BTreeSet;
use std::path::Path;

/// Each class's least action accuracy (percent); harmful decisions must be none at all.
const ACTION_FLOOR: usize = 80;

/// One labelled mail.
struct Row {
    file: String,
    actions: Vec<String>,
    kinds: BTreeSet<Kind>,
    lang: String,
    /// `None`: flags not checked.
    flags: Option<Vec<String>>,
}

fn rows(class: &str) -> Vec<Row> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/unseen");
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv readable");
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| l.starts_with(&format!("{class}/")))
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let [file, action, kinds, lang, flags] = c.as_slice() else {
                panic!("expected.tsv: want 5 tab-separated columns: {l}");
            };
            Row {
                file: file.to_string(),
                actions: action.split('|').map(str::to_string).collect(),
                kinds: kinds
                    .split('+')
                    .filter(|k| *k != "-" && !k.is_empty())
                    .map(|k| k.parse().unwrap_or_else(|e| panic!("{file}: {e}")))
                    .collect(),
                lang: lang.to_string(),
                flags: (*flags != "*").then(|| {
                    flags
                        .split(',')
                        .filter(|f| *f != "-")
                        .map(str::to_string)
                        .collect()
                }),
            }
        })
        .collect()
}

/// Scores one class; panics on a harmful decision or a mismatch.
fn score(class: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/unseen");
    let c = Classifier::builtin().expect("shipped rules load");
    let rows = rows(class);
    assert!(!rows.is_empty(), "no fixtures for class {class}");
    let (mut action_ok, mut kinds_ok, mut handled, mut harmful) = (0, 0, 0, Vec::new());
    let mut failures = Vec::new();
    for r in &rows {
        let raw = std::fs::read(dir.join(&r.file)).unwrap_or_else(|e| panic!("{}: {e}", r.file));
        let mail = privacy_inbox::mail::parse(&raw).unwrap_or_else(|e| panic!("{}: {e:#}", r.file));
        let got = c.classify(&mail);
        let got_kinds: BTreeSet<Kind> = got.kinds.iter().copied().collect();
        let action_right = r.actions.iter().any(|a| a == got.action.as_str());
        action_ok += usize::from(action_right);
        if r.actions.iter().any(|a| a != "ignore") {
            handled += 1;
            kinds_ok += usize::from(got_kinds == r.kinds);
        }
        let want_handle = r.actions.iter().any(|a| a == "handle");
        let want_ignore = r.actions.iter().all(|a| a == "ignore");
        if got.action == Action::Handle && (!want_handle || got_kinds != r.kinds) {
            harmful.push(format!("{}: handled alone as {got_kinds:?}", r.file));
        }
        if want_ignore && got.action != Action::Ignore {
            harmful.push(format!(
                "{}: a machine's mail {}d",
                r.file,
                got.action.as_str()
            ));
        }
        let mut problems = Vec::new();
        if !action_right {
            problems.push(format!(
                "action {} (want {})",
                got.action.as_str(),
                r.actions.join("|")
            ));
        }
        if !want_ignore && got_kinds != r.kinds {
            problems.push(format!("kinds {got_kinds:?} (want {:?})", r.kinds));
        }
        if r.lang != "*" && got.language != r.lang {
            problems.push(format!("language {} (want {})", got.language, r.lang));
        }
        if let Some(flags) = &r.flags {
            for (name, value) in [
                ("agent", got.agent),
                ("question", got.question),
                ("automated", got.automated),
            ] {
                if value != flags.iter().any(|f| f == name) {
                    problems.push(format!("{name} = {value}"));
                }
            }
            if flags.iter().any(|f| f == "forwarded") && !mail.forwarded {
                problems.push("not seen as forwarded".into());
            }
            if flags.iter().any(|f| f == "html_only") && !mail.html_only {
                problems.push("not seen as HTML-only".into());
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    {}",
                r.file,
                problems.join("; "),
                got.reasons.join("\n    ")
            ));
        }
    }
    eprintln!(
        "unseen/{class}: {} mails, harmful {}, action {:.1}%, kinds {:.1}% (of {handled} not machine-made), {} rows differ",
        rows.len(),
        harmful.len(),
        100.0 * action_ok as f64 / rows.len() as f64,
        100.0 * kinds_ok as f64 / handled.max(1) as f64,
        failures.len()
    );
    for f in &failures {
        eprintln!("  {}", f.lines().next().unwrap_or(""));
    }
    assert!(
        harmful.is_empty(),
        "harmful decisions in {class}:\n{}",
        harmful.join("\n")
    );
    // Rows that differ without harm (escalated where the label says handle, kinds read on
    // a mail a person reads anyway) are printed above; the class keeps a floor.
    assert!(
        action_ok * 100 >= rows.len() * ACTION_FLOOR,
        "{class}: action accuracy below {ACTION_FLOOR}%:\n{}",
        failures.join("\n")
    );
}

/// Helpdesk and CRM ticket acknowledgements, calendar invitations, read receipts, DMARC
/// reports, digests, form-builder notices, other companies' "we received your DSAR": no
/// RFC 3834 headers, never opened.
#[test]
fn machine_mail_without_rfc3834_headers_is_ignored() {
    score("machine");
}

/// A request plus a refund, a locked account, a complaint, a threat, the supervisory
/// authority or an employment dispute: escalated, kinds kept.
#[test]
fn mixed_needs_are_escalated_with_their_kinds() {
    score("mixed");
}

/// A child, a parent, a deceased relative, a former employee, "her account", lawyers and
/// agent firms: escalated as agent with kinds kept; "I am not writing on behalf of" is no agent.
#[test]
fn third_parties_are_escalated_as_agents() {
    score("third");
}

/// German without umlauts, separable verbs, du/ihr imperatives, Swiss German; Spanish without
/// accents and from Latin America; Québec and Belgian French; typos.
#[test]
fn spellings_and_regions_are_read() {
    score("spelling");
}

/// An article number means what it means in the law cited (LOPDGDD vs GDPR).
#[test]
fn law_citations_are_read_per_law() {
    score("law");
}

/// Corrections stated as the right value, sensitive data described plainly.
#[test]
fn corrections_and_sensitive_data_in_plain_words() {
    score("plain");
}

/// Checkbox forms, web-form relays, a colleague's forward without a word.
#[test]
fn forms_relays_and_forwards() {
    score("forms");
}

/// Vendor pitches, recruiters, journalists, newsletters, password help: never handled.
#[test]
fn not_requests_are_never_handled() {
    score("notreq");
}

/// HTML-only mail from Outlook (MsoNormal, conditional comments), Gmail and Apple Mail.
#[test]
fn html_only_mail_is_read() {
    score("html");
}
