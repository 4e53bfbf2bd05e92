//! The real third-party corpus (`../shared/corpus` next to the checkout): ≥ 95 % action,
//! ≥ 95 % exact kind sets, no wrong `delete`, and every mail labelled `ignore` (plus all of
//! `automated/`) ignored. Skips with a notice where the corpus is not present.

use privacy_inbox::classify::{Action, Classifier};
use privacy_inbox::kind::Kind;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.join("labels.tsv").is_file().then_some(dir)
}

fn classify_file(
    c: &Classifier,
    path: &Path,
) -> Result<privacy_inbox::classify::Classification, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mail =
        privacy_inbox::mail::parse(&raw).map_err(|e| format!("{}: {e:#}", path.display()))?;
    Ok(c.classify(&mail))
}

#[test]
fn corpus_meets_the_bar() {
    let Some(dir) = corpus_dir() else {
        eprintln!("SKIP: corpus not found at ../shared/corpus relative to the manifest");
        return;
    };
    let c = Classifier::builtin().expect("shipped rules load");
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).expect("labels.tsv readable");
    let mut total = 0usize;
    let mut action_ok = 0usize;
    let mut kinds_ok = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut hard: Vec<String> = Vec::new();
    for line in labels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, action, kinds, ..] = cols.as_slice() else {
            continue;
        };
        total += 1;
        let got = match classify_file(&c, &dir.join("eml").join(file)) {
            Ok(g) => g,
            Err(e) => {
                hard.push(format!("unreadable: {e}"));
                continue;
            }
        };
        let want_kinds: BTreeSet<Kind> = kinds
            .split('+')
            .filter(|k| !k.is_empty())
            .map(|k| k.parse().expect("label kind"))
            .collect();
        let got_kinds: BTreeSet<Kind> = got.kinds.iter().copied().collect();
        let allowed: Vec<&str> = action.split('|').collect();
        let a_ok = allowed.contains(&got.action.as_str());
        // Machine mail carries no kinds; an ignored mail has none by construction.
        let k_ok = got_kinds == want_kinds;
        action_ok += usize::from(a_ok);
        kinds_ok += usize::from(k_ok);
        if !a_ok || !k_ok {
            failures.push(format!(
                "{file}: want {action} {kinds:?}, got {} {:?} conf {:.2}\n    {}",
                got.action.as_str(),
                got.kinds,
                got.confidence,
                got.reasons.join("\n    ")
            ));
        }
        if got_kinds.contains(&Kind::Delete) && !want_kinds.contains(&Kind::Delete) {
            hard.push(format!("wrong delete: {file}"));
        }
        if allowed == ["ignore"] && got.action != Action::Ignore {
            hard.push(format!(
                "labelled ignore, got {}: {file}",
                got.action.as_str()
            ));
        }
    }
    // Every machine-made mail must be ignored.
    let mut auto_total = 0usize;
    let mut auto_ignored = 0usize;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir.join("automated"))
        .expect("automated/ readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    entries.sort();
    for path in entries {
        auto_total += 1;
        match classify_file(&c, &path) {
            Ok(g) if g.action == Action::Ignore => auto_ignored += 1,
            Ok(g) => hard.push(format!(
                "automated mail not ignored ({}): {}",
                g.action.as_str(),
                path.display()
            )),
            Err(e) => hard.push(format!("unreadable: {e}")),
        }
    }
    let action_pct = 100.0 * action_ok as f64 / total.max(1) as f64;
    let kinds_pct = 100.0 * kinds_ok as f64 / total.max(1) as f64;
    eprintln!(
        "corpus: {total} labelled, action {action_pct:.1}%, kinds {kinds_pct:.1}%, automated ignored {auto_ignored}/{auto_total}"
    );
    for f in &failures {
        eprintln!("MISS {f}");
    }
    assert!(total >= 100, "only {total} labelled mails found");
    assert!(auto_total >= 600, "only {auto_total} automated mails found");
    assert!(hard.is_empty(), "hard failures:\n{}", hard.join("\n"));
    assert!(action_pct >= 95.0, "action accuracy {action_pct:.1}% < 95%");
    assert!(kinds_pct >= 95.0, "kind accuracy {kinds_pct:.1}% < 95%");
}
