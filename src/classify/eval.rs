//! `privacy-inbox classify eval`: how the current rules do on the mails staff labelled
//! (`/handle [kinds]`, `/not-a-request`; [`crate::store::labels`]).
//!
//! Pure scoring over (classifier's answer, staff's label) pairs ([`score`]), the shared
//! corpus' `labels.tsv` format (read by [`parse_labels_tsv`], the same reader the corpus test
//! uses; written by [`labels_tsv`]), and [`run`], which loads the labels and their raw mails
//! from the store, re-classifies each mail and prints the result or exports it. Nothing leaves
//! the machine: the export is a local folder.
//!
//! How a staff label maps to the corpus' `action`: `handle` → `handle` (the bot should have
//! handled it itself), `not_a_request` → `escalate|ignore` (anything but `handle` is right:
//! staff must see it, or it is machine-made). Kinds must match exactly, as in the corpus
//! test; `not_a_request` carries none.

use super::{Action, Classifier};
use crate::kind::Kind;
use crate::store::labels::{self, kinds_field, parse_kinds, StaffAction};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// The header of the corpus' `labels.tsv`.
pub const TSV_HEADER: &str =
    "file\taction\tkinds\tlanguage\tsource_repo\tsource_path\tlicense\tcommit";

/// One line of a corpus `labels.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusLabel {
    /// The `.eml` file name, under `eml/`.
    pub file: String,
    /// What the bot should do: `handle`, `escalate`, `ignore`, or `a|b` (either is right).
    pub action: String,
    /// The request kinds (empty when none).
    pub kinds: BTreeSet<Kind>,
    /// The mail's language.
    pub language: String,
    /// Where it came from: repository (for a staff label: `privacy-inbox staff label`).
    pub source_repo: String,
    /// Where it came from: path (for a staff label: the request ID, who and when).
    pub source_path: String,
    /// Its license (for a staff label: `private`).
    pub license: String,
    /// Source commit (for a staff label: the rules version that classified it then).
    pub commit: String,
}

impl CorpusLabel {
    /// Whether `action` is one of the actions this label allows.
    pub fn allows(&self, action: Action) -> bool {
        self.action.split('|').any(|a| a == action.as_str())
    }
}

/// Reads a `labels.tsv` (header first, then one tab-separated line per mail). A line with
/// fewer than three columns is skipped, as the corpus test always did; an unknown kind is an
/// error naming its line.
pub fn parse_labels_tsv(text: &str) -> Result<Vec<CorpusLabel>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, action, kinds, rest @ ..] = cols.as_slice() else {
            continue;
        };
        let col = |i: usize| rest.get(i).map(|s| s.to_string()).unwrap_or_default();
        out.push(CorpusLabel {
            file: file.to_string(),
            action: action.to_string(),
            kinds: parse_kinds(kinds)
                .with_context(|| format!("labels.tsv line {}", n + 1))?
                .into_iter()
                .collect(),
            language: col(0),
            source_repo: col(1),
            source_path: col(2),
            license: col(3),
            commit: col(4),
        });
    }
    Ok(out)
}

/// Writes labels as a `labels.tsv`, header first. Tabs and line breaks in a value become
/// spaces (a value cannot split a line).
pub fn labels_tsv(labels: &[CorpusLabel]) -> String {
    let clean = |s: &str| s.replace(['\t', '\r', '\n'], " ");
    let mut out = format!("{TSV_HEADER}\n");
    for l in labels {
        let kinds: Vec<Kind> = l.kinds.iter().copied().collect();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            clean(&l.file),
            clean(&l.action),
            kinds_field(&kinds),
            clean(&l.language),
            clean(&l.source_repo),
            clean(&l.source_path),
            clean(&l.license),
            clean(&l.commit)
        );
    }
    out
}

/// The corpus `action` for a staff label.
pub fn corpus_action(a: StaffAction) -> &'static str {
    match a {
        StaffAction::Handle => "handle",
        StaffAction::NotARequest => "escalate|ignore",
    }
}

/// An answer about one mail: an action and its kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `handle`, `escalate` or `ignore` (for staff: `handle`, or anything else).
    pub action: String,
    /// The kinds.
    pub kinds: BTreeSet<Kind>,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        write!(f, "{} [{}]", self.action, kinds.join(", "))
    }
}

/// One labelled mail, scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The request it opened.
    pub request_id: String,
    /// What staff said.
    pub staff: StaffAction,
    /// The kinds staff gave.
    pub staff_kinds: BTreeSet<Kind>,
    /// What the current rules say.
    pub got_action: Action,
    /// The kinds the current rules find.
    pub got_kinds: BTreeSet<Kind>,
}

