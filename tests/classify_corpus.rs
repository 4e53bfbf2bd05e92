//! The real third-party corpus (`../shared/corpus` next to the checkout): ≥ 95 % action,
//! ≥ 95 % exact kind sets, no wrong `delete`, and every mail labelled `ignore` (plus all of
//! `automated/`) ignored. Skips with a notice where the corpus is not present.

use privacy_inbox::classify::eval::{parse_labels_tsv, CorpusLabel};
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

/// A corpus folder's `labels.tsv`, read as every corpus test reads it (the shared corpus and
/// a `classify eval --export` folder alike).
fn read_labels(dir: &Path) -> Vec<CorpusLabel> {
    let text = std::fs::read_to_string(dir.join("labels.tsv")).expect("labels.tsv readable");
    parse_labels_tsv(&text).expect("labels.tsv well formed")
}

#[test]
fn corpus_meets_the_bar() {
    let Some(dir) = corpus_dir() else {
        eprintln!("SKIP: corpus not found at ../shared/corpus relative to the manifest");
        return;
    };
    let c = Classifier::builtin().expect("shipped rules load");
    let labels = read_labels(&dir);
    let mut total = 0usize;
    let mut action_ok = 0usize;
    let mut kinds_ok = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut hard: Vec<String> = Vec::new();
    for label in &labels {
        let (file, action, kinds) = (&label.file, &label.action, &label.kinds);
        total += 1;
        let got = match classify_file(&c, &dir.join("eml").join(file)) {
            Ok(g) => g,
            Err(e) => {
                hard.push(format!("unreadable: {e}"));
                continue;
            }
        };
        let want_kinds: BTreeSet<Kind> = kinds.clone();
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

/// `classify eval --export` writes a folder the corpus reader above reads: each staff label
/// becomes a line, each mail an `.eml` the classifier reads back.
#[test]
fn a_staff_label_export_reads_as_a_corpus() {
    use privacy_inbox::store::{inbox, labels, Store};
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&tmp.path().join("store.sqlite3")).expect("store");
    let mails: [(&str, &[u8], labels::StaffAction, Vec<Kind>); 3] = [
        (
            "PRIV-2026-00001",
            "From: Ana <ana@example.test>\r\nTo: privacy@example.test\r\nSubject: Mis datos\r\nMessage-ID: <a1@example.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nQuiero saber qu\u{e9} datos tienen sobre m\u{ed}.\r\n".as_bytes(),
            labels::StaffAction::Handle,
            vec![Kind::Access],
        ),
        (
            "PRIV-2026-00002",
            b"From: Bob <bob@example.test>\r\nTo: privacy@example.test\r\nSubject: Invoice 4411\r\nMessage-ID: <b1@example.test>\r\n\r\nPlease find attached our invoice for March.\r\n",
            labels::StaffAction::NotARequest,
            vec![],
        ),
        (
            "PRIV-2026-00003",
            b"From: Cy <cy@example.test>\r\nTo: privacy@example.test\r\nSubject: Data\r\nMessage-ID: <c1@example.test>\r\n\r\nWhat do you have on me? Also delete it.\r\n",
            labels::StaffAction::Handle,
            vec![Kind::Access, Kind::Delete],
        ),
    ];
    for (i, (id, raw, action, kinds)) in mails.iter().enumerate() {
        let row = inbox::InboxRow {
            message_key: format!("k{i}"),
            mailbox: "INBOX".into(),
            uidvalidity: 1,
            uid: i as u32 + 1,
            internal_date: "2026-03-03T10:00:00Z".into(),
            fetched_at: "2026-03-03T10:00:00Z".into(),
            raw: Some(raw.to_vec()),
            disposition: privacy_inbox::store::types::Filed::Escalated,
            request_id: Some(id.to_string()),
            classification: r#"{"action":"escalate","kinds":[]}"#.into(),
            ..Default::default()
        };
        assert!(inbox::insert(store.reader(), &row).expect("inbox row"));
        let o = labels::origin(store.reader(), id)
            .expect("origin")
            .expect("a mail");
        labels::record(
            store.reader(),
            &labels::Label {
                request_id: id.to_string(),
                inbox_id: o.inbox_id,
                message_key: o.message_key,
                action: *action,
                kinds: kinds.clone(),
                classifier_action: o.classifier_action,
                classifier_kinds: o.classifier_kinds,
                rules_version: "test".into(),
                by: "staff@example.test".into(),
                at: format!("2026-03-04T10:00:0{i}Z"),
            },
        )
        .expect("label");
    }
    let c = Classifier::builtin().expect("shipped rules load");
    let export = tmp.path().join("export");
    let mut out = Vec::new();
    let report = privacy_inbox::classify::eval::run(store.reader(), &c, Some(&export), &mut out)
        .expect("eval");
    let printed = String::from_utf8_lossy(&out);
    assert_eq!(report.exported, 3, "{printed}");

    let read = read_labels(&export);
    assert_eq!(read.len(), 3);
    let mut agree = (0, 0);
    for (label, (id, raw, action, kinds)) in read.iter().zip(&mails) {
        assert!(label.file.starts_with(id), "{label:?}");
        assert_eq!(
            &label.kinds,
            &kinds.iter().copied().collect::<BTreeSet<Kind>>()
        );
        let path = export.join("eml").join(&label.file);
        assert_eq!(&std::fs::read(&path).expect("eml").as_slice(), raw);
        let got = classify_file(&c, &path).expect("the exported mail reads");
        // The corpus' own scoring gives the same answer as `classify eval`.
        let a = label.allows(got.action);
        assert_eq!(
            a,
            (got.action == Action::Handle) == (*action == labels::StaffAction::Handle)
        );
        agree.0 += usize::from(a);
        agree.1 +=
            usize::from(got.kinds.iter().copied().collect::<BTreeSet<Kind>>() == label.kinds);
    }
    assert_eq!(
        agree,
        (report.score.action_ok, report.score.kinds_ok),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "action {:.1}% ({}/3)",
            report.score.action_pct(),
            report.score.action_ok
        )),
        "{printed}"
    );
}
