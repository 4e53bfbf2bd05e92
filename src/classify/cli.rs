//! `privacy-inbox classify [--json] FILE...`: one line per file, on stdout; errors on stderr.

use super::{Classification, Classifier};
use serde::Serialize;
use std::io::{Read, Write};

#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    #[serde(flatten)]
    classification: &'a Classification,
}

/// Classifies each file (`-` = stdin) and writes one line per readable file: JSON when
/// `json`, else a short human-readable line. Unreadable or unparseable files are reported
/// on stderr and make the result `Ok(false)`; `Err` only when `out` cannot be written.
pub fn run_cli(
    classifier: &Classifier,
    files: &[String],
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let mut all_ok = true;
    for file in files {
        let raw = match read(file) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("{file}: cannot read: {e}");
                all_ok = false;
                continue;
            }
        };
        let mail = match crate::mail::parse(&raw) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{file}: {e:#}");
                all_ok = false;
                continue;
            }
        };
        let c = classifier.classify(&mail);
        if json {
            let line = serde_json::to_string(&Line {
                file,
                classification: &c,
            })?;
            writeln!(out, "{line}")?;
        } else {
            let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
            let mut flags = Vec::new();
            if c.agent {
                flags.push("agent");
            }
            if c.question {
                flags.push("question");
            }
            if c.automated {
                flags.push("automated");
            }
            let why = c
                .reasons
                .iter()
                .find(|r| r.starts_with("escalate:") || r.starts_with("automated:"))
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            writeln!(
                out,
                "{file}: {} [{}] {} {:.2}{}{}",
                c.action.as_str(),
                kinds.join(", "),
                c.language,
                c.confidence,
                if flags.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", flags.join(", "))
                },
                why
            )?;
        }
    }
    Ok(all_ok)
}

fn read(file: &str) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    if file == "-" {
        std::io::stdin()
            .take(crate::mail::parse::MAX_RAW as u64)
            .read_to_end(&mut raw)?;
    } else {
        std::fs::File::open(file)?
            .take(crate::mail::parse::MAX_RAW as u64)
            .read_to_end(&mut raw)?;
    }
    Ok(raw)
}

/// `privacy-inbox classify eval [--export DIR]`: the configured rules (`[classify]`) against
/// every staff-labelled mail in the configured store; see [`super::eval::run`].
pub fn eval_cli(
    settings: &crate::config::Settings,
    export: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> anyhow::Result<super::eval::Report> {
    let classifier = Classifier::load(
        settings.classify.rules_dir.as_deref(),
        settings.classify.threshold,
    )?;
    let path = &settings.store_path;
    if !path.exists() {
        anyhow::bail!(
            "No store at {} yet: nothing is labelled; check `[store] path` in the config",
            path.display()
        );
    }
    let store = crate::store::Store::open(path)?;
    super::eval::run(store.reader(), &classifier, export, out)
}