impl Pair {
    /// The action agrees: `handle` for `handle`, anything else for `not_a_request`.
    pub fn action_ok(&self) -> bool {
        match self.staff {
            StaffAction::Handle => self.got_action == Action::Handle,
            StaffAction::NotARequest => self.got_action != Action::Handle,
        }
    }

    /// The kinds agree exactly.
    pub fn kinds_ok(&self) -> bool {
        self.staff_kinds == self.got_kinds
    }

    /// A harmful decision: the rules would act alone where staff said it was no request,
    /// or on kinds staff did not give.
    pub fn harmful(&self) -> bool {
        self.got_action == Action::Handle
            && (self.staff == StaffAction::NotARequest || self.got_kinds != self.staff_kinds)
    }
}

/// How the rules did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Score {
    /// Labelled mails scored.
    pub total: usize,
    /// Of those, with the right action.
    pub action_ok: usize,
    /// Of those, with exactly the right kinds.
    pub kinds_ok: usize,
    /// Of those, handled alone where staff said no request, or on other kinds.
    pub harmful: usize,
    /// Each mail where action or kinds differ: (request ID, classifier's answer, staff's).
    pub disagreements: Vec<(String, Answer, Answer)>,
}

impl Score {
    /// Action accuracy in percent (0 when nothing was scored).
    pub fn action_pct(&self) -> f64 {
        pct(self.action_ok, self.total)
    }

    /// Kind accuracy in percent (0 when nothing was scored).
    pub fn kinds_pct(&self) -> f64 {
        pct(self.kinds_ok, self.total)
    }
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// Scores the pairs.
pub fn score(pairs: &[Pair]) -> Score {
    let mut s = Score::default();
    for p in pairs {
        s.total += 1;
        let (a, k) = (p.action_ok(), p.kinds_ok());
        s.action_ok += usize::from(a);
        s.kinds_ok += usize::from(k);
        s.harmful += usize::from(p.harmful());
        if !a || !k {
            s.disagreements.push((
                p.request_id.clone(),
                Answer {
                    action: p.got_action.as_str().to_string(),
                    kinds: p.got_kinds.clone(),
                },
                Answer {
                    action: p.staff.as_str().to_string(),
                    kinds: p.staff_kinds.clone(),
                },
            ));
        }
    }
    s
}

/// A short, stable name for the rules a classifier runs: a hash of the shipped rule files
/// and of the `*.toml` files in `extra_rules_dir`, with the program's version.
pub fn rules_version(extra_rules_dir: Option<&Path>) -> Result<String> {
    let mut h = Sha256::new();
    for (name, text) in super::rules::BUILTIN {
        h.update(name.as_bytes());
        h.update(text.as_bytes());
    }
    if let Some(dir) = extra_rules_dir {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("Cannot read the rules directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            h.update(
                f.file_name()
                    .map(|n| n.as_encoded_bytes())
                    .unwrap_or_default(),
            );
            h.update(std::fs::read(&f).with_context(|| format!("Cannot read {}", f.display()))?);
        }
    }
    let hex = hex::encode(h.finalize());
    Ok(format!("{}-{}", env!("CARGO_PKG_VERSION"), &hex[..12]))
}

/// A file name for an exported mail: the request ID and the inbox row, nothing else.
fn eml_name(request_id: &str, inbox_id: i64) -> String {
    let id: String = request_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(60)
        .collect();
    format!("{id}__{inbox_id}.eml")
}

/// What [`run`] did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The score over the mails that could be re-classified.
    pub score: Score,
    /// Labelled mails that could not be: (request ID, why).
    pub skipped: Vec<(String, String)>,
    /// Mails written by `--export`.
    pub exported: usize,
}

