//! Hand-written fixtures (`fixtures/classify/*.eml`) against `fixtures/classify/expected.tsv`:
//! casual, typo'd, angry and multilingual mail, quoted acknowledgements, negation, HTML-only,
//! forwards, agents, out-of-office replies, phishing and questions. Fails if none ran.

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
    eprintln!("{ran} fixtures, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "fixture failures:\n{}",
        failures.join("\n")
    );
}
