//! Hand-written fixtures (`fixtures/classify/*.eml`) against `fixtures/classify/expected.tsv`:
//! casual, typo'd, angry and multilingual mail, quoted acknowledgements, negation, HTML-only,
//! forwards, agents, out-of-office replies, phishing and questions; since issue 17 also
//! questions that are requests, typos, deletion words aimed at marketing mail, pronouns,
//! de/fr/es as people write them, closing an account, languages the rules do not cover,
//! relatives and firms writing for someone, several kinds, corrections and phone/QP/reply
//! structure. Prints action and kind accuracy and wrong deletes; every row must match.
//! Fails if none ran.

use privacy_inbox::classify::Classifier;
use privacy_inbox::kind::Kind;
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn fixtures_match_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/classify");
    let expected =
        std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv readable");
    let c = Classifier::builtin().expect("shipped rules load");
    let mut ran = 0usize;
    let mut failures = Vec::new();
    let (mut action_ok, mut kinds_ok, mut wrong_deletes) = (0usize, 0usize, Vec::new());
    let (mut automated, mut automated_ignored) = (0usize, 0usize);
    for (lineno, line) in expected.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, action, kinds, lang, flags] = cols.as_slice() else {
            panic!("expected.tsv:{}: want 5 tab-separated columns", lineno + 1);
        };
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mail = privacy_inbox::mail::parse(&raw).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        let got = c.classify(&mail);
        ran += 1;
        let want_kinds: BTreeSet<Kind> = kinds
            .split('+')
            .filter(|k| *k != "-" && !k.is_empty())
            .map(|k| k.parse().unwrap_or_else(|e| panic!("{file}: {e}")))
            .collect();
        let got_kinds: BTreeSet<Kind> = got.kinds.iter().copied().collect();
        let flags: Vec<&str> = flags.split(',').filter(|f| *f != "-").collect();
        action_ok += usize::from(got.action.as_str() == *action);
        kinds_ok += usize::from(got_kinds == want_kinds);
        if got_kinds.contains(&Kind::Delete) && !want_kinds.contains(&Kind::Delete) {
            wrong_deletes.push(file.to_string());
        }
        if flags.contains(&"automated") {
            automated += 1;
            automated_ignored += usize::from(got.action.as_str() == "ignore");
        }
        let mut problems = Vec::new();
        if got.action.as_str() != *action {
            problems.push(format!("action {} (want {action})", got.action.as_str()));
        }
        if got_kinds != want_kinds {
            problems.push(format!("kinds {got_kinds:?} (want {want_kinds:?})"));
        }
        if *lang != "*" && got.language != *lang {
            problems.push(format!("language {} (want {lang})", got.language));
        }
        for (name, value) in [
            ("agent", got.agent),
            ("question", got.question),
            ("automated", got.automated),
        ] {
            if value != flags.contains(&name) {
                problems.push(format!("{name} = {value}"));
            }
        }
        if flags.contains(&"forwarded") && !mail.forwarded {
            problems.push("not seen as forwarded".into());
        }
        if flags.contains(&"html_only") && !mail.html_only {
            problems.push("not seen as HTML-only".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{file}: {}\n    {}",
                problems.join("; "),
                got.reasons.join("\n    ")
            ));
        }
    }
    assert!(ran > 0, "no fixtures ran");
    eprintln!(
        "fixtures: {ran}, action {:.1}%, kinds {:.1}%, wrong deletes {}, automated ignored {automated_ignored}/{automated}, {} failed",
        100.0 * action_ok as f64 / ran as f64,
        100.0 * kinds_ok as f64 / ran as f64,
        wrong_deletes.len(),
        failures.len()
    );
    assert!(wrong_deletes.is_empty(), "wrong deletes: {wrong_deletes:?}");
    assert!(
        failures.is_empty(),
        "fixture failures:\n{}",
        failures.join("\n")
    );
}

/// Mail in a language no rule file covers is never handled, even when a request word the
/// rules know is in it (an English subject, the cognate "unsubscribe"): it is escalated
/// with the language named in the reasons, and `classify --json` keeps its keys.
#[test]
fn unsupported_languages_are_escalated_with_the_language_named() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/classify");
    let c = Classifier::builtin().expect("shipped rules load");
    for (file, code, name) in [
        ("nl-english-subject-delete.eml", "nl", "Dutch"),
        ("it-unsubscribe-cognate.eml", "it", "Italian"),
        ("pl-usuniecie-danych.eml", "pl", "Polish"),
        ("sv-radera-konto.eml", "sv", "Swedish"),
    ] {
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mail = privacy_inbox::mail::parse(&raw).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        let got = c.classify(&mail);
        assert_eq!(got.action.as_str(), "escalate", "{file}: {:?}", got.reasons);
        assert!(got.kinds.is_empty(), "{file}: {:?}", got.kinds);
        assert_eq!(got.language, code, "{file}");
        let why = format!("escalate: written in {name} ({code}), which the rules do not cover");
        assert!(got.reasons.contains(&why), "{file}: {:?}", got.reasons);
        let json = serde_json::to_value(&got).expect("serializes");
        let keys: BTreeSet<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "action",
                "agent",
                "automated",
                "confidence",
                "forwarded",
                "kinds",
                "language",
                "question",
                "reasons",
                "sentences",
                "set_aside",
                "signals",
                "unplaced",
            ]),
            "{file}"
        );
    }
}