/// Re-classifies every staff-labelled mail in the store with `classifier`, writes the score
/// and each disagreement to `out`, and with `export` writes each mail as `.eml` under
/// `export/eml/` plus `export/labels.tsv` (the shared corpus' layout). A label whose raw mail
/// is gone (purged after `store.mail-retention-days`) or cannot be parsed is listed as
/// skipped.
pub fn run(
    conn: &rusqlite::Connection,
    classifier: &Classifier,
    export: Option<&Path>,
    out: &mut dyn Write,
) -> Result<Report> {
    let mut report = Report::default();
    let all = if labels::exists(conn)? {
        labels::all(conn)?
    } else {
        Vec::new()
    };
    if all.is_empty() {
        writeln!(
            out,
            "No staff labels yet: they come from staff's /handle and /not-a-request."
        )?;
        return Ok(report);
    }
    if let Some(dir) = export {
        create_private_dir(dir)?;
    }
    let mut pairs = Vec::new();
    let mut exported = Vec::new();
    for l in &all {
        let Some(raw) = labels::raw_mail(conn, l.inbox_id)? else {
            report.skipped.push((
                l.request_id.clone(),
                "its mail is no longer stored (purged after store.mail-retention-days)".into(),
            ));
            continue;
        };
        let mail = match crate::mail::parse(&raw) {
            Ok(m) => m,
            Err(e) => {
                report.skipped.push((
                    l.request_id.clone(),
                    format!("its mail cannot be parsed: {e:#}"),
                ));
                continue;
            }
        };
        let got = classifier.classify(&mail);
        let staff_kinds: BTreeSet<Kind> = l.kinds.iter().copied().collect();
        pairs.push(Pair {
            request_id: l.request_id.clone(),
            staff: l.action,
            staff_kinds: staff_kinds.clone(),
            got_action: got.action,
            got_kinds: got.kinds.iter().copied().collect(),
        });
        if let Some(dir) = export {
            let file = eml_name(&l.request_id, l.inbox_id);
            let path = dir.join("eml").join(&file);
            std::fs::write(&path, &raw)
                .with_context(|| format!("Cannot write {}", path.display()))?;
            exported.push(CorpusLabel {
                file,
                action: corpus_action(l.action).to_string(),
                kinds: staff_kinds,
                language: got.language.clone(),
                source_repo: "privacy-inbox staff label".into(),
                source_path: format!("{} by {} at {}", l.request_id, l.by, l.at),
                license: "private".into(),
                commit: l.rules_version.clone(),
            });
        }
    }
    report.score = score(&pairs);
    let s = &report.score;
    writeln!(
        out,
        "harmful decisions: {} of {} (the current rules would handle alone where staff said no request, or on other kinds)",
        s.harmful, s.total
    )?;
    writeln!(
        out,
        "{} staff-labelled mail(s) re-classified with the current rules: action {:.1}% ({}/{}), kinds {:.1}% ({}/{})",
        s.total,
        s.action_pct(),
        s.action_ok,
        s.total,
        s.kinds_pct(),
        s.kinds_ok,
        s.total
    )?;
    for (id, got, staff) in &s.disagreements {
        writeln!(out, "DISAGREE {id}: classifier {got}, staff {staff}")?;
    }
    for (id, why) in &report.skipped {
        writeln!(out, "SKIPPED {id}: {why}")?;
    }
    if let Some(dir) = export {
        let path = dir.join("labels.tsv");
        std::fs::write(&path, labels_tsv(&exported))
            .with_context(|| format!("Cannot write {}", path.display()))?;
        report.exported = exported.len();
        writeln!(
            out,
            "Exported {} mail(s) to {} (eml/ and labels.tsv, the shared corpus' format); they hold consumers' mail: keep them on this machine.",
            exported.len(),
            dir.display()
        )?;
    }
    Ok(report)
}

/// Creates the export folder `dir` with `eml/` in it. A folder this creates is readable by
/// its owner only (Unix); an existing one keeps its permissions.
fn create_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("Cannot create {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("Cannot restrict {}", dir.display()))?;
        }
    }
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let eml = dir.join("eml");
    std::fs::create_dir_all(&eml).with_context(|| format!("Cannot create {}", eml.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::labels::tests::{label, mail, store};

    fn pair(staff: StaffAction, sk: &[Kind], got: Action, gk: &[Kind]) -> Pair {
        Pair {
            request_id: "PRIV-2026-00001".into(),
            staff,
            staff_kinds: sk.iter().copied().collect(),
            got_action: got,
            got_kinds: gk.iter().copied().collect(),
        }
    }

    #[test]
    fn scoring_action_and_kinds() {
        use Action::{Escalate, Handle, Ignore};
        use Kind::*;
        use StaffAction::{Handle as StaffHandle, NotARequest};
        // (pair, action right, kinds right)
        let table = [
            (pair(StaffHandle, &[Access], Handle, &[Access]), true, true),
            (
                pair(StaffHandle, &[Access], Escalate, &[Access]),
                false,
                true,
            ),
            (
                pair(StaffHandle, &[Access, Delete], Handle, &[Access]),
                true,
                false,
            ),
            (pair(StaffHandle, &[Access], Ignore, &[]), false, false),
            (pair(NotARequest, &[], Escalate, &[]), true, true),
            (pair(NotARequest, &[], Ignore, &[]), true, true),
            (
                pair(NotARequest, &[], Handle, &[OptOutMarketing]),
                false,
                false,
            ),
            (pair(NotARequest, &[], Escalate, &[Access]), true, false),
        ];
        for (p, a, k) in &table {
            assert_eq!((p.action_ok(), p.kinds_ok()), (*a, *k), "{p:?}");
        }
        let pairs: Vec<Pair> = table.iter().map(|(p, _, _)| p.clone()).collect();
        let s = score(&pairs);
        assert_eq!((s.total, s.action_ok, s.kinds_ok), (8, 5, 4));
        // Handled on fewer kinds than staff gave, and handled where staff said no request.
        assert_eq!(s.harmful, 2);
        assert_eq!(s.disagreements.len(), 5);
        let (id, got, staff) = &s.disagreements[0];
        assert_eq!(id, "PRIV-2026-00001");
        assert_eq!(got.to_string(), "escalate [access]");
        assert_eq!(staff.to_string(), "handle [access]");
        assert_eq!(s.action_pct(), 62.5);
        assert_eq!(score(&[]).action_pct(), 0.0);
    }

    #[test]
    fn labels_tsv_round_trips_and_values_cannot_split_a_line() {
        let l = CorpusLabel {
            file: "PRIV-2026-00001__1.eml".into(),
            action: "escalate|ignore".into(),
            kinds: [Kind::Delete, Kind::Access].into_iter().collect(),
            language: "es".into(),
            source_repo: "privacy-inbox staff label".into(),
            source_path: "PRIV by a\tb\nc".into(),
            license: "private".into(),
            commit: "0.1.0-abc".into(),
        };
        let text = labels_tsv(std::slice::from_ref(&l));
        assert!(text.starts_with(TSV_HEADER));
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("\taccess+delete\t"));
        let back = parse_labels_tsv(&text).expect("parse");
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].source_path, "PRIV by a b c");
        assert_eq!(
            CorpusLabel {
                source_path: "PRIV by a b c".into(),
                ..l
            },
            back[0]
        );
        assert!(back[0].allows(Action::Ignore) && !back[0].allows(Action::Handle));
        assert!(parse_labels_tsv(&format!("{TSV_HEADER}\nx.eml\thandle\tsell\n")).is_err());
    }

    #[test]
    fn eval_reclassifies_stored_mail_and_skips_purged_mail() {
        let s = store();
        let raw = b"From: a@example.test\r\nTo: privacy@example.test\r\nSubject: Delete\r\nMessage-ID: <e1@example.test>\r\n\r\nPlease delete all my personal data.\r\n";
        let a = mail(&s, "PRIV-2026-00001", 1, Some(raw));
        let b = mail(&s, "PRIV-2026-00002", 2, None);
        labels::record(
            s.reader(),
            &label("PRIV-2026-00001", a, StaffAction::Handle, &[Kind::Access]),
        )
        .expect("label");
        labels::record(
            s.reader(),
            &label("PRIV-2026-00002", b, StaffAction::NotARequest, &[]),
        )
        .expect("label");
        let c = Classifier::builtin().expect("rules");
        let dir = tempfile::tempdir().expect("dir");
        let mut out = Vec::new();
        let r = run(s.reader(), &c, Some(dir.path()), &mut out).expect("run");
        let text = String::from_utf8_lossy(&out);
        assert_eq!(r.score.total, 1, "{text}");
        // The rules say delete, staff said access: a kinds disagreement, action right.
        assert_eq!((r.score.action_ok, r.score.kinds_ok), (1, 0), "{text}");
        assert!(
            text.contains(
                "DISAGREE PRIV-2026-00001: classifier handle [delete], staff handle [access]"
            ),
            "{text}"
        );
        assert!(text.contains("SKIPPED PRIV-2026-00002"), "{text}");
        assert_eq!(r.exported, 1);
        let tsv = std::fs::read_to_string(dir.path().join("labels.tsv")).expect("tsv");
        let back = parse_labels_tsv(&tsv).expect("parse");
        assert_eq!(back[0].file, format!("PRIV-2026-00001__{a}.eml"));
        assert_eq!(
            std::fs::read(dir.path().join("eml").join(&back[0].file)).expect("eml"),
            raw
        );
    }

    #[test]
    fn a_store_without_the_table_has_no_labels_yet() {
        let s = crate::store::Store::in_memory().expect("store");
        let c = Classifier::builtin().expect("rules");
        let mut out = Vec::new();
        let r = run(s.reader(), &c, None, &mut out).expect("run");
        assert_eq!(r.score.total, 0);
        assert!(String::from_utf8_lossy(&out).contains("No staff labels yet"));
    }

    #[test]
    fn rules_version_changes_with_the_admin_rules() {
        let dir = tempfile::tempdir().expect("dir");
        let empty = rules_version(Some(dir.path())).expect("version");
        assert_eq!(empty, rules_version(None).expect("version"));
        std::fs::write(dir.path().join("extra.toml"), "# nothing\n").expect("write");
        assert_ne!(empty, rules_version(Some(dir.path())).expect("version"));
    }
}
